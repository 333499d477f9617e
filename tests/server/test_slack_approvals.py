"""Approve / Reject buttons in Slack, applied to a real Prometheus through the rules' review flow.

Slack itself is the loopback recorder (:mod:`tests.fixtures.slack_api`): the real ``WebClient``
posts the proposal and updates it there. Clicks are signed ``block_actions`` payloads sent to a
real uvicorn serving the app; Prometheus is real (``PrometheusServer``), and approving reloads it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
import yaml

from augur.evals.servers import PrometheusServer
from augur.rules.proposal import ProposalState
from augur.server.slack.notifier import notifier_from_settings
from augur.server.store.database import Store
from augur.server.store.proposals import SqlProposalStore
from augur.server.web.app import create_app
from tests.fixtures.incidents import seed_incident
from tests.fixtures.serving import serving
from tests.fixtures.slack_api import SlackRecorder, signed_headers, slack_api
from tests.rules.samples import drift_proposal
from tests.server.test_slack_http import SECRET, slack_settings

__all__ = ["slack_api"]

pytestmark = pytest.mark.slow


@pytest.fixture
def prom(tmp_path: Path) -> Iterator[PrometheusServer]:
    with PrometheusServer.start(tmp_path / "prom") as server:
        yield server


def _loaded(prom: PrometheusServer) -> dict[str, list[str]]:
    groups = httpx.get(f"{prom.url}/api/v1/rules", timeout=5).json()["data"]["groups"]
    return {g["name"]: [r["name"] for r in g["rules"]] for g in groups}


def _click(base: str, user: str, proposal_id: str, action: str = "proposal_approve") -> httpx.Response:
    payload = {"type": "block_actions", "user": {"id": user, "username": user.lower()},
               "container": {"type": "message", "channel_id": "C0RANKING", "message_ts": "1700000003.000100"},
               "actions": [{"action_id": action, "block_id": f"proposal:{proposal_id}", "value": proposal_id,
                            "type": "button"}]}
    body = urlencode({"payload": json.dumps(payload)}).encode()
    return httpx.post(f"{base}/slack/interactive", content=body, timeout=10, headers={
        "Content-Type": "application/x-www-form-urlencoded", **signed_headers(SECRET, body)})


def test_approve_in_slack_applies_once_and_only_for_allowed_reviewers(
    tmp_path: Path, slack_api: SlackRecorder, prom: PrometheusServer
) -> None:
    url = f"sqlite:///{tmp_path / 'augur.db'}"
    store = Store.open(url)
    settings = slack_settings(
        url, slack_api, tmp_path, reviewers=["alice"], rules_dir=prom.rules_dir, prometheus_url=prom.url,
        slack_reviewers={"U0ALICE": "alice", "U0MALLORY": "mallory"})
    incident = seed_incident(store, None, title="RankerP99High on ranker-serving")
    repo = SqlProposalStore(store)
    proposal, _ = repo.add(drift_proposal().model_copy(update={"incident_id": incident}))

    # Posted in the incident's thread with two buttons whose value is the proposal id alone.
    assert len(notifier_from_settings(settings, store).post_proposals(incident)) == 1
    assert notifier_from_settings(settings, store).post_proposals(incident) == []  # not twice
    posted = slack_api.calls_to("chat.postMessage")[-1].body
    actions = next(b for b in posted["blocks"] if b["type"] == "actions")
    assert [(e["action_id"], e["value"]) for e in actions["elements"]] == [
        ("proposal_approve", proposal.id), ("proposal_reject", proposal.id)]

    with serving(create_app(settings, store=store)) as base:
        # Someone unmapped, and someone mapped but off the allowlist: refused, told why, nothing changes.
        assert _click(base, "U0EVE", proposal.id).status_code == 200
        assert _click(base, "U0MALLORY", proposal.id).status_code == 200
        slack_api.wait_for(lambda calls: sum(c.api_method == "chat.postEphemeral" for c in calls) == 2)
        notes = {c.body["user"]: c.body["text"] for c in slack_api.calls_to("chat.postEphemeral")}
        assert "not a reviewer" in notes["U0EVE"] and "allowlist" in notes["U0MALLORY"]
        assert repo.get(proposal.id).state is ProposalState.PENDING  # type: ignore[union-attr]
        assert slack_api.calls_to("chat.update") == []
        assert "augur-proposed" not in _loaded(prom)

        # Alice double-clicks: two requests at once.
        answers: list[int] = []

        def click() -> None:
            answers.append(_click(base, "U0ALICE", proposal.id).status_code)

        clicks = [threading.Thread(target=click) for _ in range(2)]
        for thread in clicks:
            thread.start()
        for thread in clicks:
            thread.join()
        assert answers == [200, 200]
        slack_api.wait_for(lambda calls: sum(c.api_method == "chat.update" for c in calls) == 2, timeout=30)

    stored = repo.get(proposal.id)
    assert stored is not None and stored.state is ProposalState.APPLIED
    events = [(e.to_state.value, e.actor) for e in repo.events(proposal.id)]
    assert events == [("pending", "augur"), ("approved", "alice"), ("applied", "augur")]
    assert _loaded(prom)["augur-proposed"] == ["RankerClickDurationDrift"]
    written = yaml.safe_load((prom.rules_dir / "augur-proposed.yml").read_text())
    assert len(written["groups"][0]["rules"]) == 1
    update = slack_api.calls_to("chat.update")[-1].body
    assert update["ts"] == "1700000003.000100" and update["channel"] == "C0RANKING"
    text = json.dumps(update["blocks"])
    assert "Approved and applied by alice" in text
    assert not any(b["type"] == "actions" for b in update["blocks"])  # no buttons once settled
    store.dispose()
