"""model_registry against a real ``mlflow server`` (SQLite backend) filled by the official client.

The fixture (tests/fixtures/mlflow.py) registers ``ranker`` v1 and v2 (v2 deployed two hours ago,
``champion -> 2``), a stage-based ``ranker-legacy`` and an empty model.
"""

from __future__ import annotations

import asyncio
from typing import Any

from augur.evals.servers import free_port
from augur.server.settings import Settings
from augur.server.toolbox import build_registry
from augur.tools.evidence import Evidence
from augur.tools.model_registry import ModelRegistryTool, set_alias
from augur.tools.timeparse import parse_time
from tests.fixtures.mlflow import MlflowRegistry


def _ask(url: str, **args: Any) -> Evidence:
    return asyncio.run(ModelRegistryTool.mlflow(None, url).run(args))


def test_live_version_its_change_time_metrics_against_the_previous_and_the_loss_curve(
    mlflow_registry: MlflowRegistry,
) -> None:
    ev = _ask(mlflow_registry.url, model="ranker", since=mlflow_registry.deployed_at - 3600)
    assert ev.status == "ok", ev.reason
    data = ev.data
    assert data["live"]["version"] == "2" and data["live"]["selected_by"] == "alias champion"
    assert data["live"]["run_id"] == mlflow_registry.runs["ranker"][1]
    assert data["previous"]["version"] == "1" and data["previous"]["aliases"] == ["challenger"]
    assert parse_time(data["changed_at"]) == mlflow_registry.deployed_at
    assert data["changed_at_source"] == "deployed_at tag" and data["changed_since"] is True
    rows = {m["key"]: m for m in data["metrics"]}
    assert rows["accuracy"] == {"key": "accuracy", "kind": "quality", "live": 0.785, "previous": 0.8,
                                "delta": -0.015}
    assert rows["latency_p99_ms"]["kind"] == "latency" and rows["latency_p99_ms"]["delta"] == 77.0
    assert rows["feature_importance.user_segment"]["kind"] == "feature_importance"
    assert rows["feature_importance.user_segment"]["live"] == 0.33
    assert set(data["curves"]) == {"loss", "grad_norm"}
    loss = data["curves"]["loss"]
    assert loss["count"] == 30 and loss["first"] == 0.9 and loss["last"] < 0.31
    assert loss["points"][0] == [0.0, 0.9] and loss["points"][-1][0] == 29.0
    assert "version 2 is live (alias champion)" in ev.summary
    assert "offline accuracy 0.8 -> 0.785" in ev.summary and ev.source_url.endswith("/#/models/ranker")
    # Asked about a window that began after the deployment: not a change inside it.
    later = _ask(mlflow_registry.url, model="ranker", since=mlflow_registry.deployed_at + 60)
    assert later.data["changed_since"] is False and "inside the window" not in later.summary


def test_an_asked_alias_and_an_older_registry_with_stages(mlflow_registry: MlflowRegistry) -> None:
    challenger = _ask(mlflow_registry.url, model="ranker", alias="challenger", curves=["loss"])
    assert challenger.data["live"]["version"] == "1" and challenger.data["previous"] is None
    assert set(challenger.data["curves"]) == {"loss"}
    legacy = _ask(mlflow_registry.url, model="ranker-legacy")
    # The newer version 2 is only in Staging: the live one is the Production version.
    assert legacy.data["live"]["version"] == "1" and legacy.data["live"]["selected_by"] == "stage Production"
    assert legacy.data["live"]["stage"] == "Production"
    assert legacy.data["changed_at_source"] == "version creation"
    missing_alias = _ask(mlflow_registry.url, model="ranker", alias="shadow")
    assert missing_alias.status == "empty" and "challenger, champion" in missing_alias.summary


def test_unknown_model_empty_model_and_a_down_server_are_data(mlflow_registry: MlflowRegistry) -> None:
    unknown = _ask(mlflow_registry.url, model="rankr")
    assert unknown.status == "empty" and "ranker" in unknown.data["models"]
    assert "no registered model 'rankr'" in unknown.summary
    empty = _ask(mlflow_registry.url, model="no-versions-yet")
    assert empty.status == "empty" and "has no versions" in empty.summary
    down = _ask(f"http://127.0.0.1:{free_port()}", model="ranker")
    assert down.status == "unavailable" and down.retryable and "mlflow server" in (down.reason or "")


def test_the_toolbox_builds_it_from_settings_and_set_alias_moves_an_alias(
    mlflow_registry: MlflowRegistry, tmp_path: Any,
) -> None:
    unset = build_registry(Settings(data_dir=tmp_path)).get("model_registry")
    out = asyncio.run(unset.run({"model": "ranker"}))
    assert out.status == "unavailable" and "AUGUR_MLFLOW_URL" in (out.reason or "")
    tool = build_registry(Settings(data_dir=tmp_path, mlflow_url=mlflow_registry.url)).get("model_registry")
    assert asyncio.run(tool.run({"model": "ranker-rollback"})).data["live"]["version"] == "2"
    asyncio.run(set_alias(mlflow_registry.url, "ranker-rollback", "champion", "1"))
    after = asyncio.run(tool.run({"model": "ranker-rollback"}))
    assert after.data["live"]["version"] == "1" and after.data["aliases"] == {"champion": "1"}
