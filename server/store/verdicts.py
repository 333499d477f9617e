"""Verdicts on incidents: who may give one, recording it (audited), and reading them back.

A verdict says whether the root cause augur named was right (``confirmed``), ``wrong`` (and what
it really was), or that the alert was ``not_actionable``. The HTTP API, the incident page, the
``augur verdict`` command and Slack's buttons all come through :func:`record_verdict`, always
as the caller (a token's name, a signed-in session's, a Slack user mapped to a reviewer): the
input has no "on behalf of" field.

Every change is a new row of ``verdicts`` (the audit: who, when, through what, what they said);
the incident's latest row is its verdict. Recording what the latest row already says, by the same
person, changes nothing and writes nothing (a double click). A ``confirmed`` or ``wrong`` verdict
judges a named cause, so it needs a report that named one (409 otherwise); ``not_actionable``
needs no report.

:func:`past_incidents` is what incident memory (:mod:`augur.agent.memory`) gets: the other
incidents' latest reports with their latest verdicts and recorded fixes.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from augur.agent.memory import PastIncident
from augur.agent.report import PastVerdict, Report
from augur.server.errors import ApiError
from augur.server.scopes import Scope
from augur.server.store.database import Store
from augur.server.store.models import Incident, IncidentEvent, VerdictRow, utcnow
from augur.server.store.models import Report as ReportRow
from augur.server.store.queue import enqueue
from augur.server.validation import Judgement

__all__ = [
    "MEMORY_LIMIT",
    "RETUNE_JOB",
    "Recorded",
    "VerdictOut",
    "judge_of",
    "latest_verdicts",
    "past_incidents",
    "precision",
    "record_verdict",
    "verdict_counts",
    "verdicts_of",
]

log = logging.getLogger(__name__)

Via = Literal["api", "page", "cli", "slack"]
#: How many past incidents (the most recent, with a report) memory compares a new one with.
MEMORY_LIMIT = 500
#: The timeline event a recorded verdict adds.
VERDICT_EVENT = "verdict"
#: The job a "not actionable" verdict queues: should the alert rule that paged be retuned (jobs/retune.py)?
RETUNE_JOB = "retune"


class VerdictOut(BaseModel):
    """One verdict as the API returns it."""

    id: int
    incident_id: int
    report_id: int | None
    verdict: str = Field(description="confirmed, wrong or not_actionable.")
    named_cause: str | None = Field(description="The cause the judged report named (None: none).")
    real_cause: str | None = Field(description="With wrong: what the cause really was.")
    real_fault_type: str | None
    fix: str = Field(description="What fixed it, as the person recorded it.")
    note: str
    by: str = Field(description="Who gave it (the caller; never someone else).")
    via: str = Field(description="api, page, cli or slack.")
    at: datetime


@dataclass(frozen=True)
class Recorded:
    """The incident's verdict after a call, and whether the call wrote a new row."""

    verdict: VerdictOut
    changed: bool


def judge_of(name: str, scopes: Collection[str], allowed: Collection[str]) -> str:
    """``name`` if it may record verdicts: it has the ``verdict`` scope and, when a reviewer
    allowlist (``AUGUR_REVIEWERS``) is set, is on it; else a 403 saying what is missing."""
    if Scope.VERDICT not in scopes:
        raise ApiError(403, "forbidden", f"{name!r} may not record verdicts: it needs the 'verdict' scope "
                                         "(grant it in AUGUR_API_TOKENS; reviewer tokens have it)")
    if allowed and name not in allowed:
        raise ApiError(403, "forbidden", f"{name!r} is not on the reviewer allowlist (AUGUR_REVIEWERS), "
                                         "so may not record verdicts")
    return name


def _out(row: VerdictRow) -> VerdictOut:
    return VerdictOut(id=row.id, incident_id=row.incident_id, report_id=row.report_id, verdict=row.verdict,
                      named_cause=row.named_cause, real_cause=row.real_cause,
                      real_fault_type=row.real_fault_type, fix=row.fix, note=row.note, by=row.actor,
                      via=row.via, at=row.at)


def _latest_row(session: Session, incident_id: int) -> VerdictRow | None:
    return session.scalars(select(VerdictRow).where(VerdictRow.incident_id == incident_id)
                           .order_by(VerdictRow.id.desc()).limit(1)).first()


def _named(row: ReportRow | None) -> str | None:
    """The component the stored report named as the cause (None: inconclusive, or no report)."""
    if row is None:
        return None
    rc = row.report.get("root_cause") or {}
    return str(rc["component"]) if rc.get("verdict") == "identified" and rc.get("component") else None


def record_verdict(store: Store, incident_id: int, judgement: Judgement, by: str, via: Via) -> Recorded:
    """Record ``by``'s verdict on the incident's latest report (see the module docstring)."""
    with store.transaction() as session:
        if session.get(Incident, incident_id) is None:
            raise ApiError(404, "not_found", f"no incident {incident_id}: list them with GET /v1/incidents")
        report = session.scalars(select(ReportRow).where(ReportRow.incident_id == incident_id)
                                 .order_by(ReportRow.id.desc()).limit(1)).first()
        named = _named(report)
        if judgement.verdict != "not_actionable":
            if report is None:
                raise ApiError(409, "no_report", f"incident {incident_id} has no report yet, so no cause to "
                                                 "judge: wait for it, or say not_actionable")
            if named is None and judgement.verdict == "confirmed":
                raise ApiError(409, "no_cause", f"incident {incident_id}'s report named no cause "
                                                "(inconclusive): say wrong with the real cause, or "
                                                "not_actionable")
            if named is not None and judgement.real_cause == named:
                raise ApiError(422, "invalid_verdict", f"real_cause: {named!r} is the cause augur named: "
                                                       "that verdict is confirmed")
        latest = _latest_row(session, incident_id)
        if latest is not None and latest.actor == by and latest.report_id == (report.id if report else None) \
                and (latest.verdict, latest.real_cause, latest.real_fault_type, latest.fix, latest.note) == (
                    judgement.verdict, judgement.real_cause, judgement.real_fault_type, judgement.fix,
                    judgement.note):
            return Recorded(_out(latest), changed=False)
        at = utcnow()
        row = VerdictRow(incident_id=incident_id, report_id=report.id if report else None,
                         verdict=judgement.verdict, named_cause=named, real_cause=judgement.real_cause,
                         real_fault_type=judgement.real_fault_type, fix=judgement.fix, note=judgement.note,
                         actor=by, via=via, at=at)
        session.add(row)
        session.add(IncidentEvent(incident_id=incident_id, at=at, kind=VERDICT_EVENT, detail={
            "verdict": judgement.verdict, "by": by, "via": via, "named_cause": named,
            "real_cause": judgement.real_cause, "previous": latest.verdict if latest else None}))
        session.flush()
        if judgement.verdict == "not_actionable":
            enqueue(session, RETUNE_JOB, {"incident_id": incident_id, "verdict_id": row.id},
                    dedupe_key=f"retune:verdict:{row.id}")
        return Recorded(_out(row), changed=True)


def verdicts_of(store: Store, incident_id: int) -> list[VerdictOut]:
    """Every verdict on the incident, oldest first (the last one counts)."""
    with store.read_session() as session:
        rows = session.scalars(select(VerdictRow).where(VerdictRow.incident_id == incident_id)
                               .order_by(VerdictRow.id))
        return [_out(r) for r in rows]


def _latest_ids(incident_ids: Iterable[int] | None = None) -> Select[Any]:
    stmt = select(func.max(VerdictRow.id)).group_by(VerdictRow.incident_id)
    if incident_ids is not None:
        stmt = stmt.where(VerdictRow.incident_id.in_(list(incident_ids)))
    return stmt


def latest_verdicts(store: Store, incident_ids: Iterable[int] | None = None) -> dict[int, VerdictOut]:
    """The latest verdict of each incident (of those given; every judged one with None)."""
    with store.read_session() as session:
        rows = session.scalars(select(VerdictRow).where(VerdictRow.id.in_(_latest_ids(incident_ids))))
        return {r.incident_id: _out(r) for r in rows}


def verdict_counts(store: Store) -> dict[str, int]:
    """How many incidents' latest verdict is each of confirmed, wrong, not_actionable."""
    counts = {"confirmed": 0, "wrong": 0, "not_actionable": 0}
    with store.read_session() as session:
        for verdict, n in session.execute(select(VerdictRow.verdict, func.count())
                                          .where(VerdictRow.id.in_(_latest_ids()))
                                          .group_by(VerdictRow.verdict)):
            counts[str(verdict)] = int(n)
    return counts


def precision(counts: dict[str, int]) -> float | None:
    """Confirmed ÷ judged (confirmed + wrong; not actionable judges no cause); None before any."""
    judged = counts.get("confirmed", 0) + counts.get("wrong", 0)
    return counts.get("confirmed", 0) / judged if judged else None


def past_incidents(store: Store, *, exclude: int | None = None,
                   limit: int = MEMORY_LIMIT) -> list[PastIncident]:
    """The most recent incidents with a report (not ``exclude``), with their latest verdicts and fixes."""
    with store.read_session() as session:
        latest_report = (select(func.max(ReportRow.id)).where(ReportRow.incident_id != (exclude or 0))
                         .group_by(ReportRow.incident_id))
        rows = list(session.execute(
            select(ReportRow.id, ReportRow.incident_id, ReportRow.report, Incident.title)
            .join(Incident, Incident.id == ReportRow.incident_id)
            .where(ReportRow.id.in_(latest_report)).order_by(ReportRow.id.desc()).limit(limit)))
    judged = latest_verdicts(store, [r.incident_id for r in rows]) if rows else {}
    out = []
    for _report_id, incident_id, data, title in rows:
        try:
            report = Report.model_validate(data)
        except ValidationError as exc:  # a report stored by an older augur: not comparable
            log.info("incident %s: stored report not readable for memory: %s", incident_id,
                     str(exc).splitlines()[0])
            continue
        verdict, real_cause, real_type, fix = _as_judged(judged.get(incident_id), report)
        try:
            out.append(PastIncident.from_report(
                report, id=f"#{incident_id}", title=title or report.title, verdict=verdict,
                real_cause=real_cause, real_fault_type=real_type, fix=fix))
        except ValidationError as exc:
            log.info("incident %s: not usable as memory: %s", incident_id, str(exc).splitlines()[0])
    return out


def _as_judged(v: VerdictOut | None,
               report: Report) -> tuple[PastVerdict, str | None, str | None, str | None]:
    """(verdict, real cause, real fault type, fix) of a verdict, read against ``report``.

    A verdict judged the report that was latest when it was given; if the incident was
    investigated again since and the new report names another cause, what the person said still
    holds for the cause: "confirmed X" against a report naming Y is "wrong, it was X".
    """
    if v is None:
        return "none", None, None, None
    fix = v.fix or None
    if v.verdict == "not_actionable":
        return "not_actionable", None, None, fix
    said = v.named_cause if v.verdict == "confirmed" else v.real_cause
    rc = report.root_cause
    now = rc.component if rc.verdict == "identified" else None
    if said is not None and said == now:
        return "confirmed", None, None, fix
    return "wrong", said, v.real_fault_type if v.verdict == "wrong" else None, fix
