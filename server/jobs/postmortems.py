"""Postmortems from the store: generated when an incident resolves and posted to Slack.

- :func:`generate` loads the incident (alert episodes, timeline, latest report, rule proposals and
  their review history), fetches the chain's series from Prometheus (each link's ``promql_range``
  query from the report's evidence, from an hour before the first onset to an hour after the
  resolution), and writes ``postmortem.md``, ``postmortem.html``, ``postmortem.json`` and the chart
  files under ``<data_dir>/postmortems/<incident id>/``.
- The ``postmortem`` job (the webhook intake enqueues it when an incident resolves) runs it and posts
  the result in the incident's Slack thread; while the investigation has not stored a report yet
  it fails so that the queue retries it later (on its last attempt it writes what it has).
- They are served over HTTP by :mod:`augur.server.web.postmortems`.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from augur.agent.report import Report
from augur.server.intake.ingest import POSTMORTEM
from augur.server.settings import Settings
from augur.server.store.database import Store
from augur.server.store.models import Incident, IncidentEvent, Job, ProposalEvent, utcnow
from augur.server.store.models import Proposal as ProposalRow
from augur.server.store.models import Report as ReportRow
from augur.server.store.queue import ClaimedJob
from augur.server.store.reads import episodes_of, timeline_of
from augur.server.store.verdicts import latest_verdicts
from augur.tools.errors import BackendUnavailable
from augur.tools.evidence import Meaning

if TYPE_CHECKING:  # matplotlib and jinja2 load only when a postmortem is written (fast start-up)
    from augur.agent.charts import SeriesData
    from augur.agent.postmortem import Postmortem, PostmortemInput

__all__ = ["POSTMORTEM", "generate", "postmortem_dir", "postmortem_handler"]

log = logging.getLogger(__name__)

_MARGIN_S = 3600.0


def postmortem_dir(settings: Settings, incident_id: int) -> Path:
    """Where an incident's postmortem files live."""
    return Path(settings.data_dir) / "postmortems" / str(incident_id)


class NotReady(BackendUnavailable, RuntimeError):
    """The investigation has not stored a report yet; the job retries later."""


def _load(store: Store, incident_id: int) -> tuple[PostmortemInput, str]:
    """The postmortem's inputs (no series yet) and the investigation job's status."""
    from augur.agent.postmortem import (
        AlertRecord,
        EventRecord,
        PostmortemInput,
        ProposalRecord,
        VerdictRecord,
    )

    with store.read_session() as session:
        incident = session.get(Incident, incident_id)
        if incident is None:
            raise LookupError(f"no incident {incident_id}: list them with GET /v1/incidents")
        episodes = episodes_of(session, incident_id)
        events = timeline_of(session, incident_id)
        row = session.scalars(
            select(ReportRow)
            .where(ReportRow.incident_id == incident_id)
            .order_by(ReportRow.id.desc())
            .limit(1)
        ).first()
        proposals = []
        for p in session.scalars(select(ProposalRow).where(ProposalRow.incident_id == incident_id)):
            history = [
                (e.at, e.to_status, e.actor)
                for e in session.scalars(
                    select(ProposalEvent).where(ProposalEvent.proposal_id == p.id).order_by(ProposalEvent.at)
                )
            ]
            name = p.rule.get("alert") or p.rule.get("record") or p.kind
            proposals.append(
                ProposalRecord(
                    id=p.id, title=f"{p.kind.replace('_', ' ')}: {name}", state=p.status, history=history
                )
            )
        job = session.scalars(select(Job).where(Job.dedupe_key == f"investigate:{incident_id}")).first()
        inp = PostmortemInput(
            incident_id=incident.id,
            title=incident.title,
            status=incident.status,
            opened_at=incident.opened_at,
            resolved_at=incident.resolved_at,
            alerts=[
                AlertRecord(
                    name=str(e.labels.get("alertname", "alert")),
                    labels={str(k): str(v) for k, v in e.labels.items()},
                    starts_at=e.starts_at,
                    ends_at=e.ends_at,
                )
                for e in episodes
            ],
            events=[EventRecord(at=e.at, kind=e.kind, detail=dict(e.detail)) for e in events],
            report=Report.model_validate(row.report) if row else None,
            proposals=proposals,
            severity=incident.severity,
        )
        status = job.status if job else "not queued"
    judged = latest_verdicts(store, [incident_id]).get(incident_id)
    if judged is not None:
        inp.verdict_record = VerdictRecord(
            verdict=judged.verdict, by=judged.by, at=judged.at, real_cause=judged.real_cause,
            real_fault_type=judged.real_fault_type, fix=judged.fix, note=judged.note)
    return inp, status


def fetch_series(prometheus_url: str, report: Report, end: float) -> tuple[list[SeriesData], list[str]]:
    """Each chain link's series from Prometheus (first series of its range query); and notes on failures."""
    from augur.agent.charts import SeriesData
    from augur.tools.prometheus_api import bounded_step, connect, fetch_range_blocking

    rows = {row.id: row for row in report.evidence}
    if not report.chain:
        return [], []
    start = min(link.onset.timestamp() for link in report.chain) - _MARGIN_S
    start = min(start, report.alert.starts_at.timestamp() - _MARGIN_S)
    end = min(end, time.time())
    prom = connect(prometheus_url)
    out, notes = [], []
    for link in report.chain:
        query = next(
            (
                rows[i].query
                for i in link.evidence_ids
                if i in rows and rows[i].meaning is Meaning.LEVELS and rows[i].query
            ),
            None,
        )
        if query is None:
            notes.append(f"{link.signal}: no range query in the report's evidence, not charted")
            continue
        try:
            series = fetch_range_blocking(
                prom, query, start, end, bounded_step(start, end, 15.0), timeout_s=10
            )
        except Exception as exc:
            notes.append(f"{link.signal}: Prometheus did not answer ({exc}); not charted")
            continue
        if not series:
            notes.append(f"{link.signal}: `{query}` returned no series; not charted")
            continue
        first = series[0]
        out.append(
            SeriesData(
                signal=link.signal,
                times=[float(t) for t in first.timestamps],
                values=[float(v) for v in first.values],
                onset=link.onset.timestamp(),
                layer=link.layer,
                query=query,
                evidence_id=next(iter(link.evidence_ids), None),
            )
        )
    return out, notes


def generate(
    settings: Settings,
    store: Store,
    incident_id: int,
    *,
    allow_without_report: bool = True,
    out_dir: Path | None = None,
) -> tuple[Postmortem, Path]:
    """Write the incident's postmortem files; returns it and its directory.

    Raises LookupError for an unknown incident, :class:`NotReady` if there is no report yet and
    ``allow_without_report`` is false.
    """
    from augur.agent.postmortem import build_postmortem, render_html, render_markdown

    inp, job_status = _load(store, incident_id)
    if inp.report is None:
        if not allow_without_report:
            raise NotReady(f"incident {incident_id} has no report yet (investigation job: {job_status})")
        inp.notes.append(f"written without an investigation report (investigation job: {job_status})")
    target = out_dir or postmortem_dir(settings, incident_id)
    target.mkdir(parents=True, exist_ok=True)
    if inp.report is not None:
        if settings.prometheus_url:
            resolved = (inp.resolved_at or utcnow()).timestamp()
            inp.series, notes = fetch_series(settings.prometheus_url, inp.report, resolved + _MARGIN_S)
            inp.notes += notes
        else:
            inp.notes.append("no chart: AUGUR_PROMETHEUS_URL is not set")
    inp.owners = _owners(settings)
    pm = build_postmortem(inp, target)
    (target / "postmortem.json").write_text(pm.model_dump_json(indent=2))
    (target / "postmortem.md").write_text(render_markdown(pm, chart_prefix="postmortem/"))
    (target / "postmortem.html").write_text(
        render_html(pm, chart_prefix="postmortem/", incident_url=f"/incidents/{incident_id}")
    )
    return pm, target


def _owners(settings: Settings) -> dict[str, str]:
    """Catalog component -> owner (action items name them); empty without a readable catalog."""
    if settings.catalog_file is None:
        return {}
    from augur.agent.catalog import CatalogError, load_catalog

    try:
        catalog = load_catalog(settings.catalog_file)
    except (CatalogError, OSError):
        return {}
    return {c.name: c.owner for c in catalog.components if c.owner}


def postmortem_handler(settings: Settings, *, on_postmortem: Any = None) -> Any:
    """The ``postmortem`` job handler; ``on_postmortem(store, incident_id, postmortem, dir)`` posts it."""

    def handle(job: ClaimedJob, store: Store) -> None:
        incident_id = job.payload.get("incident_id")
        if not isinstance(incident_id, int):
            raise ValueError(f"job {job.id} has no integer incident_id in its payload")
        last_try = job.attempts >= job.max_attempts
        pm, target = generate(settings, store, incident_id, allow_without_report=last_try)
        with store.transaction() as session:
            session.add(
                IncidentEvent(
                    incident_id=incident_id,
                    at=utcnow(),
                    kind="postmortem_ready",
                    detail={"dir": str(target), "charts": pm.charts},
                )
            )
        if on_postmortem is not None:
            try:
                on_postmortem(store, incident_id, pm, target)
            except Exception:
                log.exception("incident %s: posting the postmortem failed (it is written)", incident_id)

    return handle
