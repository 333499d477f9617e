"""``GET /v1/incidents``, ``/v1/incidents/{id}`` and ``.../episodes``: incidents, episodes, timeline.

The list is paginated and carries summaries (episode counts, not episodes: after a storm an
incident can hold thousands): ``limit`` per page, and ``next_cursor`` to pass as ``cursor`` for
the next page (``null`` on the last). An incident's episodes have their own paginated endpoint,
``GET /v1/incidents/{id}/episodes``; the detail carries the first :data:`DETAIL_EPISODES` of them
and ``episode_count``.

One incident also lists the rule proposals its investigation left (``proposals``: id, kind,
state, title and where to review it, ``/v1/proposals/{id}``), and the verdicts people gave on its
root cause (``verdict``: the latest, which counts; ``verdicts``: all of them, oldest first; give
one with ``POST /v1/incidents/{id}/verdict``, :mod:`augur.server.web.verdicts`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.exc import SQLAlchemyError

from augur.server.errors import ApiError
from augur.server.scopes import Scope
from augur.server.state import AppState, app_state
from augur.server.store.database import Store
from augur.server.store.models import AlertEpisode, Incident
from augur.server.store.reads import episodes_of, timeline_of
from augur.server.store.verdicts import VerdictOut, verdicts_of
from augur.server.validation import MAX_ID, IncidentId
from augur.server.web.auth import require

if TYPE_CHECKING:
    pass

__all__ = ["DETAIL_EPISODES", "EpisodeOut", "EpisodePage", "IncidentDetail", "IncidentList", "IncidentOut",
           "IncidentSummary", "ProposalRef", "TimelineEventOut", "episodes_of", "router", "timeline_of"]

#: How many episodes the incident detail carries (the rest: ``GET /v1/incidents/{id}/episodes``).
DETAIL_EPISODES = 100

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


class IncidentColumns(BaseModel):
    """An incident's own columns, shared by its full view and its summary in the list."""

    id: int
    status: str
    title: str
    severity: str | None
    component: str | None
    group_key: str
    opened_at: datetime
    resolved_at: datetime | None
    updated_at: datetime


class IncidentOut(IncidentColumns):
    """An incident and its alert episodes."""

    episodes: list[EpisodeOut]


class IncidentSummary(IncidentColumns):
    """An incident in the list: its columns and how many episodes it has (not the episodes)."""

    episode_count: int
    firing_count: int
    episodes_url: str


class EpisodePage(BaseModel):
    """A page of an incident's episodes, earliest first."""

    episodes: list[EpisodeOut]
    count: int
    next_cursor: str | None


class ProposalRef(BaseModel):
    """A rule proposal the incident's investigation left, and where to review it."""

    id: str
    kind: str
    state: str
    title: str
    url: str


class IncidentDetail(IncidentOut):
    """An incident with its first episodes, its timeline, oldest event first, and its rule proposals."""

    episode_count: int = 0
    episodes_url: str = ""
    timeline: list[TimelineEventOut]
    proposals: list[ProposalRef] = []
    verdict: VerdictOut | None = None
    verdicts: list[VerdictOut] = []


class IncidentList(BaseModel):
    """A page of incident summaries, most recently active first; ``next_cursor`` fetches the next."""

    incidents: list[IncidentSummary]
    count: int
    next_cursor: str | None


def _episodes(rows: list[AlertEpisode]) -> list[EpisodeOut]:
    return [EpisodeOut.model_validate(r, from_attributes=True) for r in rows]


def _cursor(at: datetime, row_id: int) -> str:
    return f"{round(at.timestamp() * 1_000_000)}.{row_id}"


def _parse_cursor(cursor: str) -> tuple[datetime, int]:
    micros, dot, row_id = cursor.partition(".")
    if not (dot and micros.lstrip("-").isdigit() and row_id.isdigit()) or int(row_id) > MAX_ID:
        raise ApiError(422, "invalid_request", "cursor: pass the next_cursor of the previous page as it was")
    return datetime.fromtimestamp(int(micros) / 1_000_000, UTC), int(row_id)


def list_incidents(store: Store, status: str | None, since: datetime | None, limit: int,
                   cursor: str | None = None) -> IncidentList:
    """A page of incident summaries filtered by status and last activity, most recently active first."""
    with store.read_session() as session:
        stmt = select(Incident).order_by(Incident.updated_at.desc(), Incident.id.desc()).limit(limit + 1)
        if status:
            stmt = stmt.where(Incident.status == status)
        if since:
            stmt = stmt.where(Incident.updated_at >= since)
        if cursor:
            at, row_id = _parse_cursor(cursor)
            stmt = stmt.where(or_(Incident.updated_at < at,
                                  and_(Incident.updated_at == at, Incident.id < row_id)))
        incidents = list(session.scalars(stmt))
        more = len(incidents) > limit
        incidents = incidents[:limit]
        counts: dict[int, tuple[int, int]] = {}
        if incidents:
            firing = func.sum(case((AlertEpisode.status == "firing", 1), else_=0))
            for incident_id, total, firing_n in session.execute(
                select(AlertEpisode.incident_id, func.count(), firing)
                .where(AlertEpisode.incident_id.in_([i.id for i in incidents]))
                .group_by(AlertEpisode.incident_id)
            ):
                counts[int(incident_id)] = (int(total), int(firing_n or 0))
        out = [IncidentSummary.model_validate({
            **_columns(i), "episode_count": counts.get(i.id, (0, 0))[0],
            "firing_count": counts.get(i.id, (0, 0))[1], "episodes_url": f"/v1/incidents/{i.id}/episodes"})
            for i in incidents]
    last = incidents[-1] if incidents else None
    return IncidentList(incidents=out, count=len(out),
                        next_cursor=_cursor(last.updated_at, last.id) if more and last else None)


def list_episodes(store: Store, incident_id: int, limit: int, cursor: str | None) -> EpisodePage | None:
    """A page of the incident's episodes, earliest first; ``None`` if there is no such incident."""
    with store.read_session() as session:
        if session.get(Incident, incident_id) is None:
            return None
        stmt = (select(AlertEpisode).where(AlertEpisode.incident_id == incident_id)
                .order_by(AlertEpisode.starts_at, AlertEpisode.id).limit(limit + 1))
        if cursor:
            at, row_id = _parse_cursor(cursor)
            stmt = stmt.where(or_(AlertEpisode.starts_at > at,
                                  and_(AlertEpisode.starts_at == at, AlertEpisode.id > row_id)))
        rows = list(session.scalars(stmt))
    more = len(rows) > limit
    rows = rows[:limit]
    return EpisodePage(episodes=_episodes(rows), count=len(rows),
                       next_cursor=_cursor(rows[-1].starts_at, rows[-1].id) if more and rows else None)


def get_incident(store: Store, incident_id: int) -> IncidentDetail | None:
    """One incident with its episodes, timeline and rule proposals, or ``None``."""
    from augur.server.store.proposals import SqlProposalStore

    proposals = [ProposalRef(id=p.id, kind=p.kind.value, state=p.state.value, title=p.title,
                             url=f"/v1/proposals/{p.id}")
                 for p in SqlProposalStore(store).find(incident_id=incident_id)]
    verdicts = verdicts_of(store, incident_id)
    with store.read_session() as session:
        incident = session.get(Incident, incident_id)
        if incident is None:
            return None
        first = list(session.scalars(
            select(AlertEpisode).where(AlertEpisode.incident_id == incident_id)
            .order_by(AlertEpisode.starts_at, AlertEpisode.id).limit(DETAIL_EPISODES)))
        total = session.scalar(select(func.count()).select_from(AlertEpisode)
                               .where(AlertEpisode.incident_id == incident_id)) or 0
        return IncidentDetail.model_validate(
            {
                **_columns(incident),
                "episodes": _episodes(first),
                "episode_count": int(total),
                "episodes_url": f"/v1/incidents/{incident_id}/episodes",
                "timeline": [TimelineEventOut.model_validate(e, from_attributes=True)
                             for e in timeline_of(session, incident_id)],
                "proposals": proposals,
                "verdicts": verdicts,
                "verdict": verdicts[-1] if verdicts else None,
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
    cursor: str | None = Query(default=None, max_length=64, description="The previous page's `next_cursor`."),
) -> IncidentList:
    """Incident summaries, most recently active first, a page at a time (episodes: ``.../episodes``)."""
    if since is not None and since.tzinfo is None:
        raise ApiError(422, "invalid_request", "since: give a timezone, e.g. 2026-01-01T00:00:00Z")
    try:
        return await run_in_threadpool(list_incidents, state.store, status, since, limit, cursor)
    except SQLAlchemyError as exc:
        raise _store_down(exc) from None


@router.get("/v1/incidents/{incident_id}/episodes", response_model=EpisodePage,
            summary="An incident's episodes", dependencies=[Depends(require(Scope.READ))])
async def incident_episodes(
    incident_id: IncidentId,
    state: AppState = Depends(app_state),
    limit: int = Query(default=100, ge=1, le=1000),
    cursor: str | None = Query(default=None, max_length=64, description="The previous page's `next_cursor`."),
) -> EpisodePage:
    """The incident's alert episodes, earliest first, a page at a time."""
    try:
        page = await run_in_threadpool(list_episodes, state.store, incident_id, limit, cursor)
    except SQLAlchemyError as exc:
        raise _store_down(exc) from None
    if page is None:
        raise ApiError(404, "not_found", f"no incident {incident_id}: list them with GET /v1/incidents")
    return page


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
