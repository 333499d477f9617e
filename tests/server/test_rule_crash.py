"""An approved rule whose approving process died is still applied, once, by another worker.

The approval queues the apply (promtool, the rule file, the reload) as an ``apply_rule`` job in
its own transaction; the approving process claims it and runs it at once. Here that process "dies"
(an exception no handler catches, as a kill would leave things) at each step — right after the
approval, after claiming the job but before applying, after writing the file and reloading
Prometheus but before recording ``applied``, and after recording it but before finishing the job —
and then, once the job's grace or lease has passed, a real worker takes over. Prometheus is real
(``PrometheusServer``, loading the rules directory augur writes into). Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from augur.evals.servers import PrometheusServer
from augur.rules import apply
from augur.rules.proposal import ProposalState
from augur.server import review
from augur.server.review import apply_rule_handler, service_from_settings
from augur.server.settings import Settings
from augur.server.store.database import Store
from augur.server.store.proposals import APPLY_RULE, SqlProposalStore
from augur.server.store.queue import JobQueue
from tests.fixtures.crash import Crash, die, jobs_of, take_over
from tests.rules.samples import drift_proposal

pytestmark = pytest.mark.slow

RULE = "RankerClickDurationDrift"


#: Where the approving process dies: the function that raises instead of running.
STEPS = {
    "after-the-approval": (JobQueue, "claim_job"),
    "before-applying": (review, "apply_approved"),
    "after-writing-the-file": (apply, "mark_applied"),
    "after-recording-applied": (JobQueue, "complete"),
}


@pytest.fixture
def prom(tmp_path: Path) -> Iterator[PrometheusServer]:
    with PrometheusServer.start(tmp_path / "prom") as server:
        yield server


def _settings(tmp_path: Path, prom: PrometheusServer) -> Settings:
    return Settings(data_dir=tmp_path, worker_in_process=False, reviewers=["alice"],
                    reviewer_tokens={"alice": "tok-alice"}, rules_dir=prom.rules_dir, prometheus_url=prom.url)


def _loaded(prom: PrometheusServer) -> list[str]:
    """The rules Prometheus has loaded in the proposal's group."""
    groups = httpx.get(f"{prom.url}/api/v1/rules", timeout=5).json()["data"]["groups"]
    return [r["name"] for g in groups if g["name"] == "augur-proposed" for r in g["rules"]]


def _in_file(prom: PrometheusServer) -> list[str]:
    path = prom.rules_dir / "augur-proposed.yml"
    if not path.exists():
        return []
    return [r["alert"] for g in yaml.safe_load(path.read_text())["groups"] for r in g["rules"]]


@pytest.mark.parametrize("step", sorted(STEPS))
def test_the_approver_dies_and_another_worker_applies_the_rule_once(
    store: Store, tmp_path: Path, prom: PrometheusServer, monkeypatch: pytest.MonkeyPatch, step: str,
) -> None:
    settings = _settings(tmp_path, prom)
    repo = SqlProposalStore(store)
    proposal, _ = repo.add(drift_proposal())

    with monkeypatch.context() as patch:
        patch.setattr(*STEPS[step], die)
        with pytest.raises(Crash):
            service_from_settings(settings, repo, store).decide_as(proposal.id, "approve", "alice", "")
    written = step in ("after-writing-the-file", "after-recording-applied")
    assert _in_file(prom) == ([RULE] if written else [])
    assert repo.get(proposal.id).state is (  # type: ignore[union-attr]
        ProposalState.APPLIED if step == "after-recording-applied" else ProposalState.APPROVED)
    [job] = jobs_of(store, APPLY_RULE)
    assert job.status == ("queued" if step == "after-the-approval" else "running")

    take_over(store, job, apply_rule_handler(settings))

    # One rule in the file and in Prometheus, one `applied`, whichever step the approver died at.
    assert _in_file(prom) == [RULE]
    assert _loaded(prom) == [RULE]
    events = [(e.to_state.value, e.actor) for e in repo.events(proposal.id)]
    assert events == [("pending", "augur"), ("approved", "alice"), ("applied", "augur")]
    [done] = jobs_of(store, APPLY_RULE)
    assert done.status == "done"

    # A replayed approval changes nothing, queues nothing and writes nothing.
    again = service_from_settings(settings, repo, store).decide_as(proposal.id, "approve", "alice", "")
    assert not again.changed and again.proposal.state is ProposalState.APPLIED
    assert len(jobs_of(store, APPLY_RULE)) == 1 and _in_file(prom) == [RULE]
    assert len(repo.events(proposal.id)) == 3


def test_the_approving_process_applies_the_rule_itself(
    store: Store, tmp_path: Path, prom: PrometheusServer,
) -> None:
    settings = _settings(tmp_path, prom)
    repo = SqlProposalStore(store)
    proposal, _ = repo.add(drift_proposal())
    outcome = service_from_settings(settings, repo, store).decide_as(proposal.id, "approve", "alice", "")
    assert outcome.changed and outcome.proposal.state is ProposalState.APPLIED
    assert _loaded(prom) == [RULE] and _in_file(prom) == [RULE]
    [job] = jobs_of(store, APPLY_RULE)
    assert job.status == "done" and job.attempts == 1


def test_a_replayed_approval_applies_what_a_dead_approver_left_queued(
    store: Store, tmp_path: Path, prom: PrometheusServer, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Within the grace, approving again runs the queued job at once instead of waiting for a worker."""
    settings = _settings(tmp_path, prom)
    repo = SqlProposalStore(store)
    proposal, _ = repo.add(drift_proposal())
    with monkeypatch.context() as patch:
        patch.setattr(JobQueue, "claim_job", die)
        with pytest.raises(Crash):
            service_from_settings(settings, repo, store).decide_as(proposal.id, "approve", "alice", "")
    again = service_from_settings(settings, repo, store).decide_as(proposal.id, "approve", "alice", "")
    assert again.changed and again.proposal.state is ProposalState.APPLIED
    assert _loaded(prom) == [RULE] and [j.status for j in jobs_of(store, APPLY_RULE)] == ["done"]
    assert [e.to_state.value for e in repo.events(proposal.id)] == ["pending", "approved", "applied"]


def test_without_a_rules_dir_the_approval_finishes_its_job_and_the_rule_stays_approved(
    store: Store, tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path, worker_in_process=False, reviewers=["alice"],
                        reviewer_tokens={"alice": "tok-alice"})
    repo = SqlProposalStore(store)
    proposal, _ = repo.add(drift_proposal())
    outcome = service_from_settings(settings, repo, store).decide_as(proposal.id, "approve", "alice", "")
    assert outcome.changed and outcome.proposal.state is ProposalState.APPROVED
    assert [j.status for j in jobs_of(store, APPLY_RULE)] == ["done"]
