"""`augur eval`: the deterministic suite, end to end, against a floor that only goes up.

Every scenario runs through a real Prometheus and the real investigation with the tools the
toolbox builds (no LLM). The floors are what the suite achieved when they were last raised:
raise them when the agent improves (a ratchet); never lower them to make a change pass.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from augur.evals.runner import run_suite
from augur.evals.scenario import list_scenarios

#: Ratchet: the suite's figures when last raised (see the README's eval table).
FLOOR = {"ac1": 0.93, "ac3": 1.0, "fault_type_accuracy": 0.57, "chain_accuracy": 0.85}


@pytest.mark.slow
def test_suite_meets_the_floor(tmp_path: Path) -> None:
    result = asyncio.run(run_suite(list_scenarios(), workdir=tmp_path))
    summary = result.summary
    assert summary["scenarios"] >= 15
    failures = [f"{c.name}: {c.error}" for c in result.cases if c.error]
    assert not failures, failures
    for key, floor in FLOOR.items():
        assert summary[key] >= floor, f"{key} {summary[key]} fell below the floor {floor}: {summary}"


@pytest.mark.slow
def test_cli_json_is_deterministic(tmp_path: Path) -> None:
    def run() -> dict[str, object]:
        out = subprocess.run(
            [sys.executable, "-m", "augur.server.cli", "eval", "--json", "-s", "feature-drift-click-duration",
             "-s", "holiday-traffic-surge"],
            capture_output=True, text=True, timeout=240, check=True,
        )
        return json.loads(out.stdout)  # type: ignore[no-any-return]

    first, second = run(), run()
    assert set(first["summary"]) >= {"scenarios", "ac1", "ac3", "fault_type_accuracy", "chain_accuracy",
                                     "median_seconds"}
    cases = first["cases"]
    assert [c["name"] for c in cases] == ["feature-drift-click-duration", "holiday-traffic-surge"]
    assert cases[0]["truth"]["root_cause"] == "feature-pipeline"
    strip = ("seconds", "extra")
    assert [{k: v for k, v in c.items() if k not in strip} for c in cases] == [
        {k: v for k, v in c.items() if k not in strip} for c in second["cases"]]


def test_unknown_scenario_is_a_usage_error() -> None:
    out = subprocess.run([sys.executable, "-m", "augur.server.cli", "eval", "-s", "nope"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "no scenario 'nope'" in out.stderr and "feature-drift-click-duration" in out.stderr
