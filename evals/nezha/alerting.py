"""When the frontend SLI rules fire over a day, evaluated through Prometheus's query API.

Prometheus evaluates a rule at each interval and an alert starts at the first evaluation whose
expression returns a series that the previous one did not. Backfilled history is never evaluated
by a running Prometheus (rules run at the current time only), so :func:`firings` asks the query
API for the rule's expression over the whole day at the rule group's interval (one minute) —
the same evaluations, in one ``query_range`` — and returns each start. Nothing here knows when a
fault was injected: mapping firings to faults is the scorer's job (:mod:`augur.evals.nezha.scoring`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from augur.tools.prometheus_api import PrometheusClient

__all__ = ["Firing", "firings"]


@dataclass(frozen=True)
class Firing:
    """One alert start: the rule, the series' labels, and the evaluation time it started at."""

    rule: Mapping[str, Any]
    labels: Mapping[str, str]
    at: float
    value: float


def firings(prometheus_url: str, rules: Sequence[Mapping[str, Any]], start: float, end: float,
            interval_s: float = 60.0, prom: PrometheusClient | None = None) -> list[Firing]:
    """Every alert start of ``rules`` between ``start`` and ``end``, in time order.

    ``prom``: the client to ask (default: one for ``prometheus_url``, closed on return).
    """
    own = prom or PrometheusClient(prometheus_url, timeout_s=60.0)
    out: list[Firing] = []
    try:
        for rule in rules:
            for series in own.query_range(str(rule["expr"]), start, end, interval_s):
                labels = {k: v for k, v in series.labels.items() if k != "__name__"}
                previous: float | None = None
                for t, value in zip(series.timestamps.tolist(), series.values.tolist(), strict=True):
                    if previous is None or t - previous > interval_s * 1.5:
                        out.append(Firing(rule, labels, t, value))
                    previous = t
    finally:
        if prom is None:
            own.close()
    return sorted(out, key=lambda f: (f.at, str(f.rule["alert"])))
