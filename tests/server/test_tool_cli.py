"""`augur tool list` and `augur tool run`, run as a user runs them: the installed `augur` script in a
subprocess, against the real Prometheus fixture, a closed port, and no configuration at all."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from augur.evals.servers import free_port
from augur.server.settings import Settings
from augur.server.toolbox import build_registry
from tests.fixtures.prometheus import PromHistory

AUGUR = str(Path(sys.executable).with_name("augur"))
PROMETHEUS_TOOLS = {"promql", "promql_range", "prom_series", "prom_rules", "prom_alerts", "prom_cardinality"}


def augur(*args: str, tmp_path: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the CLI with a clean AUGUR_* environment (the user's own settings must not leak in)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AUGUR_")}
    clean.update({"AUGUR_DATA_DIR": str(tmp_path), **(env or {})})
    return subprocess.run([AUGUR, *args], capture_output=True, text=True, env=clean, timeout=60, check=False)


def evidence(result: subprocess.CompletedProcess[str], rc: int = 0) -> dict[str, Any]:
    assert result.returncode == rc, result.stderr
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


def test_list_prints_one_tool_a_line(tmp_path: Path) -> None:
    result = augur("tool", "list", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    names = {line.split()[0] for line in lines}
    assert names >= PROMETHEUS_TOOLS
    assert len(lines) == len(names)  # one line per tool
    promql = next(line for line in lines if line.split()[0] == "promql")
    assert "PromQL" in promql and promql.rstrip().endswith(".")


def test_run_promql_prints_the_agents_evidence(prom_history: PromHistory, tmp_path: Path) -> None:
    args = json.dumps({"query": 'model_drift_score{feature="click_duration"}', "time": prom_history.t_end})
    out = evidence(augur("tool", "run", "promql", "--args", args, "--prometheus-url", prom_history.url,
                         tmp_path=tmp_path))
    assert out["tool"] == "promql" and out["status"] == "ok" and out["id"].startswith("ev-")
    assert out["data"]["series"][0]["value"] > 0.3
    assert "model_drift_score" in out["summary"] and out["source_url"].startswith(prom_history.url)
    # The same call from Python gets the same evidence id: the shell reproduces what the agent saw.
    registry = build_registry(Settings(prometheus_url=prom_history.url, data_dir=tmp_path))
    import asyncio

    assert asyncio.run(registry.call("promql", json.loads(args))).id == out["id"]


def test_run_uses_the_configured_url_from_the_environment(prom_history: PromHistory, tmp_path: Path) -> None:
    out = evidence(augur("tool", "run", "prom_rules", "--args", '{"type": "record"}', tmp_path=tmp_path,
                         env={"AUGUR_PROMETHEUS_URL": prom_history.url}))
    assert out["status"] == "ok"
    assert [r["name"] for r in out["data"]["rules"]] == ["service:http_request_duration_seconds:p99_5m"]


def test_run_against_a_down_prometheus_is_unavailable_evidence(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = augur("tool", "run", "promql_range", "--args", '{"query": "up"}', "--prometheus-url", url,
                   tmp_path=tmp_path)
    out = evidence(result, rc=1)  # the evidence is printed, and the exit status says it failed
    assert out["status"] == "unavailable" and "connection refused" in out["reason"]
    assert url in out["summary"] and url in result.stderr and "Traceback" not in result.stderr


def test_run_without_prometheus_configured_says_which_setting(tmp_path: Path) -> None:
    out = evidence(augur("tool", "run", "prom_alerts", tmp_path=tmp_path), rc=1)
    assert out["status"] == "unavailable"
    assert "AUGUR_PROMETHEUS_URL" in out["reason"] and "--prometheus-url" in out["reason"]


def test_invalid_tool_arguments_are_error_evidence_not_a_crash(tmp_path: Path) -> None:
    out = evidence(augur("tool", "run", "promql", "--args", '{"limit": 5}', "--prometheus-url",
                         "http://127.0.0.1:9", tmp_path=tmp_path), rc=2)
    assert out["status"] == "error" and "query" in out["reason"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["tool", "run", "no_such_tool"], "no tool 'no_such_tool'; known tools: "),
        (["tool", "run", "promql", "--args", "{query: up}"], "--args is not valid JSON"),
        (["tool", "run", "promql", "--args", '["up"]'], "--args must be a JSON object, got list"),
    ],
)
def test_usage_errors_exit_non_zero_with_the_fix(argv: list[str], message: str, tmp_path: Path) -> None:
    result = augur(*argv, tmp_path=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr and result.stdout == ""
