"""The review state machine on the real store (SQLite and PostgreSQL): transitions, who/when/comment,
the allowlist, and idempotency under replays and races."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from augur.rules.proposal import ProposalState
from augur.rules.review import (
    Conflict,
    Forbidden,
    NotFound,
    Reviewers,
    approve,
    mark_applied,
    mark_failed,
    reject,
)
from augur.server.store.database import Store
from augur.server.store.proposals import SqlProposalStore
from tests.rules.samples import drift_proposal

REVIEWERS = Reviewers.of({"alice": "tok-alice", "bob": "tok-bob", "mallory": "tok-mallory"},
                         allowed=["alice", "bob"])


def test_approve_records_who_when_and_why(store: Store) -> None:
    repo = SqlProposalStore(store)
    proposal, created = repo.add(drift_proposal())
    assert created and proposal.state is ProposalState.PENDING
    outcome = approve(repo, proposal.id, "alice", "drift led the 3 a.m. incident")
    assert outcome.changed and outcome.proposal.state is ProposalState.APPROVED
    events = repo.events(proposal.id)
    assert [(e.from_state, e.to_state, e.actor) for e in events] == [
        (None, ProposalState.PENDING, "augur"),
        (ProposalState.PENDING, ProposalState.APPROVED, "alice"),
    ]
    assert events[1].comment == "drift led the 3 a.m. incident"
    assert events[1].at.tzinfo is not None and events[1].at >= events[0].at


def test_double_approve_changes_nothing_twice(store: Store) -> None:
    repo = SqlProposalStore(store)
    proposal, _ = repo.add(drift_proposal())
    first = approve(repo, proposal.id, "alice")
    second = approve(repo, proposal.id, "bob", "me too")
    assert first.changed and not second.changed
    assert second.proposal.state is ProposalState.APPROVED
    assert [e.actor for e in repo.events(proposal.id)] == ["augur", "alice"]


def test_concurrent_approvals_make_one_transition(store: Store) -> None:
    repo = SqlProposalStore(store)
    proposal, _ = repo.add(drift_proposal())
    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(lambda i: approve(repo, proposal.id, "alice" if i % 2 else "bob"), range(8)))
    assert sum(o.changed for o in outcomes) == 1
    assert [e.to_state for e in repo.events(proposal.id)] == [ProposalState.PENDING, ProposalState.APPROVED]


def test_decisions_are_final_except_a_failed_apply(store: Store) -> None:
    repo = SqlProposalStore(store)
    rejected, _ = repo.add(drift_proposal(0.3))
    reject(repo, rejected.id, "bob", "too noisy")
    assert not reject(repo, rejected.id, "bob").changed  # replay
    with pytest.raises(Conflict, match="rejected by bob"):
        approve(repo, rejected.id, "alice")

    failed, _ = repo.add(drift_proposal(0.25))
    approve(repo, failed.id, "alice")
    mark_failed(repo, failed.id, "reload refused")
    with pytest.raises(Conflict):
        mark_applied(repo, failed.id, "loaded")
    retried = approve(repo, failed.id, "alice", "retry after fixing Prometheus")
    assert retried.changed and retried.proposal.state is ProposalState.APPROVED
    assert mark_applied(repo, failed.id, "loaded").proposal.state is ProposalState.APPLIED
    assert not approve(repo, failed.id, "bob").changed  # applied counts as approved
    with pytest.raises(Conflict):
        reject(repo, failed.id, "bob")


def test_same_rule_is_one_proposal(store: Store) -> None:
    repo = SqlProposalStore(store)
    first, created = repo.add(drift_proposal())
    spaced = drift_proposal(expr='model_drift_score{ model="ranker", feature="click_duration" } > 0.2')
    again, created_again = repo.add(spaced)
    assert created and not created_again and again.id == first.id
    assert len(repo.find()) == 1 and repo.fingerprints() == {first.fingerprint}


def test_unknown_proposal_and_unknown_reviewers(store: Store) -> None:
    repo = SqlProposalStore(store)
    with pytest.raises(NotFound):
        approve(repo, "pr-000000000000", "alice")
    assert REVIEWERS.authenticate("tok-bob") == "bob"
    with pytest.raises(Forbidden, match="not on the reviewer allowlist"):
        REVIEWERS.authenticate("tok-mallory")
    with pytest.raises(Forbidden, match="unknown reviewer token"):
        REVIEWERS.authenticate("tok-alice-but-wrong")
    with pytest.raises(Forbidden, match="no reviewer token"):
        REVIEWERS.authenticate("")
