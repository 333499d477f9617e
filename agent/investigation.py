"""``investigate()``: the one function that runs an investigation, for the worker, CLI and evals.

Example::

    from augur.agent.investigation import investigate
    report = await investigate(alert_json, registry=build_registry(settings), catalog=catalog)
    print(report.root_cause.component, report.chain_text)

With a ``checkpointer`` (see :mod:`augur.agent.checkpoints`) and a stable ``investigation_id``
(the incident or job id), calling it again after a crash resumes from the last step the graph
completed; calling it after it finished returns the stored report without running anything.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from typing import Any

from augur.agent.catalog import Catalog
from augur.agent.context import Event, GraphContext
from augur.agent.graph import build_graph
from augur.agent.memory import PastIncident
from augur.agent.planner import NarrativeWriter, Planner
from augur.agent.report import Report
from augur.agent.state import AlertInfo, Budget, InvestigationState
from augur.agent.triage import TriageError, normalise_alert, question_alert, window_for
from augur.tools.base import ToolRegistry
from augur.tools.range_cache import shared_ranges

__all__ = ["TriageError", "investigate", "investigation_id_for"]


def investigation_id_for(alert: AlertInfo) -> str:
    """A stable id for an alert episode (fingerprint or labels, and start time) or a question."""
    basis = alert.get("fingerprint") or repr(sorted(alert.get("labels", {}).items()))
    if alert.get("name") == "question" and not alert.get("fingerprint"):
        basis += "|" + alert.get("annotations", {}).get("question", "")
    digest = hashlib.sha256(f"{basis}|{alert.get('starts_at')}".encode()).hexdigest()[:16]
    return f"inv-{digest}"


async def investigate(
    alert: Mapping[str, Any] | None = None,
    *,
    registry: ToolRegistry,
    catalog: Catalog | None = None,
    question: str | None = None,
    at: float | None = None,
    labels: Mapping[str, str] | None = None,
    investigation_id: str | None = None,
    planner: Planner | None = None,
    writer: NarrativeWriter | None = None,
    checkpointer: Any = None,
    budget: Budget | None = None,
    lookback_s: float = 4 * 3600,
    after_s: float = 15 * 60,
    step_s: float | None = None,
    data_end: float | None = None,
    baseline_gap_s: float | None = None,
    now: float | None = None,
    on_event: Event | None = None,
    memory: Sequence[PastIncident] = (),
) -> Report:
    """Investigate an alert (Alertmanager webhook body or one alert) or a free-text question.

    Args:
        alert: an Alertmanager v4 webhook body, or one alert object from it. Omit for a question.
        registry: the tools the investigation may call (``build_registry(settings)``).
        catalog: the platform catalog; without one the agent works from the alert's expression.
        question: a free-text question; ``at`` (Unix seconds) is the time it is about and is
            required: the window is anchored there, never at the wall clock.
        labels: with a question, labels that name what it is about (``{"service": "x"}``).
        investigation_id: the checkpoint thread id (use the incident or job id); default derived
            from the alert's fingerprint and start.
        planner: an LLM planner proposing calls beyond the SOP (``None``: SOP only).
        writer: an LLM narrative writer (``None``: the narrative is written by code).
        checkpointer: a LangGraph checkpointer; ``None`` runs without checkpoints.
        budget: tool-call, wall-time and token limits (defaults: :class:`Budget`).
        lookback_s / after_s / step_s: the window around the alert, and its resolution.
        data_end: where the caller knows the data stops (a replayed history's end); the window
            does not go past it. ``now`` is an older name for it. Neither is ever the wall clock
            by default: the same alert gives the same window whenever it is investigated.
        baseline_gap_s: how long before the alert a cause may have started: the quiet baseline
            every signal is compared with ends that long before the alert (default: half the
            look-back, for slow chains such as drift; a few minutes for microservices).
        on_event: progress callback ``(kind, details)``.
        memory: past incidents with their verdicts and fixes (:mod:`augur.agent.memory`): the
            alike ones are listed on the report, and their verdicts nudge the ranking (bounded).

    Raises:
        TriageError: the input is neither an alert nor a question.
    """
    if alert is None and not question:
        raise TriageError("give an alert (Alertmanager payload) or a question")
    if alert is not None:
        info = normalise_alert(alert)
    elif at is None:
        raise TriageError("a question needs the time it is about (`at`, Unix seconds): the window is "
                          "anchored there, never at the wall clock (the CLI's --at, the API's `end`)")
    else:
        info = question_alert(question or "", float(at), labels)
    default_id = investigation_id_for(info)
    inv_id = investigation_id or default_id
    ctx = GraphContext(registry=registry, catalog=catalog, planner=planner, writer=writer, on_event=on_event,
                       memory=memory)
    graph = build_graph(checkpointer)
    config: dict[str, Any] = {"configurable": {"thread_id": inv_id}, "recursion_limit": 200}
    if checkpointer is not None:
        snapshot = await graph.aget_state(config)
        if snapshot.values.get("report"):
            return Report.model_validate(snapshot.values["report"])
        if snapshot.next:
            # Resume: the wall-time budget restarts for the new worker; everything else carries over.
            resumed = Budget.from_dict(snapshot.values["budget"])
            resumed.started_at = time.time()
            notes = [*snapshot.values.get("notes", []),
                     f"resumed from a checkpoint before {', '.join(snapshot.next)}"]
            await graph.aupdate_state(config, {"budget": resumed.to_dict(), "notes": notes})
            with shared_ranges():  # promql_range and onset of a signal share one range query
                final = await graph.ainvoke(None, config, context=ctx)
            return Report.model_validate(final["report"])
    window = window_for(info["starts_at"], lookback_s=lookback_s, after_s=after_s,
                        data_end=data_end if data_end is not None else now, step_s=step_s)
    if baseline_gap_s is not None:
        window["reference_end"] = max(window["start"] + window["step"], info["starts_at"] - baseline_gap_s)
    start_budget = budget or Budget()
    start_budget.started_at = time.time()
    initial = InvestigationState(
        investigation_id=inv_id, alert=info, question=question,
        window=window,
        budget=start_budget.to_dict(), notes=[], calls=[], evidence={}, pending=[], refused=[],
    )
    with shared_ranges():  # promql_range and onset of a signal share one range query
        final = await graph.ainvoke(initial, config, context=ctx)
    return Report.model_validate(final["report"])
