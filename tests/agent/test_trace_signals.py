"""A catalog trace signal: the SOP calls trace_search in the alert's own step, and the slower hop
corroborates the component that serves it.

Prometheus is the real fixture server; Jaeger is the scripted loopback query service of
``tests/fixtures/jaeger.py`` (no Jaeger server installs here), answering in the documented shapes
of Jaeger's HTTP API. Its traces follow the fixture platform: ``ranker-serving`` calls a feature
cache (steady 20 ms) and ``ranker-model`` ``predict``, which slows from 30 to 300 ms at the
fixture's latency onset.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from augur.agent.catalog import Catalog, parse_catalog
from augur.agent.investigation import investigate
from augur.agent.report import Report
from augur.agent.sop import SopPlanner
from augur.agent.state import InvestigationState
from augur.server.settings import Settings
from augur.server.toolbox import build_registry
from tests.agent.investigation_support import PLATFORM, latency_alert
from tests.fixtures.jaeger import ScriptedJaeger, request_trace
from tests.fixtures.loopback import serving
from tests.fixtures.prometheus import PromHistory


def _traced_catalog() -> Catalog:
    text = PLATFORM.read_text()
    anchor = "        log_query: ranker\n"
    assert text.count(anchor) == 1
    return parse_catalog(text.replace(anchor, anchor + "      - name: trace\n        kind: trace\n"))


@pytest.fixture
def jaeger(prom_history: PromHistory) -> Iterator[ScriptedJaeger]:
    slow_from = prom_history.onsets["http_request_duration_seconds"]
    traces = [
        request_trace(
            f"r{i:04d}",
            t,
            20.0,
            300.0 if t >= slow_from else 30.0,
            services=("ranker-serving", "feature-cache", "ranker-model"),
        )
        for i, t in enumerate(range(int(prom_history.t_end - 5 * 3600), int(prom_history.t_end), 60))
    ]
    with serving(ScriptedJaeger(traces)) as server:
        yield server


def _investigate(prom_history: PromHistory, tmp_path: Path, jaeger_url: str | None) -> Report:
    registry = build_registry(
        Settings(prometheus_url=prom_history.url, data_dir=tmp_path, jaeger_url=jaeger_url)
    )
    alert = latency_alert(prom_history.t_end - 5 * 60, prom_history.url)
    return asyncio.run(
        investigate(alert, registry=registry, catalog=_traced_catalog(), now=prom_history.t_end)
    )


def test_the_alerts_own_step_searches_the_components_traces() -> None:
    window = {"start": 1000.0, "end": 9000.0, "alert_at": 8000.0, "step": 60.0}
    state = InvestigationState(focus="ranker-serving", window=window, alert={"name": "RankerP99High"})  # type: ignore[typeddict-item]
    first = SopPlanner(_traced_catalog()).stages(state)[0]
    traces = [c for c in first if c["tool"] == "trace_search"]
    assert len(traces) == 1 and traces[0]["signal"] == "ranker-serving.trace"
    assert traces[0]["args"] == {
        "service": "ranker-serving",
        "start": 1000.0,
        "end": 9000.0,
        "baseline_end": 4500.0,
    }


def test_the_slower_hop_corroborates_the_model(
    prom_history: PromHistory, tmp_path: Path, jaeger: ScriptedJaeger
) -> None:
    report = _investigate(prom_history, tmp_path, jaeger.url)
    traces = [row for row in report.evidence if row.tool == "trace_search"]
    assert [row.status for row in traces] == ["ok"]
    assert "ranker-model predict self p90 30 ms → 300 ms (×10.0)" in traces[0].summary
    assert [q["service"] for path, q in jaeger.requests if path == "/api/traces"] == ["ranker-serving"] * 2
    model = next(c for c in report.candidates if c.component == "ranker-model")
    assert "its traces show a slower hop: ranker-model predict self p90 30 ms → 300 ms" in model.reasons
    assert report.root_cause.component == "feature-pipeline"  # the hop is a symptom of the drift
    assert not any("which hop" in q for q in report.open_questions)


def test_without_jaeger_the_hop_stays_an_open_question(prom_history: PromHistory, tmp_path: Path) -> None:
    report = _investigate(prom_history, tmp_path, None)
    assert [row.status for row in report.evidence if row.tool == "trace_search"] == ["unavailable"]
    assert any(q.startswith("which hop of ranker-serving is slow") for q in report.open_questions)
    assert any("ranker-serving.trace" in q and "AUGUR_JAEGER_URL" in q for q in report.open_questions)
    assert report.root_cause.component == "feature-pipeline"
