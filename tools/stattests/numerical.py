"""The numerical drift tests, Wasserstein (normed) and two-sample K-S, exact on small samples and
computed from one pass of bin counts on large ones (sorting only where the answer is decided)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats

from augur.tools.stattests.sample import FloatArray, Sample

__all__ = ["BINS_LARGE", "KS_BINS", "KS_EXACT_MAX_N", "SORT_MAX_ROWS", "ks", "wasserstein"]

#: K-S uses Scipy's exact distribution up to this many rows a side, as ``ks_2samp`` does.
KS_EXACT_MAX_N = 10_000
#: Bins of the one-pass K-S bound (64 k: half a megabyte of counts a side).
KS_BINS = 1 << 16
#: Bins of the one-pass Wasserstein computation (256 k: 2 MB of counts a side).
BINS_LARGE = 1 << 18
#: Wasserstein sorts both samples up to this many rows in all, and works from bins beyond.
SORT_MAX_ROWS = 100_000


def _wasserstein_raw(a: FloatArray, b: FloatArray) -> float:
    """First Wasserstein distance of two sorted samples, by their quantile functions.

    ``W1 = integral over u in (0, 1) of |A^-1(u) - B^-1(u)|``. The quantile functions step at
    ``i/n`` and ``j/m``; measured in units of ``1/(n*m)`` those are the integers ``i*m`` and
    ``j*n``, so every piece between consecutive steps is found with integer arithmetic: no
    merge of the values, one pass over each side. Mathematically Scipy's value; in floating
    point within a few ulps of it.
    """
    n, m = a.shape[0], b.shape[0]
    if n == m:  # every piece is one step of both: the mean gap between matching order statistics
        return float(np.mean(np.abs(a - b)))
    i = np.arange(1, n + 1, dtype=np.int64)
    # Pieces ending at A's step i*m: there A^-1 = a[i-1] and B^-1 = b[jb], jb = #{j >= 1: j*n < i*m}.
    jb = (i * m - 1) // n
    start = np.maximum((i - 1) * m, jb * n)
    total = float(np.dot(np.abs(a - b[jb]), (i * m - start).astype(np.float64)))
    j = np.arange(1, m + 1, dtype=np.int64)
    # Pieces ending at B's step j*n (a tie with an A step was counted above: length 0 here).
    ia = (j * n) // m  # #{i >= 1: i*m <= j*n}
    start_b = np.maximum((j - 1) * n, ia * m)
    lengths = np.maximum(j * n - start_b, 0).astype(np.float64)
    ia_idx = np.minimum(ia, n - 1)
    total += float(np.dot(np.abs(a[ia_idx] - b), lengths))
    return total / (float(n) * float(m))


def _wasserstein_binned(ref: Sample, cur: Sample) -> float | None:
    """First Wasserstein distance ``integral |F_ref - F_cur| dx`` of large samples in one pass each.

    The range is cut into :data:`BINS_LARGE` equal bins. Inside a bin both CDFs only step up, so
    where the gap cannot change sign (its value below the bin, plus or minus the bin's shares,
    keeps one sign) its integral follows from each bin's count and the sum of the points'
    offsets from the bin's end, read with ``bincount`` weights. Bins where the sign can change
    (where the CDFs cross: about the square root of the sample size of them) are integrated
    exactly from their sorted points. Equal to the sorted computation up to rounding (~1e-12).
    None when more than an eighth of the points sit in such bins: sorting everything is cheaper.
    """
    a, b = ref.values, cur.values
    assert a is not None and b is not None
    n, m = a.shape[0], b.shape[0]
    (ref_lo, ref_hi), (cur_lo, cur_hi) = ref.bounds(), cur.bounds()
    lo, hi = min(ref_lo, cur_lo), max(ref_hi, cur_hi)
    if lo == hi:
        return 0.0
    scale = BINS_LARGE / (hi - lo)

    def place(x: FloatArray) -> tuple[npt.NDArray[np.int64], FloatArray]:
        at = (x - lo) * scale  # position in bin units
        idx = at.astype(np.int64)
        np.minimum(idx, BINS_LARGE - 1, out=idx)
        at -= idx  # offset inside the bin, 0..1
        return idx, at

    bin_a, off_a = place(a)
    bin_b, off_b = place(b)
    count_a = np.bincount(bin_a, minlength=BINS_LARGE)
    count_b = np.bincount(bin_b, minlength=BINS_LARGE)
    below = (np.cumsum(count_a) - count_a) / n - (np.cumsum(count_b) - count_b) / m
    positive = below - count_b / m >= 0
    negative = below + count_a / n <= 0
    mixed = ~(positive | negative)
    # Integral of the gap over a bin, in bin widths: the gap below it, plus each point's step
    # times the part of the bin after it.
    rest_a = np.bincount(bin_a, weights=1.0 - off_a, minlength=BINS_LARGE)
    rest_b = np.bincount(bin_b, weights=1.0 - off_b, minlength=BINS_LARGE)
    whole = below + rest_a / n - rest_b / m
    total = float(np.sum(whole[positive])) - float(np.sum(whole[negative]))
    if mixed.any():
        pick_a, pick_b = mixed[bin_a], mixed[bin_b]
        if int(pick_a.sum()) + int(pick_b.sum()) > (n + m) // 8:
            return None  # the CDFs cross in crowded bins (e.g. an outlier stretched the range): sort
        bins = np.concatenate((bin_a[pick_a], bin_b[pick_b]))
        offs = np.concatenate((off_a[pick_a], off_b[pick_b]))
        steps = np.concatenate((np.full(int(pick_a.sum()), 1.0 / n), np.full(int(pick_b.sum()), -1.0 / m)))
        order = np.argsort(np.concatenate((a[pick_a], b[pick_b])))  # by value: by bin, then offset
        bins, offs, steps = bins[order], offs[order], steps[order]
        first = np.ones(bins.shape[0], dtype=bool)
        first[1:] = bins[1:] != bins[:-1]
        last = np.ones(bins.shape[0], dtype=bool)
        last[:-1] = first[1:]
        run = np.cumsum(steps)
        start = np.maximum.accumulate(np.where(first, np.arange(bins.shape[0]), 0))
        level = below[bins] + run - (run[start] - steps[start])  # the gap just after each point
        following = np.empty_like(offs)
        following[:-1] = offs[1:]
        following[last] = 1.0
        total += float(np.sum(np.abs(level) * np.clip(following - offs, 0.0, None)))
        total += float(np.sum(np.abs(below[bins[first]]) * offs[first]))
    return total / scale


def wasserstein(ref: Sample, cur: Sample) -> tuple[float, dict[str, Any]]:
    """Evidently's normed Wasserstein: the distance over ``max(std(reference), 0.001)``."""
    binned = _wasserstein_binned(ref, cur) if len(ref) + len(cur) > SORT_MAX_ROWS else None
    raw = binned if binned is not None else _wasserstein_raw(ref.sorted, cur.sorted)
    norm = max(ref.std(), 0.001)
    return raw / norm, {"distance": raw, "norm": norm}


def _ks_statistic(ref: Sample, cur: Sample) -> float:
    """Scipy's two-sample K-S statistic ``max |F_ref(x) - F_cur(x)|`` over every value, without sorting
    everything.

    Both samples are counted into :data:`KS_BINS` equal-width bins (one pass each). The CDF gap
    just below each bin is exact from the counts, and inside a bin it can grow by at most that
    bin's share of either sample; only bins whose bound reaches the largest gap seen at a bin
    edge can hold the maximum. Their values (usually a few hundred) are sorted and the gap is
    evaluated at each of them with exact counts, as ``ks_2samp`` does, so the statistic is the
    same float. Data crowded into few bins just makes more bins candidates (at worst: all).
    """
    a, b = ref.values, cur.values
    assert a is not None and b is not None
    n, m = a.shape[0], b.shape[0]
    (ref_lo, ref_hi), (cur_lo, cur_hi) = ref.bounds(), cur.bounds()
    lo, hi = min(ref_lo, cur_lo), max(ref_hi, cur_hi)
    if lo == hi:
        return 0.0
    scale = KS_BINS / (hi - lo)

    def bins_of(x: FloatArray) -> npt.NDArray[np.int64]:
        idx = ((x - lo) * scale).astype(np.int64)  # monotone in x, so bins are ordered like values
        np.minimum(idx, KS_BINS - 1, out=idx)
        return idx

    bin_a, bin_b = bins_of(a), bins_of(b)
    count_a = np.bincount(bin_a, minlength=KS_BINS)
    count_b = np.bincount(bin_b, minlength=KS_BINS)
    below_a = np.cumsum(count_a) - count_a
    below_b = np.cumsum(count_b) - count_b
    edge_gap = np.abs(below_a / n - below_b / m)
    floor = float(edge_gap.max())
    bound = edge_gap + np.maximum(count_a / n, count_b / m)
    candidate = (bound >= floor - 1e-12) & ((count_a + count_b) > 0)
    # Points of non-candidate bins below a candidate's bin are all smaller than its values.
    outside_a = np.cumsum(np.where(candidate, 0, count_a)) - np.where(candidate, 0, count_a)
    outside_b = np.cumsum(np.where(candidate, 0, count_b)) - np.where(candidate, 0, count_b)
    pick_a, pick_b = candidate[bin_a], candidate[bin_b]
    sel_a, sel_b = np.sort(a[pick_a]), np.sort(b[pick_b])
    gaps = []
    for x in (sel_a, sel_b):
        if x.shape[0] == 0:
            continue
        where = bins_of(x)
        at_or_below_a = outside_a[where] + np.searchsorted(sel_a, x, side="right")
        at_or_below_b = outside_b[where] + np.searchsorted(sel_b, x, side="right")
        gaps.append(np.abs(at_or_below_a / n - at_or_below_b / m).max())
    return float(max(gaps)) if gaps else floor


def ks(ref: Sample, cur: Sample) -> tuple[float, float]:
    """``(p-value, D)`` of the two-sample K-S test (Scipy's exact distribution up to 10,000 a side)."""
    n, m = len(ref), len(cur)
    if max(n, m) <= KS_EXACT_MAX_N:
        result = stats.ks_2samp(ref.sorted, cur.sorted)
        return float(result.pvalue), float(result.statistic)
    d = _ks_statistic(ref, cur)
    big, small = sorted([float(n), float(m)], reverse=True)
    en = big * small / (big + small)
    p = float(np.clip(stats.kstwo.sf(d, np.round(en)), 0, 1))
    return p, d
