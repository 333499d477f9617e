"""Applying approved inhibition proposals to a real, running Alertmanager (file mode), or refusing to.

Debian's ``prometheus-alertmanager`` runs on loopback from a config file augur rewrites; an
approval through the HTTP API merges the inhibit rule, runs ``amtool check-config``, reloads
Alertmanager and confirms through ``/api/v2/status``. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi.testclient import TestClient

from augur.evals.servers import AlertmanagerServer, free_port
from augur.rules.proposal import Proposal, ProposalKind, Validation
from augur.server.settings import Settings
from augur.server.store.database import Store
from augur.server.store.proposals import SqlProposalStore
from augur.server.web.app import create_app

pytestmark = pytest.mark.slow
AUTH = {"Authorization": "Bearer tok-alice"}
CONFIG = {"route": {"receiver": "oncall", "group_by": ["alertname"]}, "receivers": [{"name": "oncall"}]}
RULE = {"source_matchers": ['alertname="GPUDown"'], "target_matchers": ['alertname="RankerLatencyHigh"'],
        "equal": ["service"]}


@pytest.fixture
def am(tmp_path: Path) -> Iterator[AlertmanagerServer]:
    with AlertmanagerServer.start(CONFIG, tmp_path / "am") as server:
        yield server


def _proposal(rule: dict[str, Any]) -> Proposal:
    return Proposal.build(ProposalKind.INHIBITION, "alertmanager", rule, rationale="[ev-0123456789ab]",
                          validation=Validation(ok=True, tool="amtool check-config", output=""))


def _app(store: Store, tmp_path: Path, am: AlertmanagerServer, url: str | None = None) -> tuple[
        TestClient, SqlProposalStore]:
    settings = Settings(data_dir=tmp_path, reviewers=["alice"], reviewer_tokens={"alice": "tok-alice"},
                        rules_dir=tmp_path / "rules", alertmanager_url=url or am.url,
                        alertmanager_config_file=am.workdir / "alertmanager.yml",
                        alertmanager_apply_mode="file", worker_in_process=False)
    return TestClient(create_app(settings, store=store)), SqlProposalStore(store)


def _running_inhibit_rules(am: AlertmanagerServer) -> list[dict[str, Any]]:
    original = httpx.get(f"{am.url}/api/v2/status", timeout=5).json()["config"]["original"]
    return list((yaml.safe_load(original) or {}).get("inhibit_rules") or [])


def _state(am: AlertmanagerServer, alertname: str) -> str:
    for alert in httpx.get(f"{am.url}/api/v2/alerts", timeout=5).json():
        if alert["labels"]["alertname"] == alertname:
            return str(alert["status"]["state"])
    return "absent"


def test_approved_inhibition_is_applied_to_the_running_alertmanager(
        store: Store, tmp_path: Path, am: AlertmanagerServer) -> None:
    client, repo = _app(store, tmp_path, am)
    proposal, _ = repo.add(_proposal(RULE))
    assert _running_inhibit_rules(am) == []
    answer = client.post(f"/v1/proposals/{proposal.id}/approve", headers=AUTH, json={"comment": "yes"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["proposal"]["state"] == "applied", answer.json()["proposal"]["events"]
    assert _running_inhibit_rules(am) == [RULE]
    on_disk = yaml.safe_load((am.workdir / "alertmanager.yml").read_text())
    assert on_disk["inhibit_rules"] == [RULE] and on_disk["route"]["receiver"] == "oncall"
    assert "running config (/api/v2/status) holds the rule" in repo.events(proposal.id)[-1].comment
    # The rule now does its job: the latency alert on the same service is inhibited.
    am.amtool("alert", "add", "alertname=GPUDown", "service=ranker")
    am.amtool("alert", "add", "alertname=RankerLatencyHigh", "service=ranker")
    deadline = time.monotonic() + 10
    while _state(am, "RankerLatencyHigh") != "suppressed" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _state(am, "RankerLatencyHigh") == "suppressed"


def test_a_config_amtool_rejects_is_never_applied(
        store: Store, tmp_path: Path, am: AlertmanagerServer) -> None:
    client, repo = _app(store, tmp_path, am)
    before = (am.workdir / "alertmanager.yml").read_bytes()
    proposal, _ = repo.add(_proposal({**RULE, "target_matchers": ["alertname=~("]}))
    answer = client.post(f"/v1/proposals/{proposal.id}/approve", headers=AUTH, json={})
    assert answer.status_code == 200, answer.text
    assert answer.json()["proposal"]["state"] == "failed"
    reason = repo.events(proposal.id)[-1].comment
    assert "amtool check-config failed; nothing was written" in reason
    assert (am.workdir / "alertmanager.yml").read_bytes() == before
    assert _running_inhibit_rules(am) == []


def test_unreachable_alertmanager_restores_the_file(
        store: Store, tmp_path: Path, am: AlertmanagerServer) -> None:
    client, repo = _app(store, tmp_path, am, url=f"http://127.0.0.1:{free_port()}")
    before = (am.workdir / "alertmanager.yml").read_bytes()
    proposal, _ = repo.add(_proposal(RULE))
    answer = client.post(f"/v1/proposals/{proposal.id}/approve", headers=AUTH, json={})
    assert answer.json()["proposal"]["state"] == "failed"
    reason = repo.events(proposal.id)[-1].comment
    assert "rolled back alertmanager.yml" in reason and "cannot reach Alertmanager" in reason
    assert "AUGUR_ALERTMANAGER_URL" in reason
    assert (am.workdir / "alertmanager.yml").read_bytes() == before
