"""Retrain (a webhook) and scale (Kubernetes) actions: previewed, approved by a reviewer, run once, checked.

No Kubernetes cluster runs here: the ``scale`` action is tested against a scripted API server on
loopback (tests/fixtures/kubernetes_api.py) that answers the ``deployments/scale`` subresource at
the HTTP level as the real one does (dry runs included), reached through the official
``kubernetes`` client. The retraining pipeline is a loopback webhook recorder.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from augur.agent.actions import propose_actions
from augur.agent.report import AlertSummary, ProposedAction, Report, RootCause, RunStats
from augur.rules.actions import ActionConfig, preview
from augur.server.jobs.actions import propose_actions_for_report
from augur.server.settings import Settings
from augur.server.store.database import Store
from augur.server.store.models import IncidentEvent
from augur.server.store.proposals import SqlProposalStore
from augur.server.web.app import create_app
from tests.fixtures.approvals import approve_at_once
from tests.fixtures.incidents import seed_incident
from tests.fixtures.kubernetes_api import kubernetes_api, webhook_recorder

REVIEWERS = {"alice": "tok-alice-123456", "bob": "tok-bob-1234567", "eve": "tok-eve-1234567"}
AUTH = {name: {"Authorization": f"Bearer {token}"} for name, token in REVIEWERS.items()}
K8S_TOKEN = "sa-token-augur-actions"


def _root(fault_type: str, component: str = "ranker-serving") -> RootCause:
    return RootCause(
        verdict="identified",
        component=component,
        fault_type=fault_type,
        confidence=0.7,
        summary=f"{component}: {fault_type.replace('_', ' ')} (confidence 0.70)",
        evidence_ids=["ev-0123456789ab"],
    )


def _report(root: RootCause, labels: dict[str, str]) -> Report:
    now = datetime.now(UTC)
    return Report(
        investigation_id="inv-actions",
        title=f"alert: {root.summary}",
        generated_at=now,
        alert=AlertSummary(name="RankerP99High", labels=labels, starts_at=now),
        window_start=now,
        window_end=now,
        summary=root.summary,
        root_cause=root,
        actions=propose_actions(root, {}, labels),
        stats=RunStats(planner="sop", tool_calls=1, refused_calls=0, rounds=1, wall_s=0.1, backend_s=0.1),
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


def test_scale_is_dry_run_then_applied_once_and_the_replicas_read_back(store: Store, tmp_path: Path) -> None:
    with kubernetes_api({("ranking", "ranker-serving"): 3}, K8S_TOKEN) as kube:
        settings = Settings(
            data_dir=tmp_path,
            worker_in_process=False,
            reviewers=["alice", "bob"],
            reviewer_tokens=REVIEWERS,
            kubernetes_url=kube.url,
            kubernetes_token=K8S_TOKEN,
        )
        report = _report(_root("resource_saturation"), {"namespace": "ranking", "service": "ranker"})
        assert [(a.kind, a.params) for a in report.actions] == [
            ("scale", {"deployment": "ranker-serving", "factor": 2, "namespace": "ranking"})
        ]
        incident = seed_incident(store, None)
        stored = propose_actions_for_report(settings, store, incident, report)
        assert stored is not None and stored["skipped"] == []
        [proposal_id] = stored["ids"]
        # The preview is the API server's own dry run; nothing changed.
        [dry] = kube.patches(dry_run=True)
        assert dry.body == {"spec": {"replicas": 6}} and dry.content_type == "application/merge-patch+json"
        assert kube.patches(dry_run=False) == [] and kube.deployments[("ranking", "ranker-serving")] == 3

        client = TestClient(create_app(settings, store=store))
        shown = client.get(f"/v1/proposals/{proposal_id}", headers=AUTH["alice"]).json()
        assert shown["title"] == "action scale: deployment ranking/ranker-serving 3 → 6 replicas"
        assert (
            "dry run (dryRun=All) accepted: deployment ranking/ranker-serving 3 → 6"
            in shown["validation"]["output"]
        )

        refused = client.post(f"/v1/proposals/{proposal_id}/approve", headers=AUTH["eve"])
        assert refused.status_code == 403 and kube.patches(dry_run=False) == []

        answers = approve_at_once(client, proposal_id, AUTH)
        assert sorted(a["changed"] for a in answers) == [False, True]
        [patch] = kube.patches(dry_run=False)
        assert (
            patch.body == {"spec": {"replicas": 6}}
            and patch.headers["authorization"] == f"Bearer {K8S_TOKEN}"
        )
        assert kube.deployments[("ranking", "ranker-serving")] == 6
        done = SqlProposalStore(store).events(proposal_id)
        assert [e.to_state.value for e in done] == ["pending", "approved", "applied"]
        assert "checked: spec.replicas 6" in done[-1].comment
        [executed] = _timeline(store, incident, "action_executed")
        assert executed["approved_by"] == done[1].actor and "scaled to 6 replicas" in executed["result"]


def test_scale_refusals_are_shown_not_stored(tmp_path: Path) -> None:
    with kubernetes_api({("default", "other"): 2}, K8S_TOKEN) as kube:
        config = ActionConfig(kubernetes_url=kube.url, kubernetes_token=K8S_TOKEN)
        missing = preview("scale", {"deployment": "ranker-serving", "factor": 2}, config)
        assert not missing.ok and 'HTTP 404 deployments.apps "ranker-serving" not found' in missing.detail
        wrong = preview(
            "scale",
            {"deployment": "other", "factor": 2},
            ActionConfig(kubernetes_url=kube.url, kubernetes_token="stolen-token-xx"),
        )
        assert not wrong.ok and "HTTP 401" in wrong.detail
        assert kube.deployments[("default", "other")] == 2
    unset = preview("scale", {"deployment": "other"}, ActionConfig())
    assert not unset.ok and "AUGUR_KUBERNETES_URL is not set" in unset.detail


def test_retrain_posts_the_incident_and_model_once_and_requires_a_2xx(store: Store, tmp_path: Path) -> None:
    with webhook_recorder() as hook:
        settings = Settings(
            data_dir=tmp_path,
            worker_in_process=False,
            reviewers=["alice", "bob"],
            reviewer_tokens=REVIEWERS,
            retrain_webhook_url=hook.url,
            retrain_webhook_token="pipeline-secret-1",
        )
        report = _report(_root("data_drift", "ranker-model"), {})
        incident = seed_incident(store, None, component="ranker-model")
        stored = propose_actions_for_report(settings, store, incident, report)
        assert stored is not None
        [proposal_id] = stored["ids"]
        assert hook.requests == []  # a webhook has no dry run: nothing is sent before approval
        client = TestClient(create_app(settings, store=store))
        shown = client.get(f"/v1/proposals/{proposal_id}", headers=AUTH["alice"]).json()
        assert (
            f"approving POSTs the incident and model (ranker-model) as JSON to {hook.url}"
            in shown["validation"]["output"]
        )

        answers = approve_at_once(client, proposal_id, AUTH)
        assert sorted(a["changed"] for a in answers) == [False, True]
        [sent] = hook.requests
        approver = SqlProposalStore(store).events(proposal_id)[1].actor
        assert sent.body["incident_id"] == incident and sent.body["component"] == "ranker-model"
        assert sent.body["fault_type"] == "data_drift" and sent.body["approved_by"] == approver
        assert sent.headers["authorization"] == "Bearer pipeline-secret-1"
        assert sent.headers["idempotency-key"] == proposal_id
        [executed] = _timeline(store, incident, "action_executed")
        assert "answered HTTP 201" in executed["result"] and "retrain-1" in executed["result"]


def test_a_failing_pipeline_marks_the_action_failed_and_a_new_approval_retries(
    store: Store, tmp_path: Path
) -> None:
    with webhook_recorder(status=503) as hook:
        settings = Settings(
            data_dir=tmp_path,
            worker_in_process=False,
            reviewers=["alice"],
            reviewer_tokens=REVIEWERS,
            retrain_webhook_url=hook.url,
        )
        incident = seed_incident(store, None, component="ranker-model")
        stored = propose_actions_for_report(
            settings, store, incident, _report(_root("model_degradation", "ranker-model"), {})
        )
        assert stored is not None
        [proposal_id] = stored["ids"]
        client = TestClient(create_app(settings, store=store))
        failed = client.post(f"/v1/proposals/{proposal_id}/approve", headers=AUTH["alice"]).json()
        assert failed["proposal"]["state"] == "failed"
        assert "answered HTTP 503" in failed["proposal"]["events"][-1]["comment"]
        assert _timeline(store, incident, "action_failed")[0]["approved_by"] == "alice"
        hook.status = 202
        retried = client.post(f"/v1/proposals/{proposal_id}/approve", headers=AUTH["alice"]).json()
        assert retried["changed"] is True and retried["proposal"]["state"] == "applied"
        assert len(hook.requests) == 2


def test_actions_need_a_cause_the_action_fits() -> None:
    assert propose_actions(_root("gpu_oom"), {}) == []
    inconclusive = RootCause(
        verdict="inconclusive", component=None, fault_type="unknown", confidence=0.1, summary="inconclusive"
    )
    assert propose_actions(inconclusive, {}) == []
    # A model-version cause without registry evidence of an alias: nothing to roll back.
    assert propose_actions(_root("bad_model_version", "ranker-model"), {}) == []
    assert isinstance(propose_actions(_root("traffic_surge"), {})[0], ProposedAction)
