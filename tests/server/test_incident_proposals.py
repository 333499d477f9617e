"""Every incident leaves the monitoring better: webhook -> investigation -> pending rule proposals.

Real store (SQLite and PostgreSQL), the real Prometheus history fixture (its rules loaded:
``ModelDriftHigh`` watches the drift score), real ``promtool``/``amtool`` validation, the real
worker loop. Slack is the official ``slack_sdk`` client against the loopback recorder
(``tests/fixtures/slack_api.py``), because no Slack is reachable here.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from augur.evals.servers import free_port
from augur.rules.proposal import ProposalKind
from augur.server.cli.main import app as cli
from augur.server.jobs.investigations import investigation_handler
from augur.server.jobs.worker import Worker
from augur.server.settings import Settings
from augur.server.state import default_handlers
from augur.server.store.database import Store
from augur.server.store.models import IncidentEvent, Job
from augur.server.store.proposals import SqlProposalStore
from augur.server.store.queue import ClaimedJob, JobQueue
from augur.server.web.app import create_app
from tests.agent.investigation_support import PLATFORM, latency_alert, registry_for, write_platform_logs
from tests.fixtures.prometheus import PromHistory
from tests.fixtures.slack_api import SlackRecorder, slack_api
from tests.server.conftest import ADMIN_TOKEN, settings_for

__all__ = ["slack_api"]

pytestmark = pytest.mark.slow
DRIFT = 'model_drift_score{feature="click_duration",model="ranker"}'


def _client(settings: Settings, store: Store) -> TestClient:
    return TestClient(create_app(settings, store=store), client=("127.0.0.1", 5000),
                      headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})


def _events(store: Store, kind: str) -> list[dict[str, Any]]:
    with store.read_session() as session:
        return [e.detail for e in session.scalars(select(IncidentEvent).where(IncidentEvent.kind == kind)
                                                  .order_by(IncidentEvent.id))]


def _job(store: Store) -> ClaimedJob:
    """The incident's investigate job queued again and claimed, as a worker would hold it (a rerun)."""
    with store.transaction() as session:
        job = session.scalars(select(Job).where(Job.kind == "investigate")).one()
        job.status, job.run_after = "queued", datetime.now(UTC) - timedelta(seconds=1)
        job.max_attempts = max(job.max_attempts, job.attempts + 1)
    claimed = JobQueue(store, lease_seconds=300).claim("test")
    assert claimed is not None
    return claimed


def test_an_investigated_webhook_leaves_pending_rule_proposals_once(
    store: Store, store_url: str, prom_history: PromHistory, tmp_path: Path,
) -> None:
    settings = settings_for(store_url, data_dir=tmp_path, prometheus_url=prom_history.url,
                            catalog_file=PLATFORM)
    write_platform_logs(tmp_path, prom_history.t_end, prom_history.onsets)
    client = _client(settings, store)
    hook = client.post("/v1/alertmanager", json=latency_alert(prom_history.t_end - 5 * 60, prom_history.url))
    assert hook.status_code < 300, hook.text
    incident_id = client.get("/v1/incidents").json()["incidents"][0]["id"]
    handlers = default_handlers(settings)
    assert Worker(store, handlers, lease_seconds=30).run_once()

    listed = client.get("/v1/proposals", params={"incident_id": incident_id, "state": "pending"}).json()
    proposals = listed["proposals"]
    kinds = {p["kind"] for p in proposals}
    # The drift had an alert (ModelDriftHigh) but the page came from the latency symptom: a tighter,
    # seasonality-aware threshold on the drift, and an inhibition muting the symptom while it fires.
    assert ProposalKind.THRESHOLD in kinds and ProposalKind.INHIBITION in kinds, kinds
    threshold = next(p for p in proposals if p["kind"] == ProposalKind.THRESHOLD)
    assert DRIFT in threshold["rule"]["expr"] and threshold["validation"]["ok"]
    assert threshold["backtest"]["lead_minutes"] > 0  # it would have fired before the first page
    inhibition = next(p for p in proposals if p["kind"] == ProposalKind.INHIBITION)
    assert any("RankerP99High" in m for m in inhibition["rule"]["target_matchers"])
    assert all(p["state"] == "pending" and p["incident_id"] == incident_id for p in proposals)
    ids = {p["id"] for p in proposals}
    assert client.get("/v1/proposals", params={"incident_id": incident_id + 1}).json()["proposals"] == []

    detail = client.get(f"/v1/incidents/{incident_id}").json()
    assert {p["id"] for p in detail["proposals"]} == ids
    assert all(p["url"] == f"/v1/proposals/{p['id']}" and p["state"] == "pending"
               for p in detail["proposals"])
    kinds_in_order = [e["kind"] for e in detail["timeline"]]
    assert kinds_in_order.index("proposals_created") > kinds_in_order.index("report_ready")
    (created,) = _events(store, "proposals_created")
    assert set(created["ids"]) == ids
    env = {"AUGUR_DATABASE_URL": store_url, "AUGUR_DATA_DIR": str(tmp_path)}
    listed_cli = CliRunner().invoke(cli, ["rules", "review", "--incident", str(incident_id)], env=env)
    assert listed_cli.exit_code == 0, listed_cli.output
    assert {line.split()[0] for line in listed_cli.output.splitlines()} == ids
    other = CliRunner().invoke(cli, ["rules", "review", "--incident", str(incident_id + 1)], env=env)
    assert other.output.strip() == f"no pending proposals for incident {incident_id + 1}"

    # The job runs again (a retry, a redelivery): the same rules are found, none stored twice.
    asyncio.run(handlers["investigate"](_job(store), store))
    assert {p.id for p in SqlProposalStore(store).find()} == ids
    _, again = _events(store, "proposals_created")
    assert again["ids"] == [] and sum("already proposed" in s for s in again["skipped"]) == len(ids)


def test_proposals_are_posted_with_buttons_in_the_incident_thread(
    store: Store, store_url: str, prom_history: PromHistory, slack_api: SlackRecorder, tmp_path: Path,
) -> None:
    settings = settings_for(store_url, data_dir=tmp_path, prometheus_url=prom_history.url,
                            catalog_file=PLATFORM, slack_bot_token="xoxb-test",
                            slack_api_url=slack_api.api_url, slack_channel="C0INCIDENTS")
    write_platform_logs(tmp_path, prom_history.t_end, prom_history.onsets)
    client = _client(settings, store)
    assert client.post("/v1/alertmanager",
                       json=latency_alert(prom_history.t_end - 5 * 60, prom_history.url)).status_code < 300
    handlers = default_handlers(settings)
    assert Worker(store, handlers, lease_seconds=30).run_once()

    ids = [p.id for p in SqlProposalStore(store).find()]
    posts = slack_api.calls_to("chat.postMessage")
    assert len(ids) >= 2 and len(posts) == 2 + len(ids), [p.body.get("text") for p in posts]
    opening, report, *proposal_posts = posts
    assert "thread_ts" not in opening.body and "Incident #" in str(opening.body["text"])
    thread = None
    for call in [report, *proposal_posts]:
        thread = thread or call.body["thread_ts"]
        assert call.body["thread_ts"] == thread and call.body["channel"] == "C0INCIDENTS"
    posted_ids = []
    for call in proposal_posts:
        blocks = call.body["blocks"]
        blocks = json.loads(blocks) if isinstance(blocks, str) else blocks
        (actions,) = [b for b in blocks if b["type"] == "actions"]
        assert [e["text"]["text"] for e in actions["elements"]] == ["Approve", "Reject"]
        posted_ids.append(actions["elements"][0]["value"])
    assert sorted(posted_ids) == sorted(ids)

    # A rerun posts its report again in the same thread, but no proposal a second time.
    asyncio.run(handlers["investigate"](_job(store), store))
    again = slack_api.calls_to("chat.postMessage")[len(posts):]
    assert len(again) == 1 and again[0].body["thread_ts"] == thread
    assert len(_events(store, "slack_proposal_posted")) == len(ids)


def test_a_failing_proposal_step_does_not_fail_the_investigation(
    store: Store, store_url: str, prom_history: PromHistory, tmp_path: Path,
) -> None:
    """Prometheus for the proposals is down (the investigation's tools still reach the fixture)."""
    dead = f"http://127.0.0.1:{free_port()}"
    settings = settings_for(store_url, data_dir=tmp_path, prometheus_url=dead, catalog_file=PLATFORM)
    client = _client(settings, store)
    assert client.post("/v1/alertmanager",
                       json=latency_alert(prom_history.t_end - 5 * 60, prom_history.url)).status_code < 300
    handler = investigation_handler(settings, registry=registry_for(prom_history.url, tmp_path))
    assert Worker(store, {"investigate": handler}, lease_seconds=30).run_once()

    with store.read_session() as session:
        job = session.scalars(select(Job)).one()
    assert job.status == "done" and job.attempts == 1
    incident_id = client.get("/v1/incidents").json()["incidents"][0]["id"]
    assert client.get(f"/v1/incidents/{incident_id}/report").status_code == 200
    (failed,) = _events(store, "proposals_failed")
    assert dead in failed["reason"] and "check the Prometheus URL" in failed["reason"]
    assert client.get("/v1/proposals").json()["proposals"] == []


def test_without_prometheus_the_skip_is_on_the_timeline(
    store: Store, store_url: str, prom_history: PromHistory, tmp_path: Path,
) -> None:
    settings = settings_for(store_url, data_dir=tmp_path, catalog_file=PLATFORM)
    client = _client(settings, store)
    assert client.post("/v1/alertmanager",
                       json=latency_alert(prom_history.t_end - 5 * 60, prom_history.url)).status_code < 300
    handler = investigation_handler(settings, registry=registry_for(prom_history.url, tmp_path))
    assert Worker(store, {"investigate": handler}, lease_seconds=30).run_once()
    (skipped,) = _events(store, "proposals_skipped")
    assert "AUGUR_PROMETHEUS_URL is not set" in skipped["reason"]
    assert _events(store, "proposals_created") == []
