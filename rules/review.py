"""The review state machine: who may move a proposal where, recorded, and idempotent.

States and transitions (everything else is refused with :class:`Conflict`)::

    pending --approve--> approved --apply ok--> applied
       |                    |  ^
       +--reject--> rejected  +--apply failed--> failed --approve (retry)--> approved

- Only reviewers on the allowlist may approve or reject; a reviewer proves who they are with
  their bearer token (:class:`Reviewers`). Apply outcomes are recorded by the ``augur`` actor.
- Every transition is appended to the proposal's events with who, when and a comment, in the
  same transaction as the state change (the repository's :meth:`~ProposalRepository.move`).
- Idempotent: approving an approved (or applied) proposal, or rejecting a rejected one, changes
  nothing and answers the current state (``changed=False``). A double click, a replayed request
  or two reviewers racing produce one transition: ``move`` is a compare-and-set on the state.

Storage is a :class:`ProposalRepository` (the server implements it over its SQL store), so this
module has no database code.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from augur.rules.proposal import Proposal, ProposalEvent, ProposalState
from augur.tools.errors import BadInput

__all__ = [
    "SYSTEM_ACTOR",
    "Conflict",
    "Forbidden",
    "NotFound",
    "ProposalRepository",
    "ReviewError",
    "ReviewOutcome",
    "Reviewers",
    "approve",
    "mark_applied",
    "mark_failed",
    "reject",
]

#: The actor recorded for transitions augur makes itself (apply succeeded / failed).
SYSTEM_ACTOR = "augur"


class ReviewError(BadInput):
    """A review action was refused; the message says why and what to do instead."""

    status_code = 400


class NotFound(ReviewError):
    """No proposal with that id."""

    status_code = 404


class Forbidden(ReviewError):
    """The caller is not an allowed reviewer (unknown token, or not on the allowlist)."""

    status_code = 403


class Conflict(ReviewError):
    """The proposal's state does not allow the action (e.g. approving a rejected proposal)."""

    status_code = 409


class ProposalRepository(Protocol):
    """Where proposals and their events live."""

    def get(self, proposal_id: str) -> Proposal | None:
        """The proposal, or None."""

    def find(self, state: ProposalState | None = None) -> list[Proposal]:
        """Proposals, newest first, optionally only those in ``state``."""

    def add(self, proposal: Proposal) -> tuple[Proposal, bool]:
        """Store a new proposal (recording its creation event); an existing fingerprint returns
        the stored one and ``False``."""

    def fingerprints(self) -> set[str]:
        """Fingerprints of every stored proposal, for de-duplication."""

    def move(
        self, proposal_id: str, expected: ProposalState, new: ProposalState, actor: str, comment: str
    ) -> bool:
        """Atomically set ``new`` if the state is still ``expected`` and append the event;
        False (and nothing written) if the state had changed."""

    def events(self, proposal_id: str) -> list[ProposalEvent]:
        """The proposal's transitions, oldest first."""


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True)
class Reviewers:
    """The allowlist of reviewers and the SHA-256 digests of their bearer tokens (name -> digest).

    A name with a token but not on ``allowed`` cannot approve; with an empty ``allowed``, every
    name that has a token is allowed. The tokens themselves are not kept.
    """

    digests: Mapping[str, bytes]
    allowed: frozenset[str] = frozenset()

    @classmethod
    def of(cls, tokens: Mapping[str, str], allowed: Iterable[str] = ()) -> Reviewers:
        """Build from a name -> token mapping and an optional allowlist."""
        return cls({name: _digest(token) for name, token in tokens.items() if token}, frozenset(allowed))

    def allow(self, name: str) -> str:
        """``name`` if it may review (it is on the allowlist, or there is none); else :class:`Forbidden`."""
        if self.allowed and name not in self.allowed:
            raise Forbidden(f"{name} is not on the reviewer allowlist (AUGUR_REVIEWERS)")
        return name

    def authenticate(self, token: str | None) -> str:
        """The reviewer whose token this is; :class:`Forbidden` for a missing or unknown token,
        or for a reviewer not on the allowlist. Compares in constant time."""
        if not token:
            raise Forbidden("no reviewer token: send `Authorization: Bearer <token>` "
                            "(tokens are configured in AUGUR_REVIEWER_TOKENS)")
        presented = _digest(token)
        match = None
        for name, expected in self.digests.items():
            if hmac.compare_digest(presented, expected):
                match = name
        if match is None:
            raise Forbidden("unknown reviewer token: ask an augur admin for a token in AUGUR_REVIEWER_TOKENS")
        return self.allow(match)


@dataclass(frozen=True)
class ReviewOutcome:
    """The proposal after an action, and whether the action changed it."""

    proposal: Proposal
    changed: bool


def _load(repo: ProposalRepository, proposal_id: str) -> Proposal:
    proposal = repo.get(proposal_id)
    if proposal is None:
        raise NotFound(f"no proposal {proposal_id!r}: list them with GET /v1/proposals "
                       "or `augur rules review`")
    return proposal


def _who_did(repo: ProposalRepository, proposal: Proposal) -> str:
    for event in reversed(repo.events(proposal.id)):
        if event.to_state is proposal.state:
            return f" by {event.actor} at {event.at:%Y-%m-%d %H:%M:%S} UTC"
    return ""


def _act(
    repo: ProposalRepository, proposal_id: str, actor: str, comment: str, *,
    target: ProposalState, sources: tuple[ProposalState, ...], settled: tuple[ProposalState, ...], verb: str,
) -> ReviewOutcome:
    """Move to ``target`` from one of ``sources``; in a ``settled`` state answer unchanged."""
    for _ in range(3):  # a lost compare-and-set race re-reads and decides again
        proposal = _load(repo, proposal_id)
        if proposal.state in settled:
            return ReviewOutcome(proposal, changed=False)
        if proposal.state not in sources:
            raise Conflict(
                f"cannot {verb} proposal {proposal_id}: it is {proposal.state.value}"
                f"{_who_did(repo, proposal)}; propose the rule again to review it anew"
            )
        if repo.move(proposal_id, proposal.state, target, actor, comment):
            return ReviewOutcome(_load(repo, proposal_id), changed=True)
    raise Conflict(f"proposal {proposal_id} keeps changing under us: retry in a moment")


def approve(repo: ProposalRepository, proposal_id: str, reviewer: str, comment: str = "") -> ReviewOutcome:
    """Approve a pending (or failed, to retry the apply) proposal; idempotent once approved."""
    return _act(repo, proposal_id, reviewer, comment, target=ProposalState.APPROVED,
                sources=(ProposalState.PENDING, ProposalState.FAILED),
                settled=(ProposalState.APPROVED, ProposalState.APPLIED), verb="approve")


def reject(repo: ProposalRepository, proposal_id: str, reviewer: str, comment: str = "") -> ReviewOutcome:
    """Reject a pending (or failed) proposal; idempotent once rejected."""
    return _act(repo, proposal_id, reviewer, comment, target=ProposalState.REJECTED,
                sources=(ProposalState.PENDING, ProposalState.FAILED),
                settled=(ProposalState.REJECTED,), verb="reject")


def mark_applied(repo: ProposalRepository, proposal_id: str, detail: str) -> ReviewOutcome:
    """Record that an approved proposal's rule is loaded."""
    return _act(repo, proposal_id, SYSTEM_ACTOR, detail, target=ProposalState.APPLIED,
                sources=(ProposalState.APPROVED,), settled=(ProposalState.APPLIED,), verb="mark applied")


def mark_failed(repo: ProposalRepository, proposal_id: str, reason: str) -> ReviewOutcome:
    """Record that applying an approved proposal failed, and why."""
    return _act(repo, proposal_id, SYSTEM_ACTOR, reason, target=ProposalState.FAILED,
                sources=(ProposalState.APPROVED,), settled=(ProposalState.FAILED,), verb="mark failed")
