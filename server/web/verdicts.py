"""``POST /v1/incidents/{id}/verdict``: a person's verdict on the root cause augur named.

The body is ``{"verdict": "confirmed" | "wrong" | "not_actionable", "real_cause": ...,
"real_fault_type": ..., "fix": ..., "note": ...}`` (``right`` is accepted for ``confirmed``);
``wrong`` names the real cause. The verdict is recorded as the caller — a token with the
``verdict`` scope, on the reviewer allowlist when one is set — and there is no field to name
anyone else (an unknown field is a 422). 201 with the verdict when a new row was written, 200 when
it repeats the latest one by the same person. The incident's verdicts are in its detail
(``GET /v1/incidents/{id}``: ``verdict``, the latest, and ``verdicts``, the history).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from augur.server.scopes import Scope
from augur.server.state import AppState, app_state
from augur.server.store.verdicts import VerdictOut, Via, judge_of, record_verdict
from augur.server.validation import MAX_CAUSE, MAX_NOTE, IncidentId, check_verdict
from augur.server.web.auth import Principal, require

__all__ = ["VerdictIn", "give_verdict", "router"]

router = APIRouter(tags=["incidents"])


class VerdictIn(BaseModel):
    """A verdict as the API takes it (checked again by :func:`augur.server.validation.check_verdict`)."""

    model_config = ConfigDict(extra="forbid")

    verdict: str = Field(description="confirmed (or right), wrong, or not_actionable.", max_length=32)
    real_cause: str | None = Field(default=None, max_length=MAX_CAUSE,
                                   description="With wrong: the component it really was.")
    real_fault_type: str | None = Field(default=None, max_length=64,
                                        description="With wrong, optional: its fault type (a playbook key).")
    fix: str | None = Field(default=None, max_length=MAX_NOTE, description="What fixed it.")
    note: str | None = Field(default=None, max_length=MAX_NOTE, description="Anything else worth keeping.")


def give_verdict(state: AppState, incident_id: int, who: Principal, via: Via, verdict: object,
                 real_cause: object = None, real_fault_type: object = None, fix: object = None,
                 note: object = None) -> tuple[VerdictOut, bool]:
    """Check who, then what, then record (the API and the incident page); an :class:`ApiError` if not."""
    name = judge_of(who.name, who.scopes, state.settings.reviewers)
    judgement = check_verdict(verdict, real_cause, real_fault_type, fix, note)
    recorded = record_verdict(state.store, incident_id, judgement, name, via)
    return recorded.verdict, recorded.changed


@router.post("/v1/incidents/{incident_id}/verdict", response_model=VerdictOut, status_code=201,
             summary="Judge an incident's root cause", responses={200: {"model": VerdictOut}})
async def verdict(incident_id: IncidentId, body: VerdictIn, state: AppState = Depends(app_state),
                  who: Principal = Depends(require(Scope.VERDICT))) -> JSONResponse:
    """Record the caller's verdict: right, wrong (with the real cause) or not actionable."""
    out, changed = await run_in_threadpool(give_verdict, state, incident_id, who, "api", body.verdict,
                                           body.real_cause, body.real_fault_type, body.fix, body.note)
    return JSONResponse(out.model_dump(mode="json"), status_code=201 if changed else 200)
