"""Actions, proposed and approved: a model rollback in a real MLflow server, once, by a reviewer.

The acceptance case runs the ``model-version-registry-rollout`` scenario (home-ranker v2 goes live
in MLflow 95 minutes before the accuracy alert) through the real investigation: its report
proposes the rollback, and approving it through the API moves ``champion`` back to v1, once.

A model is registered in the session's real ``mlflow server`` (tests/fixtures/mlflow.py) with two
versions and ``champion -> 2`` (version 2 deployed ten minutes ago). The real ``model_registry``
tool reads it, the agent proposes the rollback from that evidence, the server previews it (a dry
run against MLflow) and stores it as a pending proposal; approving it through the API moves the
alias in MLflow, once, and the audit shows who.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from augur.agent.actions import propose_actions
from augur.agent.report import AlertSummary, ProposedAction, Report, RootCause, RunStats
from augur.evals.mlflow_server import populate
from augur.evals.runner import run_case
from augur.evals.scenario import SCENARIO_DIR, load_scenario
from augur.rules.proposal import ProposalState
from augur.server.jobs.actions import propose_actions_for_report
from augur.server.review import service_from_settings
from augur.server.settings import Settings
from augur.server.store.database import Store
from augur.server.store.models import IncidentEvent
from augur.server.store.proposals import SqlProposalStore
from augur.server.web.app import create_app
from augur.tools.model_registry import ModelRegistryTool
from tests.fixtures.approvals import approve_at_once
from tests.fixtures.incidents import seed_incident
from tests.fixtures.mlflow import MlflowRegistry

REVIEWERS = {"alice": "tok-alice-123456", "bob": "tok-bob-1234567", "eve": "tok-eve-1234567"}


def _register(url: str, *, third: bool = False) -> str:
    """A fresh model with v1 (accuracy 0.80) and v2 (0.70, deployed 10 min ago), champion -> 2
    (and, if asked, a v3 created before v2 went live, that nothing points at yet)."""
    name = f"ranker-actions-{uuid.uuid4().hex[:8]}"
    deployed = datetime.fromtimestamp(time.time() - 600, UTC).isoformat().replace("+00:00", "Z")
    versions = [
        {"metrics": {"accuracy": 0.80}},
        {"metrics": {"accuracy": 0.70}, "tags": {"deployed_at": deployed, "previous_version": "1"}},
    ]
    if third:
        versions.append({"metrics": {"accuracy": 0.90}})
    populate(url, {"models": [{"name": name, "versions": versions, "aliases": {"champion": 2}}]})
    return name


def _alias(url: str, model: str, alias: str = "champion") -> str:
    got = httpx.get(f"{url}/api/2.0/mlflow/registered-models/alias", params={"name": model, "alias": alias})
    got.raise_for_status()
    return str(got.json()["model_version"]["version"])


def _report(root: RootCause, actions: list[ProposedAction]) -> Report:
    now = datetime.now(UTC)
    return Report(
        investigation_id="inv-actions",
        title="RankerAccuracyLow: ranker-model bad model version",
        generated_at=now,
        alert=AlertSummary(name="RankerAccuracyLow", starts_at=now),
        window_start=now,
        window_end=now,
        summary=root.summary,
        root_cause=root,
        actions=actions,
        stats=RunStats(planner="sop", tool_calls=1, refused_calls=0, rounds=1, wall_s=0.1, backend_s=0.1),
    )


def _proposed_rollback(url: str, model: str) -> tuple[RootCause, list[ProposedAction], str]:
    ev = asyncio.run(ModelRegistryTool.mlflow(None, url).run({"model": model, "since": time.time() - 3600}))
    assert ev.status == "ok", ev.reason
    root = RootCause(
        verdict="identified",
        component="ranker-model",
        signal="ranker-model.model_version",
        fault_type="bad_model_version",
        confidence=0.8,
        summary="ranker-model: bad model version (confidence 0.80)",
        evidence_ids=[ev.id],
    )
    return root, propose_actions(root, {ev.id: ev.model_dump(mode="json")}), ev.id


def _settings(tmp_path: Path, url: str) -> Settings:
    return Settings(
        data_dir=tmp_path,
        worker_in_process=False,
        mlflow_url=url,
        reviewers=["alice", "bob"],
        reviewer_tokens=REVIEWERS,
    )


def _timeline(store: Store, incident_id: int, kind: str) -> list[dict[str, Any]]:
    with store.read_session() as session:
        return [
            e.detail
            for e in session.scalars(
                select(IncidentEvent).where(
                    IncidentEvent.incident_id == incident_id, IncidentEvent.kind == kind
                )
            )
        ]


def test_the_report_proposes_the_rollback_and_approving_moves_the_alias_once(
    mlflow_registry: MlflowRegistry,
    store: Store,
    tmp_path: Path,
) -> None:
    model = _register(mlflow_registry.url)
    root, actions, ev_id = _proposed_rollback(mlflow_registry.url, model)
    assert [(a.kind, a.params) for a in actions] == [
        ("rollback_model", {"model": model, "alias": "champion", "from_version": "2", "to_version": "1"})
    ]
    assert ev_id in actions[0].evidence_ids and "v2 went live as @champion" in actions[0].why

    settings = _settings(tmp_path, mlflow_registry.url)
    incident = seed_incident(store, None, title="RankerAccuracyLow on ranker-model", component="ranker-model")
    stored = propose_actions_for_report(settings, store, incident, _report(root, actions))
    assert stored is not None and stored["kind"] == "actions_proposed" and stored["skipped"] == []
    [proposal_id] = stored["ids"]
    assert _alias(mlflow_registry.url, model) == "2"  # the dry run changed nothing

    client = TestClient(create_app(settings, store=store))
    auth = {name: {"Authorization": f"Bearer {token}"} for name, token in REVIEWERS.items()}
    [shown] = client.get(
        "/v1/proposals",
        params={"state": "pending", "incident_id": incident, "kind": "action"},
        headers=auth["alice"],
    ).json()["proposals"]
    rules = client.get("/v1/proposals", params={"kind": "rule"}, headers=auth["alice"]).json()["proposals"]
    assert rules == []
    assert shown["id"] == proposal_id and shown["kind"] == "rollback_model"
    assert shown["title"] == f"action rollback model: {model}@champion 2 → 1"
    assert shown["validation"]["ok"] is True and shown["validation"]["tool"] == "dry run (MLflow)"
    assert f"{model}@champion now → version 2" in shown["validation"]["output"]
    assert "Nothing changed yet" in shown["validation"]["output"]

    # Not on the allowlist: refused, nothing executed.
    refused = client.post(f"/v1/proposals/{proposal_id}/approve", headers=auth["eve"])
    assert refused.status_code == 403 and "allowlist" in refused.json()["reason"]
    assert _alias(mlflow_registry.url, model) == "2"
    assert SqlProposalStore(store).get(proposal_id).state is ProposalState.PENDING  # type: ignore[union-attr]

    # Two reviewers approve at once: one of them moves the alias, the other gets the settled state.
    answers = approve_at_once(client, proposal_id, auth, body={"comment": "roll back"})
    assert sorted(a["changed"] for a in answers) == [False, True]
    assert _alias(mlflow_registry.url, model) == "1"

    detail = client.get(f"/v1/proposals/{proposal_id}", headers=auth["alice"]).json()
    assert detail["state"] == "applied"
    steps = [(e["to_state"], e["actor"]) for e in detail["events"]]
    approver = next(a["proposal"]["events"][1]["actor"] for a in answers if a["changed"])
    assert steps == [("pending", "augur"), ("approved", approver), ("applied", "augur")]
    assert (
        f"{model}@champion: version 2 → 1; checked: MLflow now answers version 1"
        in detail["events"][2]["comment"]
    )
    [executed] = _timeline(store, incident, "action_executed")
    assert executed["approved_by"] == approver and executed["proposal_id"] == proposal_id
    assert executed["approved_at"] and "now answers version 1" in executed["result"]

    # A replay later executes nothing more.
    again = client.post(f"/v1/proposals/{proposal_id}/approve", headers=auth["alice"])
    assert again.status_code == 200 and again.json()["changed"] is False
    assert len(_timeline(store, incident, "action_executed")) == 1


@pytest.mark.slow
def test_the_model_version_scenario_proposes_the_rollback_and_approving_it_moves_the_alias_once(
    mlflow_registry: MlflowRegistry,
    tmp_path: Path,
) -> None:
    # SQLite only: the scenario is slow, and the other tests run the approvals on PostgreSQL too.
    store = Store.open(f"sqlite:///{tmp_path / 'augur.db'}")
    scenario = load_scenario(SCENARIO_DIR / "model-version-registry-rollout.yaml")
    reports: list[Report] = []
    case = asyncio.run(
        run_case(scenario, tmp_path / "case", mlflow_url=mlflow_registry.url, on_report=reports.append)
    )
    assert case.error is None and case.fault_type == "bad_model_version", case.as_dict()
    report = reports[0]
    registry_ids = {e.id for e in report.evidence if e.tool == "model_registry"}
    [rollback] = report.actions
    assert rollback.kind == "rollback_model" and rollback.params == {
        "model": "home-ranker",
        "alias": "champion",
        "from_version": "2",
        "to_version": "1",
    }
    assert registry_ids and registry_ids <= set(rollback.evidence_ids)
    assert _alias(mlflow_registry.url, "home-ranker") == "2"

    settings = _settings(tmp_path, mlflow_registry.url)
    incident = seed_incident(store, report, title="RankerAccuracyLow on feed-ranker", component="feed-ranker")
    stored = propose_actions_for_report(settings, store, incident, report)
    assert stored is not None and stored["skipped"] == []
    [proposal_id] = stored["ids"]
    client = TestClient(create_app(settings, store=store))
    auth = {name: {"Authorization": f"Bearer {token}"} for name, token in REVIEWERS.items()}
    assert client.post(f"/v1/proposals/{proposal_id}/approve", headers=auth["eve"]).status_code == 403
    assert _alias(mlflow_registry.url, "home-ranker") == "2"
    answers = approve_at_once(client, proposal_id, auth)
    assert sorted(a["changed"] for a in answers) == [False, True]
    assert _alias(mlflow_registry.url, "home-ranker") == "1"
    events = SqlProposalStore(store).events(proposal_id)
    assert [(e.to_state.value, e.actor) for e in events] == [
        ("pending", "augur"),
        ("approved", events[1].actor),
        ("applied", "augur"),
    ]
    assert events[1].actor in ("alice", "bob")
    [executed] = _timeline(store, incident, "action_executed")
    assert (
        executed["approved_by"] == events[1].actor
        and "home-ranker@champion: version 2 → 1" in executed["result"]
    )
    store.dispose()


def test_concurrent_approvals_send_one_move_to_mlflow(
    mlflow_registry: MlflowRegistry,
    store: Store,
    tmp_path: Path,
) -> None:
    model = _register(mlflow_registry.url)
    root, actions, _ = _proposed_rollback(mlflow_registry.url, model)
    settings = _settings(tmp_path, mlflow_registry.url)
    incident = seed_incident(store, None, component="ranker-model")
    stored = propose_actions_for_report(settings, store, incident, _report(root, actions))
    assert stored is not None
    [proposal_id] = stored["ids"]
    moves: list[str] = []

    def count(request: httpx.Request) -> None:
        if request.method == "POST" and request.url.path.endswith("/registered-models/alias"):
            moves.append(request.content.decode())

    service = service_from_settings(settings, SqlProposalStore(store), store)
    service.http = httpx.Client(event_hooks={"request": [count]})
    barrier = threading.Barrier(4)

    def approve(who: str) -> None:
        barrier.wait()
        service.decide_as(proposal_id, "approve", who, "")

    threads = [threading.Thread(target=approve, args=(who,)) for who in ("alice", "bob", "alice", "bob")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    service.http.close()
    assert len(moves) == 1 and '"version":"1"' in moves[0].replace(" ", "")
    assert _alias(mlflow_registry.url, model) == "1"
    assert [e.to_state.value for e in SqlProposalStore(store).events(proposal_id)] == [
        "pending",
        "approved",
        "applied",
    ]


def test_an_alias_moved_since_the_proposal_is_not_overwritten(
    mlflow_registry: MlflowRegistry,
    store: Store,
    tmp_path: Path,
) -> None:
    model = _register(mlflow_registry.url, third=True)
    root, actions, _ = _proposed_rollback(mlflow_registry.url, model)
    settings = _settings(tmp_path, mlflow_registry.url)
    incident = seed_incident(store, None, component="ranker-model")
    stored = propose_actions_for_report(settings, store, incident, _report(root, actions))
    assert stored is not None
    [proposal_id] = stored["ids"]
    # Someone points the alias at version 3 by hand before the approval.
    httpx.post(
        f"{mlflow_registry.url}/api/2.0/mlflow/registered-models/alias",
        json={"name": model, "alias": "champion", "version": "3"},
    ).raise_for_status()
    client = TestClient(create_app(settings, store=store))
    answer = client.post(
        f"/v1/proposals/{proposal_id}/approve", headers={"Authorization": f"Bearer {REVIEWERS['bob']}"}
    ).json()
    assert answer["proposal"]["state"] == "failed"
    assert "points at version 3 now" in answer["proposal"]["events"][-1]["comment"]
    assert _alias(mlflow_registry.url, model) == "3"
    [failed] = _timeline(store, incident, "action_failed")
    assert failed["approved_by"] == "bob" and "someone changed it since" in failed["result"]


def test_a_rollback_is_not_proposed_without_mlflow_configured(store: Store, tmp_path: Path) -> None:
    root = RootCause(
        verdict="identified",
        component="ranker-model",
        fault_type="bad_model_version",
        confidence=0.8,
        summary="ranker-model: bad model version",
        evidence_ids=[],
    )
    action = ProposedAction(
        kind="rollback_model",
        target="ranker",
        why="v2 went live",
        params={"model": "ranker", "alias": "champion", "from_version": "2", "to_version": "1"},
    )
    incident = seed_incident(store, None)
    stored = propose_actions_for_report(
        Settings(data_dir=tmp_path, worker_in_process=False), store, incident, _report(root, [action])
    )
    assert stored is not None and stored["ids"] == []
    assert "AUGUR_MLFLOW_URL is not set" in stored["skipped"][0]
    assert SqlProposalStore(store).find() == []
    assert _timeline(store, incident, "actions_proposed")[0]["skipped"] == stored["skipped"]
