"""HTTP API for rule proposals: list, show, approve, reject (approving applies the rule).

- ``GET /v1/proposals?state=pending&incident_id=7`` — proposals, newest first (both filters
  optional); needs the ``read`` scope.
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

from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import APIRouter, Body, Depends, Query
from pydantic import BaseModel, Field, field_validator

from augur.rules.apply import ApplyConfig, apply_approved
from augur.rules.proposal import Proposal, ProposalEvent, ProposalState
from augur.rules.review import (
    ProposalRepository,
    ReviewError,
    Reviewers,
    ReviewOutcome,
    approve,
    reject,
)
from augur.server.auth import Principal, require
from augur.server.errors import ApiError
from augur.server.proposal_store import SqlProposalStore
from augur.server.scopes import Scope
from augur.server.settings import Settings
from augur.server.state import AppState, app_state
from augur.server.validation import MAX_ID

__all__ = ["ProposalService", "proposal_service", "router", "service_from_settings"]


class ReviewBody(BaseModel):
    """Optional body of approve / reject."""

    comment: str = Field(default="", max_length=2000, description="Why; recorded with the transition.")

    @field_validator("comment")
    @classmethod
    def _no_nul(cls, value: str) -> str:
        if "\x00" in value:
            raise ValueError("contains a NUL character (\\u0000), which augur does not store")
        return value


@dataclass
class ProposalService:
    """What the API and the review page share: the repository, the reviewers, how to apply."""

    repo: ProposalRepository
    reviewers: Reviewers
    apply_config: ApplyConfig | None = None

    def decide(self, proposal_id: str, action: str, token: str | None, comment: str) -> ReviewOutcome:
        """Authenticate the reviewer, approve or reject, and apply an approved rule if configured."""
        return self.decide_as(proposal_id, action, self.reviewers.authenticate(token), comment)

    def decide_as(self, proposal_id: str, action: str, reviewer: str, comment: str) -> ReviewOutcome:
        """Approve or reject as ``reviewer``, already authenticated by the caller (a token, or a
        signed Slack request mapped to a reviewer on the allowlist), and apply an approved rule."""
        if action == "reject":
            return reject(self.repo, proposal_id, reviewer, comment)
        outcome = approve(self.repo, proposal_id, reviewer, comment)
        if outcome.proposal.state is ProposalState.APPROVED and self.apply_config is not None:
            with httpx.Client() as client:
                applied = apply_approved(self.repo, proposal_id, self.apply_config, client)
            return ReviewOutcome(applied.proposal, changed=outcome.changed or applied.changed)
        return outcome


def proposal_json(proposal: Proposal, events: list[ProposalEvent] | None = None) -> dict[str, Any]:
    """A proposal as the API returns it."""
    data = proposal.model_dump(mode="json")
    data["title"] = proposal.title
    data["rule_yaml"] = proposal.rule_yaml
    if events is not None:
        data["events"] = [e.model_dump(mode="json") for e in events]
    return data


_CODES = {403: "forbidden", 404: "not_found", 409: "conflict"}


def proposal_service(state: AppState = Depends(app_state)) -> ProposalService:
    """FastAPI dependency: the proposal service of the app serving the request."""
    return service_from_settings(state.settings, SqlProposalStore(state.store))


api = APIRouter(prefix="/v1/proposals", tags=["proposals"])


@api.get("", dependencies=[Depends(require(Scope.READ))])
def list_proposals(
    state: ProposalState | None = Query(default=None),
    incident_id: int | None = Query(default=None, ge=1, le=MAX_ID,
                                    description="Only proposals from this incident."),
    service: ProposalService = Depends(proposal_service),
) -> dict[str, Any]:
    """Proposals, newest first; ``state`` filters (pending, approved, rejected, applied, failed),
    ``incident_id`` keeps those an incident's investigation proposed."""
    found = service.repo.find(state)
    if incident_id is not None:
        found = [p for p in found if p.incident_id == incident_id]
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


def service_from_settings(settings: Settings, repo: ProposalRepository) -> ProposalService:
    """The service as configured: reviewer tokens and allowlist, and apply settings if a rules dir is set."""
    # Every token with the review scope (AUGUR_REVIEWER_TOKENS and AUGUR_API_TOKENS) names a reviewer.
    reviewers = Reviewers.of({name: token for name, token, scopes in settings.token_grants()
                              if Scope.REVIEW in scopes}, settings.reviewers)
    apply_config = None
    if settings.rules_dir is not None:
        apply_config = ApplyConfig(
            rules_dir=settings.rules_dir, prometheus_url=settings.prometheus_url,
            mode=settings.rules_apply_mode, patch_dir=settings.rules_patch_dir,
            alertmanager_config=settings.alertmanager_config_file,
            alertmanager_url=settings.alertmanager_url, alertmanager_mode=settings.alertmanager_apply_mode,
        )
    return ProposalService(repo, reviewers, apply_config)


def _routers() -> APIRouter:
    from augur.server.review_page import page

    combined = APIRouter()
    combined.include_router(api)
    combined.include_router(page)
    return combined


#: The API and the review page; ``create_app`` includes this.
router = _routers()
