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

This module puts the parts together and re-exports them: :mod:`~augur.agent.postmortem_model`
(the input records and the result), :mod:`~augur.agent.postmortem_timeline` (the clock and the
timeline), :mod:`~augur.agent.postmortem_figures` (impact, what went well and badly, grounding)
and :mod:`~augur.agent.postmortem_render` (Markdown and HTML).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from augur.agent.charts import chain_chart
from augur.agent.citations import report_evidence
from augur.agent.numbers import signal_label
from augur.agent.postmortem_figures import (
    assessment,
    cause_alerted,
    ground_all,
    impact_rows,
    impact_sentences,
    series_after,
)
from augur.agent.postmortem_model import (
    ActionItem,
    AlertRecord,
    EventRecord,
    ImpactRow,
    KeyFacts,
    Postmortem,
    PostmortemInput,
    ProposalRecord,
    TimelineEntry,
    VerdictRecord,
)
from augur.agent.postmortem_render import render_html, render_markdown
from augur.agent.postmortem_timeline import first_alert, key_facts, timeline
from augur.agent.report import Sentence

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
    "VerdictRecord",
    "build_postmortem",
    "render_html",
    "render_markdown",
]


def build_postmortem(inp: PostmortemInput, out_dir: Path | None = None) -> Postmortem:
    """Write the postmortem for ``inp``; with ``out_dir``, draw the chain's chart there."""
    report = inp.report
    evidence: dict[str, dict[str, Any]] = report_evidence(report) if report else {}
    first = first_alert(inp)
    end = (inp.resolved_at or datetime.now(UTC)).timestamp()
    after_of: dict[str, tuple[str, float | None]] = {}
    for series in inp.series:
        ev_id, record, after = series_after(series, end)
        evidence[ev_id] = record
        after_of[series.signal] = (ev_id, after)
    impact = impact_rows(report, after_of) if report is not None else []
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
    good, bad = assessment(inp, evidence)
    cause_owner = _owner(inp, report.root_cause.component if report is not None else None)
    actions = [ActionItem(kind="rule", text=p.title, state=p.state, ref=p.id, owner=cause_owner)
               for p in inp.proposals]
    if report is not None:
        actions += [ActionItem(kind="fix", text=fix.action, state="open", owner=cause_owner)
                    for fix in report.fixes]
        cause = report.chain[0] if report.chain and report.root_cause.verdict == "identified" else None
        if cause is not None and not inp.proposals and not cause_alerted(report, inp.alerts):
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
        judgement=inp.verdict_record.line() if inp.verdict_record else "",
        chain_text=report.chain_text if report else "",
        chain=list(report.chain) if report else [],
        facts=key_facts(inp),
        impact=impact,
        impact_text=[t for r in impact for t in impact_sentences(r, onsets.get(r.signal))],
        timeline=timeline(inp),
        went_well=good,
        went_badly=bad,
        action_items=actions,
        evidence=evidence,
        notes=list(inp.notes),
    )
    ground_all(pm)
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

