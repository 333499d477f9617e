"""RCAEval's BARO and N-Sigma run, unmodified, on a scenario's data served by a real Prometheus."""

from __future__ import annotations

from pathlib import Path

import pytest

from augur.agent.catalog import load_catalog
from augur.evals.generator import default_t_end, generate
from augur.evals.scenario import load_scenario
from augur.evals.servers import PrometheusServer

pytest.importorskip("RCAEval", reason="the `baselines` extra is not installed")


@pytest.mark.slow
def test_baro_and_nsigma_rank_the_story_components(tmp_path: Path) -> None:
    from augur.evals.baseline import metrics_table, run_baselines

    story = load_scenario("feature-drift-click-duration")
    t_end = default_t_end(story.history.step_seconds)
    gen = generate(story, tmp_path / "data", t_end=t_end)
    catalog = load_catalog(gen.catalog)
    with PrometheusServer.start(tmp_path / "prom", openmetrics=gen.openmetrics) as prom:
        table = metrics_table(prom.url, catalog, gen.t_start, t_end, 30)
        ranked = run_baselines(prom.url, catalog, start=gen.t_start, end=t_end, step=30,
                               inject_time=gen.onsets["click-duration-drift"])
    metric_signals = [f"{c.name}.{s.name}" for c in catalog.components for s in c.signals
                      if s.kind == "metric"]
    assert set(metric_signals) <= set(table.columns)
    assert table["time"].is_monotonic_increasing and len(table) >= 700
    for method in ("baro", "nsigma"):
        # Each ranks components that changed after the injection; the constant XID series is dropped.
        assert ranked[method], method
        assert set(ranked[method]) <= {c.name for c in catalog.components}
        assert "feature-pipeline" in ranked[method][:4]
