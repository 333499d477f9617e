"""Onset detection on generated series with known injected changes.

Acceptance (issue 3): the onset is found within 2 scrape intervals on at least 95 % of at least
200 changed series (level shifts of 3-10 sigma, ramps of 0.25-2 sigma a step, spikes of 6-20
sigma for 1-5 points; Gaussian noise, white or AR(1); half of them on a daily seasonal baseline
learnt from two days of reference), and no onset is reported on at least 95 % of unchanged
series. The error distribution is printed (run with ``-s``) so a regression shows where it went
wrong. Level shifts as ``rate()`` shows them (reaching the new level over 5-20 steps) are tested
on their own. The onset is the first sample off the baseline (for a ramp: the first raised one).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pytest

from augur.tools.evidence import EvidenceStatus
from augur.tools.onset import detect_onset
from augur.tools.onset_tool import OnsetData, OnsetTool, SeriesOnset
from tests.fixtures.prometheus import PromHistory

CASES = 240
#: Noise autocorrelation: half white, half AR(1) as scraped metrics often are.
NOISE_RHO = (0.0, 0.0, 0.3, 0.6)
T0 = 1_790_000_000.0  # a fixed Unix time, so phases of the day are reproducible


@dataclass(frozen=True)
class Case:
    """A generated series and the truth about it."""

    kind: str  # level_shift | ramp | spike | rate_shift | none
    seasonal: bool
    t: np.ndarray
    y: np.ndarray
    reference_end: float
    onset: float | None
    step: float


def make_case(rng: np.random.Generator, kind: str, seasonal: bool, rho: float = 0.0) -> Case:
    """One series: baseline (+ daily shape) + Gaussian noise, AR(1) with ``rho`` (+ the change)."""
    if seasonal:
        step = float(rng.choice([60.0, 300.0]))
        n = int(3 * 86400 / step)
        ref_points = int(2 * 86400 / step)
    else:
        step = float(rng.choice([15.0, 30.0, 60.0]))
        n = int(rng.integers(300, 2000))
        ref_points = int(n * rng.uniform(0.3, 0.6))
    t = T0 + step * np.arange(n)
    sigma = float(rng.uniform(0.5, 5.0))
    level = float(rng.uniform(-50, 200))
    noise = rng.normal(0.0, sigma, n)
    if rho:  # AR(1) with the same marginal sigma: e[i] = rho e[i-1] + sqrt(1 - rho^2) w[i]
        noise *= np.sqrt(1 - rho**2)
        noise[0] /= np.sqrt(1 - rho**2)
        for i in range(1, n):
            noise[i] += rho * noise[i - 1]
    y = level + noise
    if seasonal:
        phase = 2 * np.pi * (t % 86400) / 86400
        amp = sigma * rng.uniform(3, 15)
        y += amp * np.sin(phase + rng.uniform(0, 2 * np.pi))
        y += 0.4 * amp * np.sin(2 * phase + rng.uniform(0, 6))
    onset_idx: int | None = None
    if kind != "none":
        onset_idx = int(rng.integers(ref_points + 5, n - 40))
        sign = float(rng.choice([-1.0, 1.0]))
        if kind == "level_shift":
            y[onset_idx:] += sign * sigma * rng.uniform(3, 10)
        elif kind == "ramp":
            slope = sigma * rng.uniform(0.25, 2.0)
            y[onset_idx:] += sign * slope * np.arange(1, n - onset_idx + 1)  # first raised: onset_idx
        elif kind == "rate_shift":  # a level shift seen through rate(x[5m]): a ramp into the new level
            width = int(rng.integers(5, 21))
            shift = sign * sigma * rng.uniform(5, 15)
            y[onset_idx:] += shift * np.minimum(np.arange(1, n - onset_idx + 1) / width, 1.0)
        else:  # spike: 1-5 points far out, then back to normal
            width = int(rng.integers(1, 6))
            y[onset_idx: onset_idx + width] += sign * sigma * rng.uniform(6, 20)
    onset = None if onset_idx is None else float(t[onset_idx])
    return Case(kind, seasonal, t, y, float(t[ref_points]), onset, step)


def generate(seed: int, count: int, kinds: tuple[str, ...] = ("level_shift", "ramp", "spike")) -> list[Case]:
    """``count`` changed series (equal shares of kinds, half seasonal), deterministic for ``seed``."""
    rng = np.random.default_rng(seed)
    k = len(kinds)
    return [make_case(rng, kinds[i % k], seasonal=bool((i // k) % 2), rho=float(rng.choice(NOISE_RHO)))
            for i in range(count)]


def onset_errors(cases: list[Case]) -> tuple[np.ndarray, Counter[str]]:
    """Each case's onset error in scrape intervals (inf when missed) and a tally of the misses."""
    errors: list[float] = []
    misses: Counter[str] = Counter()
    for case in cases:
        result = detect_onset(case.t, case.y, case.reference_end)
        assert case.onset is not None
        where = f"{case.kind}{'/seasonal' if case.seasonal else ''}"
        if not result.found or result.onset is None:
            misses[f"{where}: not found"] += 1
            errors.append(float("inf"))
            continue
        error = abs(result.onset - case.onset) / case.step
        errors.append(error)
        if error > 2:
            misses[f"{where}: off by {error:.0f} steps"] += 1
    return np.array(errors), misses


def test_injected_onsets_are_found_within_two_scrape_intervals() -> None:
    cases = generate(seed=20261124, count=CASES)
    err, misses = onset_errors(cases)
    within = float(np.mean(err <= 2))
    finite = err[np.isfinite(err)]
    print(f"\nonset error in scrape intervals over {len(cases)} cases: "
          f"median {np.median(finite):.2f}, p90 {np.percentile(finite, 90):.2f}, "
          f"p99 {np.percentile(finite, 99):.2f}, max {finite.max():.1f}; within 2: {within:.1%}")
    print("exact:", float(np.mean(err == 0)), "misses:", dict(misses))
    assert within >= 0.95, f"only {within:.1%} within 2 intervals; misses: {dict(misses)}"


def test_shifts_smoothed_by_rate_windows() -> None:
    """A level shift read through ``rate(x[5m])`` reaches its new level over 5-20 steps.

    Its start is less sharp than a step's (at 0.25 sigma a step, noise hides the first steps),
    so the bar here is 85 % within 2 intervals and every one within 8 (measured: 90 %, max 6).
    """
    cases = generate(seed=77, count=80, kinds=("rate_shift",))
    err, misses = onset_errors(cases)
    within = float(np.mean(err <= 2))
    print(f"\nrate-smoothed shifts: within 2 intervals {within:.1%}, max {err.max():.0f}; "
          f"misses {dict(misses)}")
    assert within >= 0.85 and err.max() <= 8


def test_unchanged_series_report_no_onset() -> None:
    rng = np.random.default_rng(7)
    cases = [make_case(rng, "none", seasonal=bool(i % 2), rho=float(rng.choice(NOISE_RHO)))
             for i in range(CASES)]
    false_alarms = [c for c in cases if detect_onset(c.t, c.y, c.reference_end).found]
    rate = len(false_alarms) / len(cases)
    print(f"\nfalse onsets on {len(cases)} unchanged series: {rate:.1%} "
          f"({sum(c.seasonal for c in false_alarms)} seasonal)")
    assert rate <= 0.05


def test_result_describes_direction_kind_and_size() -> None:
    rng = np.random.default_rng(3)
    t = T0 + 15.0 * np.arange(600)
    y = 100 + rng.normal(0, 2, 600)
    y[400:] -= 20  # a drop of 10 sigma at index 400
    result = detect_onset(t, y, reference_end=float(t[300]))
    assert result.found and result.onset_index is not None
    assert abs(result.onset_index - 400) <= 1
    assert result.direction == "down" and result.kind == "level_shift"
    assert result.magnitude_z is not None and -12 < result.magnitude_z < -8
    assert result.delta is not None and -22 < result.delta < -18
    assert result.relative_change is not None and -0.22 < result.relative_change < -0.18
    assert result.confidence > 0.99
    ramp = 100 + rng.normal(0, 2, 600)
    ramp[450:] += 1.5 * np.arange(150)
    found = detect_onset(t, ramp, reference_end=float(t[300]))
    assert found.kind == "ramp" and found.direction == "up"
    assert found.onset_index is not None and abs(found.onset_index - 450) <= 2


def test_constant_reference_and_bad_input() -> None:
    t = T0 + 60.0 * np.arange(100)
    flat = np.zeros(100)
    assert not detect_onset(t, flat, float(t[50])).found
    flat[70:] = 1.0  # a 0 -> 1 flip (a model was loaded)
    result = detect_onset(t, flat, float(t[50]))
    assert result.found and result.onset_index == 70 and result.direction == "up"
    assert result.reference is not None and result.reference.constant and result.delta == pytest.approx(1.0)
    with pytest.raises(ValueError, match="reference window"):
        detect_onset(t, flat, reference_end=float(t[3]))
    with pytest.raises(ValueError, match="same length"):
        detect_onset(t, flat[:10])
    with pytest.raises(ValueError, match="no points after"):
        detect_onset(t, flat, reference_end=float(t[-1]) + 1)


# --------------------------------------------------------------------------- the tool


def test_tool_on_inline_values_and_on_bad_arguments() -> None:
    tool = OnsetTool()
    t = [T0 + 15.0 * i for i in range(200)]
    y = [1.0 + (5.0 if i >= 150 else 0.0) + 0.1 * ((i * 7919) % 11 - 5) / 5 for i in range(200)]
    evidence = asyncio.run(tool.run({"timestamps": t, "values": y, "reference_end": t[100]}))
    assert evidence.status is EvidenceStatus.OK, evidence.reason
    assert evidence.data["series"][0]["onset"] == pytest.approx(t[150], abs=30)
    assert "up" in evidence.summary
    assert evidence.args["values"].startswith("200 values, sha256 ")  # evidence stays small
    flat = asyncio.run(tool.run({"timestamps": t, "values": [1.0] * 200}))
    assert flat.status is EvidenceStatus.EMPTY and "no onset" in flat.summary
    bad = asyncio.run(tool.run({"timestamps": t[:5], "values": y[:5]}))
    assert bad.status is EvidenceStatus.ERROR and bad.reason and "widen" in bad.reason
    neither = asyncio.run(tool.run({}))
    assert neither.status is EvidenceStatus.ERROR and neither.reason and "query" in neither.reason
    no_prom = asyncio.run(tool.run({"query": "up"}))
    assert no_prom.status is EvidenceStatus.UNAVAILABLE


def test_tool_orders_real_prometheus_series_by_onset(prom_history: PromHistory) -> None:
    from augur.tools.prometheus_api import connect

    tool = OnsetTool(connect(prom_history.url, timeout_s=5))
    query = '{__name__=~"model_drift_score|model_accuracy|business_ctr|DCGM_FI_DEV_GPU_UTIL"}'
    end = prom_history.t_end
    evidence = asyncio.run(tool.run({
        "query": query, "start": end - 4 * 3600, "end": end, "step": "15s", "reference_end": end - 2 * 3600,
    }))
    assert evidence.status is EvidenceStatus.OK, evidence.reason
    found = [s for s in evidence.data["series"] if s["found"]]
    names = [s["series"].split("{")[0] for s in found]
    assert names == ["model_drift_score", "model_accuracy", "business_ctr"], evidence.data["series"]
    for series in found:
        truth = prom_history.onsets[series["series"].split("{")[0]]
        assert abs(series["onset"] - truth) <= 2 * prom_history.step_s
    gpu = [s for s in evidence.data["series"] if s["series"].startswith("DCGM")]
    assert gpu and not gpu[0]["found"]
    # The evidence is its typed model, field for field: reading it back and dumping it changes nothing.
    typed = OnsetData.model_validate(evidence.data)
    assert typed.model_dump(mode="json", exclude_unset=True) == evidence.data
    assert typed.order == [s.series for s in typed.series if s.found]
    strongest = typed.strongest()
    assert strongest is not None and strongest.series.startswith("model_drift_score")  # the largest z
    assert strongest.before == pytest.approx(0.05, abs=0.01)
    assert strongest.after == pytest.approx(0.45, abs=0.02)


def _series(name: str, found: bool, z: float | None) -> SeriesOnset:
    return SeriesOnset(series=name, found=found, onset=T0 if found else None, magnitude_z=z,
                       direction=("up" if z and z > 0 else "down") if found else None)


def test_the_strongest_changed_series_is_the_one_read() -> None:
    data = OnsetData(series=[_series("quiet", False, None), _series("small", True, -3.0),
                             _series("large", True, 12.0), _series("noisy", False, 40.0)])
    assert data.strongest() == data.series[2]  # changed series first, however large the others' z
    unchanged = OnsetData(series=[_series("a", False, None), _series("b", False, 2.0)])
    assert unchanged.strongest() == unchanged.series[1]
    assert OnsetData().strongest() is None
    assert (data.series[2].before, data.series[2].after) == (None, None)  # no reference, no levels


def test_onset_data_has_one_name_per_field() -> None:
    """A record spelled any other way (``changed``, ``z``, ``before``) is refused, not guessed at."""
    from pydantic import ValidationError

    from augur.agent.findings import read_onset

    for other in ({"changed": True}, {"z": 4.0}, {"before": 1.0, "after": 2.0}, {"onset_time": T0}):
        with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
            read_onset({"series": [{"series": "x", "found": True, **other}]})
    with pytest.raises(ValidationError, match="Field required"):
        read_onset({"series": [{"series": "x", "onset": T0}]})  # whether it changed is never inferred


def test_tool_reports_a_down_prometheus_as_unavailable() -> None:
    from augur.tools.prometheus_api import connect

    tool = OnsetTool(connect("http://127.0.0.1:9", timeout_s=1))
    evidence = asyncio.run(tool.run({"query": "up", "start": "now-1h", "end": "now"}))
    assert evidence.status is EvidenceStatus.UNAVAILABLE
    assert evidence.reason and "cannot reach Prometheus" in evidence.reason


def test_step_segmentation_agrees_with_ruptures_kernel_cpd() -> None:
    """The shape fit's level shift is the break ruptures' KernelCPD (linear kernel) finds."""
    import ruptures as rpt

    from augur.tools.onset import MAX_RAMP, _shape_fit

    rng = np.random.default_rng(12)
    for _ in range(20):
        n = int(rng.integers(60, 400))
        y = rng.normal(0, 1, n)
        y[int(rng.integers(5, n - 5)):] += rng.uniform(0.5, 4)
        expected = rpt.KernelCPD(kernel="linear", min_size=1).fit(y).predict(n_bkps=1)[0]
        # With the ramp priced out, the shape fit is a level shift: its split is ruptures' break.
        _, first_changed = _shape_fit(np.arange(n, dtype=np.float64), y, MAX_RAMP, noise_var=1e12)
        assert first_changed == expected


def test_tool_finds_the_latency_onset_in_a_histogram_quantile(prom_history: PromHistory) -> None:
    """A derived series, as the agent queries it: p99 from a histogram's rates moves at the true onset."""
    from augur.tools.prometheus_api import connect

    tool = OnsetTool(connect(prom_history.url, timeout_s=5))
    end = prom_history.t_end
    query = ('histogram_quantile(0.99, sum by (le) '
             '(rate(http_request_duration_seconds_bucket{service="ranker-serving"}[5m])))')
    evidence = asyncio.run(tool.run({"query": query, "start": end - 4 * 3600, "end": end, "step": "15s",
                                     "reference_end": end - 2 * 3600}))
    assert evidence.status is EvidenceStatus.OK, evidence.reason
    series = evidence.data["series"][0]
    assert series["found"] and series["direction"] == "up"
    truth = prom_history.onsets["http_request_duration_seconds"]
    error = (series["onset"] - truth) / prom_history.step_s
    print(f"\np99 onset error: {error:+.0f} steps ({series['kind']})")
    assert abs(series["onset"] - truth) <= 2 * prom_history.step_s


def test_a_level_shift_after_a_tied_reference_is_found_without_warnings() -> None:
    """Idle and quantised real series hold one value for most of the baseline (here 19 of 20
    points, the last one differs): the lag-1 autocorrelation of such a reference is 0/0. It used to
    turn the CUSUM into NaN, so the +2 level shift five points later was silently not found, and
    numpy printed 'invalid value encountered in divide' on every investigation's stderr."""
    import warnings

    t = np.arange(40) * 60.0
    y = np.r_[np.full(19, 5.0), [6.0], np.full(5, 5.0), np.full(15, 7.0)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning fails the test
        result = detect_onset(t, y, reference_end=t[20], spike_z=50.0)  # no spike: the CUSUM must see it
    assert result.found and result.kind == "level_shift" and result.direction == "up"
    assert result.onset == t[25]
