"""The binned drift tests, PSI and Jensen-Shannon, and the binning they share (Evidently's
``get_binned_data``: Sturges bins for a many-valued numerical reference, else one bin a value),
with :func:`psi_p_value`, PSI's p-value under "no drift"."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats
from scipy.spatial import distance

from augur.tools.stattests.sample import ColumnKind, FloatArray, Sample

__all__ = ["PER_VALUE_MAX_UNIQUE", "binned_shares", "fill_empty_bins", "jensenshannon", "psi", "psi_p_value"]

#: A numerical reference with more unique values than this is binned (Evidently's rule).
PER_VALUE_MAX_UNIQUE = 20


def fill_empty_bins(shares: FloatArray) -> None:
    """Replace empty bins' shares in place as Evidently's PSI does (1e-4, or the smallest share / 1e6)."""
    nonzero = shares[shares != 0]
    smallest = float(nonzero.min()) if nonzero.size else 0.0
    np.place(shares, shares == 0, smallest / 10**6 if smallest <= 0.0001 else 0.0001)


def _sturges_bins(ref: Sample, cur: Sample) -> tuple[int, tuple[float, float]]:
    """Bin count and range of ``np.histogram_bin_edges(concat(ref, cur), "sturges")``."""
    (ref_lo, ref_hi), (cur_lo, cur_hi) = ref.bounds(), cur.bounds()
    lo, hi = min(ref_lo, cur_lo), max(ref_hi, cur_hi)
    if lo == hi:
        return 1, (lo - 0.5, hi + 0.5)
    width = (hi - lo) / (np.log2(len(ref) + len(cur)) + 1.0)
    if ref.integer and cur.integer and width < 1:
        width = 1  # numpy's rule for integer data
    return int(np.ceil((hi - lo) / width)), (lo, hi)


def _sturges_counts(sample: Sample, bins: int, span: tuple[float, float]) -> npt.NDArray[np.int64]:
    """Counts per Sturges bin. Evidently calls ``np.histogram(values, edges)``; numpy's
    equal-width path used here puts every value in the same bin as that call (it corrects its
    arithmetic against the same ``linspace`` edges), in one pass instead of a sort."""
    assert sample.values is not None
    counts: npt.NDArray[np.int64] = np.histogram(sample.values, bins=bins, range=span)[0]
    return counts


def binned_shares(ref: Sample, cur: Sample, fill_zeroes: bool) -> tuple[FloatArray, FloatArray, int]:
    """Evidently's ``get_binned_data``: each side's share per bin, and the number of bins."""
    if ref.kind is ColumnKind.NUMERICAL and ref.numeric and cur.numeric and ref.nunique_above(
            PER_VALUE_MAX_UNIQUE):
        bins, span = _sturges_bins(ref, cur)
        ref_shares = _sturges_counts(ref, bins, span) / len(ref)
        cur_shares = _sturges_counts(cur, bins, span) / len(cur)
    else:
        table = pd.concat([ref.counts(), cur.counts()], axis=1, sort=False).fillna(0)
        ref_shares = table.iloc[:, 0].to_numpy(dtype=np.float64) / len(ref)
        cur_shares = table.iloc[:, 1].to_numpy(dtype=np.float64) / len(cur)
    if fill_zeroes:
        fill_empty_bins(ref_shares)
        fill_empty_bins(cur_shares)
    return ref_shares, cur_shares, int(ref_shares.shape[0])


def psi_p_value(ref_counts: FloatArray, cur_counts: FloatArray) -> float:
    """P(a PSI at least this large | no drift), from observations per bin on each side.

    Under no drift ``PSI * n*m/(n+m)`` and Pearson's chi-square statistic of the 2 x bins table
    agree to first order and follow chi2(bins - 1). Pearson's is the one computed: PSI's 1e-4
    fill for empty bins makes PSI itself explode on small samples (at 100 rows a side the
    PSI-based approximation called 20 % of pure-noise pairs significant at 5 %).
    """
    keep = (ref_counts + cur_counts) > 0
    if int(keep.sum()) < 2 or ref_counts.sum() <= 0 or cur_counts.sum() <= 0:
        return 1.0
    table = np.vstack([ref_counts[keep], cur_counts[keep]])
    return float(stats.chi2_contingency(table, correction=False).pvalue)


def psi(ref: Sample, cur: Sample) -> tuple[float, dict[str, Any]]:
    ref_shares, cur_shares, bins = binned_shares(ref, cur, fill_zeroes=False)
    p_value = psi_p_value(np.rint(ref_shares * len(ref)), np.rint(cur_shares * len(cur)))
    fill_empty_bins(ref_shares)
    fill_empty_bins(cur_shares)
    value = float(np.sum((ref_shares - cur_shares) * np.log(ref_shares / cur_shares)))
    return value, {"bins": bins, "p_value_no_drift": p_value}


def jensenshannon(ref: Sample, cur: Sample) -> tuple[float, dict[str, Any]]:
    ref_shares, cur_shares, bins = binned_shares(ref, cur, fill_zeroes=False)
    return float(distance.jensenshannon(ref_shares, cur_shares)), {"bins": bins}
