"""Drift from a Prometheus histogram: the distribution of observations in two windows, compared.

A histogram's ``_bucket`` series are cumulative counters per upper bound ``le``. Their increase
over a window, summed by ``le``, is the window's cumulative distribution; differencing adjacent
buckets gives the observations per bucket. Two windows over the same buckets are two binned
samples, compared with Evidently's PSI (empty buckets filled as Evidently fills them),
Jensen-Shannon distance, or a chi-square test of homogeneity; PSI's p-value under no drift uses
the observation counts as sample sizes. Nothing new needs exporting: the service's latency or
score histogram already carries the distribution.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats
from scipy.spatial import distance

from augur.tools.base import ToolError
from augur.tools.prometheus_api import PrometheusClient, graph_url, sequence_of, when
from augur.tools.stattests import METHODS, psi_p_value

__all__ = ["bucket_counts", "bucket_selector", "histogram_drift"]

FloatArray = npt.NDArray[np.float64]


def _le(value: str) -> float:
    try:
        return float(value)  # "+Inf" parses as inf
    except ValueError:
        raise ToolError(f"bucket bound le={value!r} is not a number: the selector must pick a histogram's "
                        "_bucket series") from None


def bucket_selector(histogram: str) -> str:
    """The ``_bucket`` series selector for a histogram given by name or by its bucket selector."""
    name, brace, rest = histogram.strip().partition("{")
    name = name.strip()
    if name and not name.endswith("_bucket"):
        name += "_bucket"
    return f"{name}{brace}{rest}"


def bucket_counts(prom: PrometheusClient, selector: str, start: float, end: float,
                  timeout_s: float) -> tuple[FloatArray, FloatArray]:
    """Upper bounds and observations per bucket between ``start`` and ``end``."""
    if end <= start:
        raise ToolError(f"window {when(start)}..{when(end)} is empty: its start must be before its end")
    query = f"sum by (le) (increase({selector}[{max(1, round(end - start))}s]))"
    url = prom.url
    result = sequence_of(prom.query(query, end, timeout_s=timeout_s), url, "the instant query's result")
    points: dict[float, float] = {}
    for item in result:
        try:
            labels = item.get("metric") or {}
            value = float(item["value"][1])
        except (AttributeError, KeyError, TypeError, IndexError, ValueError):
            raise ToolError(f"{url} did not answer like the Prometheus HTTP API (a sample is not "
                            "{metric, value}): check that the URL points at Prometheus itself") from None
        if "le" not in labels:
            raise ToolError(f"{selector} has series without an `le` label: select the histogram's _bucket "
                            "series, e.g. http_request_duration_seconds_bucket{service=\"x\"}")
        points[_le(str(labels["le"]))] = value if math.isfinite(value) else 0.0
    if not points:
        raise ToolError(f"no buckets for {selector} between {when(start)} and {when(end)}: check the metric "
                        "name (it ends in _bucket), its labels, and that the window holds data")
    bounds = np.array(sorted(points))
    cumulative = np.maximum.accumulate(np.clip([points[b] for b in bounds], 0.0, None))
    return bounds, np.diff(cumulative, prepend=0.0)


def _fill(shares: FloatArray) -> FloatArray:
    out = shares.copy()
    nonzero = out[out != 0]
    smallest = float(nonzero.min()) if nonzero.size else 0.0
    np.place(out, out == 0, smallest / 10**6 if smallest <= 0.0001 else 0.0001)
    return out


def histogram_drift(
    prom: PrometheusClient, selector: str, reference: tuple[float, float], current: tuple[float, float],
    method: str, threshold: float | None, timeout_s: float,
) -> tuple[dict[str, Any], str]:
    """Drift of the histogram ``selector`` between two windows, as one evidence row, and a graph link."""
    selector = bucket_selector(selector)
    name = "psi" if method == "auto" else method
    if name not in ("psi", "jensenshannon", "chisquare"):
        raise ToolError(f"{name} needs raw values; a histogram gives bucket counts: use psi, jensenshannon "
                        "or chisquare")
    ref_bounds, ref_counts = bucket_counts(prom, selector, *reference, timeout_s)
    cur_bounds, cur_counts = bucket_counts(prom, selector, *current, timeout_s)
    if not np.array_equal(ref_bounds, cur_bounds):
        raise ToolError("the two windows have different buckets (the histogram's le bounds changed): "
                        "choose windows after the change, or compare a quantile with the onset tool")
    n_ref, n_cur = float(ref_counts.sum()), float(cur_counts.sum())
    if n_ref <= 0 or n_cur <= 0:
        side = "reference" if n_ref <= 0 else "current"
        raise ToolError(f"the {side} window has no observations: move it to when the service was serving")
    ref_shares, cur_shares = ref_counts / n_ref, cur_counts / n_cur
    spec = METHODS[name]
    limit = spec.default_threshold if threshold is None else threshold
    row: dict[str, Any] = {"column": selector, "kind": "histogram", "method": name,
                           "method_name": spec.display_name, "threshold": limit}
    if name == "psi":
        r, c = _fill(ref_shares), _fill(cur_shares)
        value = float(np.sum((r - c) * np.log(r / c)))
        row.update(value=value, p_value=None,
                   p_value_no_drift=psi_p_value(ref_counts, cur_counts))
    elif name == "jensenshannon":
        value = float(distance.jensenshannon(ref_shares, cur_shares))
        row.update(value=value, p_value=None)
    else:
        keep = (ref_counts + cur_counts) > 0
        table = np.vstack([ref_counts[keep], cur_counts[keep]])
        value = float(stats.chi2_contingency(table, correction=False).pvalue) if keep.sum() > 1 else 1.0
        row.update(value=value, p_value=value)
    row.update(
        drifted=spec.drifted(value, limit), statistic=value,
        reference_rows=round(n_ref), current_rows=round(n_cur),
        low_confidence=min(n_ref, n_cur) < 500, bins=int(ref_bounds.shape[0]),
        buckets=[{"le": "+Inf" if math.isinf(b) else float(b), "reference_share": round(float(rs), 6),
                  "current_share": round(float(cs), 6)}
                 for b, rs, cs in zip(ref_bounds, ref_shares, cur_shares, strict=True)],
        windows={"reference": {"start": reference[0], "end": reference[1]},
                 "current": {"start": current[0], "end": current[1]}},
    )
    link = graph_url(prom.url, f"sum by (le) (rate({selector}[5m]))", end=current[1],
                     range_s=current[1] - reference[0])
    return row, link
