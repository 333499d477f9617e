"""Rendering of a :class:`~augur.agent.postmortem_model.Postmortem`: Markdown, and HTML.

Both show the same figures, written by :mod:`augur.agent.numbers`: key facts (severity, duration,
time to detect / diagnose / acknowledge / resolve), impact (the report's before → after and
change, and the median after resolution), timeline, chain, assessment and action items with
their owners.
"""

from __future__ import annotations

from pathlib import Path

import jinja2

from augur.agent.escape import md_code, md_text
from augur.agent.numbers import fmt, signal_label
from augur.agent.postmortem_model import KeyFacts, Postmortem

__all__ = ["fact_rows", "render_html", "render_markdown"]


def _cite(ids: list[str]) -> str:
    return " ".join(f"[{i}]" for i in ids)


def _minutes(value: float | None) -> str:
    if value is None:
        return "–"
    if abs(value) >= 90:
        return f"{fmt(value / 60)} h"
    if abs(value) < 1:
        return f"{value * 60:.0f} s"
    return f"{fmt(value)} min"


def fact_rows(facts: KeyFacts) -> list[tuple[str, str]]:
    """The key facts as (label, value) rows, in reading order."""
    return [
        ("severity", facts.severity or "–"),
        ("started (cause onset)", f"{facts.started_at:%Y-%m-%d %H:%M} UTC" if facts.started_at else "–"),
        ("duration", _minutes(facts.duration_minutes) if facts.duration_minutes is not None else "ongoing"),
        ("time to detect (onset → first alert)", _minutes(facts.time_to_detect_minutes)),
        ("time to diagnose (first alert → report)", _minutes(facts.time_to_diagnose_minutes)),
        ("time to acknowledge (first alert → first review decision)",
         _minutes(facts.time_to_acknowledge_minutes) if facts.time_to_acknowledge_minutes is not None
         else "not recorded"),
        ("time to resolve (first alert → resolved)",
         _minutes(facts.time_to_resolve_minutes) if facts.time_to_resolve_minutes is not None else "not yet"),
    ]


def _cell(value: float | None) -> str:
    return fmt(value) if value is not None else "–"


def render_markdown(pm: Postmortem, *, chart_prefix: str = "") -> str:
    """The postmortem as Markdown; charts are linked as ``chart_prefix`` + file name."""
    lines = [f"# Postmortem — incident #{pm.incident_id}: {md_text(pm.title)}", ""]
    resolved = f"{pm.resolved_at:%Y-%m-%d %H:%M} UTC" if pm.resolved_at else "not yet"
    lines += [
        f"**Status**: {pm.status} · **opened** {pm.opened_at:%Y-%m-%d %H:%M} UTC · **resolved** {resolved}",
        "",
        "| key fact | |",
        "|---|---|",
    ]
    lines += [f"| {label} | {value} |" for label, value in fact_rows(pm.facts)] + [""]
    lines += ["## Summary", ""] + [f"{md_text(s.text)} {_cite(s.evidence_ids)}".strip() for s in pm.summary]
    lines += ["", md_text(pm.verdict), ""]
    if pm.judgement:
        lines += [f"**Judged by a person** — {md_text(pm.judgement)}", ""]
    if pm.impact:
        lines += ["## Impact", "", "| signal | before | after the change | change | after resolution |",
                  "|---|---|---|---|---|"]
        for row in pm.impact:
            lines.append(f"| {md_code(signal_label(row.signal), cell=True)} | {_cell(row.before)} | "
                         f"{_cell(row.during)} | "
                         f"{row.change or '–'} | {_cell(row.after)} |")
        lines += [""] + [f"- {md_text(s.text)} {_cite(s.evidence_ids)}" for s in pm.impact_text] + [""]
    lines += ["## Timeline (UTC)", ""]
    lines += [
        f"- **{e.at:%Y-%m-%d %H:%M:%S}** — {md_text(e.sentence.text)} "
        f"{_cite(e.sentence.evidence_ids)}".rstrip()
        for e in pm.timeline
    ]
    lines.append("")
    if pm.chain:
        lines += ["## Root cause and chain", "", md_code(pm.chain_text), "",
                  "| # | role | signal | onset | change |", "|---|---|---|---|---|"]
        lines += [f"| {i} | {c.role} | {md_code(signal_label(c.signal), cell=True)} | {c.onset:%H:%M} | "
                  f"{md_text(c.change)} |"
                  for i, c in enumerate(pm.chain, 1)]
        lines.append("")
    lines += ["## What went well", ""]
    lines += [f"- {md_text(s.text)} {_cite(s.evidence_ids)}".rstrip() for s in pm.went_well]
    lines += ["", "## What went badly", ""]
    lines += [f"- {md_text(s.text)} {_cite(s.evidence_ids)}".rstrip() for s in pm.went_badly]
    lines += ["", "## Action items", "", "| | kind | action | owner | state |", "|---|---|---|---|---|"]
    lines += [
        f"| [{'x' if a.state in ('approved', 'applied') else ' '}] | {a.kind} | {md_text(a.text)}"
        + (f" {md_code(a.ref, cell=True)}" if a.ref else "") + f" | {md_text(a.owner)} | {a.state} |"
        for a in pm.action_items
    ]
    pngs = [c for c in pm.charts if c.endswith(".png")]
    if pngs:
        lines += ["", "## Charts", ""]
        lines += [f"![the chain's series with onsets marked]({chart_prefix}{c})" for c in pngs]
    if pm.dropped or pm.notes:
        lines += ["", "## Notes", ""] + [f"- {md_text(n)}" for n in pm.notes]
        lines += [f"- removed: ~~{md_text(d.text)}~~" for d in pm.dropped]
    return "\n".join(lines) + "\n"


_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent),
    autoescape=jinja2.select_autoescape(["html", "j2"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def render_html(pm: Postmortem, *, chart_prefix: str = "", incident_url: str | None = None) -> str:
    """The postmortem as a standalone HTML page (escaped; charts linked as ``chart_prefix`` + name)."""
    template = _ENV.get_template("postmortem.html.j2")
    return template.render(
        pm=pm, prefix=chart_prefix, fmt=_cell, label=signal_label, facts=fact_rows(pm.facts),
        incident_url=incident_url, pngs=[c for c in pm.charts if c.endswith(".png")],
    )
