"""Markdown rendering of a :class:`~augur.agent.report.Report`, for people at 3 a.m.

Sections, most urgent first: summary and root cause, the chain, impact, fixes, similar past
incidents (their confirmed causes and fixes), narrative (with its citations), candidates, what
was checked and found normal, open questions, the evidence table with links to Prometheus, and
how the investigation ran. Every value that comes from
telemetry or text (names, labels, questions, sentences, queries) is escaped
(:mod:`augur.agent.escape`): a backtick in an alert name cannot break out of its code span.
"""

from __future__ import annotations

from augur.agent.escape import md_code, md_text
from augur.agent.numbers import fmt_z, signal_label
from augur.agent.report import Report, SimilarIncident

__all__ = ["render_markdown"]


def _cell(text: object) -> str:
    return md_text(text)


def _cite(ids: list[str]) -> str:
    return " ".join(f"[{i}]" for i in ids)


def render_markdown(report: Report) -> str:
    """The report as Markdown."""
    rc = report.root_cause
    lines = [f"# {md_text(report.title)}", ""]
    lines += [f"**Alert**: {md_code(report.alert.name)} {md_text(_labels(report.alert.labels))} — started "
              f"{report.alert.starts_at:%Y-%m-%d %H:%M} UTC"]
    if report.alert.question:
        lines += [f"**Question**: {md_text(report.alert.question)}"]
    if report.alert.expr:
        lines += [f"**Expression**: {md_code(report.alert.expr)}"]
    lines += [f"**Window**: {report.window_start:%Y-%m-%d %H:%M} – {report.window_end:%H:%M} UTC", ""]
    lines += ["## Summary", "", md_text(report.summary), ""]
    if rc.verdict == "identified":
        lines += [f"**Root cause**: {md_code(rc.component)} — {md_text(rc.fault_type.replace('_', ' '))} "
                  f"(signal {md_code(signal_label(rc.signal or ''))}), confidence **{rc.confidence:.2f}** "
                  f"{_cite(rc.evidence_ids)}", ""]
    else:
        lines += [f"**Root cause**: inconclusive (best confidence {rc.confidence:.2f}). "
                  f"{md_text(rc.summary)}", ""]
    if report.chain:
        onsets = [link.onset for link in report.chain]
        # The chain follows the dependency edges; onsets estimated within the correlator's
        # tolerance of each other may then read out of order, and the heading must not claim otherwise.
        heading = ("## Chain (ordered by onset)" if onsets == sorted(onsets) else
                   "## Chain (cause first along the dependencies; onsets within 2 min may be out of order)")
        lines += [heading, "", md_code(report.chain_text), "",
                  "| # | role | signal | layer | onset (UTC) | change | strength |",
                  "|---|---|---|---|---|---|---|"]
        for i, link in enumerate(report.chain, 1):
            label = md_code(signal_label(link.signal), cell=True)
            lines.append(f"| {i} | {link.role} | {label} | {_cell(link.layer)} | "
                         f"{link.onset:%H:%M} | {_cell(link.change)} | {fmt_z(link.strength)} |")
        lines.append("")
    if report.impact:
        lines += ["## Impact", ""] + [f"- {md_text(s.text)} {_cite(s.evidence_ids)}" for s in report.impact]
        lines.append("")
    if report.fixes:
        lines += ["## Fixes", ""]
        lines += [f"{i}. {md_text(f.action)} — _{md_text(f.why)}_"
                  + (f" (suggested by the LLM, citing {_cite(f.evidence_ids)})" if f.source == "llm" else "")
                  for i, f in enumerate(report.fixes, 1)]
        lines.append("")
    if report.similar_incidents:
        lines += ["## Similar past incidents", ""] + [_similar(s) for s in report.similar_incidents] + [""]
    if report.narrative:
        lines += ["## What happened", ""] + [f"{md_text(s.text)} {_cite(s.evidence_ids)}"
                                             for s in report.narrative]
        lines.append("")
    if report.candidates:
        lines += ["## Candidates", "", "| rank | component | fault type | score | confidence | why |",
                  "|---|---|---|---|---|---|"]
        for c in report.candidates:
            lines.append(f"| {c.rank} | {md_code(c.component, cell=True)} | {_cell(c.fault_type)} | "
                         f"{c.score:.2f} | "
                         f"{c.confidence:.2f} | {_cell('; '.join(c.reasons))} |")
        lines.append("")
    if report.checked_normal:
        lines += ["## Checked and normal", ""]
        lines += [f"- {md_code(signal_label(n.signal))}: {md_text(n.note)} {_cite(n.evidence_ids)}"
                  for n in report.checked_normal]
        lines.append("")
    if report.unexamined:
        lines += ["## Could not examine", "",
                  "Nothing is known about these signals (not the same as normal):", ""]
        lines += [f"- `{u.signal}` ({u.tool}, {u.status}): {_cell(u.reason)} {_cite(u.evidence_ids)}"
                  for u in report.unexamined]
        lines.append("")
    if report.open_questions:
        lines += ["## Open questions", ""] + [f"- {md_text(q)}" for q in report.open_questions] + [""]
    lines += ["## Evidence", "", "| id | tool | status | query | value | link |", "|---|---|---|---|---|---|"]
    for row in report.evidence:
        graph = f"[graph]({row.link})" if row.link else ""
        lines.append(f"| {row.id} | {row.tool} | {row.status} | {md_code(row.query, cell=True)} | "
                     f"{_cell(row.value)} | "
                     f"{graph} |")
    s = report.stats
    lines += ["", "## How this investigation ran", "",
              f"Planner: {s.planner}; {s.tool_calls} tool calls ({s.refused_calls} refused) in {s.rounds} "
              f"rounds; {s.wall_s:.2f} s wall, {s.backend_s:.2f} s in backend queries; "
              f"LLM tokens: {s.llm_tokens}."]
    if s.llm_failed:
        lines.append(f"**LLM**: {md_text(s.llm_failed)}.")
    lines += [f"- {md_text(n)}" for n in s.notes if n != s.llm_failed]
    if report.dropped_sentences:
        lines += ["", "Narrative sentences removed by the grounding check:"]
        lines += [f"- ~~{md_text(dropped.text)}~~" for dropped in report.dropped_sentences]
    return "\n".join(lines) + "\n"


def _labels(labels: dict[str, str]) -> str:
    shown = {k: v for k, v in labels.items() if k != "alertname"}
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(shown.items())) + "}" if shown else ""


def _similar(s: SimilarIncident) -> str:
    """One past incident: how alike (and why), what a person said caused it, and what fixed it."""
    named = md_code(s.named_cause) if s.named_cause else "no cause (inconclusive)"
    cause = md_code(s.cause) + (f" ({md_text(s.fault_type.replace('_', ' '))})" if s.fault_type else "") \
        if s.cause else ""
    said = {"confirmed": f"cause confirmed: {cause}",
            "wrong": f"augur named {named}, judged wrong" + (f": it was {cause}" if s.cause else ""),
            "not_actionable": f"augur named {named}; judged not actionable",
            "none": f"augur named {named}; no verdict yet"}[s.verdict]
    fix = f"; fix: {md_text(s.fix)}" if s.fix else "; no fix recorded"
    return (f"- **{md_text(s.id)}** {md_text(s.title)} ({s.at:%Y-%m-%d %H:%M} UTC) — {said}{fix}. "
            f"Similarity {s.similarity:.2f}: {md_text(s.why)}")
