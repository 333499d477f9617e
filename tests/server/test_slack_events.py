"""Slack event ids: a retried delivery is handled once, and ids older than a day are forgotten."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from augur.server.slack.handlers import SLACK_EVENT_RETENTION, record_event
from augur.server.store.database import Store
from augur.server.store.models import SlackEvent, utcnow


def test_retries_are_caught_and_old_event_ids_are_pruned(store: Store) -> None:
    with store.transaction() as session:
        session.add(
            SlackEvent(event_id="Ev-old", received_at=utcnow() - SLACK_EVENT_RETENTION - timedelta(hours=1))
        )
        session.add(SlackEvent(event_id="Ev-recent", received_at=utcnow() - timedelta(hours=1)))
    assert record_event(store, "Ev-new")
    assert not record_event(store, "Ev-new"), "Slack's retry of the same event is ignored"
    assert not record_event(store, "Ev-recent")
    with store.read_session() as session:
        kept = set(session.scalars(select(SlackEvent.event_id)))
    assert kept == {"Ev-new", "Ev-recent"}
