"""build_registry: every tool from settings; unconfigured backends still listed, answering unavailable."""

from __future__ import annotations

import asyncio
from pathlib import Path

from augur.server.settings import Settings
from augur.server.toolbox import build_registry
from augur.tools.evidence import EvidenceStatus
from augur.tools.prometheus import PromQLTool
from augur.tools.toolbox import not_configured
from tests.fixtures.prometheus import PromHistory

PROMETHEUS_TOOLS = {"promql", "promql_range", "prom_series", "prom_rules", "prom_alerts", "prom_cardinality"}


def test_unconfigured_prometheus_tools_keep_their_schema_and_say_what_to_set(tmp_path: Path) -> None:
    registry = build_registry(Settings(data_dir=tmp_path))
    assert set(registry.names()) >= PROMETHEUS_TOOLS
    real = {s["function"]["name"]: s for s in build_registry(
        Settings(data_dir=tmp_path, prometheus_url="http://127.0.0.1:9")).schemas()}
    for schema in registry.schemas():
        if schema["function"]["name"] in PROMETHEUS_TOOLS:
            assert schema == real[schema["function"]["name"]]  # the LLM sees the same tool either way
    ev = asyncio.run(registry.call("promql", {"query": "up"}))
    assert ev.status is EvidenceStatus.UNAVAILABLE and "AUGUR_PROMETHEUS_URL" in (ev.reason or "")
    # arguments are still validated first
    assert asyncio.run(registry.call("promql", {})).status is EvidenceStatus.ERROR


def test_configured_prometheus_tools_answer(prom_history: PromHistory, tmp_path: Path) -> None:
    registry = build_registry(Settings(data_dir=tmp_path, prometheus_url=prom_history.url))
    ev = asyncio.run(registry.call("prom_series", {"search": "drift", "start": prom_history.t_end - 3600}))
    assert ev.status is EvidenceStatus.OK and ev.data["metrics"] == ["model_drift_score"]


def test_not_configured_stand_in_mirrors_the_tool() -> None:
    stand_in = not_configured(PromQLTool, "set X")
    assert (stand_in.name, stand_in.description, stand_in.Args) == (
        PromQLTool.name, PromQLTool.description, PromQLTool.Args)
    ev = asyncio.run(stand_in.run({"query": "up"}))
    assert ev.status is EvidenceStatus.UNAVAILABLE and ev.reason == "set X"
