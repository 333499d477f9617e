"""Findings from trace evidence: whose time grew, whose errors rose, and which service a caller waits on.

One ``trace_search`` call reads whole requests, so its evidence (a
:class:`~augur.tools.results.TraceBlameResult`) speaks about every service on them, not only the
one searched. :mod:`augur.agent.findings` turns the hop that grew most into the
signal's own finding; :func:`trace_findings` adds one finding per *other* component whose time grew
(``services[].latency``: a server span's self time, or a client span's wire and queue time,
which counts for the service it calls) or whose own errors rose (``services[].errors``: errors
that started there, by a two-proportion test), each attributed through the catalog to the component
serving that service. A service the catalog does not know yields nothing: evidence never invents a
component.

Services the traces observed in both windows (``observed``) that did not change are, when
another service's time grew, *cleared*: the finding about the growth carries ``clears`` (their
components), and the diagnosis discounts a metric change of theirs — their part of the slow
requests did not slow down, so it does not explain them.

``waits_on`` says which child a slow request waits on. When the caller's own time did not
grow, the finding about the child's component carries ``waited_by`` (the caller's component): the
diagnosis then treats the caller as the child's symptom, whatever the catalog's edges say.
"""

from __future__ import annotations

from typing import Any

from augur.agent.catalog import Catalog, Component
from augur.agent.state import Finding
from augur.tools.results import TraceBlameResult

__all__ = ["component_for_service", "trace_findings", "trace_strength"]

#: The strength a trace change counts for: its robust z, within these bounds.
MIN_TRACE_STRENGTH, MAX_TRACE_STRENGTH = 3.0, 8.0
#: A service's latency growth is a finding only when it adds at least this share of the largest
#: growth in the same evidence (the rest are echoes: queues behind the slow one, shared nodes).
RELATIVE_FLOOR = 0.25


def component_for_service(catalog: Catalog | None, service: str) -> Component | None:
    """The catalog component serving ``service``: by its ``service`` match label, its name, or a
    trace signal's ``trace_service``."""
    if catalog is None:
        return None
    for comp in catalog.components:
        if comp.match.get("service") == service:
            return comp
    for comp in catalog.components:
        if comp.name == service:
            return comp
    for comp in catalog.components:
        if any(s.kind == "trace" and s.trace_service == service for s in comp.signals):
            return comp
    return None


def trace_strength(z: Any) -> float:
    """The strength (robust z) a trace change counts for, within the bounds above."""
    value = float(z) if isinstance(z, int | float) and not isinstance(z, bool) else MIN_TRACE_STRENGTH
    return max(MIN_TRACE_STRENGTH, min(MAX_TRACE_STRENGTH, value))


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _finding(
    base: Finding,
    comp: Component,
    name: str,
    query: str,
    *,
    before: Any,
    after: Any,
    unit: str,
    magnitude: float,
    onset: Any = None,
    z: Any = None,
) -> Finding:
    ids = list(base.get("evidence_ids", []))
    return Finding(
        component=comp.name,
        signal=f"{comp.name}.trace:{name}",
        layer=comp.layer.value,
        kind="trace",
        query=query,
        anomalous=True,
        onset=_num(onset),
        direction="up",
        magnitude=magnitude,
        before=_num(before),
        after=_num(after),
        bad="up",
        unit=unit,
        evidence_ids=ids,
        z=_num(z) or magnitude,
        source_id=ids[-1] if ids else None,
    )


def _from_change(base: Finding, comp: Component, change: dict[str, Any]) -> Finding:
    latency, errors = change.get("latency"), change.get("errors")
    error_z = trace_strength(errors.get("z")) if isinstance(errors, dict) else 0.0
    if isinstance(latency, dict):
        query = (
            f"slow hop: {latency.get('service')} {latency.get('operation')} self p{latency.get('quantile')}"
        )
        return _finding(
            base,
            comp,
            str(latency.get("operation")),
            query,
            before=latency.get("before_ms"),
            after=latency.get("after_ms"),
            unit="ms",
            onset=latency.get("first_slow"),
            magnitude=max(trace_strength(latency.get("z")), error_z),
            z=latency.get("z"),
        )
    assert isinstance(errors, dict)
    return _finding(
        base,
        comp,
        "errors",
        f"errors starting in {change.get('service')}",
        before=errors.get("before_share"),
        after=errors.get("after_share"),
        unit="ratio",
        magnitude=error_z,
        z=errors.get("z"),
    )


def trace_findings(
    base: Finding, blame: TraceBlameResult, catalog: Catalog | None, searched: str | None
) -> list[Finding]:
    """Findings beyond ``base`` (the signal's own, already read from ``blame.grown``); ``searched``
    is the component whose traces were searched. May set ``waited_by`` on ``base`` (see the module
    docstring)."""
    if catalog is None:
        return []
    taken = {base.get("component")} if base.get("anomalous") else set()
    by_component: dict[str, Finding] = {}
    changes = [c for c in blame.services if isinstance(c, dict) and isinstance(c.get("service"), str)]
    top = max((_num((c.get("latency") or {}).get("added_ms")) or 0.0 for c in changes), default=0.0)
    for change in changes:
        latency = change.get("latency")
        if isinstance(latency, dict) and (_num(latency.get("added_ms")) or 0.0) < RELATIVE_FLOOR * top:
            change = {**change, "latency": None}  # a small echo of the main change: not a finding
        comp = component_for_service(catalog, change["service"])
        if comp is None or comp.name in taken or comp.name in by_component:
            continue
        if not isinstance(change.get("latency"), dict) and not isinstance(change.get("errors"), dict):
            continue
        by_component[comp.name] = _from_change(base, comp, change)
    waits = blame.waits_on
    if waits is not None and not waits.get("caller_self_grew"):
        callee = component_for_service(catalog, str(waits.get("service")))
        caller = component_for_service(catalog, str(waits.get("caller")))
        caller_name = caller.name if caller is not None else searched
        if callee is not None and caller_name and callee.name != caller_name:
            target = base if base.get("component") == callee.name and base.get("anomalous") else None
            target = target or by_component.get(callee.name)
            if target is None:  # the walk's last hop grew in duration only: still what the caller waits on
                hop = (waits.get("path") or [{}])[-1]
                query = (
                    f"slow hop: {hop.get('service')} {hop.get('operation')} duration p{hop.get('quantile')}"
                )
                target = by_component[callee.name] = _finding(
                    base,
                    callee,
                    str(waits.get("operation")),
                    query,
                    before=hop.get("before_ms"),
                    after=hop.get("after_ms"),
                    unit="ms",
                    magnitude=MIN_TRACE_STRENGTH,
                )
            target["waited_by"] = caller_name
    changed = {base.get("component")} | set(by_component) if base.get("anomalous") else set(by_component)
    if changed:
        cleared = []
        for service in blame.observed:
            comp = component_for_service(catalog, str(service))
            if comp is not None and comp.name not in changed and comp.name != searched:
                cleared.append(comp.name)
        holder = base if base.get("anomalous") else next(iter(by_component.values()))
        holder["clears"] = sorted(set(cleared))
    return list(by_component.values())
