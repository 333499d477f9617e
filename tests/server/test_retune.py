"""Feedback into rules: three "not actionable" verdicts on one alert rule give a retune proposal.

End to end on SQLite and PostgreSQL: a real Prometheus holding the shared generated history
(``tests/fixtures/prometheus.py``: the GPU utilisation there is noise, a red herring) loads a
flapping rule from the rules directory augur applies to; Alertmanager-shaped webhooks open three
incidents at three of its firings; reviewers judge them not actionable through the API; the
``retune`` jobs those verdicts queue run on the real worker with real ``promtool``. The proposal
that comes out cites the verdicts, shows the current and retuned firing counts from the backtest
(API and review page), is posted with Approve / Reject in the incident's Slack thread (the official
``slack_sdk`` client against the loopback recorder, as no Slack is reachable here), and, approved
by a reviewer, replaces the rule that Prometheus then loads.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import select

from augur.evals.servers import PrometheusServer, free_port, write_openmetrics
from augur.rules.backtest import backtest
from augur.rules.proposal import ProposalKind, ProposalState
from augur.server.jobs.retune import FAILED, SKIPPED, retune_for_incident
from augur.server.jobs.worker import Worker
from augur.server.scopes import Scope
from augur.server.state import default_handlers
from augur.server.store.database import Store
from augur.server.store.models import IncidentEvent, Job
from augur.server.store.verdicts import record_verdict
from augur.server.validation import check_verdict
from augur.server.web.app import create_app
from augur.tools.prometheus_api import connect
from tests.fixtures.alerts import alert, notification
from tests.fixtures.incidents import seed_incident
from tests.fixtures.prometheus import STEP_S, PromHistory, generate_history
from tests.fixtures.slack_api import SlackRecorder, slack_api
from tests.server.conftest import ADMIN_HEADERS, ADMIN_TOKEN, TOKEN, settings_for

__all__ = ["slack_api"]

pytestmark = pytest.mark.slow

RULE = {"alert": "GPUBusy", "expr": "avg_over_time(DCGM_FI_DEV_GPU_UTIL[5m]) > 70",
        "labels": {"severity": "page"}, "annotations": {"summary": "GPU {{ $labels.gpu }} busy"}}
TOKENS = {
    "alice": {"token": "alice-token-0123456", "scopes": ["read", "verdict", "review"]},
    "bob": {"token": "bob-token-01234567", "scopes": ["read", "verdict", "review"]},
    # Has the scopes but is not on the reviewer allowlist; and one with read only.
    "carol": {"token": "carol-token-0123456", "scopes": ["read", "verdict", "review"]},
    "dave": {"token": "dave-token-01234567", "scopes": ["read"]},
}


def _as(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[name]['token']}"}


@pytest.fixture
def gpu_prom(tmp_path: Path) -> Iterator[tuple[PrometheusServer, float]]:
    """A Prometheus with the shared generated history and GPUBusy in its rules directory."""
    t_end = float(int(time.time()) // STEP_S * STEP_S - 60)
    samples, _onsets = generate_history(t_end)
    write_openmetrics(samples, tmp_path / "history.om")
    rules = tmp_path / "gpu.yml"
    rules.write_text(yaml.safe_dump({"groups": [{"name": "gpu", "rules": [RULE]}]}, sort_keys=False))
    server = PrometheusServer.start(tmp_path / "prometheus", openmetrics=tmp_path / "history.om",
                                    rule_files=[rules])
    try:
        yield server, t_end
    finally:
        server.stop()


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _open_and_resolve(client: TestClient, start: float) -> int:
    """One incident opened by GPUBusy firing at ``start`` (the webhook, as Alertmanager sends it)."""
    hook = {"Authorization": f"Bearer {TOKEN}"}
    firing = alert("GPUBusy", starts_at=_iso(start), gpu="0", Hostname="gpu-a")
    assert client.post("/v1/alertmanager", json=notification([firing]), headers=hook).status_code < 300
    done = alert("GPUBusy", starts_at=_iso(start), ends_at=_iso(start + 180), status="resolved",
                 gpu="0", Hostname="gpu-a")
    assert client.post("/v1/alertmanager", json=notification([done]), headers=hook).status_code < 300
    incidents = client.get("/v1/incidents", params={"limit": 100}).json()["incidents"]
    return int(max(i["id"] for i in incidents))


def _events(store: Store, kind: str) -> list[dict[str, Any]]:
    with store.read_session() as session:
        return [e.detail for e in session.scalars(select(IncidentEvent).where(IncidentEvent.kind == kind)
                                                  .order_by(IncidentEvent.id))]


def _run_retunes(store: Store, handlers: dict[str, Any]) -> int:
    worker = Worker(store, {"retune": handlers["retune"]}, lease_seconds=60)
    ran = 0
    while worker.run_once():
        ran += 1
    return ran


def test_three_not_actionable_verdicts_on_one_alert_give_a_reviewed_retune_that_replaces_the_rule(
    store: Store, store_url: str, gpu_prom: tuple[PrometheusServer, float], slack_api: SlackRecorder,
) -> None:
    server, t_end = gpu_prom
    admin = {"token": ADMIN_TOKEN, "scopes": [s.value for s in Scope]}
    settings = settings_for(store_url, prometheus_url=server.url, rules_dir=server.rules_dir,
                            api_tokens={"tester": admin, **TOKENS}, reviewers=["alice", "bob", "tester"],
                            slack_bot_token="xoxb-test", slack_api_url=slack_api.api_url,
                            slack_channel="C0INCIDENTS")
    client = TestClient(create_app(settings, store=store), client=("127.0.0.1", 5000), headers=ADMIN_HEADERS)
    prom = connect(server.url, http=httpx.Client())
    current = backtest(prom, RULE["expr"], start=t_end - 7 * 86400, end=time.time())
    assert current.episodes >= 10, "the fixture's GPU noise should make GPUBusy flap"
    starts = [current.spans[i][0] for i in (1, len(current.spans) // 2, len(current.spans) - 2)]
    incidents = [_open_and_resolve(client, s) for s in starts]
    assert len(set(incidents)) == 3
    handlers = default_handlers(settings)

    # Who may judge: no verdict scope, or not on the allowlist: refused, and nothing queued.
    for who in ("dave", "carol"):
        refused = client.post(f"/v1/incidents/{incidents[0]}/verdict", json={"verdict": "not_actionable"},
                              headers=_as(who))
        assert refused.status_code == 403, refused.text
    with store.read_session() as session:
        assert not list(session.scalars(select(Job).where(Job.kind == "retune")))

    # Two verdicts: not enough (the default is three); the job says why.
    for incident, who in zip(incidents[:2], ("alice", "bob"), strict=True):
        given = client.post(f"/v1/incidents/{incident}/verdict", json={"verdict": "not_actionable",
                                                                       "note": "GPU noise"}, headers=_as(who))
        assert given.status_code == 201, given.text
    assert _run_retunes(store, handlers) == 2
    skipped = _events(store, "retune_skipped")
    assert "2 of the incidents GPUBusy opened" in skipped[-1]["reason"]
    assert client.get("/v1/proposals", params={"kind": "rule"}).json()["proposals"] == []

    # The third: a retune proposal, through promtool and the backtest, citing the verdicts.
    third = client.post(f"/v1/incidents/{incidents[2]}/verdict", json={"verdict": "not_actionable"},
                        headers=_as("alice"))
    assert third.status_code == 201
    assert _run_retunes(store, handlers) == 1
    proposed = _events(store, "retune_proposed")
    assert len(proposed) == 1, _events(store, "retune_skipped")
    listed = client.get("/v1/proposals", params={"state": "pending"}).json()["proposals"]
    retunes = [p for p in listed if p["kind"] == ProposalKind.RETUNE.value]
    assert {p["id"] for p in retunes} == set(proposed[0]["ids"]) and retunes
    verdicts = [client.get(f"/v1/incidents/{i}").json()["verdict"] for i in incidents]
    for p in retunes:
        assert p["rule"]["alert"] == "GPUBusy" and p["group"] == "gpu"
        assert p["validation"]["ok"] and p["validation"]["tool"] == "promtool check rules"
        assert p["evidence_ids"] == [f"verdict-{v['id']}" for v in verdicts]
        for v in verdicts:  # names the verdicts: ids, who, when
            assert f"[verdict-{v['id']}] by {v['by']} at {v['at'][:10]}" in p["rationale"]
        before, after = p["backtest"]["before"], p["backtest"]
        replayed = backtest(prom, RULE["expr"], start=before["end"] - 7 * 86400, end=before["end"])
        assert before["episodes"] == replayed.episodes and after["episodes"] < before["episodes"]
        assert f"current rule fired {before['episodes']} times" in p["rationale"]
        after_times = "once" if after["episodes"] == 1 else f"{after['episodes']} times"
        assert f"the retuned rule would have fired {after_times}" in p["rationale"]
    threshold = next(p for p in retunes if p["rule"]["expr"] != RULE["expr"])
    assert threshold["rule"]["expr"].startswith("avg_over_time(DCGM_FI_DEV_GPU_UTIL[5m]) > ")
    assert float(threshold["rule"]["expr"].rsplit(">", 1)[1]) > 70

    # Slack: the proposals in the third incident's thread, with Approve / Reject.
    posted = []
    for call in slack_api.calls_to("chat.postMessage"):
        blocks = call.body.get("blocks")
        blocks = json.loads(blocks) if isinstance(blocks, str) else blocks or []
        for block in blocks:
            if block["type"] == "actions":
                assert [e["text"]["text"] for e in block["elements"]] == ["Approve", "Reject"]
                posted.append(block["elements"][0]["value"])
    assert sorted(posted) == sorted(proposed[0]["ids"])
    assert all("retune: GPUBusy" in str(c.body["text"]) for c in slack_api.calls_to("chat.postMessage")
               if "proposal" in str(c.body["text"]))

    # Idempotent: the same verdicts again (a rerun of the job) propose nothing new.
    with store.transaction() as session:
        job = session.scalars(select(Job).where(Job.kind == "retune").order_by(Job.id.desc())).first()
        assert job is not None
        job.status, job.max_attempts = "queued", job.attempts + 1
    messages = len(slack_api.calls_to("chat.postMessage"))
    assert _run_retunes(store, handlers) == 1
    assert len(client.get("/v1/proposals").json()["proposals"]) == len(listed)
    assert len(slack_api.calls_to("chat.postMessage")) == messages
    assert "pending review" in _events(store, "retune_skipped")[-1]["reason"]

    # The review page shows both firing counts and the verdicts cited.
    page = client.get("/review", headers=_as("alice"))
    assert page.status_code == 200, page.text[:300]
    before_n = threshold["backtest"]["before"]["episodes"]
    assert f"(the current rule: {before_n} times)" in page.text and "verdict-" in page.text

    # Review: someone off the allowlist cannot approve; a reviewer's approval replaces the rule.
    denied = client.post(f"/v1/proposals/{threshold['id']}/approve", headers=_as("carol"))
    assert denied.status_code == 403
    approved = client.post(f"/v1/proposals/{threshold['id']}/approve", headers=_as("bob"), json={})
    assert approved.status_code == 200, approved.text
    assert approved.json()["proposal"]["state"] == ProposalState.APPLIED.value, approved.json()
    loaded = [r for g in prom.get("rules")["groups"] for r in g["rules"] if r["name"] == "GPUBusy"]
    assert [r["query"] for r in loaded] == [threshold["rule"]["expr"]]
    on_disk = yaml.safe_load((server.rules_dir / "gpu.yml").read_text())
    assert [r["expr"] for r in on_disk["groups"][0]["rules"]] == [threshold["rule"]["expr"]]


def _judged(store: Store, n: int, **opened: Any) -> list[int]:
    ids = [seed_incident(store, None, title="GPUBusy on gpu-a", component="gpu-a", **opened)
           for _ in range(n)]
    for i in ids:
        record_verdict(store, i, check_verdict("not_actionable", None, None, None, None), "alice", "api")
    return ids


def test_the_job_says_why_it_proposes_nothing(store: Store, store_url: str,
                                              prom_history: PromHistory) -> None:
    old = _judged(store, 1, opened_at=datetime.now(UTC) - timedelta(days=40))
    incidents = _judged(store, 2)
    with store.read_session() as session:  # one retune job per not-actionable verdict
        assert len(list(session.scalars(select(Job).where(Job.kind == "retune")))) == 3
    quiet = settings_for(store_url)
    assert retune_for_incident(quiet, store, incidents[-1]).kind == SKIPPED
    assert "2 of the incidents GPUBusy opened in the last 30 days" in _events(store, SKIPPED)[-1]["reason"]
    # Counted within a window that a setting sets; the older incident counts once it is inside.
    wide = settings_for(store_url, retune_window_days=60)
    assert "AUGUR_PROMETHEUS_URL is not set" in retune_for_incident(wide, store, old[0]).detail["reason"]
    dead = settings_for(store_url, retune_window_days=60, prometheus_url=f"http://127.0.0.1:{free_port()}")
    failed = retune_for_incident(dead, store, incidents[0])
    assert failed.kind == FAILED and "cannot read rules" in failed.detail["reason"]
    live = settings_for(store_url, retune_window_days=60, prometheus_url=prom_history.url)
    outcome = retune_for_incident(live, store, incidents[0])
    assert outcome.kind == SKIPPED and "no alerting rule GPUBusy loaded" in outcome.detail["reason"]
    assert outcome.detail["verdict_ids"] == sorted(outcome.detail["verdict_ids"]) and len(
        outcome.detail["verdict_ids"]) == 3
