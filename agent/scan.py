"""Family scans: one range query for a signal that many components share, instead of one each.

A catalog written (or discovered) for a microservice system gives every service the same signals
with the service's own label value: ``rate(container_cpu_usage_seconds_total{service="cart"}[2m])``
for ``cart``, the same with ``service="checkout"`` for ``checkout``. Examining 40 services one
query at a time spends the tool budget before the cause's service is reached. :func:`scan_calls`
groups such signals (same name, same query once the component's label value is taken out) and
asks once, ``service=~"cart|checkout|..."``, keeping the label in every aggregation's ``by``
clause so each series still names its component. The call's ``signal`` is ``scan:<signal>:<label>``;
:func:`expand_scan` splits the evidence back into one view per component, so each component gets
its own finding exactly as if it had been queried alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from augur.agent.catalog import Catalog, Component, Signal

__all__ = ["SCAN_PREFIX", "expand_scan", "scan_calls", "scan_query"]

SCAN_PREFIX = "scan:"
_SAFE_VALUE = re.compile(r"^[A-Za-z0-9_:-]+(\.[A-Za-z0-9_:-]+)*$")
_AGG = re.compile(r"\b(sum|avg|min|max|count|stddev|stdvar|group)\s*(by|without)?\s*(\(([^()]*)\))?\s*\(")
_UNSCANNABLE = re.compile(r"\b(topk|bottomk|quantile|count_values|absent|label_replace|label_join)\s*\(")


def _matcher(query: str, comp: Component) -> tuple[str, str] | None:
    """The ``(label, value)`` matcher naming ``comp`` in ``query`` (a match value, else its name)."""
    for value in [*comp.match.values(), comp.name]:
        found = re.findall(rf'([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"{re.escape(value)}"', query)
        if len(found) == 1:
            return found[0], value
    return None


def scan_query(query: str, label: str, value: str, values: Iterable[str]) -> str | None:
    """``query`` for ``label=value`` rewritten for all ``values`` (None when it cannot be)."""
    values = list(values)
    if _UNSCANNABLE.search(query) or not all(_SAFE_VALUE.match(v) for v in values):
        return None
    alternatives = "|".join(v.replace(".", "\\\\.") for v in values)
    out = re.sub(rf'\b{label}\s*=\s*"{re.escape(value)}"', lambda _: f'{label}=~"{alternatives}"', query)

    def keep_label(m: re.Match[str]) -> str:
        op, mode, labels = m.group(1), m.group(2), m.group(4)
        if mode == "without":
            names = [n.strip() for n in (labels or "").split(",")]
            return m.group(0) if label not in names else "\0"
        names = [n.strip() for n in (labels or "").split(",") if n.strip()]
        if label not in names:
            names.append(label)
        return f"{op} by ({', '.join(names)}) ("

    out = _AGG.sub(keep_label, out)
    return None if "\0" in out else out


def scan_calls(
    catalog: Catalog, names: Iterable[str], one: Callable[[Component, Signal], list[dict[str, Any]]],
    many: Callable[[str, str, str, list[Component]], list[dict[str, Any]]],
) -> list[dict[str, Any]]:
    """Calls for every signal of the components ``names``: shared families once, the rest one by one.

    ``one(comp, sig)`` makes a component's own calls; ``many(query, signal, label, comps)`` the
    calls of one scan (its ``signal`` must be ``scan:<signal>:<label>``).
    """
    comps = [catalog.component(n) for n in names]
    groups: dict[tuple[str, ...], list[tuple[Component, Signal, str]]] = {}
    order: list[tuple[str, ...]] = []
    for comp in comps:
        for sig in comp.signals:
            m = _matcher(sig.query, comp) if sig.kind == "metric" and sig.query else None
            if m is None:
                order.append((comp.name, sig.name))
                continue
            label, value = m
            template = re.sub(rf'\b{label}\s*=\s*"{re.escape(value)}"', f'{label}="\0"', sig.query or "")
            key: tuple[str, ...] = (sig.name, label, template, sig.kind)
            if key not in groups:
                groups[key] = []
                order.append(key)
            groups[key].append((comp, sig, value))
    out: list[dict[str, Any]] = []
    for key in order:
        if len(key) == 2:
            comp = catalog.component(key[0])
            out += one(comp, comp.signal(key[1]))
            continue
        members = groups[key]
        comp, sig, value = members[0]
        query = None
        if len(members) > 1:
            query = scan_query(sig.query or "", key[1], value, [v for _, _, v in members])
        if query is None:
            for comp, sig, _ in members:
                out += one(comp, sig)
        else:
            out += many(query, sig.name, key[1], [c for c, _, _ in members])
    return out


def expand_scan(signal: str, data: Mapping[str, Any], catalog: Catalog | None) -> dict[str, dict[str, Any]]:
    """A scan's evidence ``data`` split per component: ``{"comp.signal": data with its series only}``."""
    _, name, label = signal.split(":", 2)
    if catalog is None:
        return {}
    owners: dict[str, str] = {}
    for comp in catalog.components:
        try:
            sig = comp.signal(name)
        except KeyError:
            continue
        m = _matcher(sig.query or "", comp)
        if m is not None and m[0] == label:
            owners[m[1]] = comp.name
    views: dict[str, dict[str, Any]] = {}
    for series in data.get("series") or []:
        if not isinstance(series, dict):
            continue
        owner = owners.get(str((series.get("labels") or {}).get(label)))
        if owner is None:
            continue
        view = views.setdefault(f"{owner}.{name}", {**data, "series": []})
        view["series"].append(series)
    return views
