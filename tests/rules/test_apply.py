"""Applying approved rules to a real Prometheus (reload + /api/v1/rules), rollback, patch mode."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from fastapi.testclient import TestClient

from augur.evals.servers import PrometheusServer, free_port
from augur.rules.apply import ApplyConfig, apply_proposal
from augur.rules.proposal import Proposal, ProposalKind, Validation
from augur.server.settings import Settings
from augur.server.store.database import Store
from augur.server.store.proposals import SqlProposalStore
from augur.server.web.app import create_app
from tests.rules.samples import drift_proposal

pytestmark = pytest.mark.slow
AUTH = {"Authorization": "Bearer tok-alice"}


@pytest.fixture
def prom(tmp_path: Path) -> Iterator[PrometheusServer]:
    with PrometheusServer.start(tmp_path / "prom") as server:
        yield server


def _app(store: Store, tmp_path: Path, prometheus_url: str, rules_dir: Path, **extra: object) -> tuple[
        TestClient, SqlProposalStore]:
    settings = Settings(data_dir=tmp_path, reviewers=["alice"], reviewer_tokens={"alice": "tok-alice"},
                        rules_dir=rules_dir, prometheus_url=prometheus_url, worker_in_process=False, **extra)
    return TestClient(create_app(settings, store=store)), SqlProposalStore(store)


def _loaded(prom: PrometheusServer) -> dict[str, list[str]]:
    groups = httpx.get(f"{prom.url}/api/v1/rules", timeout=5).json()["data"]["groups"]
    return {g["name"]: [r["name"] for r in g["rules"]] for g in groups}


def test_approving_applies_the_rule_to_a_running_prometheus(store: Store, tmp_path: Path,
                                                            prom: PrometheusServer) -> None:
    client, repo = _app(store, tmp_path, prom.url, prom.rules_dir)
    proposal, _ = repo.add(drift_proposal())
    assert "augur-proposed" not in _loaded(prom)
    answer = client.post(f"/v1/proposals/{proposal.id}/approve", headers=AUTH, json={"comment": "ship it"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["proposal"]["state"] == "applied", answer.json()["proposal"]["events"]
    assert _loaded(prom)["augur-proposed"] == ["RankerClickDurationDrift"]
    written = yaml.safe_load((prom.rules_dir / "augur-proposed.yml").read_text())
    assert written["groups"][0]["rules"][0]["expr"] == proposal.rule["expr"]
    events = repo.events(proposal.id)
    assert [(e.to_state.value, e.actor) for e in events] == [
        ("pending", "augur"), ("approved", "alice"), ("applied", "augur")]
    assert "rule is loaded" in events[-1].comment
    # A replayed approval neither re-applies nor records anything.
    replay = client.post(f"/v1/proposals/{proposal.id}/approve", headers=AUTH)
    assert replay.json()["changed"] is False and len(repo.events(proposal.id)) == 3


def test_a_rule_that_breaks_promtool_is_never_applied(store: Store, tmp_path: Path,
                                                      prom: PrometheusServer) -> None:
    client, repo = _app(store, tmp_path, prom.url, prom.rules_dir)
    good, _ = repo.add(drift_proposal())
    client.post(f"/v1/proposals/{good.id}/approve", headers=AUTH)
    path = prom.rules_dir / "augur-proposed.yml"
    before = path.read_bytes()
    broken, _ = repo.add(drift_proposal(expr="sum by (model (model_drift_score) > 0.2", name="Broken"))
    answer = client.post(f"/v1/proposals/{broken.id}/approve", headers=AUTH)
    assert answer.json()["proposal"]["state"] == "failed"
    reason = repo.events(broken.id)[-1].comment
    assert "promtool check rules failed; nothing was written" in reason and "parse error" in reason
    assert path.read_bytes() == before
    assert _loaded(prom)["augur-proposed"] == ["RankerClickDurationDrift"]
    assert not list(prom.rules_dir.glob(".*augur-tmp"))


def test_rolls_back_when_prometheus_does_not_reload(tmp_path: Path, prom: PrometheusServer) -> None:
    path = prom.rules_dir / "augur-proposed.yml"
    config = ApplyConfig(rules_dir=prom.rules_dir, prometheus_url=prom.url)
    with httpx.Client() as client:
        assert apply_proposal(drift_proposal(), config, client).ok
        before = path.read_bytes()
        nowhere = ApplyConfig(rules_dir=prom.rules_dir, prometheus_url=f"http://127.0.0.1:{free_port()}",
                              confirm_timeout_s=1)
        result = apply_proposal(drift_proposal(0.3, name="Second"), nowhere, client)
        assert not result.ok and "rolled back" in result.detail and "cannot reach Prometheus" in result.detail
        assert path.read_bytes() == before
        fresh = apply_proposal(drift_proposal(0.3, name="Other").model_copy(update={"group": "new-group"}),
                               nowhere, client)
        assert not fresh.ok and not (prom.rules_dir / "new-group.yml").exists()


def test_patch_mode_writes_a_diff_that_applies(tmp_path: Path, prom: PrometheusServer) -> None:
    repo_dir = tmp_path / "rules-repo"
    repo_dir.mkdir()
    (repo_dir / "augur-proposed.yml").write_text("groups:\n- name: augur-proposed\n  rules: []\n")
    config = ApplyConfig(rules_dir=repo_dir, mode="patch", patch_dir=tmp_path / "patches")
    with httpx.Client() as client:
        result = apply_proposal(drift_proposal(), config, client)
    assert result.ok and result.path is not None and result.path.suffix == ".patch"
    assert (repo_dir / "augur-proposed.yml").read_text().endswith("rules: []\n")  # untouched
    subprocess.run(["git", "apply", "-p1", str(result.path)], cwd=repo_dir, check=True, capture_output=True)
    applied = yaml.safe_load((repo_dir / "augur-proposed.yml").read_text())
    assert applied["groups"][0]["rules"][0]["alert"] == "RankerClickDurationDrift"


def test_inhibition_is_checked_with_amtool_and_written_as_a_patch(tmp_path: Path) -> None:
    am_config = tmp_path / "alertmanager.yml"
    am_config.write_text("route:\n  receiver: oncall\nreceivers:\n- name: oncall\n")
    rule = {"source_matchers": ['alertname="RankerClickDurationDrift"'],
            "target_matchers": ['alertname="ServingLatencyP99High"'], "equal": ["model"]}
    inhibit = Proposal.build(ProposalKind.INHIBITION, "alertmanager", rule, rationale="[ev-0123456789ab]",
                             validation=Validation(ok=True, tool="amtool check-config", output=""))
    config = ApplyConfig(rules_dir=tmp_path / "rules", patch_dir=tmp_path / "patches",
                         alertmanager_config=am_config)
    with httpx.Client() as client:
        good = apply_proposal(inhibit, config, client)
        bad_rule = {**rule, "target_matchers": ["alertname=~("]}
        broken = apply_proposal(inhibit.model_copy(update={"rule": bad_rule}), config, client)
    assert good.ok and good.path is not None and "+inhibit_rules:" in good.path.read_text()
    assert not broken.ok and "amtool check-config failed" in broken.detail
    assert am_config.read_text() == "route:\n  receiver: oncall\nreceivers:\n- name: oncall\n"
