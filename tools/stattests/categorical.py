"""The categorical drift tests: chi-square against the reference's shares, and the two-proportion
z-test (Evidently's: the first category in sorted order against the rest)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from augur.tools.stattests.sample import Sample

__all__ = ["chisquare", "z_test"]


def chisquare(ref: Sample, cur: Sample) -> tuple[float, float]:
    """``(p-value, statistic)`` of chi-square of current's counts against reference's shares."""
    table = pd.concat([ref.counts(), cur.counts()], axis=1, sort=False).fillna(0)
    k_norm = len(cur) / len(ref)
    f_exp = [float(v) * k_norm for v in table.iloc[:, 0]]
    f_obs = [float(v) for v in table.iloc[:, 1]]
    with np.errstate(divide="ignore", invalid="ignore"):  # a category new in current: p = 0
        result = stats.chisquare(f_obs, f_exp)
    return float(result.pvalue), float(result.statistic)


def z_test(ref: Sample, cur: Sample) -> tuple[float, float | None]:
    """``(p-value, z)`` of the two-proportion z-test; ``(1, None)`` when both sides hold one same value."""
    ref_counts, cur_counts = ref.counts(), cur.counts()
    if ref_counts.shape[0] == 1 and cur_counts.shape[0] == 1 and ref_counts.index[0] == cur_counts.index[0]:
        return 1.0, None
    keys = sorted(pd.concat([ref_counts, cur_counts], axis=1, sort=False).index)
    first = keys[0]
    n1, n2 = len(ref), len(cur)
    p1 = float(n1 - int(ref_counts.get(first, 0))) / n1
    p2 = float(n2 - int(cur_counts.get(first, 0))) / n2
    pooled = float(p1 * n1 + p2 * n2) / (n1 + n2)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2))
    return float(2 * (1 - stats.norm.cdf(np.abs(z)))), float(z)
