"""Prometheus tools: instant and range PromQL, and series/label discovery.

Each tool takes a :class:`~augur.tools.prometheus_api.PrometheusClient` (build one with
:func:`~augur.tools.prometheus_api.connect`) and :class:`PromLimits`, runs the blocking client in a
worker thread, and returns evidence with a link to Prometheus's graph page. Guards: a request
timeout, a maximum range, a maximum number of points per series (the step is raised to fit) and a
maximum number of series analysed and shown; the summary says what was cut.

Rules, alerts and TSDB cardinality live in :mod:`augur.tools.prometheus_status`; both modules'
tools and :func:`fetch_range` are exported here, so ``from augur.tools.prometheus import ...``
reaches everything.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, Field

from augur.tools.base import ToolError
from augur.tools.evidence import Evidence, EvidenceStatus, Meaning
from augur.tools.prometheus_api import (
    PrometheusClient,
    PrometheusTool,
    PromLimits,
    RangeSeries,
    connect,
    fetch_range,
    fetch_range_blocking,
    fmt,
    graph_url,
    parse_range,
    range_step,
    render_labels,
    sequence_of,
    span,
    when,
)
from augur.tools.prometheus_status import PromAlertsTool, PromCardinalityTool, PromRulesTool
from augur.tools.range_cache import fetch_range_once
from augur.tools.results import LevelsResult, SeriesNamesResult
from augur.tools.series_summary import rank_by_deviation, summarise
from augur.tools.timeparse import TIME_HELP, parse_time

__all__ = [
    "PromAlertsTool",
    "PromCardinalityTool",
    "PromLimits",
    "PromQLRangeTool",
    "PromQLTool",
    "PromRulesTool",
    "PromSeriesTool",
    "PrometheusClient",
    "PrometheusTool",
    "RangeSeries",
    "connect",
    "fetch_range",
    "fetch_range_blocking",
]


# --------------------------------------------------------------------------- instant query


class PromQLArgs(BaseModel):
    """Arguments of ``promql``."""

    query: str = Field(min_length=1, description="PromQL expression, e.g. `rate(http_requests_total[5m])`.")
    time: str | float | None = Field(default=None, description=f"Evaluation time: {TIME_HELP}; default now.")
    limit: int = Field(default=20, ge=1, le=200, description="Most series to return (highest values first).")


def _sample_value(point: Any) -> float:
    value = float(point[1])
    return value


class PromQLTool(PrometheusTool):
    """Evaluate a PromQL expression at one instant (default now) and return the value of each series.

    Use it to read current values, ratios and aggregations (e.g. the p99 latency with
    `histogram_quantile`). Series come back sorted by value, highest first; at most `limit`.
    """

    name = "promql"
    description = (
        "Evaluate a PromQL expression at one instant (default now) and return each series' value, "
        "highest first. Use for current values, ratios and aggregations; use promql_range to see "
        "how a series changed over time."
    )
    Args = PromQLArgs

    async def _answer(self, args: PromQLArgs) -> Evidence:
        at = parse_time(args.time)
        result = await self.blocking(
            self.prom.query, args.query, at, timeout_s=self.limits.request_timeout_s,
        )
        link = graph_url(self.base_url, args.query, end=at)
        guards = self.limits.as_dict()
        if isinstance(result, list) and len(result) == 2 and not isinstance(result[0], dict):
            value = _sample_value(result)  # a scalar or string result: [time, "value"]
            return self.evidence(
                args, EvidenceStatus.OK, f"`{args.query}` = {fmt(value)} at {when(at)}",
                data={"result_type": "scalar", "time": at, "value": value, "guards": guards},
                source_url=link,
            )
        result = sequence_of(result, self.base_url, "the query result")
        rows: list[dict[str, Any]] = []
        for item in result:
            labels = {str(k): str(v) for k, v in (item.get("metric") or {}).items()}
            if "value" in item:
                value = _sample_value(item["value"])
                rows.append({"series": render_labels(labels), "labels": labels, "value": value})
            else:  # a range selector evaluated at an instant: a matrix; keep its last point
                points = item["values"]
                rows.append({"series": render_labels(labels), "labels": labels,
                             "value": _sample_value(points[-1]), "points": len(points)})
        if not rows:
            return self.evidence(
                args, EvidenceStatus.EMPTY, f"`{args.query}` matched no series at {when(at)}",
                reason="no series matched: check the metric name and label values (prom_series lists "
                "them), or evaluate at an earlier time if the series has gone stale",
                data={"result_type": "vector", "time": at, "series_count": 0, "series": [],
                      "guards": guards},
                source_url=link,
            )
        rows.sort(key=lambda r: (math.isnan(r["value"]), -r["value"] if not math.isnan(r["value"]) else 0))
        truncated = [f"series: {len(rows)} -> {args.limit}"] if len(rows) > args.limit else []
        shown = rows[: args.limit]
        if len(rows) == 1:
            summary = f"`{args.query}` = {fmt(rows[0]['value'])} at {when(at)} ({rows[0]['series']})"
        else:
            summary = (f"`{args.query}` at {when(at)}: {len(rows)} series; highest {rows[0]['series']} = "
                       f"{fmt(rows[0]['value'])}, lowest {rows[-1]['series']} = {fmt(rows[-1]['value'])}")
        for row in shown:
            row["value"] = None if not math.isfinite(row["value"]) else row["value"]
        return self.evidence(
            args, EvidenceStatus.OK, summary, truncated=truncated,
            data={"result_type": "matrix" if "points" in rows[0] else "vector", "time": at,
                  "series_count": len(rows), "series": shown, "guards": guards},
            source_url=link,
        )


# --------------------------------------------------------------------------- range query


class PromQLRangeArgs(BaseModel):
    """Arguments of ``promql_range``."""

    query: str = Field(min_length=1, description="PromQL expression to evaluate over the range.")
    start: str | float = Field(default="now-1h", description=f"Range start: {TIME_HELP}.")
    end: str | float = Field(default="now", description=f"Range end: {TIME_HELP}.")
    step: str | float | None = Field(
        default=None, description="Resolution, e.g. `15s`, `1m` or seconds; default: range/720, at least 15s."
    )
    baseline_end: str | float | None = Field(
        default=None,
        description=f"Points before this time are each series' baseline ({TIME_HELP}); default: "
        "the middle of the range. Set it just before the incident.",
    )
    top_k: int = Field(default=5, ge=1, le=50, description="Series to show, most changed first.")
    points: int = Field(default=24, ge=0, le=200, description="Sparkline points per shown series.")


class PromQLRangeTool(PrometheusTool):
    """Evaluate PromQL over a time range and summarise each series instead of returning raw points.

    Every series gets min/median/max/last and its change against its own baseline (the part of
    the range before `baseline_end`), in robust standard deviations; the `top_k` most changed
    series are shown with a short sparkline.
    """

    name = "promql_range"
    meaning = Meaning.LEVELS
    Result = LevelsResult
    description = (
        "Evaluate PromQL over a time range and summarise each series (min/median/max/last, and its "
        "change against its own baseline in robust standard deviations); returns the top_k most "
        "changed series with short sparklines instead of raw points."
    )
    Args = PromQLRangeArgs

    async def _answer(self, args: PromQLRangeArgs) -> Evidence:
        now, start, end = parse_range(args.start, args.end)
        truncated: list[str] = []
        if end - start > self.limits.max_range_s:
            truncated.append(f"range: {span(round(end - start))} -> {span(self.limits.max_range_s)}")
            start = end - self.limits.max_range_s
        asked, step = range_step(start, end, args.step, per_range=720, max_points=self.limits.max_points)
        if step > asked:
            truncated.append(
                f"step: {asked:g}s -> {step:g}s (at most {self.limits.max_points} points a series)"
            )
        baseline_end = parse_time(args.baseline_end, now=now) if args.baseline_end is not None else (
            start + (end - start) / 2)
        series = await fetch_range_once(self.prom, args.query, start, end, step,
                                        timeout_s=self.limits.request_timeout_s)
        link = graph_url(self.base_url, args.query, end=end, range_s=end - start, step_s=step)
        window = {"start": start, "end": end, "step_s": step, "baseline_end": baseline_end,
                  "guards": self.limits.as_dict()}
        if not series:
            return self.evidence(
                args, EvidenceStatus.EMPTY,
                f"`{args.query}` matched no series between {when(start)} and {when(end)}",
                reason="no series matched in the range: check the metric name and labels (prom_series "
                "lists them) or widen the range", truncated=truncated,
                data={**window, "series_count": 0, "series": []}, source_url=link,
            )
        total = len(series)
        if total > self.limits.max_series:
            truncated.append(f"series analysed: {total} -> {self.limits.max_series} (narrow the "
                             "selector or aggregate, e.g. sum by (service) (...))")
            series = series[: self.limits.max_series]
        ranked = rank_by_deviation([summarise(s, baseline_end) for s in series])
        if len(ranked) > args.top_k:
            truncated.append(f"series shown: {len(ranked)} -> {args.top_k} (most changed first)")
        shown = ranked[: args.top_k]
        parts = []
        for s in shown[:3]:
            if s.direction in ("up", "down"):
                parts.append(f"{s.series.name} went {s.direction} from {fmt(s.baseline_median)} to "
                             f"{fmt(s.recent_median)} ({s.deviation:+.1f}σ vs before {when(baseline_end)})")
            elif s.direction in ("appeared", "vanished"):
                parts.append(f"{s.series.name} {s.direction} after {when(baseline_end)}")
            else:
                parts.append(f"{s.series.name} flat around {fmt(s.median)}")
        summary = (f"`{args.query}` over {span(round(end - start))} (step {step:g}s): {total} series; "
                   + "; ".join(parts))
        return self.evidence(
            args, EvidenceStatus.OK, summary, truncated=truncated,
            data={**window, "series_count": total, "series": [s.as_dict(args.points) for s in shown]},
            source_url=link,
        )


# --------------------------------------------------------------------------- discovery


class PromSeriesArgs(BaseModel):
    """Arguments of ``prom_series``."""

    match: str | None = Field(
        default=None, description="Series selector, e.g. `model_accuracy` or `{model=\"ranker\"}`: "
        "list the matching series and their labels' values.",
    )
    label: str | None = Field(
        default=None, pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$",
        description="List this label's values (within `match` if given).",
    )
    search: str | None = Field(
        default=None, description="With neither match nor label: only metric names containing this text.",
    )
    start: str | float = Field(default="now-1h", description=f"Look for series present since: {TIME_HELP}.")
    end: str | float = Field(default="now", description=f"... until: {TIME_HELP}.")
    limit: int = Field(default=50, ge=1, le=500, description="Most names/series/values to return.")


class PromSeriesTool(PrometheusTool):
    """Discover what Prometheus holds: metric names, the series matching a selector, label values.

    With `match`: the matching series and, per label, how many values it takes. With `label`:
    that label's values. With neither: metric names (optionally containing `search`) and label names.
    """

    name = "prom_series"
    meaning = Meaning.SERIES_NAMES
    Result = SeriesNamesResult
    description = (
        "Discover metrics and labels: with `match` (a series selector) list matching series and each "
        "label's values; with `label` list that label's values; with neither list metric names "
        "(filtered by `search`) and label names. Use it before writing PromQL for unknown metrics."
    )
    Args = PromSeriesArgs

    async def _answer(self, args: PromSeriesArgs) -> Evidence:
        now = parse_time(None)
        start, end = parse_time(args.start, now=now), parse_time(args.end, now=now)
        if end < start:
            raise ToolError(f"the range is empty: start {when(start)} is after end {when(end)}")
        window: dict[str, Any] = {"start": start, "end": end, "guards": self.limits.as_dict()}
        params: dict[str, Any] = {"start": f"{start:.3f}", "end": f"{end:.3f}"}
        if args.match:
            params["match[]"] = args.match
        if args.label:
            raw = await self.blocking(self.prom.label_values, args.label, params)
            values = sorted(str(v) for v in raw)
            where = f" within {args.match}" if args.match else ""
            return self._listing(args, "values", values, window,
                                 f"label {args.label}{where} has {len(values)} values")
        if args.match:
            found = await self.blocking(self.prom.series, args.match, start, end)
            return self._series(args, [{str(k): str(v) for k, v in s.items()} for s in found], window)
        names, labels = await self.blocking(self._names, params)
        if args.search:
            names = [n for n in names if args.search.lower() in n.lower()]
        window["labels"] = labels[: args.limit]
        window["labels_count"] = len(labels)
        what = f" containing '{args.search}'" if args.search else ""
        return self._listing(args, "metrics", names, window,
                             f"{len(names)} metrics{what} ({len(labels)} label names)")

    def _names(self, params: dict[str, Any]) -> tuple[list[str], list[str]]:
        names = self.prom.label_values("__name__", params)
        labels = self.prom.label_names(params)
        return sorted(str(n) for n in names), sorted(str(n) for n in labels if n != "__name__")

    def _listing(self, args: PromSeriesArgs, key: str, items: list[str], window: dict[str, Any],
                 summary: str) -> Evidence:
        truncated = [f"{key}: {len(items)} -> {args.limit}"] if len(items) > args.limit else []
        shown = items[: args.limit]
        if shown:
            summary += ": " + ", ".join(shown[:8]) + (", ..." if len(items) > 8 else "")
        return self.evidence(
            args, EvidenceStatus.OK if items else EvidenceStatus.EMPTY, summary, truncated=truncated,
            reason=None if items else "nothing found in the range: widen it (start='now-24h') or "
            "check the selector's spelling",
            data={**window, f"{key}_count": len(items), key: shown},
            source_url=f"{self.base_url}/graph",
        )

    def _series(self, args: PromSeriesArgs, found: list[dict[str, str]], window: dict[str, Any]) -> Evidence:
        link = graph_url(self.base_url, args.match or "", end=window["end"])
        if not found:
            return self.evidence(
                args, EvidenceStatus.EMPTY, f"no series match {args.match} in the range",
                reason="nothing matched: check the selector (metric names: call prom_series with no "
                "arguments) or widen the range", data={**window, "series_count": 0, "series": []},
                source_url=link,
            )
        values: dict[str, set[str]] = {}
        for labels in found:
            for key, value in labels.items():
                values.setdefault(key, set()).add(value)
        by_label = {
            k: {"values": len(v), "examples": sorted(v)[:5]}
            for k, v in sorted(values.items(), key=lambda kv: (-len(kv[1]), kv[0]))
        }
        metrics = sorted(values.get("__name__", set()))
        rendered = sorted(render_labels(labels) for labels in found)
        truncated = [f"series: {len(rendered)} -> {args.limit}"] if len(rendered) > args.limit else []
        label_text = ", ".join(f"{k} ({v['values']})" for k, v in by_label.items() if k != "__name__")
        summary = (f"{args.match} matches {len(found)} series of {len(metrics)} metric(s) "
                   f"({', '.join(metrics[:5])}); labels by values: {label_text or 'none'}")
        return self.evidence(
            args, EvidenceStatus.OK, summary, truncated=truncated,
            data={**window, "series_count": len(found), "metrics": metrics, "labels": by_label,
                  "series": rendered[: args.limit]},
            source_url=link,
        )
