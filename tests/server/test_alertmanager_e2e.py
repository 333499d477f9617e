"""Acceptance 1: a real Alertmanager delivers to augur with bearer auth; resolving resolves the incident.

Debian's ``prometheus-alertmanager`` runs on a loopback port with a webhook receiver pointing at
augur (served by a real uvicorn), ``http_config.authorization`` carrying the token; alerts are
injected with ``amtool alert add``. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from augur.evals.servers import AlertmanagerServer
from augur.server.store.database import Store
from augur.server.store.models import AlertEpisode, Incident, Job
from augur.server.web.app import create_app
from tests.fixtures.serving import serving
from tests.server.conftest import TOKEN, settings_for

pytestmark = pytest.mark.slow


def _wait_for(check: Callable[[], bool], what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")


def _incidents(store: Store) -> list[Incident]:
    with store.read_session() as session:
        return list(session.scalars(select(Incident)))


def test_alertmanager_delivers_and_resolves_an_incident(store: Store, store_url: str) -> None:
    app = create_app(settings_for(store_url), store=store)
    with serving(app) as url:
        config = {
            "route": {
                "receiver": "augur",
                "group_by": ["alertname", "service"],
                "group_wait": "1s",
                "group_interval": "1s",
                "repeat_interval": "1h",
            },
            "receivers": [
                {
                    "name": "augur",
                    "webhook_configs": [
                        {
                            "url": f"{url}/v1/alertmanager",
                            "send_resolved": True,
                            "http_config": {"authorization": {"type": "Bearer", "credentials": TOKEN}},
                        }
                    ],
                }
            ],
        }
        with AlertmanagerServer.start(config) as am:
            start = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
            labels = ["alertname=ServingLatencyHigh", "service=ranker-serving", "severity=critical"]
            am.amtool("alert", "add", *labels, "--annotation=summary=p99 above 1s", f"--start={start}")
            am.amtool(
                "alert",
                "add",
                "alertname=ServingLatencyHigh",
                "service=ranker-serving",
                "pod=ranker-1",
                f"--start={start}",
            )
            _wait_for(lambda: sum(1 for _ in _episodes(store)) == 2, "both alerts to arrive")
            (incident,) = _incidents(store)
            assert incident.status == "open" and incident.component == "ranker-serving"
            assert incident.severity == "critical"
            with store.read_session() as session:
                jobs = session.scalars(select(Job)).all()
            assert [(j.kind, j.payload) for j in jobs] == [("investigate", {"incident_id": incident.id})]
            assert {e.starts_at for e in _episodes(store)} == {datetime.fromisoformat(start)}

            end = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
            am.amtool("alert", "add", *labels, f"--start={start}", f"--end={end}")
            am.amtool(
                "alert",
                "add",
                "alertname=ServingLatencyHigh",
                "service=ranker-serving",
                "pod=ranker-1",
                f"--start={start}",
                f"--end={end}",
            )
            _wait_for(lambda: _incidents(store)[0].status == "resolved", "the incident to resolve")
            assert all(e.status == "resolved" and e.ends_at is not None for e in _episodes(store))
            assert len(_episodes(store)) == 2, "notifications repeat the whole group: still two episodes"
            with store.read_session() as session:
                # Still one investigation; resolving added the postmortem job.
                kinds = [j.kind for j in session.scalars(select(Job).order_by(Job.id))]
                assert kinds == ["investigate", "postmortem"]


def _episodes(store: Store) -> list[AlertEpisode]:
    with store.read_session() as session:
        return list(session.scalars(select(AlertEpisode)))
