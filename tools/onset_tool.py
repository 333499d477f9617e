"""The ``onset`` tool: when did each series leave its baseline (see :mod:`augur.tools.onset`).

It reads series inline (``timestamps`` + ``values``) or from Prometheus (``query`` over
``start``..``end``), runs :func:`~augur.tools.onset.detect_onset` on each, and returns them
ordered by onset, earliest first: the order the correlator builds a chain in.

Its evidence ``data`` is an :class:`~augur.tools.results.OnsetData` (one
:class:`~augur.tools.results.SeriesOnset` per series analysed), the contract of ``onset`` evidence;
readers validate it with ``OnsetData.model_validate(evidence["data"])`` and read the fields, each
of which has one name. Within an investigation it shares its range query with ``promql_range``
on the same query and window (:mod:`augur.tools.range_cache`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field, model_validator

from augur.tools.base import Tool, ToolError, Unavailable
from augur.tools.evidence import Evidence, EvidenceStatus, Meaning, compact_args
from augur.tools.onset import OnsetResult, detect_onset
from augur.tools.prometheus_api import (
    PromLimits,
    fmt,
    graph_url,
    parse_range,
    range_step,
    when,
)
from augur.tools.range_cache import fetch_range_once
from augur.tools.results import OnsetData, OnsetReference, SeriesOnset
from augur.tools.timeparse import TIME_HELP, parse_time

if TYPE_CHECKING:
    from augur.tools.prometheus_api import PrometheusClient

__all__ = ["OnsetArgs", "OnsetData", "OnsetReference", "OnsetTool", "SeriesOnset"]

#: Most points a series may carry, inline or fetched.
MAX_POINTS = 11_000


class OnsetArgs(BaseModel):
    """Arguments of ``onset``: either a PromQL ``query`` or inline ``timestamps`` + ``values``."""

    query: str | None = Field(default=None, description="PromQL whose series to analyse, e.g. "
                              "`histogram_quantile(0.99, sum by (le) (rate(x_bucket[5m])))`.")
    start: str | float = Field(default="now-6h", description=f"Range start: {TIME_HELP}.")
    end: str | float = Field(default="now", description=f"Range end: {TIME_HELP}.")
    step: str | None = Field(default=None, description="Resolution, e.g. `15s` (default: range/1000, "
                             "at least 15s). Onsets are as precise as the step.")
    timestamps: list[float] | None = Field(default=None, max_length=MAX_POINTS,
                                           description="Inline series: Unix seconds.")
    values: list[float | None] | None = Field(default=None, max_length=MAX_POINTS,
                                              description="Inline series: values (null = missing).")
    reference_end: str | float | None = Field(
        default=None, description=f"End of the pre-incident baseline ({TIME_HELP}); default: the "
        "middle of the range. Put it before the change you are asking about; include a whole day "
        "before it for metrics with a daily pattern.",
    )
    seasonal: bool = Field(default=True, description="Remove a daily pattern learnt from the "
                           "baseline when the baseline spans a day.")
    max_series: int = Field(default=20, ge=1, le=200, description="Most series to analyse.")

    @model_validator(mode="after")
    def _one_source(self) -> OnsetArgs:
        inline = self.timestamps is not None or self.values is not None
        if inline and self.query:
            raise ValueError("give either `query` or `timestamps`+`values`, not both")
        if not inline and not self.query:
            raise ValueError("give a PromQL `query`, or inline `timestamps` and `values`")
        if inline and (self.timestamps is None or self.values is None
                       or len(self.timestamps) != len(self.values)):
            raise ValueError("`timestamps` and `values` must both be given, with the same length")
        return self


class OnsetTool(Tool):
    """When did each series leave its baseline, which way, and by how much (robust z).

    Changes are z-scored against the pre-incident baseline (median and MAD, after removing a
    daily pattern), detected with CUSUM and located by segmentation (level shift or ramp);
    spikes count too. Series come back ordered by onset, earliest first.
    """

    name = "onset"
    meaning = Meaning.ONSET
    Result = OnsetData
    description = (
        "When did each series leave its baseline: onset time, direction, kind (level_shift, ramp, "
        "spike), size in robust z against a pre-incident reference window. Give a PromQL `query` "
        "with start/end (and reference_end before the incident), or inline timestamps+values. "
        "Series are returned earliest onset first: order a causal chain by onset, not alarm time."
    )
    Args = OnsetArgs

    def __init__(self, prometheus: PrometheusClient | None = None, limits: PromLimits | None = None) -> None:
        self.prom = prometheus
        self.limits = limits or PromLimits()
        self.timeout_s = max(30.0, 3 * self.limits.request_timeout_s)

    async def _run(self, args: OnsetArgs) -> Evidence:
        canonical = compact_args(args.model_dump(mode="json"))
        if args.query is None:
            assert args.timestamps is not None and args.values is not None
            values = [math.nan if v is None else v for v in args.values]
            ref_end = parse_time(args.reference_end) if args.reference_end is not None else None
            result = self._detect(args.timestamps, values, ref_end, args.seasonal, "inline series")
            return self._evidence(canonical, [("inline series", {}, result)], {}, [], None)
        if self.prom is None:
            raise Unavailable("no Prometheus is configured for the onset tool: set AUGUR_PROMETHEUS_URL, "
                              "or pass the series inline as timestamps and values")
        now, start, end = parse_range(args.start, args.end)
        truncated: list[str] = []
        if end - start > self.limits.max_range_s:
            truncated.append(f"range cut to the last {self.limits.max_range_s / 86400:g} days")
            start = end - self.limits.max_range_s
        asked, step = range_step(start, end, args.step, per_range=1000,
                                 max_points=min(self.limits.max_points, MAX_POINTS))
        if step > asked:
            truncated.append(f"step: {asked:g}s -> {step:g}s (at most {MAX_POINTS} points a series)")
        ref_end = parse_time(args.reference_end, now=now) if args.reference_end is not None else (
            start + (end - start) / 2)
        if not start < ref_end < end:
            raise ToolError(f"reference_end {when(ref_end)} must fall inside the range "
                            f"{when(start)}..{when(end)}")
        series = await fetch_range_once(self.prom, args.query, start, end, step,
                                        timeout_s=self.limits.request_timeout_s)
        window = {"start": start, "end": end, "step_s": step, "reference_end": ref_end}
        link = graph_url(str(self.prom.url), args.query, end=end, range_s=end - start, step_s=step)
        if len(series) > args.max_series:
            truncated.append(f"series: {len(series)} -> {args.max_series} (narrow the selector or aggregate)")
            series = series[: args.max_series]
        rows = [(s.name, s.labels, self._detect(s.timestamps, s.values, ref_end, args.seasonal, s.name))
                for s in series]
        return self._evidence(canonical, rows, window, truncated, link)

    @staticmethod
    def _detect(t: Any, v: Any, ref_end: float | None, seasonal: bool, name: str) -> OnsetResult | str:
        try:
            return detect_onset(t, v, ref_end, season_s=86400.0 if seasonal else None)
        except ValueError as exc:
            return f"{name}: {exc}"

    def _evidence(self, args: dict[str, Any], rows: list[tuple[str, dict[str, str], OnsetResult | str]],
                  window: dict[str, Any], truncated: list[str], link: str | None) -> Evidence:
        if not rows:
            return Evidence.make(
                self.name, args, EvidenceStatus.EMPTY, f"`{args['query']}` matched no series in the range",
                reason="nothing matched: check the metric name and labels (prom_series lists them) or "
                "widen the range", data=_dump(OnsetData(**window, series=[])), source_url=link,
            )
        problems = [r for _, _, r in rows if isinstance(r, str)]
        results = [(n, lab, r) for n, lab, r in rows if not isinstance(r, str)]
        if not results:
            reason = "; ".join(problems[:5])
            if "widen" not in reason:
                reason += " (widen the range or adjust reference_end)"
            raise ToolError(reason)
        results.sort(key=lambda row: (not row[2].found, row[2].onset or math.inf))
        found = [(n, r) for n, _, r in results if r.found]
        parts = []
        for name, res in found[:3]:
            assert res.onset is not None
            size = (f"from a constant {fmt(res.reference.median)}" if res.reference and res.reference.constant
                    else f"{fmt(res.magnitude_z)}σ")
            parts.append(f"{name} went {res.direction} at {when(res.onset)} ({res.kind}, {size}, "
                         f"Δ {fmt(res.delta)})")
        quiet = len(results) - len(found)
        if found:
            summary = "earliest onset first: " + "; ".join(parts)
            if len(found) > 3:
                summary += f"; and {len(found) - 3} more"
            if quiet:
                summary += f"; {quiet} series without onset"
        else:
            summary = f"no onset: {len(results)} series stayed at their baseline"
        if truncated:
            summary += f" (cut by guards: {'; '.join(truncated)})"
        data = OnsetData(
            **window,
            series_count=len(rows),
            order=[name for name, _ in found],
            series=[SeriesOnset(series=n, labels=lab, **r.as_dict()) for n, lab, r in results],
            problems=problems,
        )
        return Evidence.make(
            self.name, args, EvidenceStatus.OK if found else EvidenceStatus.EMPTY, summary,
            reason=None if found else "every series stayed within its baseline's noise after reference_end",
            data=_dump(data), truncated=truncated, source_url=link,
        )


def _dump(data: OnsetData) -> dict[str, Any]:
    """The evidence's JSON: the fields the tool set (inline series have no window)."""
    return data.model_dump(mode="json", exclude_unset=True)
