"""Findings: what each examined signal did, read from the evidence its tool calls produced.

A signal's calls (``promql_range`` and ``onset`` for a metric, ``drift`` for a data source,
``log_search`` for logs, ``trace_search`` for traces) are grouped by the ``component.signal``
the planner gave them and turned into one :class:`~augur.agent.state.Finding`, each evidence read
by the type of its result (:func:`augur.tools.results.result_of`), whichever tool made it: whether it changed
in the direction that is a fault, when (the onset, never the alarm time), how strongly (robust z)
and from what to what. A trace's slower hop is a finding about the component serving that hop.

The onset tool's evidence is the authority on *when* and *whether*, read as its typed
:class:`~augur.tools.results.OnsetData`; the range summary fills in before/after values when
the onset evidence lacks them. Both come from one range query (:mod:`augur.tools.range_cache`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from augur.agent.catalog import Catalog
from augur.agent.correlate import TOLERANCE_S
from augur.agent.registry_findings import read_registry
from augur.agent.scan import SCAN_PREFIX, expand_scan
from augur.agent.state import CallRecord, Finding, InvestigationState
from augur.agent.trace_findings import component_for_service, trace_findings, trace_strength
from augur.tools.results import (
    DriftResult,
    LevelsResult,
    LogTemplatesResult,
    ModelVersionResult,
    OnsetData,
    SeriesOnset,
    TraceBlameResult,
    result_of,
)
from augur.tools.timeparse import TimeFormatError, parse_time

__all__ = ["MIN_STRENGTH", "REL_NOISE", "collect_findings", "noise_aware_strength", "read_onset"]

#: A change weaker than this (robust z) is treated as noise even if a change point was found.
MIN_STRENGTH = 1.0
#: Robust z is capped here: a flat baseline (MAD 0) makes any change "infinitely" strong.
MAX_STRENGTH = 100.0
#: The noise a metric's level is assumed to carry however flat its baseline looked: a tenth of
#: the level (of its distance from the nearest bound, for a ratio in [0, 1]). Real telemetry at
#: one-minute resolution often has a quantised or idle baseline (MAD 0: a latency of 4.6 ms that
#: reads 4.7 ms is a robust z of 100); scaling the change by at least this much keeps such
#: noise from outranking a real change of several times the level.
REL_NOISE = 0.1

def _ts(value: Any) -> float | None:
    if isinstance(value, int | float | str):
        try:
            return parse_time(value, relative=False)
        except TimeFormatError:
            return None
    return None


def _num(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, dict):  # e.g. {"value": 3.2}
        return _num(value.get("value"))
    return None


def read_onset(data: Mapping[str, Any]) -> SeriesOnset | None:
    """The series an ``onset`` answer is reported by (:meth:`OnsetData.strongest`), if it has one.

    ``data`` is the onset evidence's data, or a family scan's per-component view of it.
    """
    return OnsetData.model_validate(data).strongest()


def noise_aware_strength(finding: Finding) -> float:
    """The finding's robust z, its scale floored at :data:`REL_NOISE` of the level (unsigned).

    ``min(|z|, |after - before| / (REL_NOISE x level))``: the robust z when the baseline's own
    spread is the larger yardstick, the relative change otherwise. Only a metric with both
    levels known is floored; other evidence keeps its strength.
    """
    z = abs(finding.get("magnitude") or 0.0)
    before, after = finding.get("before"), finding.get("after")
    if finding.get("kind") != "metric" or before is None or after is None:
        return z
    level = abs(before)
    if (finding.get("unit") or "").lower() == "ratio" and 0.0 <= before <= 1.0:
        level = min(before, 1.0 - before)
    if level <= 0.0:
        return z
    return min(z, abs(after - before) / (REL_NOISE * level))


def _attribute_hop(finding: Finding, catalog: Catalog | None, service: str, operation: str) -> None:
    """A hop that grew is evidence about the component that serves it, when the catalog knows it.

    The trace of ``ranker-serving`` showing ``feature-store get_features`` 8x slower corroborates
    the feature store, so the finding moves to ``feature-store`` as ``feature-store.trace:get_features``.
    A client span's own time (wire, queue) is the called service's: ``service`` is the hop's owner.
    """
    owner = component_for_service(catalog, service)
    if owner is None or owner.name == finding.get("component"):
        return
    finding["component"] = owner.name
    finding["layer"] = owner.layer.value
    finding["signal"] = f"{owner.name}.trace:{operation}"


def _before_quiet_end(finding: Finding, state: InvestigationState) -> bool:
    """Whether the finding's onset is more than the onset tolerance before the quiet baseline's end."""
    window = state.get("window")
    ref_end = window.get("reference_end") if window else None
    onset = finding.get("onset")
    return (ref_end is not None and onset is not None and finding.get("kind") in ("metric", "trace")
            and onset < float(ref_end) - TOLERANCE_S)


def collect_findings(state: InvestigationState, catalog: Catalog | None) -> list[Finding]:
    """One finding per examined signal, from the calls made and their evidence."""
    groups: dict[str, list[CallRecord]] = defaultdict(list)
    evidence = state.get("evidence", {})
    # A family scan's evidence is read per component, as if each had been queried alone.
    views: dict[tuple[str, str], dict[str, Any]] = {}
    for call in state.get("calls", []):
        signal = call.get("signal")
        if not signal:
            continue
        if str(signal).startswith(SCAN_PREFIX):
            ev = evidence.get(call["evidence_id"])
            if ev is None:
                continue
            for ref, data in expand_scan(str(signal), ev.get("data", {}), catalog).items():
                groups[ref].append(CallRecord(**{**call, "signal": ref, "component": ref.partition(".")[0]}))
                views[(ref, call["evidence_id"])] = {**ev, "data": data}
            continue
        groups[str(signal)].append(call)
    findings: list[Finding] = []
    for signal, calls in groups.items():
        component = next((c["component"] for c in calls if c.get("component")), None)
        layer: str | None = None
        bad: str | None = None
        unit: str | None = None
        declared: str | None = None
        kind = "metric"
        if catalog is not None and component:
            comp = catalog.component(component)
            layer = comp.layer.value
            name = signal.partition(".")[2]
            sig = next((s for s in comp.signals if s.name == name), None)
            if sig is not None:
                bad, unit, kind, declared = sig.bad, sig.unit, sig.kind, sig.fault_type
        if signal.startswith("alert:"):
            bad = state.get("alert", {}).get("bad", "any")
        finding = Finding(component=component, signal=signal, layer=layer, kind=kind,
                          query=str(calls[0]["args"].get("query", "")), anomalous=False, onset=None,
                          direction=None, magnitude=0.0, before=None, after=None, bad=bad or "any",
                          unit=unit, evidence_ids=[])
        if declared:
            finding["fault_type"] = declared
        usable = False
        traces: list[TraceBlameResult] = []
        for call in calls:
            ev = views.get((signal, call["evidence_id"])) or evidence.get(call["evidence_id"])
            if ev is None:
                continue
            finding["evidence_ids"].append(call["evidence_id"])
            if ev.get("status") not in ("ok", "empty"):
                continue
            data = ev.get("data", {})
            match result_of(ev):
                case OnsetData() as answer:
                    usable = True
                    onset = answer.strongest()  # None: no series to read, which is no change
                    finding["onset"] = onset.onset if onset else None
                    finding["direction"] = onset.direction if onset else None
                    finding["magnitude"] = finding["z"] = (onset.magnitude_z if onset else None) or 0.0
                    finding["anomalous"] = bool(onset and onset.found)
                    if onset and onset.before is not None and onset.after is not None:
                        # The onset's level change is the figure the report states, with this id.
                        finding["before"], finding["after"] = onset.before, onset.after
                        finding["source_id"] = call["evidence_id"]
                case LevelsResult() as levels:
                    top = levels.series[0] if levels.series else None
                    before, after = (top.baseline_median, top.recent_median) if top else (None, None)
                    if finding.get("source_id") is None and before is not None and after is not None:
                        finding["before"], finding["after"] = before, after
                        finding["source_id"] = call["evidence_id"]
                    if not finding.get("magnitude") and top is not None and top.deviation is not None:
                        finding["magnitude"] = top.deviation
                        finding["z"] = top.deviation
                    usable = True
                case DriftResult() as drift:
                    usable = True
                    finding["kind"] = "drift"
                    finding["after"] = drift.value
                    finding["source_id"] = call["evidence_id"]
                    finding["anomalous"] = bool(drift.drifted)
                    finding["direction"] = "up"
                    floor = 3.0 if drift.drifted else 0.0
                    finding["magnitude"] = max(finding.get("magnitude") or 0.0, floor)
                case LogTemplatesResult() as logs:
                    usable = True
                    finding["kind"] = "log"
                    # Templates absent from the baseline and first seen after it are new in this incident.
                    firsts = (_ts(t.first_seen) for t in logs.templates if t.new)
                    new = [ts for ts in firsts if ts is not None]
                    if new:
                        finding["anomalous"] = True
                        finding["onset"] = min(new)
                        finding["direction"] = "up"
                        finding["magnitude"] = max(finding.get("magnitude") or 0.0, 3.0)
                case ModelVersionResult():
                    usable = read_registry(finding, data, call["evidence_id"], state.get("window"))
                case TraceBlameResult(grown=grown) as blame:
                    usable = True
                    finding["kind"] = "trace"
                    traces.append(blame)
                    if grown is not None:  # a hop's median self time grew against the baseline
                        finding["anomalous"] = True
                        finding["onset"] = _ts(grown.get("first_slow"))
                        finding["direction"] = "up"
                        finding["before"] = _num(grown.get("before_ms"))
                        finding["after"] = _num(grown.get("after_ms"))
                        finding["unit"] = "ms"
                        finding["source_id"] = call["evidence_id"]
                        finding["query"] = (f"slow hop: {grown.get('service')} {grown.get('operation')} "
                                            f"self p{grown.get('quantile')}")
                        strength = trace_strength(grown.get("z"))
                        finding["magnitude"] = max(finding.get("magnitude") or 0.0, strength)
                        owner = grown.get("owner") or grown.get("service")
                        _attribute_hop(finding, catalog, str(owner), str(grown.get("operation")))
        if not usable:
            continue
        # Scoring caps the strength; reports show the robust z the evidence holds (``z``).
        finding.setdefault("z", finding.get("magnitude") or 0.0)
        for blame in traces:
            findings.extend(trace_findings(finding, blame, catalog, component))
        magnitude = max(-MAX_STRENGTH, min(MAX_STRENGTH, finding.get("magnitude") or 0.0))
        # Scoring reads the noise-aware strength, with the change's sign.
        finding["magnitude"] = round(math.copysign(noise_aware_strength(finding), magnitude), 6)
        if finding["anomalous"]:
            if abs(finding.get("magnitude") or 0.0) < MIN_STRENGTH and finding["kind"] == "metric":
                finding["anomalous"] = False
            elif finding["bad"] in ("up", "down") and finding.get("direction") not in (None, finding["bad"]):
                finding["anomalous"] = False  # it moved, but in the healthy direction
            elif _before_quiet_end(finding, state):
                # The window's quiet baseline ends at reference_end: a change that had begun well
                # inside it is an earlier incident's (or its wander), not this alert's.
                finding["anomalous"] = False
                finding["before_baseline"] = True
        findings.append(finding)
    return findings
