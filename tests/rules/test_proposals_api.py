"""The /v1/proposals API over the real store: auth, listing, idempotent approve/reject, errors."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from augur.server.settings import Settings
from augur.server.store.database import Store
from augur.server.store.proposals import SqlProposalStore
from augur.server.web.app import create_app
from tests.rules.samples import drift_proposal


def _client(store: Store, tmp_path: Path) -> tuple[TestClient, SqlProposalStore]:
    settings = Settings(data_dir=tmp_path, reviewers=["alice"], worker_in_process=False,
                        reviewer_tokens={"alice": "tok-alice", "eve": "tok-eve"})
    return TestClient(create_app(settings, store=store)), SqlProposalStore(store)


def test_list_show_approve_and_replay(store: Store, tmp_path: Path) -> None:
    client, repo = _client(store, tmp_path)
    proposal, _ = repo.add(drift_proposal())
    auth = {"Authorization": "Bearer tok-alice"}
    listed = client.get("/v1/proposals", params={"state": "pending"}, headers=auth).json()["proposals"]
    assert [p["id"] for p in listed] == [proposal.id]
    assert listed[0]["backtest"]["lead_minutes"] == 30 and "model_drift_score" in listed[0]["rule_yaml"]

    first = client.post(f"/v1/proposals/{proposal.id}/approve", headers=auth, json={"comment": "yes"})
    assert first.status_code == 200, first.text
    assert first.json()["changed"] is True and first.json()["proposal"]["state"] == "approved"
    replay = client.post(f"/v1/proposals/{proposal.id}/approve", headers=auth, json={"comment": "yes"})
    assert replay.status_code == 200 and replay.json()["changed"] is False
    shown = client.get(f"/v1/proposals/{proposal.id}", headers=auth).json()
    assert [(e["to_state"], e["actor"], e["comment"]) for e in shown["events"]] == [
        ("pending", "augur", "proposed"), ("approved", "alice", "yes")]
    assert client.get("/v1/proposals", params={"state": "pending"}, headers=auth).json()["proposals"] == []

    conflict = client.post(f"/v1/proposals/{proposal.id}/reject", headers=auth)
    assert conflict.status_code == 409 and "approved by alice" in conflict.json()["reason"]


def test_refuses_missing_unknown_and_unlisted_reviewers(store: Store, tmp_path: Path) -> None:
    client, repo = _client(store, tmp_path)
    proposal, _ = repo.add(drift_proposal())
    url = f"/v1/proposals/{proposal.id}/approve"
    missing = client.post(url)
    assert missing.status_code == 401 and "Bearer" in missing.json()["reason"]
    assert client.post(url, headers={"Authorization": "Basic YWxpY2U6eA=="}).status_code == 401
    unknown = client.post(url, headers={"Authorization": "Bearer guess"})
    assert unknown.status_code == 401 and "unknown bearer token" in unknown.json()["reason"]
    unlisted = client.post(url, headers={"Authorization": "Bearer tok-eve"})
    assert unlisted.status_code == 403 and "allowlist" in unlisted.json()["reason"]
    assert repo.get(proposal.id).state.value == "pending"  # type: ignore[union-attr]
    assert len(repo.events(proposal.id)) == 1


def test_unknown_proposal_and_bad_filter(store: Store, tmp_path: Path) -> None:
    client, _ = _client(store, tmp_path)
    auth = {"Authorization": "Bearer tok-alice"}
    assert client.get("/v1/proposals/pr-nope", headers=auth).status_code == 404
    gone = client.post("/v1/proposals/pr-nope/approve", headers=auth)
    assert gone.status_code == 404 and "augur rules review" in gone.json()["reason"]
    assert client.get("/v1/proposals", params={"state": "maybe"}, headers=auth).status_code == 422
