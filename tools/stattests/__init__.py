"""Two-sample drift statistics, numerically equal to Evidently 0.7.23's stattests.

Evidently (``evidently.legacy.calculations.stattests``) defines what the ML world calls PSI,
K-S, Wasserstein (normed), Jensen-Shannon, chi-square and the two-proportion z-test; users
compare numbers across tools, so augur reproduces its definitions and defaults exactly:

- values that are NaN or infinite are dropped from each side first (``get_one_column_drift``);
- binned methods (PSI, Jensen-Shannon): a numerical column whose *reference* has more than 20
  unique values is cut into equal-width Sturges bins over the combined range
  (``np.histogram_bin_edges(..., "sturges")``); otherwise each value is its own bin. PSI (not
  Jensen-Shannon) replaces empty bins by 1e-4, or by the smallest non-empty share / 1e6 when that
  share is itself at most 1e-4;
- Wasserstein is divided by ``max(std(reference), 0.001)``;
- ``auto`` follows Evidently's registry: reference of at most 1,000 rows -> K-S (numerical with
  more than 5 values), chi-square (more than 2 values) or z-test; larger references ->
  Wasserstein (numerical, more than 5 values) or Jensen-Shannon;
- default thresholds: PSI, Wasserstein and Jensen-Shannon 0.1 (drift when the value is at least
  the threshold); K-S p <= 0.05; chi-square and z-test p < 0.05.

It is faster than Evidently because, on large samples, every numerical method counts each column
into bins in one pass and sorts only the few values where it matters (K-S: near its largest gap;
Wasserstein: where the two CDFs cross); small samples are sorted. Results agree with Evidently's
to a few ulps (Wasserstein on large samples: about 1e-13 relative).

Beyond Evidently: PSI ignores sample size, so :func:`psi_p_value` gives its p-value under "no
drift" by the chi-square approximation (``PSI * nm/(n+m)`` is about chi2(bins - 1)).

The modules, by job: :mod:`.sample` (one side, cleaned), :mod:`.binned` (binning, PSI,
Jensen-Shannon), :mod:`.numerical` (Wasserstein, K-S), :mod:`.categorical` (chi-square, z-test)
and :mod:`.methods` (the registry, ``auto`` and :func:`compare`).
"""

from augur.tools.stattests.binned import binned_shares, psi_p_value
from augur.tools.stattests.methods import METHODS, Method, StatResult, auto_method, compare
from augur.tools.stattests.sample import ColumnKind, Sample

__all__ = [
    "METHODS",
    "ColumnKind",
    "Method",
    "Sample",
    "StatResult",
    "auto_method",
    "binned_shares",
    "compare",
    "psi_p_value",
]
