"""A live exporter that carries a generated history on into the present.

Backfilled history ends a minute before the demo starts; alerting rules evaluate at *now*. The
exporter serves every series of the scenario at the current time, continuing the generator's
model (:class:`augur.evals.generator.SeriesModel`): gauges at their value now (the faults keep
their full effect), counters and histogram buckets from their last backfilled value plus the
current rate times the time elapsed. Prometheus scrapes it every second with ``job`` and
``instance`` dropped (:meth:`PrometheusServer.start`'s ``drop_target_labels``), so the live
samples extend the very series the history holds and ``rate()`` runs across the seam.

It is a prometheus-client collector on a loopback HTTP server in a thread of the calling process.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from threading import Lock, Thread
from typing import Any

import numpy as np
from numpy.typing import NDArray
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from augur.evals.generator import SeriesModel, le_label, round_sample
from augur.evals.scenario import MetricSpec, Scenario
from augur.evals.servers import free_port

__all__ = ["LiveExporter"]


@dataclass
class _State:
    """Cumulative values of one counter or histogram series, and when they were last advanced."""

    at: float
    count: float
    buckets: list[float] = field(default_factory=list)
    total: float = 0.0


def _last_stored(increments: NDArray[np.float64]) -> float:
    """The last cumulative value of a counter as the generator wrote it to the history."""
    return round_sample(float(np.cumsum(increments)[-1])) if increments.size else 0.0


class _ScenarioCollector(Collector):
    def __init__(self, model: SeriesModel) -> None:
        self.model = model
        self.lock = Lock()
        self.state: dict[str, _State] = {}
        grid = model.grid()
        for spec in model.scenario.metrics:
            if spec.type == "gauge":
                continue
            keep = model.present(spec, grid)
            rate = model.value(spec, grid)
            inc = np.where(keep, rate * model.step, 0.0)
            # Start from the very values the history stored (rounded, cumulative sums in the same
            # order), so the first live scrape never reads as a counter reset at the seam.
            st = _State(at=model.t_end, count=_last_stored(inc))
            if spec.type == "histogram":
                median, sigma = model.shape(spec, grid)
                shares = model.bucket_shares(spec, median, sigma)
                st.buckets = [_last_stored(inc * share) for share in shares]
                st.total = _last_stored(inc * median * np.exp(sigma**2 / 2.0))
            self.state[spec.id] = st

    def _advance(self, spec: MetricSpec, now: float) -> _State:
        st = self.state[spec.id]
        dt = max(0.0, now - st.at)
        t = np.array([now])
        if dt and self.model.present(spec, t)[0]:
            n = float(self.model.value(spec, t)[0]) * dt
            st.count += n
            if spec.type == "histogram":
                median, sigma = self.model.shape(spec, t)
                shares = self.model.bucket_shares(spec, median, sigma)
                st.buckets = [b + n * float(s[0]) for b, s in zip(st.buckets, shares, strict=True)]
                st.total += n * float(median[0] * np.exp(sigma[0] ** 2 / 2.0))
        st.at = now
        return st

    def collect(self) -> Iterator[Metric]:
        now = time.time()
        families: dict[str, Any] = {}
        with self.lock:
            for spec in self.model.scenario.metrics:
                if not self.model.present(spec, np.array([now]))[0]:
                    continue
                names = sorted(spec.labels)
                values = [spec.labels[k] for k in names]
                if spec.type == "gauge":
                    gauge = GaugeMetricFamily(spec.metric, spec.metric, labels=names)
                    fam = families.setdefault(spec.metric, gauge)
                    fam.add_metric(values, float(self.model.value(spec, np.array([now]))[0]))
                elif spec.type == "counter":
                    st = self._advance(spec, now)
                    base = spec.metric.removesuffix("_total")
                    fam = families.setdefault(base, CounterMetricFamily(base, base, labels=names))
                    fam.add_metric(values, st.count)
                else:
                    st = self._advance(spec, now)
                    assert spec.histogram is not None
                    bounds = [*(le_label(b) for b in spec.histogram.buckets), "+Inf"]
                    fam = families.setdefault(spec.metric, HistogramMetricFamily(spec.metric, spec.metric,
                                                                                 labels=names))
                    fam.add_metric(values, list(zip(bounds, st.buckets, strict=True)), st.total)
        yield from families.values()


class LiveExporter:
    """Serves a scenario's series at the current time on ``http://127.0.0.1:<port>/metrics``."""

    def __init__(self, scenario: Scenario, seed: int, t_end: float) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_ScenarioCollector(SeriesModel(scenario, seed, t_end)))
        self.port = 0
        self._server: Any = None
        self._thread: Thread | None = None

    @property
    def target(self) -> str:
        """``host:port`` for a Prometheus scrape config."""
        return f"127.0.0.1:{self.port}"

    def start(self, port: int | None = None) -> LiveExporter:
        """Start serving in a daemon thread."""
        from prometheus_client import start_http_server

        self.port = port or free_port()
        self._server, self._thread = start_http_server(self.port, addr="127.0.0.1", registry=self.registry)
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
