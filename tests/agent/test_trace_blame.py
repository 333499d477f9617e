"""Trace evidence in the ranking: a caller whose requests wait on a slower child, while its own time
did not grow, is the child's symptom — even where the catalog does not know the edge.

Real components: the Prometheus history fixture (``ranker-serving``'s p99 rises at the fixture's
latency onset) and the embedded SQLite span store ``trace_search`` reads when no Jaeger is set,
filled with requests of ``ranker-serving`` that call ``feature-cache`` through a client span. From
the onset the call's own time (wire and queue: the client span minus the cache's server span)
grows from 5 ms to 300 ms, as a network delay on the cache's pod does; the cache's own work and
``ranker-serving``'s own work stay the same. The catalog is one a person wrote without the
``ranker-serving -> feature-cache`` edge.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from augur.agent.catalog import Catalog, parse_catalog
from augur.agent.investigation import investigate
from augur.agent.report import Report
from augur.server.settings import Settings
from augur.server.toolbox import build_registry
from augur.tools.span_store import Span, SqliteSpanStore
from tests.agent.investigation_support import latency_alert
from tests.fixtures.prometheus import PromHistory

CATALOG = """
version: 1
components:
  - name: ranker-serving
    layer: service
    match: {service: ranker-serving}
    signals:
      - name: p99_latency
        query: >-
          histogram_quantile(0.99, sum by (le)
          (rate(http_request_duration_seconds_bucket{service="ranker-serving"}[5m])))
        unit: s
        bad: up
      - name: trace
        kind: trace
  - name: feature-cache
    layer: data
    match: {service: feature-cache}
    signals:
      - name: hit_ratio
        query: feature_cache_hit_ratio
        unit: ratio
        bad: down
"""


MODEL = """
  - name: ranker-model
    layer: model
    match: {service: ranker-model}
    signals:
      - name: accuracy
        query: model_accuracy{model="ranker"}
        unit: ratio
        bad: down
"""


def _catalog(extra: str = "") -> Catalog:
    text = CATALOG
    if extra:  # ranker-serving depends on the extra component (the catalog knows that edge)
        text = text.replace(
            "    match: {service: ranker-serving}\n",
            "    match: {service: ranker-serving}\n    depends_on: [ranker-model]\n",
        )
    return parse_catalog(text + extra)


def _requests(t_start: float, t_end: float, slow_from: float) -> list[Span]:
    """One request a minute: POST /rank (2 ms own) -> client GET feature-cache -> cache get (10 ms)."""
    spans = []
    for i, t in enumerate(range(int(t_start), int(t_end), 60)):
        wire = 300_000 if t >= slow_from else 5_000
        t0, trace = t * 1_000_000, f"{i:032x}"
        cache, call = 10_000, 10_000 + wire
        spans += [
            Span(
                trace,
                f"{i:012x}0001",
                None,
                "ranker-serving",
                "POST /rank",
                t0,
                call + 2_000,
                pod="ranker-serving-5d8f7b9c4-k2x7q",
            ),
            Span(
                trace,
                f"{i:012x}0002",
                f"{i:012x}0001",
                "ranker-serving",
                "GET feature-cache",
                t0 + 1_000,
                call,
                attributes={"span.kind": "client"},
            ),
            Span(
                trace,
                f"{i:012x}0003",
                f"{i:012x}0002",
                "feature-cache",
                "get",
                t0 + 1_000 + wire // 2,
                cache,
                pod="feature-cache-6c9d8f7b5-q4w2z",
            ),
        ]
    return spans


def _investigate(prom: PromHistory, data_dir: Path, catalog: Catalog | None = None) -> Report:
    registry = build_registry(Settings(prometheus_url=prom.url, data_dir=data_dir))
    alert = latency_alert(prom.t_end - 5 * 60, prom.url)
    return asyncio.run(investigate(alert, registry=registry, catalog=catalog or _catalog(), now=prom.t_end))


@pytest.fixture
def traced(prom_history: PromHistory, tmp_path: Path) -> Path:
    spans = _requests(
        prom_history.t_end - 5 * 3600,
        prom_history.t_end,
        prom_history.onsets["http_request_duration_seconds"],
    )
    assert SqliteSpanStore(tmp_path / "traces.db").ingest(spans).stored == len(spans)
    return tmp_path


def test_the_waited_on_child_becomes_the_cause(prom_history: PromHistory, traced: Path) -> None:
    report = _investigate(prom_history, traced)
    traces = [row for row in report.evidence if row.tool == "trace_search"]
    assert [row.status for row in traces] == ["ok"]
    assert "ranker-serving waits on feature-cache" in traces[0].summary  # the row's summary is cut after it
    assert report.root_cause is not None and report.root_cause.component == "feature-cache"
    cache = report.candidates[0]
    assert "the traces of ranker-serving wait on it" in cache.reasons
    # The client span's own time is the call's: it counts for the service called.
    assert (
        "its traces show a slower hop: ranker-serving GET feature-cache self p90 5 ms → 300 ms"
        in cache.reasons
    )
    serving = next(c for c in report.candidates if c.component == "ranker-serving")
    assert "its traces wait on feature-cache and its own time did not grow" in serving.reasons
    assert serving.score < cache.score


def test_without_traces_the_alerting_service_ranks_first(prom_history: PromHistory, tmp_path: Path) -> None:
    """The control: the same alert, catalog and metrics with no span store."""
    report = _investigate(prom_history, tmp_path)
    assert [row.status for row in report.evidence if row.tool == "trace_search"] == ["unavailable"]
    assert report.candidates[0].component == "ranker-serving"  # (confidence too low to call it identified)
    assert all(c.component != "feature-cache" for c in report.candidates)


def test_a_component_whose_spans_did_not_slow_down_is_marked_down(
    prom_history: PromHistory, tmp_path: Path
) -> None:
    """ranker-model's accuracy metric changes (15 min before the latency) and ranker-serving calls it
    on every request, but its spans in the slow requests stay at 8 ms: the traces clear it, and the
    ranking goes from ranker-model (metrics alone) to feature-cache."""
    spans = _requests(
        prom_history.t_end - 5 * 3600,
        prom_history.t_end,
        prom_history.onsets["http_request_duration_seconds"],
    )
    spans += [
        Span(
            s.trace_id, s.span_id[:-4] + "0009", s.span_id, "ranker-model", "predict", s.start_us + 500, 8_000
        )
        for s in spans
        if s.operation == "POST /rank"
    ]
    SqliteSpanStore(tmp_path / "traces.db").ingest(spans)
    report = _investigate(prom_history, tmp_path, _catalog(MODEL))
    model = next(c for c in report.candidates if c.component == "ranker-model")
    assert "its spans in the slow requests did not slow down" in model.reasons
    assert report.candidates[0].component == "feature-cache"
    without = _investigate(prom_history, tmp_path / "no-traces", _catalog(MODEL))
    plain = next(c for c in without.candidates if c.component == "ranker-model")
    assert "its spans in the slow requests did not slow down" not in plain.reasons
    assert model.score < plain.score
    assert without.candidates[0].component == "ranker-model"  # the metrics alone blame the model
