"""Anomaly onset: when did a series leave its baseline, in which direction, and by how much.

The correlator orders a chain of anomalies by *onset*, never by alarm time: an alarm fires
late on a subtle cause and early on a loud symptom. So this module estimates the first sample
of the change, in four steps, all vectorised (about a millisecond for 10,000 points):

1. **Reference.** The points before ``reference_end`` are the pre-incident baseline. When they
   span at least one season (a day by default), a Fourier fit of the daily shape (4 harmonics)
   on the reference is subtracted from the whole series, if it explains the reference's
   spread. Values become robust z-scores: (value - median) / (1.4826 x MAD) of the reference,
   so an incident inside the analysed window cannot inflate its own yardstick.
2. **Detection.** A two-sided CUSUM (slack ``k``, decision ``h``, in z units) runs over the
   points after the reference; its alarm says a sustained change happened, and its last zero
   before the alarm is the first estimate of when. A single point past ``spike_z`` (raised to
   1.5 x the largest |z| seen in the reference, so heavy-tailed baselines do not alarm) is a
   spike. Neither: ``found=False``.
3. **Segmentation.** Around the CUSUM estimate one continuous shape is fitted by least squares
   at every pair of kinks, with prefix sums: flat, a ramp, flat again. A one-step ramp is a
   level shift (the split ``ruptures``'s ``KernelCPD`` with the linear kernel finds, in
   quadratic time); a ramp into a new level is what ``rate()`` makes of a step; a ramp to the
   end is a ramp still going. A ramp must beat the level shift by a BIC margin. The onset is the
   first sample after the last flat one.
4. **Size.** Direction, robust z magnitude, Cohen's d, the change in the series' own units and
   a confidence (one minus a Mann-Whitney p-value against the reference, or a Gaussian tail
   bound for spikes).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats

__all__ = ["OnsetResult", "ReferenceStats", "detect_onset"]

FloatArray = npt.NDArray[np.float64]

MAD_TO_SIGMA = 1.4826
#: Harmonics of the seasonal fit: enough for a daily shape with a morning and an evening peak.
HARMONICS = 4
#: A sustained change keeps its post-onset median at least this many robust sigmas away.
SUSTAINED_Z = 2.0
#: Segmentation looks this many points either side of the CUSUM estimate at most...
MAX_MARGIN = 400
#: ... and for ramps into a new level up to this long (ramps still going are always considered).
MAX_RAMP = 200
#: Bayesian-information-criterion weight for the ramp's extra parameter (in noise variances x ln n).
RAMP_PENALTY = 3.0


@dataclass(frozen=True)
class ReferenceStats:
    """The baseline the series was compared with."""

    start: float
    end: float
    points: int
    median: float
    sigma: float  # robust: 1.4826 x MAD, falling back to IQR / 1.349, then the standard deviation
    deseasonalised: bool
    constant: bool = False  # every reference value equal: z-scores are only a ranking, read delta


@dataclass(frozen=True)
class OnsetResult:
    """When a series left its baseline; ``found`` is False for a series that did not change."""

    found: bool
    onset: float | None  # Unix seconds of the first changed sample
    onset_index: int | None
    alarm: float | None  # when the detector became sure (at or after the onset)
    kind: str | None  # level_shift | ramp | spike | transient
    direction: str | None  # up | down
    magnitude_z: float | None  # typical post-onset deviation in robust z (peak z for a spike)
    peak_z: float | None
    effect_size: float | None  # Cohen's d: mean change / reference standard deviation
    delta: float | None  # change in the series' units (robust)
    relative_change: float | None  # delta / |reference median|
    confidence: float  # 0..1
    step_s: float
    reference: ReferenceStats | None
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields, floats rounded for reading."""
        out = asdict(self)
        for key, value in list(out.items()):
            if isinstance(value, float):
                out[key] = round(value, 6) if math.isfinite(value) else None
        return out


def _robust_sigma(x: FloatArray, center: float) -> float:
    mad = float(np.median(np.abs(x - center))) * MAD_TO_SIGMA
    if mad > 0:
        return mad
    q75, q25 = np.percentile(x, [75, 25])
    if q75 > q25:
        return float(q75 - q25) / 1.349
    std = float(np.std(x))
    if std > 0:
        return std
    # A constant reference: any different value is a change; keep z finite and large.
    return max(abs(center) * 1e-6, 1e-12)


def _seasonal_design(t: FloatArray, period: float) -> FloatArray:
    phase = 2.0 * np.pi * (t % period) / period
    cols = [np.ones_like(t)]
    for h in range(1, HARMONICS + 1):
        cols.append(np.cos(h * phase))
        cols.append(np.sin(h * phase))
    return np.column_stack(cols)


def _deseasonalise(t: FloatArray, y: FloatArray, r: int, period: float | None) -> tuple[FloatArray, bool]:
    """Subtract the reference's daily shape when the reference spans a period and it helps."""
    if not period or t[r - 1] - t[0] < period or r < 4 * HARMONICS:
        return y, False
    design = _seasonal_design(t, period)
    coef, *_ = np.linalg.lstsq(design[:r], y[:r], rcond=None)
    fitted = design[:, 1:] @ coef[1:]  # keep the level: only the shape is removed
    residual = y - fitted
    before = _robust_sigma(y[:r], float(np.median(y[:r])))
    after = _robust_sigma(residual[:r], float(np.median(residual[:r])))
    if after < 0.8 * before:
        return residual, True
    return y, False


def _cusum(z: FloatArray, k: float, h: float) -> tuple[int | None, int | None]:
    """First alarm index of a one-sided upper CUSUM, and its last-zero start estimate."""
    c = np.concatenate(([0.0], np.cumsum(z - k)))
    running_min = np.minimum.accumulate(c)
    s = c - running_min
    above = np.flatnonzero(s[1:] > h)
    if above.size == 0:
        return None, None
    alarm = int(above[0])
    low = running_min[alarm + 1]
    last_zero = int(np.flatnonzero(c[: alarm + 2] == low)[-1])  # index in c; first changed = same index in z
    return alarm, last_zero


def _shape_fit(x: FloatArray, y: FloatArray, max_ramp: int, noise_var: float) -> tuple[int, int]:
    """Best continuous flat-ramp-flat fit: the last baseline index ``k1`` and the ramp's end ``k2``.

    ``y = a + b * clip(x - x[k1], 0, x[k2] - x[k1])``: ``k2 = k1 + 1`` is a level shift, a
    longer ``k2 - k1`` a ramp into a new level (a ``rate()`` over a window turns every step into
    one), ``k2`` at the end a ramp still going. Every pair with ``k2 - k1 <= max_ramp`` (and every
    ramp to the end) is scored at once from prefix sums. ``x`` is in steps.
    """
    w = y.shape[0]

    def prefix(v: FloatArray) -> FloatArray:
        return np.concatenate(([0.0], np.cumsum(v)))

    px, pxx, py, pxy = prefix(x), prefix(x * x), prefix(y), prefix(x * y)
    k1 = np.arange(w - 1)[:, None]
    k2 = np.concatenate((k1 + np.arange(1, max_ramp + 1)[None, :], np.full((w - 1, 1), w - 1)), axis=1)
    valid = k2 <= w - 1
    k2 = np.minimum(k2, w - 1)
    x1, x2 = x[k1], x[k2]
    span = x2 - x1
    n1 = (k2 - k1).astype(np.float64)
    n2 = (w - k2).astype(np.float64)
    sx1, sxx1 = px[k2] - px[k1], pxx[k2] - pxx[k1]
    sy1, sxy1 = py[k2] - py[k1], pxy[k2] - pxy[k1]
    sy2 = py[w] - py[k2]
    su = sx1 - x1 * n1 + span * n2
    suu = sxx1 - 2 * x1 * sx1 + x1 * x1 * n1 + span * span * n2
    suy = sxy1 - x1 * sy1 + span * sy2
    total_y = py[w]
    suu_c = suu - su * su / w
    suy_c = suy - su * total_y / w
    with np.errstate(divide="ignore", invalid="ignore"):
        gain = np.where(valid & (suu_c > 1e-12), suy_c * suy_c / suu_c, -np.inf)
    best = int(np.argmax(gain))  # largest variance explained = smallest squared error
    step_row = int(np.argmax(gain[:, 0]))
    # A ramp has one more parameter than a step: it must explain more than noise would (BIC).
    if gain.flat[best] - gain[step_row, 0] <= RAMP_PENALTY * math.log(w) * noise_var:
        return step_row, step_row + 1
    row, col = divmod(best, k2.shape[1])
    return int(k1[row, 0]), int(k2[row, col])


def _not_found(step: float, ref: ReferenceStats | None, note: str) -> OnsetResult:
    return OnsetResult(False, None, None, None, None, None, None, None, None, None, None, 0.0, step, ref,
                       note)


def detect_onset(
    timestamps: Any,
    values: Any,
    reference_end: float | None = None,
    *,
    season_s: float | None = 86400.0,
    k: float = 1.0,
    h: float = 8.0,
    spike_z: float = 6.0,
    min_reference: int = 10,
) -> OnsetResult:
    """Find when the series ``values`` (at ``timestamps``, Unix seconds) left its baseline.

    ``reference_end``: points before it are the baseline (default: the first half of the time
    span). Raises ValueError, saying what to change, when there is too little to compare.
    """
    t = np.asarray(timestamps, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    if t.shape != y.shape or t.ndim != 1:
        raise ValueError(f"timestamps and values must be two lists of the same length (got {t.shape} and "
                         f"{y.shape})")
    keep = np.isfinite(t) & np.isfinite(y)
    t, y = t[keep], y[keep]
    order = np.argsort(t, kind="stable")
    t, y = t[order], y[order]
    if t.shape[0] < min_reference + 1:
        raise ValueError(f"{t.shape[0]} finite points; need at least {min_reference + 1}: widen the range")
    step = float(np.median(np.diff(t))) if t.shape[0] > 1 else 0.0
    ref_end = float(reference_end) if reference_end is not None else float(t[0] + (t[-1] - t[0]) / 2)
    r = int(np.searchsorted(t, ref_end, side="left"))
    if r < min_reference:
        raise ValueError(f"the reference window (before reference_end) has {r} points; need at least "
                         f"{min_reference}: start the range earlier or move reference_end later")
    if r >= t.shape[0]:
        raise ValueError("no points after reference_end: end the range later or move reference_end earlier")
    resid, seasonal = _deseasonalise(t, y, r, season_s)
    center = float(np.median(resid[:r]))
    sigma = _robust_sigma(resid[:r], center)
    constant = bool(np.all(resid[:r] == resid[0]))
    reference = ReferenceStats(float(t[0]), float(t[r - 1]), r, float(np.median(y[:r])), sigma, seasonal,
                               constant)
    z = (resid - center) / sigma
    post = z[r:]

    spike_limit = max(spike_z, 1.5 * float(np.max(np.abs(z[:r]))))
    spikes = np.flatnonzero(np.abs(post) >= spike_limit)
    spike = r + int(spikes[0]) if spikes.size else None
    # Autocorrelated noise wanders further than white noise: scale CUSUM by the long-run sigma.
    ref_z = np.clip(z[:r], -spike_limit, spike_limit)
    rho = 0.0
    if r > 3 and np.std(ref_z[:-1]) > 0 and np.std(ref_z[1:]) > 0:  # else corrcoef divides by 0
        rho = float(np.clip(np.corrcoef(ref_z[:-1], ref_z[1:])[0, 1], 0.0, 0.9))
    drift = post / math.sqrt((1 + rho) / (1 - rho))
    up_alarm, up_start = _cusum(drift, k, h)
    down_alarm, down_start = _cusum(-drift, k, h)
    alarms = [(a, s) for a, s in ((up_alarm, up_start), (down_alarm, down_start)) if a is not None]
    if not alarms and spike is None:
        return _not_found(step, reference, "no sustained change (CUSUM) and no spike after the reference")

    onset: int
    kind: str
    alarm_idx: int
    if alarms:
        a, s = min(alarms)
        alarm_idx, start = r + a, r + (s or 0)
        margin = min(MAX_MARGIN, max(30, 3 * max(alarm_idx - start, 1)))
        lo = max(0, start - margin)
        hi = min(t.shape[0], alarm_idx + margin + 1)
        if hi - lo >= 3:
            k1, k2 = _shape_fit((t[lo:hi] - t[lo]) / (step or 1.0), resid[lo:hi], MAX_RAMP, sigma**2)
            # The onset is the first sample off the baseline: the one after the last flat one.
            onset, kind = lo + k1 + 1, "level_shift" if k2 - k1 <= 2 else "ramp"
        else:
            onset, kind = start, "level_shift"
        if reference.constant:  # nothing to estimate: the first value off the baseline is the onset
            off = np.flatnonzero(np.abs(resid[r:] - center) > 1e-9 * max(1.0, abs(center)))
            onset = r + int(off[0]) if off.size else onset
        tail = z[onset: onset + max(5, min(60, (t.shape[0] - onset) // 2 + 1))]
        sustained = tail.size > 0 and abs(float(np.median(tail))) >= SUSTAINED_Z
        if spike is not None and (not sustained or spike < onset):
            onset, kind = (spike, "spike") if not sustained else (spike, kind)
        elif not sustained:
            onset, kind = start, "transient"
    else:
        assert spike is not None
        onset, kind, alarm_idx = spike, "spike", spike

    after = z[onset:]
    if kind == "spike":
        run_end = onset
        while run_end + 1 < z.shape[0] and abs(z[run_end + 1]) >= spike_limit / 2:
            run_end += 1
        burst = z[onset: run_end + 1]
        peak = float(burst[np.argmax(np.abs(burst))])
        magnitude = peak
        tail_p = min(1.0, float(post.shape[0]) * 2.0 * float(stats.norm.sf(abs(peak))))
        confidence = 1.0 - tail_p
    elif kind == "ramp":
        magnitude = float(np.median(z[max(onset, z.shape[0] - 10):]))
        peak = float(after[np.argmax(np.abs(after))])
        confidence = _mw_confidence(z[:r], after)
    else:
        magnitude = float(np.median(after))
        peak = float(after[np.argmax(np.abs(after))])
        confidence = _mw_confidence(z[:r], after)
    direction = "up" if magnitude > 0 else "down"
    ref_std = float(np.std(resid[:r]))
    effect = (float(np.mean(resid[onset:])) - float(np.mean(resid[:r]))) / ref_std if ref_std > 0 else None
    delta = magnitude * sigma
    relative = delta / abs(reference.median) if reference.median != 0 else None
    return OnsetResult(
        True, float(t[onset]), onset, float(t[max(alarm_idx, onset)]), kind, direction, magnitude, peak,
        effect, delta, relative, confidence, step, reference,
    )


def _mw_confidence(reference: FloatArray, after: FloatArray) -> float:
    if after.shape[0] == 0:
        return 0.0
    p = float(stats.mannwhitneyu(reference, after, alternative="two-sided").pvalue)
    return 1.0 - p
