"""The rule packs: promtool accepts them, their unit tests pass, every alert is tested both ways,
and the inhibition rules hold on a real Alertmanager."""

from __future__ import annotations

import re
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from augur.evals.servers import AlertmanagerServer, require_binary

PACKS = Path(__file__).resolve().parents[2] / "rules" / "packs"
RULE_FILES = sorted(PACKS.glob("*.yml"))
RULE_FILES = [p for p in RULE_FILES if p.name != "alertmanager-inhibit.yml"]
TEST_FILES = sorted((PACKS / "tests").glob("*_test.yml"))


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)


def test_packs_exist_for_every_layer() -> None:
    assert {p.stem for p in RULE_FILES} >= {"resources", "serving", "model", "business", "slo"}
    assert TEST_FILES, "no promtool unit tests found"


@pytest.mark.parametrize("rule_file", RULE_FILES, ids=lambda p: p.name)
def test_promtool_check_rules(rule_file: Path) -> None:
    result = _run(require_binary("promtool"), "check", "rules", "--lint-fatal", str(rule_file))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("test_file", TEST_FILES, ids=lambda p: p.name)
def test_promtool_test_rules(test_file: Path) -> None:
    result = _run(require_binary("promtool"), "test", "rules", str(test_file))
    assert result.returncode == 0, result.stdout + result.stderr


def _alerts_in_packs() -> set[str]:
    names: set[str] = set()
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            names.update(r["alert"] for r in group["rules"] if "alert" in r)
    return names


def test_every_alert_has_a_firing_and_a_quiet_unit_test() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for path in TEST_FILES:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    alerts = _alerts_in_packs()
    assert len(alerts) >= 20
    assert not alerts - firing, f"alerts without a firing test: {sorted(alerts - firing)}"
    assert not alerts - quiet, f"alerts without a quiet test: {sorted(alerts - quiet)}"


def _alertmanager_config() -> dict[str, Any]:
    inhibit = yaml.safe_load((PACKS / "alertmanager-inhibit.yml").read_text())
    return {
        "route": {"receiver": "null", "group_wait": "1s"},
        "receivers": [{"name": "null"}],
        "inhibit_rules": inhibit["inhibit_rules"],
    }


def test_inhibit_rules_pass_amtool_check_config(tmp_path: Path) -> None:
    config = tmp_path / "alertmanager.yml"
    config.write_text(yaml.safe_dump(_alertmanager_config()))
    result = _run(require_binary("amtool"), "check-config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    assert " 4 inhibit rules" in result.stdout


def test_inhibit_rule_names_are_alerts_in_the_packs() -> None:
    """A renamed alert must not silently break an inhibition."""
    alerts = _alerts_in_packs()
    text = (PACKS / "alertmanager-inhibit.yml").read_text()


    for rule in yaml.safe_load(text)["inhibit_rules"]:
        for matcher in rule["source_matchers"] + rule["target_matchers"]:
            pattern = re.search(r'alertname=~?"([^"]+)"', matcher)
            assert pattern is not None, matcher
            for name in pattern.group(1).split("|"):
                if "*" not in name:
                    assert name in alerts, f"{name} in {matcher} is not an alert in the packs"


@pytest.mark.slow
def test_gpu_oom_inhibits_serving_latency_on_a_real_alertmanager(tmp_path: Path) -> None:
    with AlertmanagerServer.start(_alertmanager_config(), tmp_path / "am") as am:
        now = datetime.now(UTC)
        ends = (now + timedelta(hours=1)).isoformat()

        def alert(name: str, **labels: str) -> dict[str, Any]:
            return {"labels": {"alertname": name, **labels}, "startsAt": now.isoformat(), "endsAt": ends}

        httpx.post(f"{am.url}/api/v2/alerts", json=[
            alert("GPUMemoryExhausted", namespace="ml", gpu="0", hostname="gpu-a"),
            alert("ServingLatencyP99High", namespace="ml", service="ranker", model_version="v7"),
            alert("ServingLatencyP99High", namespace="search", service="bm25", model_version="v2"),
        ], timeout=5).raise_for_status()
        deadline = time.monotonic() + 10
        states: dict[str, str] = {}
        while time.monotonic() < deadline:
            got = httpx.get(f"{am.url}/api/v2/alerts", timeout=5).json()
            states = {
                f"{a['labels']['alertname']}/{a['labels']['namespace']}": a["status"]["state"] for a in got
            }
            if states.get("ServingLatencyP99High/ml") == "suppressed":
                break
            time.sleep(0.2)
        assert states == {
            "GPUMemoryExhausted/ml": "active",
            "ServingLatencyP99High/ml": "suppressed",  # caused by the OOM in its namespace
            "ServingLatencyP99High/search": "active",  # another namespace: still pages
        }
