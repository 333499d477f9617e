"""The actions a report proposes, previewed and stored as pending proposals for a reviewer.

After an investigation's report is stored, :func:`propose_actions_for_report` takes its
``actions`` (:mod:`augur.agent.actions`: roll a model back, retrain it, scale it out), runs each
one's dry run (:func:`augur.rules.actions.preview`) against the configured MLflow, retraining
webhook or Kubernetes API server, and stores those whose dry run passed as pending proposals of
their kind (the review page, the API and Slack then show them beside rule proposals; approving one
executes it, :mod:`augur.server.review`). One timeline event records the step:

- ``actions_proposed`` — ``ids`` and ``titles`` of the proposals stored now (a rerun finds the
  same ones by fingerprint), and ``skipped``: each action whose dry run failed, and why;
- ``actions_failed`` — the step itself failed, with the reason.

A report with no actions records nothing. Like the rule proposer, this never raises (except
:class:`~augur.server.store.queue.LeaseLost` from ``fence``): the report is the result.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import httpx

from augur.agent.report import Report
from augur.rules.actions import action_proposal, preview
from augur.server.settings import Settings
from augur.server.store.database import Store
from augur.server.store.models import IncidentEvent, utcnow
from augur.server.store.proposals import SqlProposalStore
from augur.server.store.queue import LeaseLost

__all__ = ["FAILED", "PROPOSED", "propose_actions_for_report"]

log = logging.getLogger(__name__)

PROPOSED = "actions_proposed"
FAILED = "actions_failed"


def _propose(
    settings: Settings, store: Store, incident_id: int, report: Report, http: httpx.Client | None
) -> dict[str, Any]:
    config = settings.action_config()
    repo = SqlProposalStore(store)
    ids: list[str] = []
    titles: list[str] = []
    skipped: list[str] = []
    for action in report.actions:
        checked = preview(action.kind, action.params, config, http)
        if not checked.ok:
            skipped.append(f"{action.kind} {action.target}: {checked.detail}")
            continue
        stored, _new = repo.add(
            action_proposal(
                action.kind,
                action.target,
                action.params,
                action.why,
                action.evidence_ids,
                incident_id,
                checked,
            )
        )
        ids.append(stored.id)
        titles.append(stored.title)
    return {"ids": ids, "titles": titles, "skipped": skipped}


def propose_actions_for_report(
    settings: Settings,
    store: Store,
    incident_id: int,
    report: Report,
    *,
    http: httpx.Client | None = None,
    fence: Callable[[Any], None] | None = None,
) -> dict[str, Any] | None:
    """Preview and store the report's actions; the timeline event's detail, or None without actions."""
    if not report.actions:
        return None
    try:
        kind, detail = PROPOSED, _propose(settings, store, incident_id, report, http)
    except Exception as exc:
        log.exception("incident %s: proposing actions failed (the report is stored)", incident_id)
        kind, detail = FAILED, {"reason": f"{type(exc).__name__}: {exc}"[:2000]}
    try:
        with store.transaction() as session:
            if fence is not None:
                fence(session)
            session.add(IncidentEvent(incident_id=incident_id, at=utcnow(), kind=kind, detail=detail))
    except LeaseLost:
        raise
    except Exception:
        log.exception("incident %s: could not record %s on the timeline", incident_id, kind)
    return {"kind": kind, **detail}
