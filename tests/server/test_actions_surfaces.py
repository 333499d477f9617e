"""Actions on the review page and in Slack: the dry run shown before approval, refusals, one run.

The action is a ``scale`` against the scripted Kubernetes API server on loopback (no cluster runs
here; see tests/fixtures/kubernetes_api.py); what is asserted is what a reviewer sees and that
the deployment is patched once, by an allowed reviewer, whichever surface approved it.
"""

from __future__ import annotations

import json
import re
import threading
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from fastapi.testclient import TestClient

from augur.agent.report import AlertSummary, ProposedAction, Report, RootCause, RunStats
from augur.rules.proposal import ProposalState
from augur.server.jobs.actions import propose_actions_for_report
from augur.server.settings import Settings
from augur.server.slack.notifier import notifier_from_settings
from augur.server.store.database import Store
from augur.server.store.proposals import SqlProposalStore
from augur.server.web.app import create_app
from tests.fixtures.incidents import seed_incident
from tests.fixtures.kubernetes_api import ScriptedKubernetes, kubernetes_api
from tests.fixtures.serving import serving
from tests.fixtures.slack_api import SlackRecorder, signed_headers, slack_api
from tests.server.test_slack_http import SECRET, slack_settings

__all__ = ["slack_api"]

K8S_TOKEN = "sa-token-augur-surfaces"
DEPLOYMENT = ("ranking", "ranker-serving")


def _scale_report() -> Report:
    now = datetime.now(UTC)
    root = RootCause(
        verdict="identified",
        component="ranker-serving",
        fault_type="resource_saturation",
        confidence=0.7,
        summary="ranker-serving: resource saturation (confidence 0.70)",
        evidence_ids=["ev-0123456789ab"],
    )
    action = ProposedAction(
        kind="scale",
        target="ranker-serving",
        why="CPU saturated [ev-0123456789ab]",
        params={"deployment": "ranker-serving", "namespace": "ranking", "factor": 2},
        evidence_ids=["ev-0123456789ab"],
    )
    return Report(
        investigation_id="inv-surfaces",
        title="RankerP99High: ranker-serving saturated",
        generated_at=now,
        alert=AlertSummary(name="RankerP99High", starts_at=now),
        window_start=now,
        window_end=now,
        summary=root.summary,
        root_cause=root,
        actions=[action],
        stats=RunStats(planner="sop", tool_calls=1, refused_calls=0, rounds=1, wall_s=0.1, backend_s=0.1),
    )


def _propose(settings: Settings, store: Store, incident: int) -> str:
    stored = propose_actions_for_report(settings, store, incident, _scale_report())
    assert stored is not None and stored["skipped"] == [], stored
    return str(stored["ids"][0])


def _sign_in(client: TestClient, token: str) -> str:
    """Sign in on /review as a browser would; the page's CSRF token."""
    form = client.get("/review").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert csrf is not None
    signed = client.post(
        "/review/login",
        data={"token": token, "csrf_token": csrf.group(1)},
        headers={"Origin": "http://testserver"},
    )
    assert signed.status_code == 200 and "Signed in as" in signed.text, signed.text
    page = re.search(r'name="csrf_token" value="([^"]+)"', signed.text)
    assert page is not None
    return page.group(1)


def test_the_review_page_shows_the_dry_run_and_approving_runs_it_once(store: Store, tmp_path: Path) -> None:
    with kubernetes_api({DEPLOYMENT: 2}, K8S_TOKEN) as kube:
        settings = Settings(
            data_dir=tmp_path,
            worker_in_process=False,
            reviewers=["alice"],
            reviewer_tokens={"alice": "tok-alice-123456", "eve": "tok-eve-1234567"},
            kubernetes_url=kube.url,
            kubernetes_token=K8S_TOKEN,
        )
        incident = seed_incident(store, None)
        proposal_id = _propose(settings, store, incident)

        eve = TestClient(create_app(settings, store=store))
        eve_csrf = _sign_in(eve, "tok-eve-1234567")
        refused = eve.post(
            f"/review/{proposal_id}/approve",
            data={"csrf_token": eve_csrf},
            headers={"Origin": "http://testserver"},
        )
        assert refused.status_code == 403 and "allowlist" in refused.text
        assert kube.patches(dry_run=False) == []

        alice = TestClient(create_app(settings, store=store))
        csrf = _sign_in(alice, "tok-alice-123456")
        page = alice.get("/review").text
        card = page[page.index(f'id="{proposal_id}"') :]
        card = card[: card.index("</section>")]
        assert "deployment ranking/ranker-serving 2 → 4 replicas" in card
        assert '<details open class="dry-run"><summary>dry run (Kubernetes API): passed' in card
        assert "dry run (dryRun=All) accepted" in card and "Nothing changed yet." in card
        assert ">Approve and run</button>" in card
        done = alice.post(
            f"/review/{proposal_id}/approve",
            data={"csrf_token": csrf, "comment": "go"},
            headers={"Origin": "http://testserver"},
        )
        assert done.status_code == 200 and f"{proposal_id} is applied" in done.text
        again = alice.post(
            f"/review/{proposal_id}/approve",
            data={"csrf_token": csrf},
            headers={"Origin": "http://testserver"},
        )
        assert "no change: already decided" in again.text
        assert len(kube.patches(dry_run=False)) == 1 and kube.deployments[DEPLOYMENT] == 4
        row = again.text[again.text.index(f'data-id="{proposal_id}"') :]
        assert re.search(r"approved by alice at \d\d:\d\d:\d\d; augur", row[: row.index("</tr>")])


def _click(base: str, user: str, proposal_id: str) -> httpx.Response:
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower()},
        "container": {"type": "message", "channel_id": "C0RANKING", "message_ts": "1700000003.000100"},
        "actions": [
            {
                "action_id": "proposal_approve",
                "block_id": f"proposal:{proposal_id}",
                "value": proposal_id,
                "type": "button",
            }
        ],
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    return httpx.post(
        f"{base}/slack/interactive",
        content=body,
        timeout=10,
        headers={"Content-Type": "application/x-www-form-urlencoded", **signed_headers(SECRET, body)},
    )


@pytest.mark.slow
def test_slack_shows_the_dry_run_and_a_double_click_runs_it_once(
    tmp_path: Path, slack_api: SlackRecorder
) -> None:
    url = f"sqlite:///{tmp_path / 'augur.db'}"
    store = Store.open(url)
    kube: ScriptedKubernetes
    with kubernetes_api({DEPLOYMENT: 3}, K8S_TOKEN) as kube:
        settings = slack_settings(
            url,
            slack_api,
            tmp_path,
            reviewers=["alice"],
            kubernetes_url=kube.url,
            kubernetes_token=K8S_TOKEN,
            slack_reviewers={"U0ALICE": "alice", "U0MALLORY": "mallory"},
        )
        incident = seed_incident(store, None, title="RankerP99High on ranker-serving")
        proposal_id = _propose(settings, store, incident)
        assert len(notifier_from_settings(settings, store).post_proposals(incident)) == 1
        posted = slack_api.calls_to("chat.postMessage")[-1].body
        text = json.dumps(posted["blocks"], ensure_ascii=False)
        assert "*Action proposal*" in text and "3 → 6 replicas" in text and "dryRun=All" in text
        buttons = next(b for b in posted["blocks"] if b["type"] == "actions")["elements"]
        assert buttons[0]["text"]["text"] == "Approve and run" and buttons[0]["value"] == proposal_id

        with serving(create_app(settings, store=store)) as base:
            assert _click(base, "U0MALLORY", proposal_id).status_code == 200
            slack_api.wait_for(lambda calls: any(c.api_method == "chat.postEphemeral" for c in calls))
            assert kube.patches(dry_run=False) == []
            repo = SqlProposalStore(store)
            assert repo.get(proposal_id).state is ProposalState.PENDING  # type: ignore[union-attr]

            clicks = [threading.Thread(target=_click, args=(base, "U0ALICE", proposal_id)) for _ in range(2)]
            for thread in clicks:
                thread.start()
            for thread in clicks:
                thread.join()
            slack_api.wait_for(
                lambda calls: sum(c.api_method == "chat.update" for c in calls) == 2, timeout=30
            )
        assert len(kube.patches(dry_run=False)) == 1 and kube.deployments[DEPLOYMENT] == 6
        update = json.dumps(slack_api.calls_to("chat.update")[-1].body["blocks"], ensure_ascii=False)
        assert "Approved and run by alice" in update and "scaled to 6 replicas" in update
    store.dispose()
