"""Investigations over HTTP and on the queue: ``POST /v1/investigations``, reports, the job handler.

- ``POST /v1/investigations`` takes an Alertmanager alert (or webhook body) **or** a free-text
  question with a time range, opens an incident for it and enqueues an ``investigate`` job;
  it answers 202 with the incident id and where the report will be.
- ``GET /v1/incidents/{id}/report`` (JSON), ``.../report.json`` and ``.../report.md`` return the
  latest report of an incident; 404 says whether the incident is unknown or still being
  investigated.
- :func:`investigation_handler` is the queue's ``investigate`` handler: it rebuilds the alert
  from the incident's episodes (or the job's payload), runs
  :func:`augur.agent.investigation.investigate` with a checkpointer on the store's database
  (thread id ``incident-<id>-<opened at>``, so a worker that dies mid-way is resumed by the next
  one), stores the report in the ``reports`` table, and proposes alert rules from it
  (:mod:`augur.server.proposer`).

Exactly one report per investigation: the report and its ``report_ready`` event are stored in
one transaction that first checks the job's lease (:func:`augur.server.queue.hold_lease`), so a
worker paused past its lease, whose job another worker took over, stores nothing; a rerun of a
job whose report is already stored (its worker died just after) stores none again and goes on to
the proposer and the notifier.

Outages: when signals could not be examined because a configured backend was unavailable
(``report.unexamined``), the report is stored as it is (it says which signals and why), the
timeline gets ``investigation_deferred``, and the job is queued again with back-off
(:class:`augur.server.worker.RetryLater`) until the backends answer — then the incident gets its
real report — or ``outage_retry_seconds`` after the first deferral have passed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, Field, model_validator
from sqlalchemy import select

from augur.agent.redact import redact_value
from augur.server.auth import require
from augur.server.errors import ApiError
from augur.server.models import AlertEpisode, Incident, IncidentEvent, Job, utcnow
from augur.server.models import Report as ReportRow
from augur.server.queue import ClaimedJob, enqueue, hold_lease
from augur.server.scopes import Scope
from augur.server.settings import Settings
from augur.server.state import AppState, app_state
from augur.server.store import Store
from augur.server.validation import IncidentId

__all__ = ["InvestigationRequest", "investigation_handler", "router"]

router = APIRouter(tags=["investigations"])
log = logging.getLogger(__name__)
INVESTIGATE = "investigate"


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

    Never the wall clock (see :mod:`augur.server.question_time`): the same question asked a minute
    later is anchored at the same time and gets the same answer.
    """
    from augur.server.question_time import incident_time, time_in_text

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


def _thread_id(store: Store, incident_id: int) -> str:
    """The checkpoint thread of an incident's investigation: its id and when it opened.

    The opening time keeps threads apart when ids are reused (a store emptied or restored).
    """
    with store.read_session() as session:
        incident = session.get(Incident, incident_id)
        if incident is None:
            raise LookupError(f"incident {incident_id} does not exist (deleted after the job was queued?)")
        return f"incident-{incident_id}-{incident.opened_at:%Y%m%dT%H%M%S%f}"


def _alert_from_incident(store: Store, incident_id: int) -> dict[str, Any]:
    """An Alertmanager-shaped alert from the incident's earliest firing episode."""
    with store.read_session() as session:
        episodes = session.scalars(select(AlertEpisode).where(AlertEpisode.incident_id == incident_id)
                                   .order_by(AlertEpisode.starts_at)).all()
        if not episodes:
            raise LookupError(f"incident {incident_id} has no alert episodes to investigate")
        firing = [e for e in episodes if e.status == "firing"] or list(episodes)
        ep = firing[0]
        starts = ep.starts_at if ep.starts_at.tzinfo else ep.starts_at.replace(tzinfo=UTC)
        return {"labels": dict(ep.labels), "annotations": dict(ep.annotations), "status": ep.status,
                "startsAt": starts.isoformat(), "generatorURL": ep.generator_url or None,
                "fingerprint": ep.fingerprint}


#: Timeline event of an investigation put off until its backends answer.
DEFERRED = "investigation_deferred"
#: Longest wait between two tries of an investigation whose backends were unavailable.
MAX_OUTAGE_BACKOFF_S = 300.0


def _deferrals(store: Store, incident_id: int) -> tuple[int, datetime | None]:
    """How many times the incident's investigation was deferred for an outage, and when first."""
    with store.read_session() as session:
        times = list(session.scalars(select(IncidentEvent.at).where(
            IncidentEvent.incident_id == incident_id, IncidentEvent.kind == DEFERRED)
            .order_by(IncidentEvent.at)))
    return len(times), (times[0] if times else None)


def _already_reported(session: Any, incident_id: int, job_id: int) -> bool:
    """Whether this job already stored its final report (its worker died before marking it done)."""
    for detail in session.scalars(select(IncidentEvent.detail).where(
            IncidentEvent.incident_id == incident_id, IncidentEvent.kind == "report_ready")):
        if detail.get("job_id") == job_id and not detail.get("deferred"):
            return True
    return False


def _outage(report: Any) -> list[Any]:
    """The unexamined signals whose backend is configured but did not answer (down, not absent)."""
    return [u for u in report.unexamined if u.retryable]


def investigation_handler(settings: Settings, *, registry: Any = None, catalog: Any = None,
                          on_report: Any = None) -> Any:
    """The ``investigate`` job handler for ``settings`` (tools, catalog, LLM and checkpoints).

    After the report is stored, :func:`augur.server.proposer.propose_for_report` proposes rules
    from it (pending review; a rerun stores nothing twice; its failure never fails the job).
    ``on_report(store, incident_id, report)``, if given, runs after that (the Slack notifier posts
    the report, then the pending proposals); its failure is logged, never retried: the report is
    already saved.
    """

    async def handle(job: ClaimedJob, store: Store) -> None:
        from augur.agent.checkpoints import open_checkpointer
        from augur.agent.investigation import investigate
        from augur.agent.markdown import render_markdown
        from augur.server.catalogs import resolve_catalog
        from augur.server.proposer import propose_for_report
        from augur.server.toolbox import build_registry

        incident_id = job.payload.get("incident_id")
        if not isinstance(incident_id, int):
            raise ValueError(f"job {job.id} has no integer incident_id in its payload")
        tools = registry if registry is not None else build_registry(settings)
        planner, writer = _llm_parts(settings)
        alert = job.payload.get("alert")
        if alert is None and not job.payload.get("question"):
            alert = await asyncio.to_thread(_alert_from_incident, store, incident_id)
        cat, catalog_note = catalog, None
        if cat is None:  # the configured file, else a discovered (cached) catalog, else none
            resolved = await asyncio.to_thread(resolve_catalog, settings, at=_anchor(alert, job.payload),
                                               window_s=float(job.payload.get("lookback_s") or 4 * 3600))
            cat, catalog_note = resolved.catalog, resolved.note
        thread_id = await asyncio.to_thread(_thread_id, store, incident_id)
        deferrals, first_deferral = await asyncio.to_thread(_deferrals, store, incident_id)
        if deferrals:  # a fresh run (its own checkpoint thread), not a resume of the one that saw the outage
            thread_id = f"{thread_id}-retry{deferrals}"
        kwargs: dict[str, Any] = {}
        if job.payload.get("lookback_s"):
            kwargs["lookback_s"] = float(job.payload["lookback_s"])
        async with open_checkpointer(settings.effective_database_url) as saver:
            report = await investigate(
                alert, registry=tools, catalog=cat, question=job.payload.get("question"),
                at=job.payload.get("at"), labels=job.payload.get("labels") or None,
                investigation_id=thread_id, planner=planner, writer=writer,
                checkpointer=saver, **kwargs,
            )
        if catalog_note:
            report.stats.notes.insert(0, catalog_note)
        markdown = render_markdown(report)
        down = _outage(report)
        now = utcnow()
        first = first_deferral or now
        waited = (now - first).total_seconds()
        defer = bool(down) and waited < settings.outage_retry_seconds
        delay = min(MAX_OUTAGE_BACKOFF_S, max(1.0, settings.worker_backoff_seconds) * 2 ** deferrals)

        def store_report() -> bool:
            at = utcnow()
            with store.transaction() as session:
                hold_lease(session, job)  # raises LeaseLost: this worker's results are discarded
                if _already_reported(session, incident_id, job.id):
                    return False
                session.add(ReportRow(incident_id=incident_id, created_at=at,
                                      report=report.model_dump(mode="json"), markdown=markdown))
                session.add(IncidentEvent(incident_id=incident_id, at=at, kind="report_ready", detail={
                    "root_cause": report.root_cause.component, "fault_type": report.root_cause.fault_type,
                    "confidence": report.root_cause.confidence, "verdict": report.root_cause.verdict,
                    "job_id": job.id, "deferred": defer,
                    "unexamined": [u.signal for u in report.unexamined]}))
                if defer:
                    session.add(IncidentEvent(incident_id=incident_id, at=at, kind=DEFERRED, detail={
                        "unexamined": [{"signal": u.signal, "tool": u.tool, "reason": u.reason}
                                       for u in down],
                        "retry_in_s": delay,
                        "gives_up_at": (first.timestamp() + settings.outage_retry_seconds),
                        "why": f"{len(down)} signal(s) could not be examined because their backend was "
                               f"unavailable; investigating again in {delay:.0f} s"}))
                return True

        stored = await asyncio.to_thread(store_report)
        if defer:
            from augur.server.worker import RetryLater

            raise RetryLater(f"{len(down)} signal(s) could not be examined (backend unavailable): "
                             + "; ".join(f"{u.signal}: {u.reason}" for u in down[:3]), delay)
        if not stored:
            log.info("incident %s: job %s had already stored its report; not storing it again",
                     incident_id, job.id)

        def fence(session: Any) -> None:
            hold_lease(session, job)

        # Before on_report: the Slack hook posts the incident's pending proposals after the report.
        await asyncio.to_thread(propose_for_report, settings, store, incident_id, report, fence=fence)
        if on_report is not None:
            await asyncio.to_thread(_check_lease, store, job)
            try:
                await asyncio.to_thread(on_report, store, incident_id, report)
            except Exception:
                log.exception("incident %s: the report notifier failed (the report is stored)", incident_id)

    return handle


def _anchor(alert: Any, payload: dict[str, Any]) -> float:
    """The time a catalog is discovered as of: the alert's start, the question's time, else now."""
    from augur.agent.triage import TriageError, normalise_alert

    if isinstance(alert, dict):
        try:
            return float(normalise_alert(alert)["starts_at"])
        except TriageError:
            pass  # the investigation reports what is wrong with the alert
    at = payload.get("at")
    return float(at) if isinstance(at, int | float) else time.time()


def _check_lease(store: Store, job: ClaimedJob) -> None:
    """Raise :class:`LeaseLost` unless this worker still holds ``job``'s lease (extending it)."""
    with store.transaction() as session:
        hold_lease(session, job)


def _llm_parts(settings: Settings) -> tuple[Any, Any]:
    """The LLM planner and narrative writer, when an endpoint and model are configured."""
    if not (settings.llm_base_url and settings.llm_model):
        return None, None
    from augur.agent.llm import LLMClient
    from augur.agent.llm_planner import LLMPlanner
    from augur.agent.narrate import LLMNarrator

    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
    llm = LLMClient(base_url=settings.llm_base_url, model=settings.llm_model, api_key=key)
    return LLMPlanner(llm), LLMNarrator(llm)
