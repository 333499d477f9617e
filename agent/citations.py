"""Citations: the evidence a stored report lets later writers (chat answers, postmortems) cite.

A stored :class:`~augur.agent.report.Report` keeps its evidence as table rows (headline value and
summary), not the tools' full data. :func:`report_evidence` turns those rows back into the
``{id: {"summary", "data"}}`` shape :func:`augur.agent.grounding.ground` checks sentences against,
adding the before/after values the report's chain links computed from each piece of evidence —
so a sentence built from the report may use exactly the numbers the report itself rests on.
"""

from __future__ import annotations

from typing import Any

from augur.agent.grounding import ground
from augur.agent.report import Report, Sentence

__all__ = ["regrounded_narrative", "report_evidence"]


def report_evidence(report: Report) -> dict[str, dict[str, Any]]:
    """The report's evidence rows as citable records, with the chain's before/after values."""
    out: dict[str, dict[str, Any]] = {}
    for row in report.evidence:
        out[row.id] = {
            "id": row.id,
            "tool": row.tool,
            "status": row.status,
            "summary": f"{row.summary} {row.value}".strip(),
            "data": {"value": row.value, "query": row.query or ""},
        }
    for link in report.chain:
        for ev_id in link.evidence_ids:
            record = out.get(ev_id)
            if record is None:
                continue
            data = record["data"]
            data["onset"] = link.onset.timestamp()
            if link.before is not None:
                data["before"] = link.before
            if link.after is not None:
                data["after"] = link.after
            data["change"] = link.change
    return out


def regrounded_narrative(report: Report) -> tuple[list[Sentence], list[Sentence]]:
    """The report's narrative checked again against its stored evidence: (kept, dropped)."""
    kept, dropped = ground(report.narrative, report_evidence(report))
    return kept, [Sentence(text=d.text, evidence_ids=d.evidence_ids) for d in dropped]
