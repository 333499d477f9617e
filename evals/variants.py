"""Harder variants of a scenario: a subtler root cause in noisier telemetry, or opaque names.

The shipped scenarios are clean: every link of the chain moves clearly. :func:`subtle` keeps the
story and the truth but scales each real fault's changes *on its own component* toward the
baseline (``scale`` 0.3 keeps 30 % of the change) and multiplies every series' noise, while the
downstream symptoms keep their full size. This is the case the seed warns about: a quiet cause,
loud symptoms. A variant whose alert no longer fires (its rule watches the cause itself) is
reported as such by the runner, not scored.

:func:`anonymise` keeps the telemetry and the truth but renames every component (``c01``...), every
catalog signal (``s1``...), every alert (``A1``...) and every metric an operator named
(``m01``...; standard exporter families such as ``DCGM_FI_*``, ``http_*``, ``node_*``, ``vllm:*``,
``nv_inference_*``, ``kafka_*`` keep their names: they are a shared vocabulary, not the operator's
words), and drops free-text titles and descriptions. What a signal *is* (its query's shape, unit,
direction, layer, the catalog edges) is untouched: a fault typing that reads names falls apart here.
"""

from __future__ import annotations

import re
from typing import Any

from augur.evals.scenario import Effect, Fault, Scenario

__all__ = ["STANDARD_METRIC_PREFIXES", "anonymise", "subtle"]

#: Metric-name prefixes of standard exporters, kept by :func:`anonymise`.
STANDARD_METRIC_PREFIXES = ("DCGM_FI_", "http_", "node_", "vllm:", "nv_inference_", "kafka_", "container_",
                            "kube_", "process_", "go_")


def _scaled(effect: Effect, scale: float) -> Effect:
    if effect.factor is not None:
        return effect.model_copy(update={"factor": 1.0 + (effect.factor - 1.0) * scale})
    return effect.model_copy(update={"delta": (effect.delta or 0.0) * scale})


def subtle(scenario: Scenario, scale: float, noise: float = 2.0) -> Scenario:
    """A copy of ``scenario`` with its causes' own changes scaled by ``scale`` and noise × ``noise``."""
    if not 0 < scale <= 1:
        raise ValueError(f"scale must be in (0, 1], got {scale}")
    if noise < 1:
        raise ValueError(f"noise is a multiplier of at least 1, got {noise}")
    owner = {m.id: m.component for m in scenario.metrics}
    faults: list[Fault] = []
    for fault in scenario.faults:
        if fault.benign:
            faults.append(fault)
            continue
        effects = [_scaled(e, scale) if owner[e.metric] == fault.component and e.target != "noise" else e
                   for e in fault.effects]
        faults.append(fault.model_copy(update={"effects": effects}))
    metrics = [m.model_copy(update={"noise": m.noise * noise}) for m in scenario.metrics]
    return scenario.model_copy(update={"faults": faults, "metrics": metrics})


def _sub_all(value: Any, pattern: re.Pattern[str], names: dict[str, str]) -> Any:
    """``value`` with every whole-word match of ``pattern`` replaced in its strings (keys kept)."""
    if isinstance(value, str):
        return pattern.sub(lambda m: names[m.group(0)], value)
    if isinstance(value, list):
        return [_sub_all(v, pattern, names) for v in value]
    if isinstance(value, dict):
        return {k: _sub_all(v, pattern, names) for k, v in value.items()}
    return value


def _words(names: dict[str, str], word: str) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    return re.compile(rf"(?<!{word})(?:{alternatives})(?!{word})")


def anonymise(scenario: Scenario) -> Scenario:
    """A copy of ``scenario`` with opaque component, signal, alert and metric names (module docstring)."""
    doc = scenario.model_dump(mode="json")
    catalog = doc["catalog"]
    signal_names: dict[str, str] = {}  # "component.signal" -> "component.sN"
    for comp in catalog["components"]:
        comp.update(description=None, owner=None, runbook=None)
        for j, sig in enumerate(comp.get("signals", []), 1):
            signal_names[f"{comp['name']}.{sig['name']}"] = f"{comp['name']}.s{j}"
            sig["name"] = f"s{j}"
            sig["description"] = None

    def rename_ref(ref: str) -> str:
        return signal_names.get(ref, ref)

    doc["truth"]["chain"] = [rename_ref(r) for r in doc["truth"].get("chain", [])]
    for link in catalog.get("business_map", []):
        link["kpi"] = rename_ref(link["kpi"])
        link["drivers"] = [rename_ref(d) for d in link.get("drivers", [])]
        link["objective"] = None
    doc["title"], doc["description"] = f"{scenario.name} (anonymised)", ""
    doc["truth"]["note"] = None
    metrics = sorted({m["metric"] for m in doc["metrics"]
                      if not m["metric"].startswith(STANDARD_METRIC_PREFIXES)})
    alerts = sorted({str(r["alert"]) for g in doc["rules"].get("groups", []) for r in g.get("rules", [])
                     if "alert" in r})
    components = [c["name"] for c in catalog["components"]]
    if metrics:
        doc = _sub_all(doc, _words({m: "" for m in metrics}, "[A-Za-z0-9_:]"),
                       {m: f"m{i:02d}" for i, m in enumerate(metrics, 1)})
    if alerts:
        doc = _sub_all(doc, _words({a: "" for a in alerts}, "[A-Za-z0-9_]"),
                       {a: f"A{i}" for i, a in enumerate(alerts, 1)})
    doc = _sub_all(doc, _words({c: "" for c in components}, "[A-Za-z0-9_-]"),
                   {c: f"c{i:02d}" for i, c in enumerate(components, 1)})
    doc["name"] = scenario.name
    return Scenario.model_validate(doc)
