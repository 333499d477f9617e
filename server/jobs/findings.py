"""The bridge from an investigation report to the rule-proposal engine's :class:`Findings`.

The agent and the rules engine know nothing of each other (both sit under ``server``): this
module reads a :class:`~augur.agent.report.Report` — its chain ordered by onset, the queries in its
evidence table, the alert it started from — and builds the :class:`~augur.rules.incident.Findings`
that :func:`augur.rules.propose.propose` reads. Only an identified root cause with an onset and a
PromQL query makes findings; an inconclusive report proposes nothing.
"""

from __future__ import annotations

from augur.agent.report import ChainLink, Report
from augur.rules.incident import Findings, Signal, SymptomAlert

__all__ = ["report_findings"]

_METRIC_TOOLS = ("onset", "promql_range")


def _signal(report: Report, link: ChainLink, labels: dict[str, str]) -> Signal | None:
    rows = {row.id: row for row in report.evidence}
    query = next((rows[i].query for i in link.evidence_ids
                  if i in rows and rows[i].tool in _METRIC_TOOLS and rows[i].query), None)
    if query is None:
        return None
    if link.before is not None and link.after is not None and link.after != link.before:
        direction = "up" if link.after > link.before else "down"
    else:
        direction = "up" if link.strength >= 0 else "down"
    return Signal(query=query, direction=direction, onset=link.onset.timestamp(),
                  evidence_ids=list(link.evidence_ids), name=link.signal.replace(".", " "),
                  layer=link.layer, labels=labels)


def report_findings(report: Report, *, incident_id: int | None = None) -> Findings | None:
    """The engine's view of ``report``; ``None`` when there is no identified, measurable cause."""
    if report.root_cause.verdict != "identified" or not report.chain or report.chain[0].role != "cause":
        return None
    alert_labels = {k: v for k, v in report.alert.labels.items() if k not in ("alertname", "severity")}
    root = _signal(report, report.chain[0], {})
    if root is None:
        return None
    chain = [s for link in report.chain[1:] if (s := _signal(report, link, {})) is not None]
    symptoms = []
    if report.alert.question is None:  # the alert that paged is a symptom of the cause
        symptoms.append(SymptomAlert(
            alertname=report.alert.name, labels=alert_labels, expr=report.alert.expr,
            started_at=report.alert.starts_at.timestamp(), layer=_alert_layer(report)))
    cited = sorted({i for s in report.narrative for i in s.evidence_ids})
    return Findings(incident_id=incident_id, first_alert_at=report.alert.starts_at.timestamp(),
                    root_cause=root, chain=chain, symptoms=symptoms, evidence_ids=cited)


def _alert_layer(report: Report) -> str | None:
    """The layer of the component the alert is about: the chain link matching its labels, if any."""
    values = set(report.alert.labels.values())
    for link in report.chain:
        if link.component and link.component in values:
            return link.layer
    return None
