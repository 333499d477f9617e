"""Summaries of range-query series: a few numbers per series instead of thousands of points.

An investigation needs to know which series moved, not every sample. Each series is summarised by
min / median / max / last and compared with its own baseline (the part of the window before
``baseline_end``): the change of the median, and that change in robust standard deviations
(1.4826 x MAD of the baseline), so a 0.4 step on a quiet drift score outranks a 5 % wobble on a
noisy GPU utilisation. Series are ranked by that deviation and the top ones keep a short,
bucket-median sparkline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from augur.tools.prometheus_api import RangeSeries

__all__ = ["SeriesSummary", "rank_by_deviation", "sparkline", "summarise"]

#: Series that appear or vanish within the window rank as high as a change of this many sigmas.
APPEARED_RANK = 3.0
_MAX_DEVIATION = 1e6


@dataclass(frozen=True)
class SeriesSummary:
    """The numbers that describe one series over a window, relative to its own baseline."""

    series: RangeSeries
    points: int
    minimum: float | None
    median: float | None
    maximum: float | None
    last: float | None
    last_time: float | None
    baseline_median: float | None
    recent_median: float | None
    deviation: float | None  # (recent median - baseline median) / robust sigma of the baseline
    appeared: bool  # no finite points before baseline_end
    vanished: bool  # no finite points after baseline_end

    @property
    def change(self) -> float | None:
        """Recent median minus baseline median."""
        if self.baseline_median is None or self.recent_median is None:
            return None
        return self.recent_median - self.baseline_median

    @property
    def rank_key(self) -> float:
        """How notable the series is: |deviation|, or :data:`APPEARED_RANK` if it (dis)appeared."""
        if self.deviation is not None:
            return abs(self.deviation)
        return APPEARED_RANK if (self.appeared or self.vanished) and self.points else 0.0

    @property
    def direction(self) -> str:
        """``up``, ``down``, ``flat`` (|deviation| < 1), ``appeared``, ``vanished`` or ``empty``."""
        if not self.points:
            return "empty"
        if self.appeared:
            return "appeared"
        if self.vanished:
            return "vanished"
        if self.deviation is None or abs(self.deviation) < 1.0:
            return "flat"
        return "up" if self.deviation > 0 else "down"

    def as_dict(self, spark_points: int = 0) -> dict[str, Any]:
        """JSON-ready numbers (rounded to 6 significant digits), with an optional sparkline."""
        out: dict[str, Any] = {
            "series": self.series.name,
            "labels": self.series.labels,
            "points": self.points,
            "min": _round(self.minimum),
            "median": _round(self.median),
            "max": _round(self.maximum),
            "last": _round(self.last),
            "last_time": self.last_time,
            "baseline_median": _round(self.baseline_median),
            "recent_median": _round(self.recent_median),
            "change": _round(self.change),
            "deviation": _round(self.deviation),
            "direction": self.direction,
        }
        if spark_points:
            out["sparkline"] = sparkline(self.series, spark_points)
        return out


def _round(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(f"{value:.6g}")


def _finite(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return values[np.isfinite(values)]


def robust_sigma(values: npt.NDArray[np.float64]) -> float:
    """1.4826 x MAD, floored at 1 % of |median| (and 1e-9) so a flat baseline is not a zero divisor."""
    median = float(np.median(values))
    mad = float(np.median(np.abs(values - median)))
    return max(1.4826 * mad, 0.01 * abs(median), 1e-9)


def summarise(series: RangeSeries, baseline_end: float) -> SeriesSummary:
    """Summarise ``series``, comparing points after ``baseline_end`` with those before it."""
    mask = np.isfinite(series.values)
    values = series.values[mask]
    times = series.timestamps[mask]
    if values.size == 0:
        return SeriesSummary(series, 0, None, None, None, None, None, None, None, None, False, False)
    base = values[times < baseline_end]
    recent = values[times >= baseline_end]
    base_median = float(np.median(base)) if base.size else None
    recent_median = float(np.median(recent)) if recent.size else None
    deviation = None
    if base_median is not None and recent_median is not None:
        deviation = (recent_median - base_median) / robust_sigma(base)
        deviation = max(-_MAX_DEVIATION, min(_MAX_DEVIATION, deviation))
    return SeriesSummary(
        series=series,
        points=int(values.size),
        minimum=float(values.min()),
        median=float(np.median(values)),
        maximum=float(values.max()),
        last=float(values[-1]),
        last_time=float(times[-1]),
        baseline_median=base_median,
        recent_median=recent_median,
        deviation=deviation,
        appeared=base.size == 0,
        vanished=recent.size == 0,
    )


def rank_by_deviation(summaries: list[SeriesSummary]) -> list[SeriesSummary]:
    """Most notable first; ties keep the series' name order so results are stable."""
    return sorted(summaries, key=lambda s: (-s.rank_key, s.series.name))


def sparkline(series: RangeSeries, points: int) -> list[list[float]]:
    """At most ``points`` ``[time, value]`` pairs: the median of each equal-count bucket."""
    mask = np.isfinite(series.values)
    values, times = series.values[mask], series.timestamps[mask]
    if values.size == 0 or points <= 0:
        return []
    if values.size <= points:
        return [[float(t), float(f"{v:.6g}")] for t, v in zip(times, values, strict=True)]
    out: list[list[float]] = []
    for chunk in np.array_split(np.arange(values.size), points):
        out.append([float(times[chunk[-1]]), float(f"{float(np.median(values[chunk])):.6g}")])
    return out
