"""The model-version scenario end to end: a new version registered in a real MLflow server
(tests/fixtures/mlflow.py's server, filled with the scenario's registry by the official client)
went live 95 minutes before the accuracy alert.

The report must name the version change as the root cause with the registry's evidence; with
the registry unreachable, the same telemetry only shows a model whose accuracy fell (the
control: the verdict rests on the registry evidence, not on the scenario's metrics).
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest

from augur.evals.runner import default_registry, run_case
from augur.evals.scenario import SCENARIO_DIR, load_scenario
from augur.evals.servers import free_port
from tests.fixtures.mlflow import MlflowRegistry

SCENARIO = SCENARIO_DIR / "model-version-registry-rollout.yaml"


@pytest.mark.slow
def test_the_report_names_the_new_model_version_with_the_registry_evidence(
    mlflow_registry: MlflowRegistry, tmp_path: Path,
) -> None:
    scenario = load_scenario(SCENARIO)
    reports: list[Any] = []
    case = asyncio.run(run_case(scenario, tmp_path / "case", mlflow_url=mlflow_registry.url,
                                on_report=reports.append))
    assert case.error is None and case.ac1 and case.fault_type == "bad_model_version", case.as_dict()
    report = reports[0]
    top = report.candidates[0]
    assert top.component == "feed-ranker" and top.signal == "feed-ranker.model_version"
    assert report.chain[0].signal == "feed-ranker.model_version" and report.chain[0].change == "v1 → v2"
    registry_rows = [e for e in report.evidence if e.tool == "model_registry"]
    assert len(registry_rows) == 1 and registry_rows[0].status == "ok"
    assert registry_rows[0].id in top.evidence_ids and registry_rows[0].id in report.chain[0].evidence_ids
    assert "version 2 is live (alias champion)" in registry_rows[0].summary
    why = " | ".join(top.reasons)
    assert "home-ranker v2 went live at" in why and "alias champion, after v1" in why
    # Train/serve alignment: the registry's offline accuracy next to the live accuracy signal.
    assert re.search(r"accuracy: offline 0\.81 \(v1\) → 0\.805 \(v2, live\); "
                     r"live signal feed-ranker\.accuracy 0\.(79|80)\d* → 0\.7[0-3]\d*", why), why
    assert any("Roll back `model_version` to the previous version" in f.action for f in report.fixes)
    assert report.narrative[0].text.startswith("feed-ranker.model_version changed first (v1 → v2 from ")

    def unreachable_registry(prometheus_url: str, log_db: Path, mlflow_url: str | None = None) -> Any:
        return default_registry(prometheus_url, log_db, mlflow_url=f"http://127.0.0.1:{free_port()}")

    reports.clear()
    control = asyncio.run(run_case(scenario, tmp_path / "control", mlflow_url=mlflow_registry.url,
                                   registry_factory=unreachable_registry, on_report=reports.append))
    assert control.fault_type != "bad_model_version" and not control.fault_type_ok
    assert [u.tool for u in reports[0].unexamined] == ["model_registry"]
