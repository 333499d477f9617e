"""Investigations on the queue: the ``investigate`` job handler.

The HTTP side (``POST /v1/investigations``, the report routes) is :mod:`augur.server.web.investigations`.

- :func:`investigation_handler` is the queue's ``investigate`` handler: it rebuilds the alert
  from the incident's episodes (or the job's payload), runs
  :func:`augur.agent.investigation.investigate` with a checkpointer on the store's database
  (thread id ``incident-<id>-<opened at>``, so a worker that dies mid-way is resumed by the next
  one), stores the report in the ``reports`` table, and proposes alert rules from it
  (:mod:`augur.server.jobs.proposer`). The investigation gets incident memory: the other
  incidents' latest reports with their latest verdicts and fixes
  (:func:`augur.server.store.verdicts.past_incidents`), so the report lists similar past
  incidents with their confirmed causes and fixes, and past verdicts nudge its ranking.

Exactly one report per investigation: the report and its ``report_ready`` event are stored in
one transaction that first checks the job's lease (:func:`augur.server.store.queue.hold_lease`), so a
worker paused past its lease, whose job another worker took over, stores nothing; a rerun of a
job whose report is already stored (its worker died just after) stores none again and goes on to
the proposer and the notifier.

Outages: when signals could not be examined because a configured backend was unavailable
(``report.unexamined``), the report is stored as it is (it says which signals and why), the
timeline gets ``investigation_deferred``, and the job is queued again with back-off
(:class:`augur.server.jobs.worker.RetryLater`) until the backends answer — then the incident gets its
real report — or ``outage_retry_seconds`` after the first deferral have passed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from augur.server.settings import Settings
from augur.server.store.database import Store
from augur.server.store.models import AlertEpisode, Incident, IncidentEvent, utcnow
from augur.server.store.models import Report as ReportRow
from augur.server.store.queue import ClaimedJob, hold_lease
from augur.server.store.verdicts import past_incidents

__all__ = ["INVESTIGATE", "investigation_handler"]

log = logging.getLogger(__name__)
INVESTIGATE = "investigate"


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

    After the report is stored, :func:`augur.server.jobs.proposer.propose_for_report` proposes rules
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
        from augur.server.jobs.actions import propose_actions_for_report
        from augur.server.jobs.proposer import propose_for_report
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
        memory = await asyncio.to_thread(past_incidents, store, exclude=incident_id)
        kwargs: dict[str, Any] = {}
        if job.payload.get("lookback_s"):
            kwargs["lookback_s"] = float(job.payload["lookback_s"])
        async with open_checkpointer(settings.effective_database_url) as saver:
            report = await investigate(
                alert, registry=tools, catalog=cat, question=job.payload.get("question"),
                at=job.payload.get("at"), labels=job.payload.get("labels") or None,
                investigation_id=thread_id, planner=planner, writer=writer,
                checkpointer=saver, memory=memory, **kwargs,
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
            from augur.server.jobs.worker import RetryLater

            raise RetryLater(f"{len(down)} signal(s) could not be examined (backend unavailable): "
                             + "; ".join(f"{u.signal}: {u.reason}" for u in down[:3]), delay)
        if not stored:
            log.info("incident %s: job %s had already stored its report; not storing it again",
                     incident_id, job.id)

        def fence(session: Any) -> None:
            hold_lease(session, job)

        # Before on_report: the Slack hook posts the incident's pending proposals after the report.
        await asyncio.to_thread(propose_for_report, settings, store, incident_id, report, fence=fence)
        await asyncio.to_thread(propose_actions_for_report, settings, store, incident_id, report, fence=fence)
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
