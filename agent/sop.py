"""The SOP planner: the troubleshooting procedure as code, no LLM needed.

It follows the procedure on-call engineers use on ML platforms, one stage a round:

1. the alert's own signal (its rule expression) and the alerting component's signals and trace;
2. the same component's model & data signals (model/data components it depends on);
3. its resources (GPU pools, nodes it runs on);
4. business impact (KPIs downstream of it, and the business map's KPIs it drives);
5. everything it depends on, however far, and its neighbours within two hops (a signal that
   several of them share is scanned once for all: :mod:`augur.agent.scan`);
6. follow-up: anything upstream of a signal that changed and was not looked at yet.

For every metric signal it runs ``promql_range`` (values before and after) **and** ``onset``
(when it left its baseline) over the investigation window, with the same query, start, end and
step, so both read one range query (:mod:`augur.tools.range_cache`); drift signals with a data source run
``drift``; log signals run ``log_search``; trace signals run ``trace_search`` (which hop of the
request grew against the baseline). Without a catalog it reads the alert's own expression,
discovers the series sharing the alert's identifying labels (``prom_series``) and examines them;
with a catalog that knows nothing of the alert it does the same, then sweeps every catalog signal.

The planner is stateless: it derives every call it wants from the state and returns those of the
earliest stage not yet made, so a resumed investigation continues where it stopped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from augur.agent.catalog import Catalog, Component, Layer, Signal
from augur.agent.registry_findings import registry_calls
from augur.agent.scan import SCAN_PREFIX, scan_calls
from augur.agent.state import Budget, InvestigationState, ToolCall, Window, call_key
from augur.tools.base import ToolRegistry

__all__ = ["STAGES", "SopPlanner", "metric_calls"]

STAGES = (
    "the alert's own signal",
    "model & data signals",
    "resources",
    "business impact",
    "neighbours within two hops",
    "upstream of what changed",
)

#: Labels that identify what an alert is about (for discovery without a catalog).
IDENTIFYING_LABELS = ("service", "model", "job", "namespace", "feature", "deployment", "pod", "Hostname")
MAX_DISCOVERED_METRICS = 8


def baseline_end(window: Window) -> float:
    """Where the quiet baseline ends: the window's ``reference_end``, else half-way to the alert."""
    if window.get("reference_end") is not None:
        return float(window["reference_end"])
    return window["start"] + (window["alert_at"] - window["start"]) / 2


def metric_calls(query: str, window: Window, why: str, component: str | None, signal: str,
                 max_series: int | None = None) -> list[ToolCall]:
    """``promql_range`` and ``onset`` for one metric over the window (``onset`` reading at most
    ``max_series`` series, when given).

    Their query, start, end and step are the same, so within the investigation they share one
    range query; keep them equal when changing either call.
    """
    ref_end = baseline_end(window)
    common: dict[str, Any] = {"query": query, "start": window["start"], "end": window["end"]}
    step = f"{window['step']:g}s"
    most = {} if max_series is None else {"max_series": max_series}
    return [
        ToolCall(tool="promql_range", args={**common, "step": step, "baseline_end": ref_end},
                 why=why, component=component, signal=signal, planner="sop"),
        ToolCall(tool="onset", args={**common, "step": step, "reference_end": ref_end, **most},
                 why=why, component=component, signal=signal, planner="sop"),
    ]


def _signal_calls(comp: Component, sig: Signal, window: Window, why: str) -> list[ToolCall]:
    ref = f"{comp.name}.{sig.name}"
    if sig.kind in ("metric", "drift") and sig.query:
        return metric_calls(sig.query, window, why, comp.name, ref)
    if sig.kind == "drift" and sig.drift is not None:
        src = sig.drift
        args: dict[str, Any] = {"method": src.method}
        if src.histogram:  # two windows of a scraped histogram: before the incident vs the rest
            args.update(histogram=src.histogram, start=window["start"], end=window["end"],
                        baseline_end=baseline_end(window))
        else:  # reference and current samples on disk
            args.update({k: v for k, v in {"reference_path": src.reference, "current_path": src.current,
                                           "column": src.column}.items() if v is not None})
        return [ToolCall(tool="drift", args=args, why=why, component=comp.name, signal=ref, planner="sop")]
    if sig.kind == "log" and sig.log_query:
        search: dict[str, Any] = {
            "query": sig.log_query, "start": window["start"], "end": window["end"],
            "baseline_end": baseline_end(window)}
        if comp.match.get("service"):
            search["filters"] = {"service": comp.match["service"]}
        return [ToolCall(tool="log_search", args=search, why=why, component=comp.name, signal=ref,
                         planner="sop")]
    if sig.kind == "trace":
        service = sig.trace_service or comp.match.get("service") or comp.name
        return [ToolCall(tool="trace_search", args={
            "service": service, "start": window["start"], "end": window["end"],
            "baseline_end": baseline_end(window)},
            why=why, component=comp.name, signal=ref, planner="sop")]
    return []


def _by_distance(names: Iterable[str], distance: dict[str, int]) -> list[str]:
    return sorted(set(names), key=lambda n: (distance.get(n, 99), n))


class SopPlanner:
    """The deterministic planner (see the module docstring)."""

    name = "sop"

    def __init__(self, catalog: Catalog | None) -> None:
        self.catalog = catalog

    async def plan(self, state: InvestigationState, tools: ToolRegistry, budget: Budget) -> list[ToolCall]:
        """Calls of the earliest stage that still has calls not made (``[]`` when done)."""
        made = {c["key"] for c in state.get("calls", [])} | {
            call_key(r["tool"], r["args"]) for r in state.get("refused", [])}
        for calls in self.stages(state):
            fresh = [c for c in calls if call_key(c["tool"], c["args"]) not in made]
            if fresh:
                return _dedup(fresh)
        return []

    def stages(self, state: InvestigationState) -> list[list[ToolCall]]:
        """All the calls the procedure wants, stage by stage, given what is known so far."""
        if self.catalog is None:
            return self._stages_without_catalog(state)
        if not state.get("focus"):
            # The catalog does not know what the alert is about: its own expression, discovery by
            # its labels, then every catalog signal, from the data layer up to business KPIs.
            order = [Layer.DATA, Layer.MODEL, Layer.RESOURCE, Layer.SERVICE, Layer.BUSINESS]
            sweep = [c for layer in order for c in self.catalog.components if c.layer == layer]
            why = "no component matched the alert: sweep"
            calls = [call for comp in sweep for sig in comp.signals
                     for call in _signal_calls(comp, sig, state["window"], f"{why} {comp.name}.{sig.name}")]
            return [*self._stages_without_catalog(state), calls]
        cat, window, focus = self.catalog, state["window"], self.catalog.component(state["focus"] or "")
        total = len(STAGES)

        def calls_for(comps: Iterable[str], stage: int) -> list[ToolCall]:
            why = f"SOP {stage}/{total} {STAGES[stage - 1]}: "

            def one(comp: Component, sig: Signal) -> list[Any]:
                return _signal_calls(comp, sig, window, f"{why}{comp.name}.{sig.name}")

            def many(query: str, signal: str, label: str, members: list[Component]) -> list[Any]:
                what = f"{why}{signal} of {len(members)} components in one query (by {label})"
                return metric_calls(query, window, what, None, f"{SCAN_PREFIX}{signal}:{label}",
                                    max_series=min(200, max(20, 2 * len(members))))

            names = list(comps)
            return [ToolCall(**c) for c in scan_calls(cat, names, one, many)] + registry_calls(  # type: ignore[typeddict-item]
                (cat.component(n) for n in names), window, why)

        stage1 = self._alert_expr_calls(state, focus.name) + calls_for([focus.name], 1)
        upstream = cat.upstream(focus.name)
        near = cat.neighbours(focus.name, hops=len(cat.components))
        model_data = _by_distance(
            (n for n in upstream if cat.component(n).layer in (Layer.MODEL, Layer.DATA)), near)
        resource_from = {focus.name, *model_data}
        resources = _by_distance(
            (d for n in resource_from for d in [*cat.component(n).depends_on, *cat.upstream(n)]
             if cat.component(d).layer == Layer.RESOURCE), near)
        downstream = {n for n in near if cat.is_upstream(focus.name, n)}
        business = {n for n in downstream if cat.component(n).layer == Layer.BUSINESS}
        related = {focus.name, *upstream}
        for link in cat.business_map:
            drivers = {ref.partition(".")[0] for ref in link.drivers}
            if drivers & related:
                business.add(link.kpi.partition(".")[0])
        two_hops = cat.neighbours(focus.name, hops=2)
        seen = {focus.name, *model_data, *resources, *business}
        # Everything the alerting component depends on, however far, and what is two hops away:
        # with family scans (one query per shared signal) this costs a few calls, not one per service.
        neighbours = _by_distance((n for n in {*two_hops, *upstream} if n not in seen), near)
        seen |= set(neighbours)
        changed = {f.get("component") for f in state.get("findings", []) if f.get("anomalous")}
        follow = _by_distance(
            (u for c in changed if c for u in cat.upstream(c) if u not in seen), near)
        return [stage1, calls_for(model_data, 2), calls_for(resources, 3),
                calls_for(_by_distance(business, near), 4), calls_for(neighbours, 5), calls_for(follow, 6)]

    def _alert_expr_calls(self, state: InvestigationState, component: str | None) -> list[ToolCall]:
        expr = state.get("alert", {}).get("expr")
        if not expr:
            return []
        why = f"SOP 1/{len(STAGES)} {STAGES[0]}: the rule's expression"
        return metric_calls(expr, state["window"], why, component, f"alert:{state['alert'].get('name')}")

    def _stages_without_catalog(self, state: InvestigationState) -> list[list[ToolCall]]:
        """Alert expression, then discovery by the alert's labels, then what discovery found."""
        window = state["window"]
        stage1 = self._alert_expr_calls(state, None)
        labels = state.get("alert", {}).get("labels", {})
        selectors = [f'{{{k}="{_escape(labels[k])}"}}' for k in IDENTIFYING_LABELS if labels.get(k)]
        discover = [ToolCall(tool="prom_series", args={"match": sel, "start": window["start"],
                                                       "end": window["end"], "limit": 200},
                             why=f"discover the series sharing the alert's label {sel}", component=None,
                             signal=None, planner="sop") for sel in selectors]
        found: list[ToolCall] = []
        evidence = state.get("evidence", {})
        by_key = {c["key"]: c["evidence_id"] for c in state.get("calls", [])}
        alert_metrics = set(re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", state.get("alert", {}).get("expr") or ""))
        for call in discover:
            ev = evidence.get(by_key.get(call_key(call["tool"], call["args"]), ""))
            if not ev or ev.get("status") != "ok":
                continue
            selector = call["args"]["match"]
            for metric in ev.get("data", {}).get("metrics", [])[:MAX_DISCOVERED_METRICS]:
                if metric in alert_metrics or metric.endswith(("_bucket", "_created")):
                    continue
                query = f"{metric}{selector}"
                found += metric_calls(query, window, f"examine {query}, found by discovery", None, query)
        return [stage1, discover, found]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _dedup(calls: list[ToolCall]) -> list[ToolCall]:
    seen: set[str] = set()
    out = []
    for call in calls:
        key = call_key(call["tool"], call["args"])
        if key not in seen:
            seen.add(key)
            out.append(call)
    return out
