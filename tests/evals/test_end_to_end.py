"""End to end, as the demo does it but without a terminal.

A real Prometheus (backfilled history + a live exporter) evaluates the story's alerting rule,
a real Alertmanager delivers it to a real ``augur serve`` (webhook → store → queue → in-process
worker → investigation), and the report read back through augur's HTTP API names the cause.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import httpx
import pytest

from augur.evals.demo import start_stack, story_scenario, wait_for_report


@pytest.mark.slow
def test_real_rule_to_report_naming_the_cause(tmp_path: Path) -> None:
    story = story_scenario()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUGUR_LLM")}
    stack = start_stack(tmp_path / "demo", scenario=story, env=env,
                        augur_argv=[sys.executable, "-m", "augur.server.cli", "serve"])
    try:
        try:
            done = wait_for_report(stack.augur_url, alertname=story.alert, timeout_s=110)
        except TimeoutError as exc:
            prom_alerts = httpx.get(f"{stack.prometheus.url}/api/v1/alerts", timeout=10).json()
            am_alerts = httpx.get(f"{stack.alertmanager.url}/api/v2/alerts", timeout=10).json()
            incidents = httpx.get(f"{stack.augur_url}/v1/incidents", timeout=10).json()
            log = (tmp_path / "demo" / "augur.log").read_text()[-3000:]
            raise AssertionError(f"{exc}\nprometheus: {prom_alerts}\nalertmanager: {am_alerts}\n"
                                 f"incidents: {incidents}\naugur log:\n{log}") from None
        # The alert came from the real rule through the real Alertmanager.
        (episode,) = [e for e in done.incident["episodes"] if e["labels"]["alertname"] == story.alert]
        assert episode["generator_url"].startswith(stack.prometheus.url)
        assert episode["labels"]["service"] == "ranker-serving"
        am_alerts = httpx.get(f"{stack.alertmanager.url}/api/v2/alerts", timeout=10).json()
        assert story.alert in {a["labels"]["alertname"] for a in am_alerts}
        # The report names the first link of the chain, not the loud symptom or the noisy GPU.
        report = done.report
        assert report["root_cause"]["verdict"] == "identified"
        assert report["root_cause"]["component"] == "feature-pipeline"
        chain = [link["component"] for link in report["chain"]]
        assert chain[0] == "feature-pipeline" and "ranker-serving" in chain
        assert chain.index("ranker-model") < chain.index("ranker-serving")
        assert "gpu-pool-a" not in chain
        assert report["fixes"] and "feature-pipeline" in done.markdown
    finally:
        pids = stack.pids()
        stack.stop()
    for name, pid in pids.items():
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text(), name
