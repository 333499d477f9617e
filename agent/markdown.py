"""Markdown rendering of a :class:`~augur.agent.report.Report`, for people at 3 a.m.

Sections, most urgent first: summary and root cause, the chain, impact, fixes, narrative (with
its citations), candidates, what was checked and found normal, open questions, the evidence
table with links to Prometheus, and how the investigation ran.
"""

from __future__ import annotations

from augur.agent.numbers import fmt_z, signal_label
from augur.agent.report import Report

__all__ = ["render_markdown"]


def _cell(text: object) -> str:
    return str(text if text is not None else "").replace("|", "\\|").replace("\n", " ")


def _cite(ids: list[str]) -> str:
    return " ".join(f"[{i}]" for i in ids)


def render_markdown(report: Report) -> str:
    """The report as Markdown."""
    rc = report.root_cause
    lines = [f"# {report.title}", ""]
    lines += [f"**Alert**: `{report.alert.name}` {_labels(report.alert.labels)} — started "
              f"{report.alert.starts_at:%Y-%m-%d %H:%M} UTC"]
    if report.alert.question:
        lines += [f"**Question**: {report.alert.question}"]
    if report.alert.expr:
        lines += [f"**Expression**: `{report.alert.expr}`"]
    lines += [f"**Window**: {report.window_start:%Y-%m-%d %H:%M} – {report.window_end:%H:%M} UTC", ""]
    lines += ["## Summary", "", report.summary, ""]
    if rc.verdict == "identified":
        lines += [f"**Root cause**: `{rc.component}` — {rc.fault_type.replace('_', ' ')} "
                  f"(signal `{signal_label(rc.signal or '')}`), confidence **{rc.confidence:.2f}** "
                  f"{_cite(rc.evidence_ids)}", ""]
    else:
        lines += [f"**Root cause**: inconclusive (best confidence {rc.confidence:.2f}). {rc.summary}", ""]
    if report.chain:
        lines += ["## Chain (ordered by onset)", "", f"`{report.chain_text}`", "",
                  "| # | role | signal | layer | onset (UTC) | change | strength |",
                  "|---|---|---|---|---|---|---|"]
        for i, link in enumerate(report.chain, 1):
            label = _cell(signal_label(link.signal))
            lines.append(f"| {i} | {link.role} | `{label}` | {_cell(link.layer)} | "
                         f"{link.onset:%H:%M} | {_cell(link.change)} | {fmt_z(link.strength)} |")
        lines.append("")
    if report.impact:
        lines += ["## Impact", ""] + [f"- {s.text} {_cite(s.evidence_ids)}" for s in report.impact] + [""]
    if report.fixes:
        lines += ["## Fixes", ""]
        lines += [f"{i}. {f.action} — _{f.why}_"
                  + (f" (suggested by the LLM, citing {_cite(f.evidence_ids)})" if f.source == "llm" else "")
                  for i, f in enumerate(report.fixes, 1)]
        lines.append("")
    if report.narrative:
        lines += ["## What happened", ""] + [f"{s.text} {_cite(s.evidence_ids)}" for s in report.narrative]
        lines.append("")
    if report.candidates:
        lines += ["## Candidates", "", "| rank | component | fault type | score | confidence | why |",
                  "|---|---|---|---|---|---|"]
        for c in report.candidates:
            lines.append(f"| {c.rank} | `{_cell(c.component)}` | {_cell(c.fault_type)} | {c.score:.2f} | "
                         f"{c.confidence:.2f} | {_cell('; '.join(c.reasons))} |")
        lines.append("")
    if report.checked_normal:
        lines += ["## Checked and normal", ""]
        lines += [f"- `{signal_label(n.signal)}`: {n.note} {_cite(n.evidence_ids)}"
                  for n in report.checked_normal]
        lines.append("")
    if report.unexamined:
        lines += ["## Could not examine", "",
                  "Nothing is known about these signals (not the same as normal):", ""]
        lines += [f"- `{u.signal}` ({u.tool}, {u.status}): {_cell(u.reason)} {_cite(u.evidence_ids)}"
                  for u in report.unexamined]
        lines.append("")
    if report.open_questions:
        lines += ["## Open questions", ""] + [f"- {q}" for q in report.open_questions] + [""]
    lines += ["## Evidence", "", "| id | tool | status | query | value | link |", "|---|---|---|---|---|---|"]
    for row in report.evidence:
        graph = f"[graph]({row.link})" if row.link else ""
        lines.append(f"| {row.id} | {row.tool} | {row.status} | `{_cell(row.query)}` | {_cell(row.value)} | "
                     f"{graph} |")
    s = report.stats
    lines += ["", "## How this investigation ran", "",
              f"Planner: {s.planner}; {s.tool_calls} tool calls ({s.refused_calls} refused) in {s.rounds} "
              f"rounds; {s.wall_s:.2f} s wall, {s.backend_s:.2f} s in backend queries; "
              f"LLM tokens: {s.llm_tokens}."]
    if s.llm_failed:
        lines.append(f"**LLM**: {s.llm_failed}.")
    lines += [f"- {n}" for n in s.notes if n != s.llm_failed]
    if report.dropped_sentences:
        lines += ["", "Narrative sentences removed by the grounding check:"]
        lines += [f"- ~~{dropped.text}~~" for dropped in report.dropped_sentences]
    return "\n".join(lines) + "\n"


def _labels(labels: dict[str, str]) -> str:
    shown = {k: v for k, v in labels.items() if k != "alertname"}
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(shown.items())) + "}" if shown else ""
