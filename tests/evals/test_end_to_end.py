"""End to end, as the demo does it but without a terminal.

A real Prometheus (backfilled history + a live exporter) evaluates the story's alerting rule,
a real Alertmanager delivers it to a real ``augur serve`` (webhook → store → queue → in-process
worker → investigation), and the report read back through augur's HTTP API names the cause.
Then the CLI, pointed at the demo's data by the one line the demo prints
(``AUGUR_CONFIG_FILE``), answers ``ask``, lists the proposals and prints the postmortem, and every
figure of the chain reads the same in the report, the postmortem and the answer.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from augur.agent.numbers import signal_label
from augur.evals.demo import (
    DemoStack,
    ReportWait,
    start_stack,
    story_scenario,
    wait_for_report,
    write_alert_file,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DemoStack, ReportWait]]:
    tmp_path = tmp_path_factory.mktemp("e2e")
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
        yield stack, done
    finally:
        pids = stack.pids()
        stack.stop()
    for name, pid in pids.items():
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text(), name


def test_real_rule_to_report_naming_the_cause(demo: tuple[DemoStack, ReportWait]) -> None:
    stack, done = demo
    story = story_scenario()
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


def _cli(stack: DemoStack, *args: str) -> subprocess.CompletedProcess[str]:
    """``augur ARGS`` as a newcomer runs it after the demo: only the line the demo prints is set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUGUR_")}
    env["AUGUR_CONFIG_FILE"] = str(stack.config_file)
    return subprocess.run([sys.executable, "-m", "augur.server.cli", *args], capture_output=True, text=True,
                          env=env, timeout=120, check=False)


def test_the_cli_on_the_demo_data_and_one_figure_per_fact(demo: tuple[DemoStack, ReportWait]) -> None:
    stack, done = demo
    report = done.report
    cause = report["chain"][0]
    # "What happened" starts with the root cause sentence (it is never struck by grounding).
    what = done.markdown.split("## What happened\n\n", 1)[1]
    first = what.splitlines()[0]
    assert first.startswith(f"{signal_label(cause['signal'])} changed first ({cause['change']}"), first
    assert "removed by the grounding check" not in done.markdown

    answer = _cli(stack, "ask", "why did ranker-serving alert?")
    assert answer.returncode == 0, answer.stdout + answer.stderr
    assert "feature-pipeline" in answer.stdout and f"#{done.incident_id}" in answer.stdout
    bullets = [line for line in answer.stdout.splitlines() if line.startswith("• ")]
    lead = f"• {signal_label(cause['signal'])} changed first"
    assert bullets and bullets[0].startswith(lead), answer.stdout

    served = httpx.get(f"{stack.augur_url}/v1/incidents/{done.incident_id}/postmortem.md", timeout=60)
    assert served.status_code == 200
    printed = _cli(stack, "postmortem", str(done.incident_id))
    assert printed.returncode == 0, printed.stderr
    pm_json = _cli(stack, "postmortem", str(done.incident_id), "--format", "json")
    pm = json.loads(pm_json.stdout)
    assert pm["impact"] and pm["facts"]["severity"] == "page"

    proposals = _cli(stack, "rules", "review", "--state", "all")
    assert proposals.returncode == 0, proposals.stderr

    # Every figure of the chain reads the same wherever it appears.
    places = {"report": done.markdown, "postmortem": printed.stdout, "served postmortem": served.text,
              "answer": answer.stdout}
    for link in report["chain"]:
        label = re.escape(signal_label(link["signal"]))
        pattern = re.compile(label + r"`?\W{1,4}(?:[^\n|(]{0,30}\()?"
                             r"(PSI [\d.]+|[−+-][\d.]+ pts|×[\d.]+|[−+-]\d+ %)")
        seen = {name: set(pattern.findall(text)) for name, text in places.items()}
        assert all(found <= {link["change"]} for found in seen.values()), (link["signal"], seen)
        assert sum(bool(found) for found in seen.values()) >= 3, (link["signal"], seen)
    ctr = next(row for row in pm["impact"] if row["signal"] == "ctr.ctr")
    link = next(c for c in report["chain"] if c["signal"] == "ctr.ctr")
    assert ctr["change"] == link["change"] and ctr["before"] == link["before"]

    # The demo's alert, written for `augur investigate`, reproduces the verdict.
    alert_file = write_alert_file(stack.workdir / "alert.json", done.incident)  # as the demo does
    rerun = _cli(stack, "investigate", str(alert_file), "--json", "-q")
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads(rerun.stdout)["root_cause"]["component"] == "feature-pipeline"
