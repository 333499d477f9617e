"""The proposer: after each investigation, the alert rules the incident should leave behind.

Every incident should leave the monitoring better. Once the investigation's report is stored, the
``investigate`` job hands it here: :func:`~augur.server.jobs.findings.report_findings` turns the report
into the engine's :class:`~augur.rules.incident.Findings`, and
:func:`~augur.rules.propose.propose_and_record` proposes rules from the configured Prometheus's
history and stores the new ones as *pending* (a human approves before anything changes). The
outcome is one event on the incident's timeline:

- ``proposals_created`` — ``ids`` of the proposals stored now, plus what the engine ``skipped``
  and why (a rerun of the job finds the same rules by fingerprint: nothing is stored twice);
- ``proposals_skipped`` — nothing was tried: no Prometheus is configured, or the report has no
  identified cause with a PromQL onset to base a rule on;
- ``proposals_failed`` — the step failed (Prometheus down, promtool missing, ...) with the reason.

:func:`propose_for_report` never raises: the report is the investigation's result, and a failed
proposal step must not fail or retry it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from augur.agent.report import Report
from augur.server.settings import Settings
from augur.server.store.database import Store
from augur.server.store.models import IncidentEvent, utcnow
from augur.server.store.queue import LeaseLost

__all__ = ["CREATED", "FAILED", "SKIPPED", "ProposerOutcome", "propose_for_report"]

log = logging.getLogger(__name__)

CREATED = "proposals_created"
SKIPPED = "proposals_skipped"
FAILED = "proposals_failed"
#: How many of the engine's skip reasons the timeline event keeps.
MAX_SKIPPED = 20


@dataclass
class ProposerOutcome:
    """What the step did: the timeline event's kind and detail (``ids`` of new proposals, if any)."""

    kind: str
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def ids(self) -> list[str]:
        """Ids of the proposals stored by this run."""
        return list(self.detail.get("ids", []))


def _run(settings: Settings, store: Store, incident_id: int, report: Report,
         client: httpx.Client | None, now: float | None) -> ProposerOutcome:
    from augur.rules.propose import propose_and_record
    from augur.server.jobs.findings import report_findings
    from augur.server.store.proposals import SqlProposalStore
    from augur.tools.prometheus_api import connect

    if not settings.prometheus_url:
        return ProposerOutcome(SKIPPED, {"reason": "AUGUR_PROMETHEUS_URL is not set: rule proposals need "
                                                   "Prometheus history for thresholds and backtests"})
    findings = report_findings(report, incident_id=incident_id)
    if findings is None:
        return ProposerOutcome(SKIPPED, {"reason": f"no identified root cause with a PromQL onset "
                                                   f"(verdict: {report.root_cause.verdict}): nothing to "
                                                   "base a rule on"})
    own = client is None
    http = client or httpx.Client()
    try:
        result = propose_and_record(findings, connect(settings.prometheus_url, http=http),
                                    SqlProposalStore(store), now=now)
    finally:
        if own:
            http.close()
    return ProposerOutcome(CREATED, {"ids": [p.id for p in result.proposals],
                                     "titles": [p.title for p in result.proposals],
                                     "skipped": result.skipped[:MAX_SKIPPED]})


def propose_for_report(settings: Settings, store: Store, incident_id: int, report: Report, *,
                       client: httpx.Client | None = None, now: float | None = None,
                       fence: Callable[[Any], None] | None = None) -> ProposerOutcome:
    """Propose and store rules for the incident's report; record the outcome on its timeline.

    ``client`` reaches Prometheus (a fresh one when omitted); ``now`` ends the backtests' window
    (default: the current time). Never raises, except :class:`~augur.server.store.queue.LeaseLost`
    from ``fence``: called (with a session) before the step and in the transaction that records
    its outcome, it stops a worker that lost its job's lease from running or recording it (the
    proposals themselves are stored once by fingerprint whoever runs the step).
    """
    if fence is not None:
        with store.transaction() as session:
            fence(session)
    try:
        outcome = _run(settings, store, incident_id, report, client, now)
    except Exception as exc:
        log.exception("incident %s: proposing rules failed (the report is stored)", incident_id)
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        outcome = ProposerOutcome(FAILED, {"reason": reason[:2000]})
    try:
        with store.transaction() as session:
            if fence is not None:
                fence(session)
            session.add(IncidentEvent(incident_id=incident_id, at=utcnow(), kind=outcome.kind,
                                      detail=outcome.detail))
    except LeaseLost:
        raise
    except Exception:
        log.exception("incident %s: could not record %s on the timeline", incident_id, outcome.kind)
    return outcome
