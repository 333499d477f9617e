"""Backtesting a rule: replay its expression over Prometheus history and count when it would fire.

The rule's expression is evaluated with ``/api/v1/query_range`` at 1-minute resolution over the
last N days (the client splits it into chunks below Prometheus's 11,000-points-per-series limit).
A series is "active" at every step where the expression returns it; an active run that lasts at
least the rule's ``for:`` fires at ``run start + for`` until the run ends — Prometheus's own
pending/firing semantics sampled at the step. Runs of different series that overlap are one
episode (one page, as Alertmanager groups them).

Prometheus evaluates a rule at the current time only, so this replay is what lets a reviewer see
how often a proposed rule would have paged, and how many minutes before the incident's first
alert it would have fired.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

from augur.rules.proposal import Backtest
from augur.tools.base import ToolError, Unavailable
from augur.tools.errors import BackendUnavailable
from augur.tools.prometheus_api import PrometheusClient, RangeSeries

__all__ = ["BacktestError", "backtest", "firing_spans", "merge_spans", "query_history"]

#: Each history request's timeout: a week at one minute is heavier than a tool's query.
REQUEST_TIMEOUT_S = 30.0
#: Points kept for the chart.
CHART_POINTS = 600


class BacktestError(BackendUnavailable, RuntimeError):
    """Prometheus refused or failed the replay; the message quotes it and says what to check."""


def query_history(prom: PrometheusClient, expr: str, start: float, end: float,
                  step_s: float) -> list[RangeSeries]:
    """``expr`` over ``[start, end]`` at ``step_s`` (chunked by the client); failures as BacktestError."""
    try:
        return prom.query_range(expr, start, end, step_s, timeout_s=REQUEST_TIMEOUT_S)
    except (ToolError, Unavailable) as exc:
        raise BacktestError(f"the backtest query {expr!r} failed: {exc}") from None


def merge_spans(spans: Sequence[tuple[float, float]], gap_s: float = 0.0) -> list[tuple[float, float]]:
    """Union of time spans; spans closer than ``gap_s`` are joined."""
    merged: list[tuple[float, float]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1] + gap_s:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def firing_spans(timestamps: Sequence[float], step_s: float, for_s: float) -> list[tuple[float, float]]:
    """Firing spans of one series active at ``timestamps``: runs of consecutive steps lasting ``for_s``.

    A run from ``a`` to ``b`` (consecutive steps, no gap) fires from ``a + for_s`` to ``b`` when
    ``b - a >= for_s``.
    """
    spans: list[tuple[float, float]] = []
    run_start: float | None = None
    previous = -math.inf
    for ts in timestamps:
        if run_start is None or ts - previous > step_s * 1.5:
            if run_start is not None and previous - run_start >= for_s:
                spans.append((run_start + for_s, previous))
            run_start = ts
        previous = ts
    if run_start is not None and previous - run_start >= for_s:
        spans.append((run_start + for_s, previous))
    return spans


def _downsample(points: list[tuple[float, float]], keep: int) -> list[tuple[float, float]]:
    if len(points) <= keep:
        return points
    stride = len(points) / keep
    return [points[int(i * stride)] for i in range(keep)] + [points[-1]]


def backtest(
    prom: PrometheusClient, expr: str, *, start: float, end: float, step_s: float = 60.0,
    for_s: float = 0.0, incident_start: float | None = None, value_expr: str | None = None,
    threshold: float | None = None, lead_window_s: float = 6 * 3600.0,
) -> Backtest:
    """Replay ``expr`` over ``[start, end]``: episodes, firing minutes, and lead before the incident.

    ``lead_minutes`` comes from the episode that covers the incident's first alert, or the last
    one that started within ``lead_window_s`` before it (positive: earlier); if the first episode
    after it starts within that window, the lead is negative (the rule would have been late).
    ``value_expr`` (e.g. ``max(signal)``) is fetched for the chart.
    """
    started = time.perf_counter()
    series = query_history(prom, expr, start, end, step_s)
    spans: list[tuple[float, float]] = []
    first_data = math.inf
    for item in series:
        stamps = item.timestamps.tolist()
        if stamps:
            first_data = min(first_data, stamps[0])
        spans.extend(firing_spans(stamps, step_s, for_s))
    episodes = merge_spans(spans, gap_s=step_s * 1.5)
    values: list[tuple[float, float]] = []
    if value_expr:
        for item in query_history(prom, value_expr, start, end, step_s)[:1]:
            values = [(t, v) for t, v in zip(item.timestamps.tolist(), item.values.tolist(), strict=True)
                      if math.isfinite(v)]
        if values:
            first_data = min(first_data, values[0][0])
    lead = None
    if incident_start is not None:
        before = [s for s in episodes if incident_start - lead_window_s <= s[0] <= incident_start]
        after = [s for s in episodes if incident_start < s[0] <= incident_start + lead_window_s]
        if before:
            lead = (incident_start - before[-1][0]) / 60.0
        elif after:
            lead = (incident_start - after[0][0]) / 60.0
    shown_start = start if not math.isfinite(first_data) else max(start, first_data - step_s)
    return Backtest(
        expr=expr, start=shown_start, end=end, step_s=step_s, for_s=for_s, episodes=len(episodes),
        firing_minutes=round(sum(b - a for a, b in episodes) / 60.0, 1), spans=episodes,
        first_fire_at=episodes[0][0] if episodes else None, incident_start=incident_start,
        lead_minutes=None if lead is None else round(lead, 1),
        value_series=_downsample(values, CHART_POINTS), threshold=threshold,
        duration_ms=round((time.perf_counter() - started) * 1000.0, 1),
    )
