"""An approved action whose approving process died still runs, once, on another worker.

The approval queues the execution as a job in its own transaction; the approving process claims
it and runs it at once. Here that process "dies" (an exception no handler catches, as a kill
would leave things) at each step — right after the approval, after claiming the job but before
executing, after executing but before the timeline records it — and then, once the job's grace
or lease has passed, a real worker takes over. The action is a retrain: a loopback webhook
recorder stands in for the pipeline (as in test_actions_retrain_scale.py) and counts the POSTs.
Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from augur.rules.proposal import ProposalState
from augur.server import review
from augur.server.jobs.actions import propose_actions_for_report
from augur.server.review import ProposalService, execute_action_handler, service_from_settings
from augur.server.settings import Settings
from augur.server.store.database import Store
from augur.server.store.models import IncidentEvent
from augur.server.store.proposals import EXECUTE_ACTION, SqlProposalStore
from augur.server.store.queue import ACTION_CHECK, JobQueue
from tests.fixtures.crash import Crash, die, jobs_of, take_over
from tests.fixtures.incidents import seed_incident
from tests.fixtures.kubernetes_api import webhook_recorder
from tests.server.test_actions_retrain_scale import REVIEWERS, _report, _root

#: Where the approving process dies: the function that raises instead of running.
STEPS = {
    "after-the-approval": (JobQueue, "claim_job"),
    "before-executing": (review, "execute_approved"),
    "after-executing": (ProposalService, "_record"),
}


def _timeline(store: Store, incident_id: int) -> list[IncidentEvent]:
    with store.read_session() as session:
        return list(session.scalars(select(IncidentEvent).where(
            IncidentEvent.incident_id == incident_id,
            IncidentEvent.kind.in_(("action_executed", "action_failed")))))


def _proposed(store: Store, tmp_path: Path, retrain_url: str) -> tuple[Settings, int, int]:
    """Settings with alice as reviewer, an incident on ranker-model and its retrain proposal's id."""
    settings = Settings(data_dir=tmp_path, worker_in_process=False, reviewers=["alice"],
                        reviewer_tokens=REVIEWERS, retrain_webhook_url=retrain_url)
    incident = seed_incident(store, None, component="ranker-model")
    stored = propose_actions_for_report(settings, store, incident,
                                        _report(_root("data_drift", "ranker-model"), {}))
    assert stored is not None
    [proposal_id] = stored["ids"]
    return settings, incident, proposal_id


@pytest.mark.parametrize("step", sorted(STEPS))
def test_the_approver_dies_and_another_worker_runs_the_action_once(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str,
) -> None:
    with webhook_recorder() as hook:
        settings, incident, proposal_id = _proposed(store, tmp_path, hook.url)
        repo = SqlProposalStore(store)

        with monkeypatch.context() as patch:
            patch.setattr(*STEPS[step], die)
            with pytest.raises(Crash):
                service_from_settings(settings, repo, store).decide_as(proposal_id, "approve", "alice", "")
        executed = 1 if step == "after-executing" else 0
        assert len(hook.requests) == executed
        assert repo.get(proposal_id).state is (  # type: ignore[union-attr]
            ProposalState.APPLIED if executed else ProposalState.APPROVED)
        assert _timeline(store, incident) == []  # nothing says so yet
        [job] = jobs_of(store, EXECUTE_ACTION)
        assert job.status == ("queued" if step == "after-the-approval" else "running")

        take_over(store, job, execute_action_handler(settings))

        assert len(hook.requests) == 1  # exactly once, whichever step the approver died at
        assert [e.to_state.value for e in repo.events(proposal_id)] == ["pending", "approved", "applied"]
        [event] = _timeline(store, incident)
        assert event.kind == "action_executed" and event.detail["approved_by"] == "alice"
        assert "answered HTTP 201" in event.detail["result"]
        [done] = jobs_of(store, EXECUTE_ACTION)
        assert done.status == "done"
        assert len(jobs_of(store, ACTION_CHECK)) == 1  # and its follow-up check is queued

        # A replayed approval changes nothing and sends nothing.
        again = service_from_settings(settings, repo, store).decide_as(proposal_id, "approve", "alice", "")
        assert not again.changed and len(hook.requests) == 1 and len(jobs_of(store, EXECUTE_ACTION)) == 1


def test_the_approving_process_runs_the_job_itself(store: Store, tmp_path: Path) -> None:
    with webhook_recorder() as hook:
        settings, incident, proposal_id = _proposed(store, tmp_path, hook.url)
        outcome = service_from_settings(settings, SqlProposalStore(store), store).decide_as(
            proposal_id, "approve", "alice", "")
        assert outcome.changed and outcome.proposal.state is ProposalState.APPLIED
        assert len(hook.requests) == 1
        [job] = jobs_of(store, EXECUTE_ACTION)
        assert job.status == "done" and job.attempts == 1
        [event] = _timeline(store, incident)
        assert event.detail["job_id"] == job.id
