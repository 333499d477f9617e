"""Range summaries: change against a series' own baseline, ranking, sparklines (generated series)."""

from __future__ import annotations

import numpy as np

from augur.tools.prometheus_api import RangeSeries
from augur.tools.series_summary import rank_by_deviation, sparkline, summarise

T0 = 1_700_000_000.0
STEP = 15.0
N = 240
BASELINE_END = T0 + STEP * N / 2


def series(name: str, values: np.ndarray) -> RangeSeries:
    times = T0 + STEP * np.arange(values.size, dtype=np.float64)
    return RangeSeries({"__name__": name}, times, values.astype(np.float64))


def test_a_small_step_on_a_quiet_series_outranks_a_big_wobble_on_a_noisy_one() -> None:
    rng = np.random.default_rng(1)
    quiet = 0.05 + rng.normal(0, 0.002, N)
    quiet[N // 2 + 10:] += 0.03  # a 15-sigma step after the baseline
    noisy = 60 + rng.normal(0, 8, N)  # no change, large spread
    ranked = rank_by_deviation([summarise(series("noisy", noisy), BASELINE_END),
                                summarise(series("quiet", quiet), BASELINE_END)])
    assert [s.series.name for s in ranked] == ["quiet", "noisy"]
    top = ranked[0]
    assert top.direction == "up" and top.deviation is not None and top.deviation > 5
    assert abs((top.change or 0) - 0.03) < 0.005
    assert ranked[1].direction == "flat"


def test_drop_appear_vanish_and_nan() -> None:
    down = np.r_[np.full(N // 2, 10.0), np.full(N // 2, 4.0)]
    down[5] = np.nan  # Prometheus sends "NaN" samples; they are ignored
    s = summarise(series("down", down), BASELINE_END)
    assert s.direction == "down" and s.points == N - 1 and s.minimum == 4.0 and s.last == 4.0

    appeared = np.r_[np.full(N // 2, np.nan), np.ones(N // 2)]
    assert summarise(series("new", appeared), BASELINE_END).direction == "appeared"
    vanished = np.r_[np.ones(N // 2), np.full(N // 2, np.nan)]
    assert summarise(series("gone", vanished), BASELINE_END).direction == "vanished"
    assert summarise(series("none", np.full(4, np.nan)), BASELINE_END).direction == "empty"


def test_constant_baseline_does_not_divide_by_zero() -> None:
    flat_then_up = np.r_[np.zeros(N // 2), np.full(N // 2, 1.0)]
    s = summarise(series("x", flat_then_up), BASELINE_END)
    assert s.deviation is not None and np.isfinite(s.deviation) and s.deviation > 0
    assert s.as_dict()["deviation"] is not None


def test_sparkline_is_bounded_and_keeps_the_shape() -> None:
    values = np.r_[np.zeros(N // 2), np.ones(N // 2)]
    line = sparkline(series("x", values), 10)
    assert len(line) == 10
    assert [v for _, v in line] == [0.0] * 5 + [1.0] * 5
    times = [t for t, _ in line]
    assert times == sorted(times) and times[-1] == T0 + STEP * (N - 1)
    assert len(sparkline(series("short", np.ones(3)), 10)) == 3
