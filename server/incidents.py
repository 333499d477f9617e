"""``GET /v1/incidents`` and ``GET /v1/incidents/{id}``: incidents with their alert episodes and timeline.

One incident also lists the rule proposals its investigation left (``proposals``: id, kind,
state, title and where to review it, ``/v1/proposals/{id}``).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from augur.server.auth import require
from augur.server.errors import ApiError
from augur.server.models import AlertEpisode, Incident, IncidentEvent
from augur.server.scopes import Scope
from augur.server.state import AppState, app_state
from augur.server.store import Store
from augur.server.validation import IncidentId

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

__all__ = ["EpisodeOut", "IncidentDetail", "IncidentList", "IncidentOut", "ProposalRef", "TimelineEventOut",
           "episodes_of", "router", "timeline_of"]

router = APIRouter(tags=["incidents"])


class EpisodeOut(BaseModel):
    """One alert episode of an incident."""

    id: int
    fingerprint: str
    status: str
    starts_at: datetime
    ends_at: datetime | None
    labels: dict[str, Any]
    annotations: dict[str, Any]
    generator_url: str
    first_seen: datetime
    last_seen: datetime


class TimelineEventOut(BaseModel):
    """One line of an incident's timeline."""

    at: datetime
    kind: str
    detail: dict[str, Any]


class IncidentOut(BaseModel):
    """An incident and its alert episodes."""

    id: int
    status: str
    title: str
    severity: str | None
    component: str | None
    group_key: str
    opened_at: datetime
    resolved_at: datetime | None
    updated_at: datetime
    episodes: list[EpisodeOut]


class ProposalRef(BaseModel):
    """A rule proposal the incident's investigation left, and where to review it."""

    id: str
    kind: str
    state: str
    title: str
    url: str


class IncidentDetail(IncidentOut):
    """An incident with its timeline, oldest event first, and its rule proposals, newest first."""

    timeline: list[TimelineEventOut]
    proposals: list[ProposalRef] = []


class IncidentList(BaseModel):
    """A page of incidents, most recently active first."""

    incidents: list[IncidentOut]
    count: int


def _episodes(rows: list[AlertEpisode]) -> list[EpisodeOut]:
    return [EpisodeOut.model_validate(r, from_attributes=True) for r in rows]


def episodes_of(session: Session, incident_id: int) -> list[AlertEpisode]:
    """An incident's alert episodes, earliest first (ties in insertion order)."""
    return list(session.scalars(
        select(AlertEpisode)
        .where(AlertEpisode.incident_id == incident_id)
        .order_by(AlertEpisode.starts_at, AlertEpisode.id)
    ))


def timeline_of(session: Session, incident_id: int) -> list[IncidentEvent]:
    """An incident's timeline events, oldest first (ties in insertion order)."""
    return list(session.scalars(
        select(IncidentEvent)
        .where(IncidentEvent.incident_id == incident_id)
        .order_by(IncidentEvent.at, IncidentEvent.id)
    ))


def list_incidents(store: Store, status: str | None, since: datetime | None, limit: int) -> IncidentList:
    """Incidents filtered by status and last activity, with their episodes."""
    with store.read_session() as session:
        stmt = select(Incident).order_by(Incident.updated_at.desc(), Incident.id.desc()).limit(limit)
        if status:
            stmt = stmt.where(Incident.status == status)
        if since:
            stmt = stmt.where(Incident.updated_at >= since)
        incidents = list(session.scalars(stmt))
        by_incident: dict[int, list[AlertEpisode]] = {i.id: [] for i in incidents}
        if incidents:
            for ep in session.scalars(
                select(AlertEpisode)
                .where(AlertEpisode.incident_id.in_(by_incident))
                .order_by(AlertEpisode.starts_at, AlertEpisode.id)
            ):
                by_incident[ep.incident_id or 0].append(ep)
        out = [
            IncidentOut.model_validate({**_columns(i), "episodes": _episodes(by_incident[i.id])})
            for i in incidents
        ]
    return IncidentList(incidents=out, count=len(out))


def get_incident(store: Store, incident_id: int) -> IncidentDetail | None:
    """One incident with its episodes, timeline and rule proposals, or ``None``."""
    from augur.server.proposal_store import SqlProposalStore

    proposals = [ProposalRef(id=p.id, kind=p.kind.value, state=p.state.value, title=p.title,
                             url=f"/v1/proposals/{p.id}")
                 for p in SqlProposalStore(store).find(incident_id=incident_id)]
    with store.read_session() as session:
        incident = session.get(Incident, incident_id)
        if incident is None:
            return None
        return IncidentDetail.model_validate(
            {
                **_columns(incident),
                "episodes": _episodes(episodes_of(session, incident_id)),
                "timeline": [TimelineEventOut.model_validate(e, from_attributes=True)
                             for e in timeline_of(session, incident_id)],
                "proposals": proposals,
            }
        )


def _columns(incident: Incident) -> dict[str, Any]:
    return {
        c: getattr(incident, c)
        for c in (
            "id",
            "status",
            "title",
            "severity",
            "component",
            "group_key",
            "opened_at",
            "resolved_at",
            "updated_at",
        )
    }


def _store_down(exc: SQLAlchemyError) -> ApiError:
    return ApiError(
        503,
        "store_unavailable",
        f"the store did not answer ({exc.__class__.__name__}); retry later",
        headers={"Retry-After": "5"},
    )


@router.get("/v1/incidents", response_model=IncidentList, summary="List incidents",
            dependencies=[Depends(require(Scope.READ))])
async def incidents(
    state: AppState = Depends(app_state),
    status: Literal["open", "resolved"] | None = Query(default=None, description="Only this status."),
    since: datetime | None = Query(default=None, description="Only incidents active at or after (ISO 8601)."),
    limit: int = Query(default=100, ge=1, le=1000),
) -> IncidentList:
    """Incidents, most recently active first, each with its alert episodes."""
    if since is not None and since.tzinfo is None:
        raise ApiError(422, "invalid_request", "since: give a timezone, e.g. 2026-01-01T00:00:00Z")
    try:
        return await run_in_threadpool(list_incidents, state.store, status, since, limit)
    except SQLAlchemyError as exc:
        raise _store_down(exc) from None


@router.get("/v1/incidents/{incident_id}", response_model=IncidentDetail, summary="One incident",
            dependencies=[Depends(require(Scope.READ))])
async def incident(incident_id: IncidentId, state: AppState = Depends(app_state)) -> IncidentDetail:
    """An incident with its alert episodes and timeline."""
    try:
        found = await run_in_threadpool(get_incident, state.store, incident_id)
    except SQLAlchemyError as exc:
        raise _store_down(exc) from None
    if found is None:
        raise ApiError(404, "not_found", f"no incident {incident_id}: list them with GET /v1/incidents")
    return found
