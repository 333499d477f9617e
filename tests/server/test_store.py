"""The store: migrations, time handling and constraints behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from augur.server.store.database import Store, StoreUnavailable, make_engine
from augur.server.store.models import AlertEpisode, Incident, Job, Proposal, ProposalEvent


def _episode(fp: str, starts: datetime) -> AlertEpisode:
    return AlertEpisode(
        fingerprint=fp,
        starts_at=starts,
        status="firing",
        labels={"alertname": "X"},
        annotations={},
        generator_url="",
        first_seen=starts,
        last_seen=starts,
    )


def test_migrated_store_is_at_head_and_migrating_again_is_a_no_op(store: Store) -> None:
    assert store.current_revision() == "0003"
    store.migrate()
    assert store.current_revision() == "0003"


def test_timestamps_come_back_aware_utc_whatever_offset_went_in(store: Store) -> None:
    cest = timezone(timedelta(hours=2))
    starts = datetime(2026, 5, 1, 14, 0, 0, 123456, tzinfo=cest)
    with store.transaction() as session:
        session.add(_episode("abc", starts))
    with store.read_session() as session:
        got = session.scalars(select(AlertEpisode)).one()
    assert got.starts_at == starts
    assert got.starts_at.tzinfo is not None and got.starts_at.utcoffset() == timedelta(0)
    assert got.starts_at.hour == 12


def test_an_episode_is_unique_by_fingerprint_and_start(store: Store) -> None:
    starts = datetime(2026, 5, 1, 12, tzinfo=UTC)
    with store.transaction() as session:
        session.add(_episode("abc", starts))
        session.add(_episode("abc", starts + timedelta(minutes=5)))  # a new episode of the same alert
    with pytest.raises(IntegrityError), store.transaction() as session:
        session.add(_episode("abc", starts))
    with store.read_session() as session:
        assert len(session.scalars(select(AlertEpisode)).all()) == 2


def test_proposals_and_their_review_history_round_trip(store: Store) -> None:
    now = datetime.now(UTC)
    with store.transaction() as session:
        incident = Incident(status="open", group_key="{}:{}", title="t", opened_at=now, updated_at=now)
        session.add(incident)
        session.flush()
        session.add(
            Proposal(
                id="p-1",
                incident_id=incident.id,
                kind="threshold",
                status="pending",
                group_name="augur",
                rule={"alert": "A", "expr": "x > 1"},
                rule_yaml="alert: A\n",
                rationale="r",
                evidence_ids=["e1"],
                fingerprint="f1",
                created_at=now,
                updated_at=now,
            )
        )
        session.flush()
        session.add(
            ProposalEvent(
                proposal_id="p-1",
                from_status="pending",
                to_status="approved",
                actor="alice",
                comment="ok",
                at=now,
            )
        )
    with store.read_session() as session:
        proposal = session.get(Proposal, "p-1")
        assert proposal is not None and proposal.rule["expr"] == "x > 1"
        assert session.scalars(select(ProposalEvent.actor)).all() == ["alice"]


def test_naive_datetimes_are_refused(store: Store) -> None:
    with pytest.raises(Exception, match="naive datetime"), store.transaction() as session:
        session.add(
            Job(
                kind="k",
                payload={},
                run_after=datetime(2026, 1, 1),
                created_at=datetime.now(UTC),
                updated_at=datetime.now(UTC),
            )
        )


def test_unreachable_postgres_is_reported_with_the_url_and_no_password() -> None:
    store = Store(make_engine("postgresql+psycopg://augur:s3cret@127.0.0.1:1/augur"))
    with pytest.raises(StoreUnavailable, match=r"augur:\*\*\*@127\.0\.0\.1:1") as info:
        store.ping()
    assert "s3cret" not in str(info.value)


def test_sqlite_store_creates_its_directory_and_uses_wal(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'deep' / 'dir' / 'augur.db'}")
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    store.dispose()
