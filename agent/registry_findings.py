"""Model-registry evidence: a model version that went live shortly before the onset.

A catalog component may name its registered model (``registered_model: ranker`` or
``ranker@champion``, MLflow's ``models:/name@alias`` spelling). The SOP then asks the
``model_registry`` tool, with the investigation window's start as ``since``, which version is live
and when it changed (:func:`registry_calls`), whenever it looks at that component's signals.

:func:`read_registry` turns its evidence into the component's ``<component>.model_version``
finding: changed when the live version changed inside the window and no later than the alert,
with the change time as its onset and the fault type ``bad_model_version`` (the playbook's
rollback). Its ``before``/``after`` are the previous and live version numbers, so the chain reads
``v7 → v8``; the registry's offline metrics ride along in ``offline`` so a report can set the
training run's accuracy next to the live accuracy signal (:func:`offline_vs_live`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from augur.agent.catalog import Component
from augur.agent.state import Finding, ToolCall, Window

__all__ = ["REGISTRY_SIGNAL", "REGISTRY_STRENGTH", "offline_vs_live", "read_registry", "registry_calls",
           "registry_reasons"]

#: The finding's signal name on the component (``ranker-model.model_version``).
REGISTRY_SIGNAL = "model_version"
#: The strength a version change counts for: a categorical event, as strong as a drifted test.
REGISTRY_STRENGTH = 4.0
#: A change this many seconds after the alert still counts (clock skew between systems).
AFTER_ALERT_S = 60.0


def _model_and_alias(ref: str) -> tuple[str, str | None]:
    name, _, alias = ref.partition("@")
    return name, alias or None


def registry_calls(components: Iterable[Component], window: Window, why: str) -> list[ToolCall]:
    """One ``model_registry`` call per component that names a registered model."""
    calls: list[ToolCall] = []
    for comp in components:
        if not comp.registered_model:
            continue
        model, alias = _model_and_alias(comp.registered_model)
        args: dict[str, Any] = {"model": model, "since": window["start"]}
        if alias:
            args["alias"] = alias
        calls.append(ToolCall(tool="model_registry", args=args, why=f"{why}{comp.name} registered model",
                              component=comp.name, signal=f"{comp.name}.{REGISTRY_SIGNAL}", planner="sop"))
    return calls


def _version(value: Any) -> float | None:
    try:
        return float(str(value))
    except (TypeError, ValueError):
        return None


def read_registry(finding: Finding, data: dict[str, Any], evidence_id: str, window: Window | None) -> bool:
    """Fill ``finding`` from a ``model_registry`` answer; whether the answer was usable."""
    live, previous = data.get("live"), data.get("previous")
    if not isinstance(live, dict):
        return False
    from augur.tools.timeparse import parse_time

    changed_at = data.get("changed_at")
    onset = parse_time(changed_at) if isinstance(changed_at, str) else None
    finding["kind"] = "registry"
    finding["unit"] = "version"
    finding["source_id"] = evidence_id
    finding["query"] = (f"model registry {data.get('model')}: live version {live.get('version')} "
                        f"({live.get('selected_by')})")
    finding["before"] = _version(previous.get("version")) if isinstance(previous, dict) else None
    finding["after"] = _version(live.get("version"))
    finding["onset"] = onset
    alert_at = window.get("alert_at") if window else None
    in_window = bool(data.get("changed_since")) and previous is not None and onset is not None and (
        alert_at is None or onset <= float(alert_at) + AFTER_ALERT_S)
    finding["anomalous"] = in_window
    finding["direction"] = "up" if in_window else None
    finding["magnitude"] = REGISTRY_STRENGTH if in_window else 0.0
    finding["z"] = finding["magnitude"]
    finding["fault_type"] = "bad_model_version"
    when = f" at {changed_at} ({data.get('changed_at_source')})" if changed_at else ""
    note = (f"the model registry: {data.get('model')} v{live.get('version')} went live{when}, "
            f"{live.get('selected_by')}")
    if isinstance(previous, dict):
        note += f", after v{previous.get('version')}"
    offline = offline_vs_live(data, ())
    finding["registry_note"] = f"{note}; {offline}" if offline else note
    return True


def registry_reasons(findings: Sequence[Finding]) -> list[str]:
    """Why-ranked lines for a component's changed registry finding: the version change and the
    offline quality metric next to the component's live quality signal."""
    out = []
    for f in findings:
        if f.get("kind") != "registry" or not f.get("registry_note"):
            continue
        line = str(f["registry_note"])
        quality = sorted((q for q in findings if q.get("kind") == "metric" and q.get("bad") == "down"
                          and q.get("before") is not None and q.get("after") is not None),
                         key=lambda q: str(q["signal"]).startswith("alert:"))  # a catalog signal first
        live = quality[0] if quality else None
        if live is not None:
            line += f"; live signal {live['signal']} {live['before']:.4g} → {live['after']:.4g}"
        out.append(line)
    return out


def offline_vs_live(registry: dict[str, Any], live_quality: Sequence[Finding]) -> str | None:
    """One line setting the registry's offline quality metric next to the live quality signal.

    ``accuracy: offline 0.8 (v1) → 0.785 (v2, live); live signal ranker-model.accuracy 0.8 → 0.72``.
    """
    rows = [m for m in registry.get("metrics") or [] if isinstance(m, dict) and m.get("kind") == "quality"]
    live, previous = registry.get("live") or {}, registry.get("previous") or {}
    if not rows:
        return None
    m = rows[0]

    def num(v: Any) -> str:
        return f"{v:.4g}" if isinstance(v, int | float) else "n/a"

    text = (f"{m['key']}: offline {num(m.get('previous'))} (v{previous.get('version', '?')}) → "
            f"{num(m.get('live'))} (v{live.get('version', '?')}, live)")
    for f in live_quality:
        if f.get("before") is not None and f.get("after") is not None:
            text += f"; live signal {f['signal']} {num(f['before'])} → {num(f['after'])}"
            break
    return text
