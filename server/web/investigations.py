"""Investigations over HTTP: ``POST /v1/investigations`` and the report routes.

- ``POST /v1/investigations`` takes an Alertmanager alert (or webhook body) **or** a free-text
  question with a time range, opens an incident for it and enqueues an ``investigate`` job
  (run by :func:`augur.server.jobs.investigations.investigation_handler`); it answers 202 with the
  incident id and where the report will be.
- ``GET /v1/incidents/{id}/report`` (JSON), ``.../report.json`` and ``.../report.md`` return the
  latest report of an incident; 404 says whether the incident is unknown or still being
  investigated.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, Field, model_validator
from sqlalchemy import select

from augur.agent.redact import redact_value
from augur.server.errors import ApiError
from augur.server.jobs.investigations import INVESTIGATE
from augur.server.scopes import Scope
from augur.server.state import AppState, app_state
from augur.server.store.database import Store
from augur.server.store.models import Incident, IncidentEvent, Job, utcnow
from augur.server.store.models import Report as ReportRow
from augur.server.store.queue import enqueue
from augur.server.validation import IncidentId
from augur.server.web.auth import require

__all__ = ["InvestigationRequest", "router"]

router = APIRouter(tags=["investigations"])
log = logging.getLogger(__name__)


class InvestigationRequest(BaseModel):
    """Either ``alert`` (an Alertmanager alert or webhook body) or ``question`` with a time range."""

    alert: dict[str, Any] | None = Field(default=None, description="Alertmanager v4 body or one alert.")
    question: str | None = Field(default=None, max_length=2000, description="Free-text question.")
    start: datetime | None = Field(default=None, description="With a question: start of the range.")
    end: datetime | None = Field(
        default=None, description="With a question: the time it is about, where the window is anchored "
        "(default: a time written in the question, else the alert time of the incident it matches; "
        "never the wall clock).")
    labels: dict[str, str] = Field(default_factory=dict, description="Labels naming what it is about.")

    @model_validator(mode="after")
    def _one_of(self) -> InvestigationRequest:
        if (self.alert is None) == (not self.question):
            raise ValueError("give exactly one of `alert` (an Alertmanager alert) or `question` (text)")
        if self.start and self.end and self.end <= self.start:
            raise ValueError("`end` must be after `start`")
        return self


class InvestigationAccepted(BaseModel):
    """The answer to ``POST /v1/investigations``."""

    incident_id: int
    job_id: int
    report_url: str
    report_markdown_url: str


def _error(status: int, code: str, message: str) -> ApiError:
    return ApiError(status, code, message)


def _validate(body: InvestigationRequest) -> None:
    """The write endpoints' shared rules (:mod:`augur.server.validation`) on an investigation request."""
    from augur.server.validation import check_alert_dict, check_labels, reject_nul

    reject_nul(body.model_dump(mode="json"), code="invalid_request")
    check_labels(body.labels, "labels", required=False)
    for name, at in (("start", body.start), ("end", body.end)):
        if at is not None and (at.tzinfo is None or at.year <= 1):
            raise _error(422, "invalid_request", f"{name}: give a real time with a timezone, e.g. "
                                                 "2026-01-01T00:00:00Z")
    if body.alert is None:
        return
    alerts = body.alert.get("alerts")
    if alerts is None:
        check_alert_dict(body.alert, "alert", code="invalid_alert")
        return
    if not isinstance(alerts, list) or not alerts or not all(isinstance(a, dict) for a in alerts):
        raise _error(422, "invalid_alert", "alert.alerts: must be a non-empty list of alerts")
    for i, one in enumerate(alerts):
        check_alert_dict(one, f"alert.alerts.{i}", code="invalid_alert")


def _question_time(store: Store, body: InvestigationRequest) -> float:
    """When the question is about: ``end``, a time in its text, or its matched incident's alert time.

    Never the wall clock (see :mod:`augur.server.jobs.question_time`): the same question asked a minute
    later is anchored at the same time and gets the same answer.
    """
    from augur.server.jobs.question_time import incident_time, time_in_text

    if body.end is not None:
        return body.end.timestamp()
    question = body.question or ""
    written = time_in_text(question)
    if written is not None:
        return written
    matched = incident_time(store, question)
    if matched is not None:
        return matched[1]
    raise _error(422, "invalid_request", "end: give the time the question is about (RFC 3339, e.g. "
                 "2026-11-24T02:40:00Z): the question names no time and matches no incident, and augur "
                 "never anchors an investigation at the wall clock")


@router.post("/v1/investigations", status_code=202, response_model=InvestigationAccepted,
             summary="Investigate an alert or a question", dependencies=[Depends(require(Scope.INVESTIGATE))])
async def create_investigation(body: InvestigationRequest, response: Response,
                               state: AppState = Depends(app_state)) -> InvestigationAccepted:
    """Open an incident for the alert or question and queue its investigation."""
    from augur.agent.triage import TriageError, normalise_alert

    _validate(body)
    body = InvestigationRequest.model_validate(redact_value(body.model_dump(mode="json")))
    payload: dict[str, Any] = {}
    title = body.question or ""
    component = None
    if body.alert is not None:
        try:
            info = normalise_alert(body.alert)
        except TriageError as exc:
            raise _error(422, "invalid_alert", str(exc)) from None
        payload["alert"] = body.alert
        title = info["name"]
        labels = info["labels"]
        component = next((labels[k] for k in state.settings.group_labels if k in labels), None)
    else:
        end = await asyncio.to_thread(_question_time, state.store, body)
        start = body.start.timestamp() if body.start else end - 4 * 3600
        payload.update(question=body.question, at=end, lookback_s=end - start, labels=body.labels)
    now = utcnow()

    def write() -> tuple[int, int]:
        with state.store.transaction() as session:
            incident = Incident(status="open", group_key=f"investigation:{now.timestamp()}:{title[:80]}",
                                component=component, title=title[:500], opened_at=now, updated_at=now)
            session.add(incident)
            session.flush()
            session.add(IncidentEvent(incident_id=incident.id, at=now, kind="investigation_requested",
                                      detail={"question": body.question, "alert": title}))
            job_id = enqueue(session, INVESTIGATE, {"incident_id": incident.id, **payload},
                             dedupe_key=f"{INVESTIGATE}:{incident.id}", now=now)
            return incident.id, job_id

    incident_id, job_id = await asyncio.to_thread(write)
    url = f"/v1/incidents/{incident_id}/report"
    response.headers["Location"] = url
    return InvestigationAccepted(incident_id=incident_id, job_id=job_id, report_url=url,
                                 report_markdown_url=f"{url}.md")


def _latest_report(store: Store, incident_id: int) -> ReportRow:
    with store.read_session() as session:
        if session.get(Incident, incident_id) is None:
            raise _error(404, "incident_not_found", f"no incident {incident_id}: list them at /v1/incidents")
        row = session.scalars(select(ReportRow).where(ReportRow.incident_id == incident_id)
                              .order_by(ReportRow.id.desc()).limit(1)).first()
        if row is None:
            job = session.scalars(select(Job).where(Job.dedupe_key == f"{INVESTIGATE}:{incident_id}")).first()
            status = job.status if job else "not queued"
            raise _error(404, "report_not_ready",
                         f"incident {incident_id} has no report yet (investigation job: {status}); "
                         "retry in a few seconds")
        session.expunge(row)
        return row


@router.get("/v1/incidents/{incident_id}/report", summary="Latest report (JSON)",
            dependencies=[Depends(require(Scope.READ))])
@router.get("/v1/incidents/{incident_id}/report.json", summary="Latest report (JSON)",
            include_in_schema=False, dependencies=[Depends(require(Scope.READ))])
async def report_json(incident_id: IncidentId, state: AppState = Depends(app_state)) -> JSONResponse:
    """The incident's latest report as JSON (see ``agent/report.schema.json``)."""
    row = await asyncio.to_thread(_latest_report, state.store, incident_id)
    return JSONResponse(row.report)


@router.get("/v1/incidents/{incident_id}/report.md", summary="Latest report (Markdown)",
            response_class=PlainTextResponse, dependencies=[Depends(require(Scope.READ))])
async def report_markdown(incident_id: IncidentId, state: AppState = Depends(app_state)) -> PlainTextResponse:
    """The incident's latest report as Markdown."""
    row = await asyncio.to_thread(_latest_report, state.store, incident_id)
    return PlainTextResponse(row.markdown, media_type="text/markdown; charset=utf-8")


