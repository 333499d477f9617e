"""The postmortem's figures and judgements: impact rows from the report and the series after
resolution, what went well and badly (with a detection record of store times), and the grounding
every piece of prose passes before it is kept.
"""

from __future__ import annotations

import statistics
from datetime import datetime
from typing import Any

from augur.agent.charts import SeriesData
from augur.agent.grounding import ground, sentence_numbers
from augur.agent.numbers import fmt, signal_label
from augur.agent.postmortem_model import AlertRecord, ImpactRow, Postmortem, PostmortemInput
from augur.agent.postmortem_timeline import first_alert
from augur.agent.report import Report, Sentence
from augur.tools.evidence import evidence_id

__all__ = ["assessment", "cause_alerted", "ground_all", "impact_rows", "impact_sentences", "series_after"]


def _median(times: list[float], values: list[float], lo: float, hi: float) -> float | None:
    picked = [v for t, v in zip(times, values, strict=True) if lo <= t < hi]
    return float(statistics.median(picked)) if picked else None


def series_after(s: SeriesData, end: float) -> tuple[str, dict[str, Any], float | None]:
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


def impact_rows(report: Report, after_of: dict[str, tuple[str, float | None]]) -> list[ImpactRow]:
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


def impact_sentences(row: ImpactRow, onset: datetime | None) -> list[Sentence]:
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


def cause_alerted(report: Report, alerts: list[AlertRecord]) -> bool:
    component = report.root_cause.component or ""
    return any(component and component in alert.labels.values() for alert in alerts)


def assessment(
    inp: PostmortemInput, evidence: dict[str, dict[str, Any]]
) -> tuple[list[Sentence], list[Sentence]]:
    good: list[Sentence] = []
    bad: list[Sentence] = []
    report, first = inp.report, first_alert(inp)
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
            if not cause_alerted(report, inp.alerts):
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


def ground_all(pm: Postmortem) -> None:
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
