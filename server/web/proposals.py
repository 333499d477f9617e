"""HTTP API for rule proposals: list, show, approve, reject (approving applies the rule).

- ``GET /v1/proposals?state=pending&incident_id=7&kind=action`` — proposals, newest first (every
  filter optional; ``kind`` is ``rule`` or ``action``); needs the ``read`` scope. Actions (model
  rollback, retrain, scale: :mod:`augur.rules.actions`) are proposals too: their ``validation``
  is the dry run, and approving one runs it (``applied`` with what was checked, or ``failed``).
- ``GET /v1/proposals/{id}`` — one proposal with its review events (``read``).
- ``POST /v1/proposals/{id}/approve`` and ``/reject`` — a token with the ``review`` scope
  (``Authorization: Bearer <reviewer token>``), optional JSON body ``{"comment": "..."}``.
  Approving applies the rule when a rules directory is
  configured (``applied`` or ``failed`` with the reason). Both are idempotent: a replay answers the
  current state with ``changed: false``.

Errors: 401 without a token or with an unknown one, 403 for a token without the scope or a reviewer
off the allowlist, 404 for an unknown id, 409 when the state forbids the action (e.g. approving a
rejected proposal).
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Body, Depends, Query
from pydantic import BaseModel, Field, field_validator

from augur.rules.proposal import ProposalState
from augur.rules.review import (
    ReviewError,
)
from augur.server.errors import ApiError
from augur.server.review import ProposalService, proposal_json, service_from_settings
from augur.server.scopes import Scope
from augur.server.state import AppState, app_state
from augur.server.store.proposals import SqlProposalStore
from augur.server.validation import MAX_ID
from augur.server.web.auth import Principal, require

__all__ = ["proposal_service", "router"]


class ReviewBody(BaseModel):
    """Optional body of approve / reject."""

    comment: str = Field(default="", max_length=2000, description="Why; recorded with the transition.")

    @field_validator("comment")
    @classmethod
    def _no_nul(cls, value: str) -> str:
        if "\x00" in value:
            raise ValueError("contains a NUL character (\\u0000), which augur does not store")
        return value


_CODES = {403: "forbidden", 404: "not_found", 409: "conflict"}


def proposal_service(state: AppState = Depends(app_state)) -> ProposalService:
    """FastAPI dependency: the proposal service of the app serving the request."""
    return service_from_settings(state.settings, SqlProposalStore(state.store), state.store)


api = APIRouter(prefix="/v1/proposals", tags=["proposals"])


@api.get("", dependencies=[Depends(require(Scope.READ))])
def list_proposals(
    state: ProposalState | None = Query(default=None),
    incident_id: int | None = Query(default=None, ge=1, le=MAX_ID,
                                    description="Only proposals from this incident."),
    kind: Literal["rule", "action"] | None = Query(default=None, description="Only rules, or only actions."),
    service: ProposalService = Depends(proposal_service),
) -> dict[str, Any]:
    """Proposals, newest first; ``state`` filters (pending, approved, rejected, applied, failed),
    ``incident_id`` keeps those an incident's investigation proposed."""
    found = service.repo.find(state)
    if incident_id is not None:
        found = [p for p in found if p.incident_id == incident_id]
    if kind is not None:
        found = [p for p in found if p.is_action == (kind == "action")]
    return {"proposals": [proposal_json(p) for p in found]}


@api.get("/{proposal_id}", dependencies=[Depends(require(Scope.READ))])
def get_proposal(proposal_id: str, service: ProposalService = Depends(proposal_service)) -> dict[str, Any]:
    """One proposal with its review history."""
    proposal = service.repo.get(proposal_id)
    if proposal is None:
        raise ApiError(404, "not_found", f"no proposal {proposal_id!r}: GET /v1/proposals lists them")
    return proposal_json(proposal, service.repo.events(proposal_id))


def _decide(service: ProposalService, proposal_id: str, action: str, who: Principal,
            body: ReviewBody | None) -> dict[str, Any]:
    try:
        reviewer = service.reviewers.allow(who.name)
        outcome = service.decide_as(proposal_id, action, reviewer, body.comment if body else "")
    except ReviewError as exc:
        raise ApiError(exc.status_code, _CODES.get(exc.status_code, "invalid_request"), str(exc)) from None
    return {
        "changed": outcome.changed,
        "proposal": proposal_json(outcome.proposal, service.repo.events(proposal_id)),
    }


@api.post("/{proposal_id}/approve")
def approve_proposal(
    proposal_id: str, who: Principal = Depends(require(Scope.REVIEW)),
    body: ReviewBody | None = Body(default=None), service: ProposalService = Depends(proposal_service),
) -> dict[str, Any]:
    """Approve (and apply, if a rules directory is configured); idempotent."""
    return _decide(service, proposal_id, "approve", who, body)


@api.post("/{proposal_id}/reject")
def reject_proposal(
    proposal_id: str, who: Principal = Depends(require(Scope.REVIEW)),
    body: ReviewBody | None = Body(default=None), service: ProposalService = Depends(proposal_service),
) -> dict[str, Any]:
    """Reject; idempotent."""
    return _decide(service, proposal_id, "reject", who, body)


#: The proposals API; ``create_app`` includes it (and the review page, :mod:`augur.server.web.review_page`).
router = api
