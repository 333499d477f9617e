"""Alertmanager matchers built from hostile alert names match only those names, checked by Debian's
``amtool`` (``config routes test``: which route an alert with these labels takes).

An alert named ``RankerLatency.*|.*`` put into ``alertname=~"..."`` unquoted matched every alert;
approved, the inhibit rule would have muted the whole service.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from augur.rules.incident import SymptomAlert
from augur.rules.matchers import any_of, equal
from augur.rules.proposal import ProposalKind
from augur.rules.propose import propose
from augur.tools.prometheus_api import PrometheusClient
from tests.fixtures.prometheus import PromHistory
from tests.rules.test_propose import _findings

pytestmark = pytest.mark.skipif(shutil.which("amtool") is None, reason="amtool not installed: run make setup")

HOSTILE = ["RankerLatency.*|.*", "a+b", "x(y)", "[abc]", "^start$", "back\\slash", 'quo"te', "dot.", "{1,2}"]


def _routes_to(tmp_path: Path, matchers: list[str], labels: dict[str, str]) -> str:
    """The receiver amtool routes an alert with ``labels`` to: ``hit`` when ``matchers`` match."""
    config = tmp_path / "alertmanager.yml"
    config.write_text(yaml.safe_dump({
        "route": {"receiver": "default", "routes": [{"receiver": "hit", "matchers": matchers}]},
        "receivers": [{"name": "default"}, {"name": "hit"}],
    }))
    args = [equal(k, v) for k, v in labels.items()]  # the CLI parses each as a matcher too
    out = subprocess.run(["amtool", "config", "routes", "test", f"--config.file={config}", *args],
                         capture_output=True, text=True, timeout=30, check=True)
    return out.stdout.strip()


def test_quoted_names_match_only_themselves(tmp_path: Path) -> None:
    matcher = any_of("alertname", HOSTILE)
    for name in HOSTILE:
        assert _routes_to(tmp_path, [matcher], {"alertname": name}) == "hit", name
    for other in ["Other", "RankerLatencyX", "aab", "xy", "a", "start", "backslash", "dotX", "quote"]:
        assert _routes_to(tmp_path, [matcher], {"alertname": other}) == "default", other
    # An equality matcher holds any value, quotes and backslashes included.
    assert _routes_to(tmp_path, [equal("service", 'ran"ker\\x')], {"service": 'ran"ker\\x'}) == "hit"
    assert _routes_to(tmp_path, [equal("service", 'ran"ker\\x')], {"service": "ranker"}) == "default"


def test_an_inhibition_for_a_hostile_alert_name_mutes_only_that_alert(
        prom_history: PromHistory, tmp_path: Path) -> None:
    findings = _findings(prom_history)
    findings.symptoms = [SymptomAlert(alertname="RankerLatency.*|.*", labels={"service": "ranker-serving"},
                                      layer="service"),
                         SymptomAlert(alertname="CTRDropped", layer="business")]
    with PrometheusClient(prom_history.url) as prom:
        result = propose(findings, prom, now=prom_history.t_end + 60)
    inhibition = next(p for p in result.proposals if p.kind is ProposalKind.INHIBITION)
    assert inhibition.validation.ok, inhibition.validation.output  # amtool check-config accepts it
    targets = inhibition.rule["target_matchers"]
    assert 'alertname=~"RankerLatency\\\\.\\\\*\\\\|\\\\.\\\\*"' in targets
    scope = {"service": "ranker-serving"}
    assert _routes_to(tmp_path, targets, {"alertname": "RankerLatency.*|.*", **scope}) == "hit"
    for other in ("ServingLatencyP99High", "GPUDown", "RankerLatency"):
        assert _routes_to(tmp_path, targets, {"alertname": other, **scope}) == "default", other
