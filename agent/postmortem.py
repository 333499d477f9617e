"""Postmortems: what happened, what it cost, in what order, why, and what to change — written by code.

:func:`build_postmortem` takes the incident's facts (alerts, timeline events, rule proposals),
its latest report and the chain's series (fetched by the server after resolution) and returns a
:class:`Postmortem`: summary, impact (each business series' median before, during and after the
incident, with the change), a timeline in time order (alerts, onsets, investigation, approvals,
resolution), root cause and chain, what went well and badly (e.g. the cause's signal had no
alert; the detection lag), action items and charts (:mod:`augur.agent.charts`).

Grounded like reports: every piece of prose is a :class:`~augur.agent.report.Sentence`; one that
cites evidence must pass :func:`~augur.agent.grounding.ground` against :attr:`Postmortem.evidence`
(the report's evidence, the series summaries computed here, and a detection record of store
times), and one that cites nothing may carry no number at all. Anything else is dropped and
listed. :func:`render_markdown` and :func:`render_html` (``postmortem.html.j2``) render it.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from augur.agent.charts import SeriesData, chain_chart
from augur.agent.citations import report_evidence
from augur.agent.grounding import ground, sentence_numbers
from augur.agent.numbers import fmt, signal_label
from augur.agent.report import ChainLink, Report, Sentence
from augur.tools.evidence import evidence_id

__all__ = [
    "ActionItem",
    "AlertRecord",
    "EventRecord",
    "ImpactRow",
    "KeyFacts",
    "Postmortem",
    "PostmortemInput",
    "ProposalRecord",
    "TimelineEntry",
    "build_postmortem",
    "render_html",
    "render_markdown",
]


@dataclass(frozen=True)
class AlertRecord:
    """One alert episode of the incident."""

    name: str
    labels: dict[str, str]
    starts_at: datetime
    ends_at: datetime | None = None


@dataclass(frozen=True)
class EventRecord:
    """One line of the incident's stored timeline."""

    at: datetime
    kind: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ProposalRecord:
    """A rule proposal of the incident and its review history ``(at, to_state, actor)``."""

    id: str
    title: str
    state: str
    history: list[tuple[datetime, str, str]] = field(default_factory=list)


@dataclass
class PostmortemInput:
    """Everything a postmortem is written from."""

    incident_id: int
    title: str
    status: str
    opened_at: datetime
    resolved_at: datetime | None
    alerts: list[AlertRecord]
    events: list[EventRecord]
    report: Report | None
    proposals: list[ProposalRecord] = field(default_factory=list)
    series: list[SeriesData] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    severity: str | None = None
    owners: dict[str, str] = field(default_factory=dict)  # catalog component -> owner


class TimelineEntry(BaseModel):
    """One timeline line: when, what kind, and the sentence (with citations when it has numbers)."""

    at: datetime
    kind: str
    sentence: Sentence


class ImpactRow(BaseModel):
    """A chain signal's level before and after its change (the report's figures) and after resolution."""

    signal: str
    layer: str | None = None
    before: float | None = Field(description="Level before the change: the report's figure.")
    during: float | None = Field(description="Level after the change (during the incident): the report's.")
    after: float | None = Field(default=None, description="Median after the incident resolved (Prometheus).")
    change: str = Field(default="", description="The report's change, written as the report writes it.")
    change_pct: float | None = Field(description="(during - before) / |before| in %.")
    evidence_id: str = Field(description="The evidence the report computed before/during/change from.")
    after_evidence_id: str | None = Field(default=None, description="The series evidence behind ``after``.")


class ActionItem(BaseModel):
    """Something to do (or done): a rule proposal under review, or a fix from the playbook."""

    kind: str = Field(description="`rule` or `fix`.")
    text: str
    state: str = Field(description="Proposal state, or `open` for a fix.")
    ref: str | None = None
    owner: str = Field(default="unassigned", description="Who acts: the catalog owner of its component.")


class KeyFacts(BaseModel):
    """Severity and the incident's clock, in minutes (None: not known or not happened yet)."""

    severity: str | None = None
    started_at: datetime | None = Field(default=None, description="The cause's onset (else the first alert).")
    duration_minutes: float | None = Field(default=None, description="Cause onset (or alert) to resolution.")
    time_to_detect_minutes: float | None = Field(default=None, description="Cause onset to the first alert.")
    time_to_diagnose_minutes: float | None = Field(default=None, description="First alert to augur's report.")
    time_to_acknowledge_minutes: float | None = Field(
        default=None, description="First alert to the first human action augur recorded (a review decision)."
    )
    time_to_resolve_minutes: float | None = Field(default=None, description="First alert to resolution.")


class Postmortem(BaseModel):
    """A postmortem: grounded prose, computed tables, and the charts it refers to."""

    incident_id: int
    title: str
    status: str
    opened_at: datetime
    resolved_at: datetime | None
    generated_at: datetime
    summary: list[Sentence]
    verdict: str = Field(description="The report's verdict, computed by code.")
    chain_text: str = ""
    chain: list[ChainLink] = Field(default_factory=list)
    facts: KeyFacts = Field(default_factory=KeyFacts)
    impact: list[ImpactRow] = Field(default_factory=list)
    impact_text: list[Sentence] = Field(default_factory=list)
    timeline: list[TimelineEntry] = Field(default_factory=list)
    went_well: list[Sentence] = Field(default_factory=list)
    went_badly: list[Sentence] = Field(default_factory=list)
    action_items: list[ActionItem] = Field(default_factory=list)
    charts: list[str] = Field(default_factory=list, description="Chart file names beside the postmortem.")
    evidence: dict[str, dict[str, Any]] = Field(default_factory=dict)
    dropped: list[Sentence] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)

    def sentences(self) -> list[Sentence]:
        """All grounded prose, in document order."""
        return [
            *self.summary,
            *self.impact_text,
            *(t.sentence for t in self.timeline),
            *self.went_well,
            *self.went_badly,
        ]


def _ts(value: datetime | float) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(value)


def _dt(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


def _median(times: list[float], values: list[float], lo: float, hi: float) -> float | None:
    picked = [v for t, v in zip(times, values, strict=True) if lo <= t < hi]
    return float(statistics.median(picked)) if picked else None


def _series_after(s: SeriesData, end: float) -> tuple[str, dict[str, Any], float | None]:
    """The series' median after ``end`` (the resolution) as a citable evidence record."""
    after = _median(s.times, s.values, end, float("inf"))
    ev_id = evidence_id("postmortem_series", {"query": s.query or s.signal, "end": round(end)})
    record = {
        "id": ev_id,
        "tool": "postmortem_series",
        "status": "ok",
        "summary": f"median of {s.signal} after the incident resolved: {fmt(after)}",
        "data": {"after": after, "points": len(s.values), "end": end},
    }
    return ev_id, record, after


def _impact_rows(report: Report, after_of: dict[str, tuple[str, float | None]]) -> list[ImpactRow]:
    """Business links of the chain (else every link), with the report's own figures."""
    links = [link for link in report.chain if link.layer == "business"] or list(report.chain)
    rows = []
    for link in links:
        pct = ((link.after - link.before) / abs(link.before) * 100
               if link.before not in (None, 0) and link.after is not None else None)
        after_id, after = after_of.get(link.signal, (None, None))
        rows.append(ImpactRow(
            signal=link.signal, layer=link.layer, before=link.before, during=link.after, after=after,
            change=link.change, change_pct=pct,
            evidence_id=link.source_id or next(iter(link.evidence_ids), ""),
            after_evidence_id=after_id,
        ))
    return rows


def _impact_sentences(row: ImpactRow, onset: datetime | None) -> list[Sentence]:
    name = signal_label(row.signal)
    when = f" from {onset:%H:%M} UTC" if onset is not None else ""
    out = []
    if row.before is not None and row.during is not None:
        out.append(Sentence(text=f"{name} moved {row.change}{when}: {fmt(row.before)} → {fmt(row.during)}.",
                            evidence_ids=[row.evidence_id]))
    else:
        out.append(Sentence(text=f"{name} moved {row.change}{when}.", evidence_ids=[row.evidence_id]))
    if row.after is not None and row.after_evidence_id:
        out.append(Sentence(text=f"After the incident resolved, {name} had a median of {fmt(row.after)}.",
                            evidence_ids=[row.after_evidence_id]))
    return out


def _minutes(a: datetime | None, b: datetime | None) -> float | None:
    return round((b - a).total_seconds() / 60, 1) if a is not None and b is not None else None


def _facts(inp: PostmortemInput) -> KeyFacts:
    """Severity and the incident's clock (detect, diagnose, acknowledge, resolve)."""
    first = _first_alert(inp)
    report = inp.report
    cause = report.chain[0] if report and report.chain and report.root_cause.verdict == "identified" else None
    first_at = first.starts_at if first else inp.opened_at
    started = cause.onset if cause is not None else first_at
    generated = report.generated_at if report else None
    ready = next((e.at for e in inp.events if e.kind == "report_ready"), generated)
    human = sorted(at for p in inp.proposals for at, state, actor in p.history
                   if state in ("approved", "rejected") and actor not in ("augur", "system"))
    by_start = sorted(inp.alerts, key=lambda a: a.starts_at)
    labelled = [a.labels["severity"] for a in by_start if a.labels.get("severity")]
    severity = inp.severity or (labelled[0] if labelled else None)
    return KeyFacts(
        severity=severity, started_at=started,
        duration_minutes=_minutes(started, inp.resolved_at),
        time_to_detect_minutes=_minutes(cause.onset, first_at) if cause is not None else None,
        time_to_diagnose_minutes=_minutes(first_at, ready),
        time_to_acknowledge_minutes=_minutes(first_at, human[0]) if human else None,
        time_to_resolve_minutes=_minutes(first_at, inp.resolved_at),
    )


def _link_ids(link: ChainLink) -> list[str]:
    return list(link.evidence_ids)


def _timeline(inp: PostmortemInput) -> list[TimelineEntry]:
    out: list[TimelineEntry] = []
    for alert in inp.alerts:
        out.append(
            TimelineEntry(
                at=alert.starts_at, kind="alert", sentence=Sentence(text=f"Alert {alert.name} fired.")
            )
        )
        if alert.ends_at is not None:
            out.append(
                TimelineEntry(
                    at=alert.ends_at,
                    kind="alert_resolved",
                    sentence=Sentence(text=f"Alert {alert.name} resolved."),
                )
            )
    report = inp.report
    if report is not None:
        for link in report.chain:
            role = "the cause" if link.role == "cause" else "a symptom"
            out.append(
                TimelineEntry(
                    at=link.onset,
                    kind="onset",
                    sentence=Sentence(
                        text=f"{signal_label(link.signal)} started to change ({link.change}), {role}.",
                        evidence_ids=_link_ids(link),
                    ),
                )
            )
    texts = {
        "opened": "Incident opened; investigation queued.",
        "investigation_requested": "Investigation requested.",
        "alerts_added": "More alerts joined the incident.",
        "report_ready": "Investigation finished: report ready.",
        "resolved": "Incident resolved: every alert stopped firing.",
    }
    for event in inp.events:
        if event.kind in ("alert_suppressed", "alert_unsuppressed"):
            sentence = Sentence(text=_suppression(event))
            out.append(TimelineEntry(at=event.at, kind=event.kind, sentence=sentence))
        if event.kind in texts:
            text = texts[event.kind]
            if event.kind == "report_ready" and event.detail.get("root_cause"):
                text = f"Investigation finished: root cause named as {event.detail['root_cause']}."
            out.append(TimelineEntry(at=event.at, kind=event.kind, sentence=Sentence(text=text)))
    for proposal in inp.proposals:
        for at, state, actor in proposal.history:
            verb = {
                "pending": "proposed by",
                "approved": "approved by",
                "rejected": "rejected by",
                "applied": "applied by",
                "failed": "failed to apply for",
            }.get(state, f"{state} by")
            out.append(
                TimelineEntry(
                    at=at,
                    kind=f"proposal_{state}",
                    sentence=Sentence(text=f"Rule {proposal.title} {verb} {actor}."),
                )
            )
    return sorted(out, key=lambda e: e.at)


def _suppression(event: EventRecord) -> str:
    """``Alert X was inhibited by Y`` / ``silenced by <author> (<comment>)`` from a pull's timeline event."""
    name = event.detail.get("alertname") or event.detail.get("fingerprint", "?")
    if event.kind == "alert_unsuppressed":
        return f"Alert {name} is no longer inhibited or silenced in Alertmanager."
    reasons = [f"inhibited by {i.get('alertname') or i.get('fingerprint')}"
               for i in event.detail.get("inhibited_by", [])]
    # The silence's comment stays in the event's detail: free text may hold numbers nothing cites.
    silences = event.detail.get("silenced_by", [])
    reasons += [f"silenced by {s.get('created_by') or 'a silence'}" for s in silences]
    return f"Alert {name} was {' and '.join(reasons) or 'suppressed'} in Alertmanager."


def _first_alert(inp: PostmortemInput) -> AlertRecord | None:
    return min(inp.alerts, key=lambda a: a.starts_at) if inp.alerts else None


def _cause_alerted(report: Report, alerts: list[AlertRecord]) -> bool:
    component = report.root_cause.component or ""
    return any(component and component in alert.labels.values() for alert in alerts)


def _assessment(
    inp: PostmortemInput, evidence: dict[str, dict[str, Any]]
) -> tuple[list[Sentence], list[Sentence]]:
    good: list[Sentence] = []
    bad: list[Sentence] = []
    report, first = inp.report, _first_alert(inp)
    if report is None:
        bad.append(Sentence(text="No investigation report was stored before the incident resolved."))
        return good, bad
    rc = report.root_cause
    ready = next((e.at for e in inp.events if e.kind == "report_ready"), report.generated_at)
    cause = report.chain[0] if report.chain and rc.verdict == "identified" else None
    if first is not None:
        record: dict[str, Any] = {
            "first_alert_at": first.starts_at.timestamp(),
            "report_at": ready.timestamp(),
            "diagnosis_minutes": round((ready - first.starts_at).total_seconds() / 60, 1),
        }
        if cause is not None:
            record["cause_onset_at"] = cause.onset.timestamp()
            record["detection_lag_minutes"] = round((first.starts_at - cause.onset).total_seconds() / 60, 1)
        det_id = evidence_id("postmortem_detection", {"incident": inp.incident_id})
        evidence[det_id] = {
            "id": det_id,
            "tool": "postmortem_detection",
            "status": "ok",
            "data": record,
            "summary": "times from the store: first alert, cause onset, report",
        }
        if rc.verdict == "identified":
            good.append(
                Sentence(
                    text=f"augur named the root cause ({rc.component}, {rc.fault_type.replace('_', ' ')}) "
                    f"{max(record['diagnosis_minutes'], 0):g} minutes after the first alert.",
                    evidence_ids=[det_id, *rc.evidence_ids],
                )
            )
        if cause is not None and record["detection_lag_minutes"] > 0:
            lag = f"{record['detection_lag_minutes']:g} minutes"
            if not _cause_alerted(report, inp.alerts):
                bad.append(
                    Sentence(
                        text=f"The cause's signal {cause.signal} had no alert: it changed {lag} "
                        f"before the first alert ({first.name}) fired on a symptom.",
                        evidence_ids=[det_id, *cause.evidence_ids],
                    )
                )
            else:
                bad.append(
                    Sentence(
                        text=f"Detection lag: the first alert fired {lag} after the cause changed.",
                        evidence_ids=[det_id, *cause.evidence_ids],
                    )
                )
    if rc.verdict != "identified":
        bad.append(Sentence(text="The evidence did not single out a cause; see the report's open questions."))
    for normal in report.checked_normal[:3]:
        good.append(
            Sentence(
                text=f"{normal.signal} was checked and ruled out as a red herring.",
                evidence_ids=list(normal.evidence_ids),
            )
        )
    for proposal in inp.proposals:
        if proposal.state in ("approved", "applied"):
            who = next((actor for _, state, actor in proposal.history if state == "approved"), "a reviewer")
            good.append(
                Sentence(text=f"Rule {proposal.title} was approved by {who} and is {proposal.state}.")
            )
    return good, bad


def _ground_all(pm: Postmortem) -> None:
    """Drop prose citing unknown evidence or numbers the evidence lacks; uncited prose may hold no number."""
    dropped: list[Sentence] = []

    def check(sentences: list[Sentence]) -> list[Sentence]:
        kept = []
        for s in sentences:
            if not s.evidence_ids:
                if sentence_numbers(s.text):
                    dropped.append(Sentence(text=f"{s.text} [dropped: numbers without evidence]"))
                else:
                    kept.append(s)
                continue
            ok, bad = ground([s], pm.evidence)
            kept += ok
            dropped.extend(
                Sentence(text=f"{d.text} [dropped: {d.reason}]", evidence_ids=d.evidence_ids) for d in bad
            )
        return kept

    pm.summary = check(pm.summary)
    pm.impact_text = check(pm.impact_text)
    pm.went_well = check(pm.went_well)
    pm.went_badly = check(pm.went_badly)
    entries = []
    for entry in pm.timeline:
        kept = check([entry.sentence])
        if kept:
            entries.append(entry.model_copy(update={"sentence": kept[0]}))
    pm.timeline = entries
    pm.dropped = dropped


def build_postmortem(inp: PostmortemInput, out_dir: Path | None = None) -> Postmortem:
    """Write the postmortem for ``inp``; with ``out_dir``, draw the chain's chart there."""
    report = inp.report
    evidence: dict[str, dict[str, Any]] = report_evidence(report) if report else {}
    first = _first_alert(inp)
    end = (inp.resolved_at or datetime.now(UTC)).timestamp()
    after_of: dict[str, tuple[str, float | None]] = {}
    for series in inp.series:
        ev_id, record, after = _series_after(series, end)
        evidence[ev_id] = record
        after_of[series.signal] = (ev_id, after)
    impact = _impact_rows(report, after_of) if report is not None else []
    onsets = {link.signal: link.onset for link in report.chain} if report is not None else {}
    if report is not None and report.root_cause.verdict == "identified":
        rc = report.root_cause
        verdict = (
            f"Root cause: {rc.component} — {rc.fault_type.replace('_', ' ')} (signal {rc.signal}), "
            f"confidence {rc.confidence:.2f} (computed from the evidence)."
        )
        summary = [
            Sentence(
                text=f"{inp.title}: the root cause was {rc.component} "
                f"({rc.fault_type.replace('_', ' ')}), which changed first in the chain "
                f"{report.chain_text}.",
                evidence_ids=list(
                    dict.fromkeys([*rc.evidence_ids, *(i for c in report.chain for i in c.evidence_ids)])
                ),
            )
        ]
    elif report is not None:
        verdict = f"Root cause: inconclusive — {report.root_cause.summary}"
        summary = [Sentence(text=f"{inp.title}: the investigation could not single out a cause.")]
    else:
        verdict = "Root cause: unknown — no investigation report was stored."
        summary = [Sentence(text=f"{inp.title}: no investigation report is available.")]
    good, bad = _assessment(inp, evidence)
    cause_owner = _owner(inp, report.root_cause.component if report is not None else None)
    actions = [ActionItem(kind="rule", text=p.title, state=p.state, ref=p.id, owner=cause_owner)
               for p in inp.proposals]
    if report is not None:
        actions += [ActionItem(kind="fix", text=fix.action, state="open", owner=cause_owner)
                    for fix in report.fixes]
        cause = report.chain[0] if report.chain and report.root_cause.verdict == "identified" else None
        if cause is not None and not inp.proposals and not _cause_alerted(report, inp.alerts):
            text = f"Add an alert on {signal_label(cause.signal)} (it had none)."
            owner = _owner(inp, cause.component)
            actions.append(ActionItem(kind="rule", text=text, state="open", owner=owner))
    pm = Postmortem(
        incident_id=inp.incident_id,
        title=inp.title,
        status=inp.status,
        opened_at=inp.opened_at,
        resolved_at=inp.resolved_at,
        generated_at=datetime.now(UTC),
        summary=summary,
        verdict=verdict,
        chain_text=report.chain_text if report else "",
        chain=list(report.chain) if report else [],
        facts=_facts(inp),
        impact=impact,
        impact_text=[t for r in impact for t in _impact_sentences(r, onsets.get(r.signal))],
        timeline=_timeline(inp),
        went_well=good,
        went_badly=bad,
        action_items=actions,
        evidence=evidence,
        notes=list(inp.notes),
    )
    _ground_all(pm)
    drawable = [s for s in inp.series if s.times]
    if out_dir is not None and drawable:
        chart = chain_chart(
            drawable,
            out_dir,
            alert_at=first.starts_at.timestamp() if first else None,
            resolved_at=inp.resolved_at.timestamp() if inp.resolved_at else None,
            title=f"Incident #{inp.incident_id}: {inp.title}",
        )
        pm.charts = [chart.png.name, chart.svg.name, chart.meta.name]
    elif out_dir is not None:
        pm.notes.append("no chart: none of the chain's series could be fetched")
    return pm


def _owner(inp: PostmortemInput, component: str | None) -> str:
    return inp.owners.get(component or "", "unassigned")


def render_markdown(pm: Postmortem, *, chart_prefix: str = "") -> str:
    """The postmortem as Markdown (see :mod:`augur.agent.postmortem_render`)."""
    from augur.agent.postmortem_render import render_markdown as render

    return render(pm, chart_prefix=chart_prefix)


def render_html(pm: Postmortem, *, chart_prefix: str = "", incident_url: str | None = None) -> str:
    """The postmortem as a standalone HTML page (see :mod:`augur.agent.postmortem_render`)."""
    from augur.agent.postmortem_render import render_html as render

    return render(pm, chart_prefix=chart_prefix, incident_url=incident_url)
