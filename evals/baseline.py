"""Published RCA baselines on the same data: RCAEval's BARO and N-Sigma.

RCAEval (Pham et al., "RCAEval: A Benchmark for Root Cause Analysis of Microservice Systems",
WWW 2025; MIT licence; ``pip install 'augur-agent[baselines]'``) ships metric-based methods that
take a table (one column per metric, a ``time`` column) and the fault's injection time, and rank
the columns: **BARO** scores each column by its largest robust z-score (median/IQR of the normal
period) after the injection time; **N-Sigma** does the same with mean/std. We call the library's
own functions, unmodified.

The table is built from the scenario's Prometheus with the catalog's own signal queries (the view
the agent gets), one column per ``component.signal``, over the whole history. As in RCAEval's
benchmark protocol the methods are given the **true** fault start (the agent is not: it only
gets the alert), which favours the baselines. Ranked columns become ranked components, scored
like the agent (:func:`augur.evals.scoring.score_ranking`).
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from contextlib import redirect_stderr, redirect_stdout
from typing import Any

from augur.agent.catalog import Catalog
from augur.tools.errors import BackendUnavailable
from augur.tools.prometheus_api import PrometheusClient

__all__ = [
    "BASELINES",
    "BaselineUnavailable",
    "metrics_table",
    "rank_components",
    "require_rcaeval",
    "run_baselines",
]

#: The RCAEval methods run (``RCAEval.e2e.baro.baro`` and ``RCAEval.e2e.nsigma``).
BASELINES = ("baro", "nsigma")


class BaselineUnavailable(BackendUnavailable, RuntimeError):
    """RCAEval is not installed; the message says how to install it."""


def require_rcaeval() -> None:
    """Raise :class:`BaselineUnavailable` (with the install command) unless RCAEval imports."""
    _methods()


def _methods() -> dict[str, Any]:
    try:
        os.environ.setdefault("TQDM_DISABLE", "1")
        with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
            from RCAEval.e2e import nsigma
            from RCAEval.e2e.baro import baro
    except ImportError as exc:
        raise BaselineUnavailable(
            f"RCAEval is not installed ({exc}): pip install 'augur-agent[baselines]' "
            "(RCAEval==1.8.1 with causal-learn, which its package imports on Python 3.11)"
        ) from None
    return {"baro": baro, "nsigma": nsigma}


def metrics_table(prometheus_url: str, catalog: Catalog, start: float, end: float, step: float) -> Any:
    """A pandas DataFrame: ``time`` and one column per catalog metric signal (first series)."""
    import pandas as pd

    columns: dict[str, dict[float, float]] = {}
    with PrometheusClient(prometheus_url, timeout_s=30.0) as prom:
        for comp in catalog.components:
            for sig in comp.signals:
                if sig.kind != "metric" or not sig.query:
                    continue
                for i, series in enumerate(prom.query_range(sig.query, start, end, step)):
                    name = f"{comp.name}.{sig.name}" + (f"#{i}" if i else "")
                    columns[name] = dict(zip(series.timestamps.tolist(), series.values.tolist(), strict=True))
    frame = pd.DataFrame(columns).sort_index()
    frame = frame.interpolate(limit_direction="both").fillna(0.0)
    frame.insert(0, "time", frame.index.to_numpy())
    return frame.reset_index(drop=True)


def rank_components(method: str, table: Any, inject_time: float) -> list[str]:
    """Run one RCAEval method and turn its ranked columns into distinct ranked components."""
    fn = _methods()[method]
    with redirect_stdout(io.StringIO()):
        # Any non-None dataset name makes RCAEval drop the time column and constant columns.
        out = fn(table, inject_time=inject_time, dataset="augur")
    ranked: list[str] = []
    for col in out["ranks"]:
        comp = str(col).split(".")[0]
        if comp not in ranked:
            ranked.append(comp)
    return ranked


def run_baselines(prometheus_url: str, catalog: Catalog, *, start: float, end: float, step: float,
                  inject_time: float, methods: Sequence[str] = tuple(BASELINES)) -> dict[str, list[str]]:
    """Ranked components per method for one scenario's data."""
    table = metrics_table(prometheus_url, catalog, start, end, step)
    return {m: rank_components(m, table, inject_time) for m in methods}
