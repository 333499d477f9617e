"""Acceptance: resolving an incident produces a grounded postmortem with charts that show the onsets.

A real Prometheus holds 5 generated hours of a small ML platform in which the click-duration
drift (the cause, with no alert on it) is followed by accuracy, p99 latency and CTR, and all of
them recover before the end. The incident goes through the real path: the Alertmanager webhook
opens it, a worker runs the investigation (SOP, no LLM), a reviewer approves a rule proposal,
the resolved webhook closes it and enqueues the postmortem, and a worker writes it (fetching the
chain's series from Prometheus) and posts it to Slack — the loopback recorder of
:mod:`tests.fixtures.slack_api`, since no Slack is reachable here.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from augur.agent.catalog import Catalog, parse_catalog
from augur.agent.grounding import ground, sentence_numbers
from augur.agent.numbers import fmt
from augur.agent.postmortem import Postmortem
from augur.agent.report import Report
from augur.evals.servers import PrometheusServer, Sample, write_openmetrics
from augur.rules.review import approve
from augur.server.jobs.investigations import investigation_handler
from augur.server.jobs.postmortems import postmortem_handler
from augur.server.jobs.worker import Worker
from augur.server.slack.notifier import postmortem_hook, report_hook
from augur.server.store.database import Store
from augur.server.store.proposals import SqlProposalStore
from augur.server.web.app import create_app
from tests.agent.investigation_support import registry_for
from tests.fixtures.slack_api import SlackRecorder, slack_api
from tests.rules.samples import drift_proposal
from tests.server.conftest import ADMIN_TOKEN, settings_for

__all__ = ["slack_api"]

pytestmark = pytest.mark.slow
STEP_S = 30
CATALOG = """
version: 1
components:
  - {name: feature-pipeline, layer: data, match: {feature: click_duration}, signals: [{name: psi, kind: drift,
      unit: psi, bad: up, query: 'pm_drift_psi{feature="click_duration"}'}]}
  - {name: ranker-model, layer: model, depends_on: [feature-pipeline], match: {model: ranker},
      signals: [{name: accuracy, unit: ratio, bad: down, query: 'pm_accuracy{model="ranker"}'}]}
  - {name: gpu-pool, layer: resource, signals: [{name: util, unit: percent, query: 'pm_gpu_util'}]}
  - {name: ranker-serving, layer: service, depends_on: [ranker-model, gpu-pool],
      match: {service: ranker-serving}, signals: [{name: p99, unit: s, bad: up, query: 'pm_p99_seconds'}]}
  - {name: ctr, layer: business, depends_on: [ranker-serving], match: {surface: home},
      signals: [{name: ctr, unit: ratio, bad: down, query: 'pm_ctr{surface="home"}'}]}
"""
# signal: (metric, labels, normal, incident level, noise, onset and recovery in minutes before the end)
SIGNALS: dict[str, tuple[str, dict[str, str], float, float, float, int, int]] = {
    "drift": ("pm_drift_psi", {"feature": "click_duration"}, 0.05, 0.45, 0.01, 110, 20),
    "accuracy": ("pm_accuracy", {"model": "ranker"}, 0.80, 0.74, 0.003, 95, 18),
    "p99": ("pm_p99_seconds", {}, 0.20, 0.90, 0.01, 80, 16),
    "ctr": ("pm_ctr", {"surface": "home"}, 0.080, 0.056, 0.001, 65, 14),
}


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PrometheusServer, float, Catalog]]:
    """Prometheus with the generated incident (it recovers 14-20 minutes before ``t_end``)."""
    rng = random.Random(11)
    t_end = float(int(datetime.now(UTC).timestamp()) // STEP_S * STEP_S - 60)
    samples = []
    for i in range(5 * 3600 // STEP_S + 1):
        t = t_end - 5 * 3600 + i * STEP_S
        for metric, labels, normal, level, noise, onset, recovery in SIGNALS.values():
            during = t_end - onset * 60 <= t < t_end - recovery * 60
            samples.append(Sample(metric, labels, (level if during else normal) + rng.gauss(0, noise), t))
        samples.append(Sample("pm_gpu_util", {}, 60 + rng.gauss(0, 5), t))
    workdir = tmp_path_factory.mktemp("postmortem-prom")
    write_openmetrics(samples, workdir / "history.om")
    with PrometheusServer.start(workdir / "server", openmetrics=workdir / "history.om") as server:
        yield server, t_end, parse_catalog(CATALOG)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def _webhook(status: str, starts: float, ends: float | None = None) -> dict[str, Any]:
    alert = {
        "status": status,
        "labels": {"alertname": "RankerP99High", "service": "ranker-serving", "severity": "page"},
        "annotations": {"summary": "ranker p99 above 500 ms"},
        "startsAt": _iso(starts),
        "endsAt": _iso(ends) if ends else "0001-01-01T00:00:00Z",
        "generatorURL": "",
        "fingerprint": "c0ffee0000000001",
    }
    return {
        "version": "4",
        "status": status,
        "receiver": "augur",
        "groupKey": '{}:{alertname="RankerP99High"}',
        "alerts": [alert],
    }


@pytest.fixture(scope="module")
def resolved(
    platform: tuple[PrometheusServer, float, Catalog],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, Any]]:
    """The incident taken from its alert to its postmortem, once for this module's tests."""
    server, t_end, catalog = platform
    tmp = Path(tmp_path_factory.mktemp("postmortem"))
    url = f"sqlite:///{tmp / 'augur.db'}"
    store = Store.open(url)
    recorder = SlackRecorder()
    settings = settings_for(
        url,
        data_dir=tmp,
        prometheus_url=server.url,
        slack_bot_token="xoxb-test",
        slack_api_url=recorder.api_url,
        slack_channel="C0INCIDENTS",
        public_base_url="https://augur.example",
    )
    client = TestClient(
        create_app(settings, store=store),
        client=("127.0.0.1", 5000),
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    alert_at = t_end - 50 * 60
    assert client.post("/v1/alertmanager", json=_webhook("firing", alert_at)).status_code < 300
    handlers = {
        "investigate": investigation_handler(
            settings, registry=registry_for(server.url, tmp), catalog=catalog, on_report=report_hook(settings)
        ),
        "postmortem": postmortem_handler(settings, on_postmortem=postmortem_hook(settings)),
    }
    worker = Worker(store, handlers)
    assert worker.run_once()
    repo = SqlProposalStore(store)
    proposal, _ = repo.add(
        drift_proposal(expr='pm_drift_psi{feature="click_duration"} > 0.2').model_copy(
            update={"incident_id": 1}
        )
    )
    approve(repo, proposal.id, "alice", "caught it 30 minutes earlier in the backtest")
    resolved_at = t_end - 12 * 60
    assert client.post("/v1/alertmanager", json=_webhook("resolved", alert_at, resolved_at)).status_code < 300
    assert worker.run_once()  # the postmortem job
    report = Report.model_validate(client.get("/v1/incidents/1/report").json())
    directory = tmp / "postmortems" / "1"
    try:
        yield {
            "client": client,
            "dir": directory,
            "report": report,
            "t_end": t_end,
            "recorder": recorder,
            "pm": Postmortem.model_validate_json((directory / "postmortem.json").read_text()),
            "alert_at": alert_at,
            "resolved_at": resolved_at,
            "settings_env": {
                "AUGUR_DATABASE_URL": url,
                "AUGUR_DATA_DIR": str(tmp),
                "AUGUR_PROMETHEUS_URL": server.url,
            },
        }
    finally:
        recorder.stop()
        store.dispose()


def test_timeline_is_in_time_order_and_covers_the_incident(resolved: dict[str, Any]) -> None:
    pm: Postmortem = resolved["pm"]
    times = [entry.at for entry in pm.timeline]
    assert times == sorted(times)
    kinds = [entry.kind for entry in pm.timeline]
    for kind in (
        "alert",
        "onset",
        "opened",
        "report_ready",
        "proposal_approved",
        "alert_resolved",
        "resolved",
    ):
        assert kind in kinds, kinds
    onsets = [e for e in pm.timeline if e.kind == "onset"]
    assert (
        onsets[0].sentence.text.startswith("feature-pipeline.psi") and "the cause" in onsets[0].sentence.text
    )
    assert kinds.index("onset") < kinds.index("alert") < kinds.index("report_ready") < kinds.index("resolved")
    approved = next(e for e in pm.timeline if e.kind == "proposal_approved")
    assert "approved by alice" in approved.sentence.text


def test_every_number_is_in_the_evidence(resolved: dict[str, Any]) -> None:
    pm: Postmortem = resolved["pm"]
    assert pm.dropped == []
    for sentence in pm.sentences():
        if sentence.evidence_ids:
            kept, dropped = ground([sentence], pm.evidence)
            assert kept and not dropped, dropped
        else:
            assert sentence_numbers(sentence.text) == [], sentence.text
    # The impact is the report's own figures (CTR 0.08 -> 0.056, -30 %), the same numbers as the
    # report's chain, and the median Prometheus holds after the resolution (back to 0.08).
    report: Report = resolved["report"]
    link = next(c for c in report.chain if c.signal == "ctr.ctr")
    ctr = next(row for row in pm.impact if row.signal == "ctr.ctr")
    assert (ctr.before, ctr.during, ctr.change) == (link.before, link.after, link.change)
    assert ctr.evidence_id == link.source_id
    assert ctr.before == pytest.approx(0.080, abs=0.001) and ctr.during == pytest.approx(0.056, abs=0.002)
    assert ctr.after == pytest.approx(0.080, abs=0.001) and ctr.change_pct == pytest.approx(-30, abs=2)
    markdown = (resolved["dir"] / "postmortem.md").read_text()
    assert f"| `ctr` | {fmt(ctr.before)} | {fmt(ctr.during)} | {link.change} | {fmt(ctr.after)} |" in markdown
    facts = pm.facts
    assert facts.severity == "page" and facts.time_to_resolve_minutes is not None
    assert facts.time_to_detect_minutes == pytest.approx(
        (resolved["alert_at"] - report.chain[0].onset.timestamp()) / 60, abs=0.1)
    assert facts.time_to_acknowledge_minutes is not None  # alice's approval
    assert "| time to detect (onset → first alert) |" in markdown
    assert all(a.owner != "" for a in pm.action_items)
    bad = " ".join(s.text for s in pm.went_badly)
    assert "feature-pipeline.psi had no alert" in bad
    cause_onset = resolved["report"].chain[0].onset.timestamp()
    assert f"changed {round((resolved['alert_at'] - cause_onset) / 60, 1):g} minutes before" in bad


def test_charts_exist_and_show_the_onsets(resolved: dict[str, Any]) -> None:
    pm: Postmortem = resolved["pm"]
    report: Report = resolved["report"]
    directory: Path = resolved["dir"]
    assert {"chain.png", "chain.svg", "chain.json"} <= set(pm.charts)
    assert (directory / "chain.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in (directory / "chain.svg").read_bytes()[:500]
    meta = json.loads((directory / "chain.json").read_text())
    panels = meta["panels"]
    assert [p["signal"] for p in panels] == [link.signal for link in report.chain]
    for panel, link in zip(panels, report.chain, strict=True):
        assert panel["onsets"] == [pytest.approx(link.onset.timestamp(), abs=1.0)]
        assert panel["first_time"] < link.onset.timestamp() < panel["last_time"]
        assert panel["last_time"] > resolved["resolved_at"]  # the recovery is on the chart
    drift = panels[0]
    assert drift["min_value"] < 0.1 and drift["max_value"] > 0.4  # the step from 0.05 to 0.45 is drawn
    assert meta["alert_at"] == pytest.approx(resolved["alert_at"])


def test_served_over_http_by_the_cli_and_posted_to_slack(resolved: dict[str, Any]) -> None:
    client: TestClient = resolved["client"]
    markdown = client.get("/v1/incidents/1/postmortem.md")
    assert markdown.status_code == 200 and markdown.text.startswith("# Postmortem — incident #1")
    html = client.get("/v1/incidents/1/postmortem.html")
    assert html.status_code == 200 and '<img src="postmortem/chain.png"' in html.text
    png = client.get("/v1/incidents/1/postmortem/chain.png")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert client.get("/v1/incidents/1/postmortem/..%2Faugur.db").status_code == 404
    assert client.get("/v1/incidents/99/postmortem.md").status_code == 404

    env = {k: v for k, v in os.environ.items() if not k.startswith("AUGUR_")}
    env.update(resolved["settings_env"])
    augur = str(Path(sys.executable).with_name("augur"))
    served = {p.name: p.stat().st_mtime_ns for p in resolved["dir"].iterdir()}
    out = subprocess.run(
        [augur, "postmortem", "1"], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert out.returncode == 0, out.stderr
    assert "## Timeline (UTC)" in out.stdout and "feature-pipeline" in out.stdout
    # Printing a postmortem never rewrites the one the server serves (only --publish does).
    assert {p.name: p.stat().st_mtime_ns for p in resolved["dir"].iterdir()} == served
    no_prom = {**env, "AUGUR_PROMETHEUS_URL": ""}
    out = subprocess.run([augur, "postmortem", "1", "--format", "json"], capture_output=True, text=True,
                         env=no_prom, timeout=60, check=False)
    assert out.returncode == 0 and json.loads(out.stdout)["impact"], out.stderr  # impact without Prometheus
    assert {p.name: p.stat().st_mtime_ns for p in resolved["dir"].iterdir()} == served

    recorder: SlackRecorder = resolved["recorder"]
    posts = recorder.calls_to("chat.postMessage")
    thread_ts = posts[1].body["thread_ts"]  # the report, under the incident's first message
    postmortem_post = next(p for p in posts if "Postmortem of incident #1" in str(p.body.get("text")))
    assert postmortem_post.body["thread_ts"] == thread_ts
    assert "https://augur.example/v1/incidents/1/postmortem.html" in postmortem_post.body["text"]
    uploads = recorder.calls_to("/upload/" + recorder.calls_to("files.getUploadURLExternal")[0].path[-7:])
    assert uploads == [] or uploads[0].body["png"]
    completed = recorder.calls_to("files.completeUploadExternal")
    assert completed and completed[0].body.get("thread_ts") == thread_ts
    assert any(c.path.startswith("/upload/") and c.body["png"] for c in recorder.calls)
    assert httpx.URL(recorder.url).host == "127.0.0.1"
