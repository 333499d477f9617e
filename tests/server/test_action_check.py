"""After an approved action ran, augur checks whether the incident recovered and says so on its timeline.

The action is a retrain (a loopback webhook recorder stands in for the pipeline, as in
test_actions_retrain_scale.py); the follow-up job is run by a real worker on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from augur.server.jobs.action_check import OUTCOME, action_check_handler
from augur.server.jobs.actions import propose_actions_for_report
from augur.server.jobs.worker import Worker
from augur.server.settings import Settings
from augur.server.store.database import Store
from augur.server.store.models import AlertEpisode, IncidentEvent, Job, utcnow
from augur.server.store.queue import ACTION_CHECK
from augur.server.web.app import create_app
from tests.fixtures.incidents import seed_incident
from tests.fixtures.kubernetes_api import webhook_recorder
from tests.server.test_actions_retrain_scale import AUTH, REVIEWERS, _report, _root


def _outcomes(store: Store, incident_id: int) -> list[dict[str, Any]]:
    with store.read_session() as session:
        return [e.detail for e in session.scalars(select(IncidentEvent).where(
            IncidentEvent.incident_id == incident_id, IncidentEvent.kind == OUTCOME))]


def _approved_retrain(store: Store, tmp_path: Path, url: str, followup_s: float) -> int:
    settings = Settings(data_dir=tmp_path, worker_in_process=False, reviewers=["alice"],
                        reviewer_tokens=REVIEWERS, retrain_webhook_url=url,
                        action_followup_seconds=followup_s)
    incident = seed_incident(store, None, component="ranker-model")
    report = _report(_root("data_drift", "ranker-model"), {})
    stored = propose_actions_for_report(settings, store, incident, report)
    assert stored is not None
    [proposal_id] = stored["ids"]
    client = TestClient(create_app(settings, store=store, handlers={}))
    approved = client.post(f"/v1/proposals/{proposal_id}/approve", headers=AUTH["alice"])
    assert approved.status_code == 200 and approved.json()["changed"], approved.text
    return incident


def test_the_check_is_queued_for_later_and_says_when_alerts_still_fire(store: Store, tmp_path: Path) -> None:
    with webhook_recorder() as hook:
        incident = _approved_retrain(store, tmp_path, hook.url, followup_s=900)
    with store.read_session() as session:
        [job] = session.scalars(select(Job).where(Job.kind == ACTION_CHECK)).all()
    assert job.payload["incident_id"] == incident
    assert timedelta(seconds=890) < job.run_after - utcnow() <= timedelta(seconds=900)
    worker = Worker(store, {ACTION_CHECK: action_check_handler()}, poll_seconds=0.01)
    assert not worker.run_once()  # not due yet: nothing checked before the follow-up time
    with store.transaction() as session:
        session.execute(update(Job).where(Job.id == job.id).values(run_after=utcnow()))
    assert worker.run_once()
    [outcome] = _outcomes(store, incident)
    assert outcome["recovered"] is False and outcome["still_firing"] == ["RankerP99High"]
    assert "still firing" in outcome["summary"] and "retrain" in outcome["summary"]


def test_resolved_alerts_read_as_recovered_once(store: Store, tmp_path: Path) -> None:
    with webhook_recorder() as hook:
        incident = _approved_retrain(store, tmp_path, hook.url, followup_s=0)
    with store.transaction() as session:
        session.execute(update(AlertEpisode).where(AlertEpisode.incident_id == incident)
                        .values(status="resolved", ends_at=utcnow()))
    worker = Worker(store, {ACTION_CHECK: action_check_handler()}, poll_seconds=0.01)
    assert worker.run_once()
    # The job runs again (its worker died after recording, say): nothing is recorded twice.
    with store.transaction() as session:
        session.execute(update(Job).where(Job.kind == ACTION_CHECK)
                        .values(status="queued", run_after=utcnow()))
    assert worker.run_once()
    [outcome] = _outcomes(store, incident)
    assert outcome["recovered"] is True and outcome["still_firing"] == []
    assert "the SLI recovered" in outcome["summary"]
