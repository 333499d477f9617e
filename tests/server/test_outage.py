"""Investigations during a Prometheus outage: honest reports, then the real one once Prometheus answers.

Prometheus here is the real session Prometheus (``prom_history``) behind a TCP gate
(:mod:`tests.fixtures.gate`): closed, its address refuses connections as a stopped Prometheus
does; opened, the same address answers again.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from augur.server.jobs.investigations import DEFERRED, investigation_handler
from augur.server.jobs.worker import Worker
from augur.server.settings import Settings
from augur.server.store.database import Store
from augur.server.store.models import IncidentEvent, Job
from augur.server.web.app import create_app
from tests.agent.investigation_support import PLATFORM, latency_alert, registry_for, write_platform_logs
from tests.fixtures.gate import tcp_gate
from tests.fixtures.prometheus import PromHistory
from tests.server.conftest import ADMIN_TOKEN, TOKEN, settings_for

pytestmark = pytest.mark.slow


def _client(settings: Settings, store: Store) -> TestClient:
    return TestClient(create_app(settings, store=store), client=("127.0.0.1", 5000),
                      headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})


def _webhook(client: TestClient, body: dict[str, Any]) -> Any:
    return client.post("/v1/alertmanager", json=body, headers={"Authorization": f"Bearer {TOKEN}"})


def _job(store: Store) -> Job:
    with store.read_session() as session:
        return session.scalars(select(Job).where(Job.kind == "investigate")).one()


def _timeline(store: Store) -> list[tuple[str, dict[str, Any]]]:
    with store.read_session() as session:
        return [(e.kind, e.detail) for e in session.scalars(select(IncidentEvent).order_by(IncidentEvent.id))]


def test_prometheus_down_then_back_gives_an_honest_report_then_the_real_one(
    store: Store, store_url: str, prom_history: PromHistory, tmp_path: Path,
) -> None:
    write_platform_logs(tmp_path, prom_history.t_end, prom_history.onsets)
    with tcp_gate(prom_history.url) as gate:
        settings = settings_for(store_url, data_dir=tmp_path, catalog_file=PLATFORM,
                                worker_backoff_seconds=0.5)
        client = _client(settings, store)
        hook = _webhook(client, latency_alert(prom_history.t_end - 5 * 60, gate.url))
        assert hook.status_code == 200, hook.text
        incident_id = hook.json()["opened_incidents"][0]
        handler = investigation_handler(settings, registry=registry_for(gate.url, tmp_path))
        worker = Worker(store, {"investigate": handler}, lease_seconds=30)

        gate.close()  # Prometheus is down during the investigation
        assert worker.run_once()
        down = client.get(f"/v1/incidents/{incident_id}/report").json()
        unexamined = {u["signal"]: u for u in down["unexamined"]}
        assert "ranker-serving.p99_latency" in unexamined, sorted(unexamined)
        assert "model.drift" in " ".join(unexamined) or len(unexamined) >= 4, sorted(unexamined)
        assert all(u["retryable"] for s, u in unexamined.items() if not s.endswith(".logs"))
        assert "cannot reach Prometheus" in unexamined["ranker-serving.p99_latency"]["reason"]
        assert "could not be examined" in down["summary"], down["summary"]
        assert "no examined signal changed" not in down["summary"]
        markdown = client.get(f"/v1/incidents/{incident_id}/report.md").text
        assert "## Could not examine" in markdown and "ranker-serving.p99_latency" in markdown
        job = _job(store)
        assert (job.status, job.attempts) == ("queued", 1), "retried with back-off, not done"
        assert job.max_attempts == settings.worker_max_attempts + 1, "waiting for Prometheus uses no attempt"
        deferred = [d for k, d in _timeline(store) if k == DEFERRED]
        assert len(deferred) == 1 and deferred[0]["retry_in_s"] == 1.0
        assert "ranker-serving.p99_latency" in {u["signal"] for u in deferred[0]["unexamined"]}
        assert not worker.run_once(), "not due before its back-off"

        gate.open()  # Prometheus answers again
        time.sleep(1.1)
        assert worker.run_once()
    job = _job(store)
    assert job.status == "done"
    real = client.get(f"/v1/incidents/{incident_id}/report").json()
    assert real["root_cause"]["verdict"] == "identified", real["summary"]
    assert real["root_cause"]["component"] == "feature-pipeline"
    assert [u for u in real["unexamined"] if u["retryable"]] == []
    kinds = [k for k, _ in _timeline(store)]
    assert kinds.count("report_ready") == 2 and kinds.count(DEFERRED) == 1
    assert kinds.index(DEFERRED) < len(kinds) - 1 - kinds[::-1].index("report_ready")


def test_past_the_outage_deadline_the_report_stays_and_says_what_was_not_examined(
    store: Store, store_url: str, tmp_path: Path,
) -> None:
    from augur.evals.servers import free_port

    dead = f"http://127.0.0.1:{free_port()}"
    settings = settings_for(store_url, data_dir=tmp_path, catalog_file=PLATFORM, outage_retry_seconds=0)
    client = _client(settings, store)
    hook = _webhook(client, latency_alert(time.time() - 600, dead))
    incident_id = hook.json()["opened_incidents"][0]
    handler = investigation_handler(settings, registry=registry_for(dead, tmp_path))
    assert Worker(store, {"investigate": handler}, lease_seconds=30).run_once()
    assert _job(store).status == "done"
    report = client.get(f"/v1/incidents/{incident_id}/report").json()
    assert report["unexamined"] and "could not be examined" in report["summary"]
    assert DEFERRED not in [k for k, _ in _timeline(store)]
