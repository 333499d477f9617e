"""The report's verdict buttons in Slack, on SQLite and PostgreSQL: signed ``block_actions`` clicks to a
real uvicorn serving the app; Slack itself is the loopback recorder (:mod:`tests.fixtures.slack_api`),
which the real ``WebClient`` posts the report to and updates it on.

Someone unmapped, and someone mapped but off the allowlist, are told why and nothing is stored; an
allowed reviewer's double click on Right is one verdict; the "Wrong, it was…" menu records the
real cause; the message says the latest verdict and who gave it, and keeps its buttons.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from sqlalchemy import select

from augur.agent.report import Report
from augur.server.slack.notifier import notifier_from_settings
from augur.server.store.database import Store
from augur.server.store.models import VerdictRow
from augur.server.web.app import create_app
from tests.fixtures.incidents import ranker_report, seed_incident
from tests.fixtures.serving import serving
from tests.fixtures.slack_api import SlackRecorder, signed_headers, slack_api
from tests.server.test_slack_http import SECRET, slack_settings

__all__ = ["ranker_report", "slack_api"]

TS = "1700000009.000200"


def _click(base: str, user: str, action: dict[str, Any], blocks: list[dict[str, Any]]) -> httpx.Response:
    payload = {"type": "block_actions", "user": {"id": user},
               "container": {"type": "message", "channel_id": "C0RANKING", "message_ts": TS},
               "message": {"ts": TS, "blocks": blocks}, "actions": [action]}
    body = urlencode({"payload": json.dumps(payload)}).encode()
    return httpx.post(f"{base}/slack/interactive", content=body, timeout=10, headers={
        "Content-Type": "application/x-www-form-urlencoded", **signed_headers(SECRET, body)})


def _rows(store: Store) -> list[tuple[str, str | None, str, str]]:
    with store.read_session() as session:
        return [(r.verdict, r.real_cause, r.actor, r.via)
                for r in session.scalars(select(VerdictRow).order_by(VerdictRow.id))]


def test_verdict_buttons_record_as_the_mapped_reviewer_once_and_update_the_report(
        store: Store, store_url: str, tmp_path: Path, slack_api: SlackRecorder,
        ranker_report: Report) -> None:
    settings = slack_settings(store_url, slack_api, tmp_path, reviewers=["alice"],
                              slack_reviewers={"U0ALICE": "alice", "U0MALLORY": "mallory"})
    incident = seed_incident(store, ranker_report)
    notifier_from_settings(settings, store).post_report(incident, ranker_report)
    report_post = slack_api.calls_to("chat.postMessage")[-1].body
    blocks = report_post["blocks"]
    actions = next(b for b in blocks if b.get("block_id") == f"verdict:{incident}")
    right, wrong, not_actionable = actions["elements"]
    assert (right["action_id"], right["value"]) == ("verdict_confirmed", str(incident))
    assert (not_actionable["action_id"], not_actionable["value"]) == (
        "verdict_not_actionable", str(incident))
    menu = {o["value"] for o in wrong["options"]}
    # The other candidates, not the one named.
    assert f"{incident}:ranker-serving" in menu and f"{incident}:feature-pipeline" not in menu

    with serving(create_app(settings, store=store)) as base:
        assert _click(base, "U0EVE", right, blocks).status_code == 200
        assert _click(base, "U0MALLORY", right, blocks).status_code == 200
        slack_api.wait_for(lambda calls: sum(c.api_method == "chat.postEphemeral" for c in calls) == 2)
        notes = {c.body["user"]: c.body["text"] for c in slack_api.calls_to("chat.postEphemeral")}
        assert "not a reviewer" in notes["U0EVE"] and "allowlist" in notes["U0MALLORY"]
        assert _rows(store) == [] and slack_api.calls_to("chat.update") == []

        answers: list[int] = []
        clicks = [threading.Thread(target=lambda: answers.append(_click(base, "U0ALICE", right, blocks)
                                                                 .status_code)) for _ in range(2)]
        for thread in clicks:
            thread.start()
        for thread in clicks:
            thread.join()
        assert answers == [200, 200]
        slack_api.wait_for(lambda calls: sum(c.api_method == "chat.update" for c in calls) == 2,
                           timeout=30)
        assert _rows(store) == [("confirmed", None, "alice", "slack")]  # a double click is one verdict
        updated = slack_api.calls_to("chat.update")[-1].body
        shown = json.dumps(updated["blocks"], ensure_ascii=False)
        assert updated["ts"] == TS and "Verdict: Right — by alice" in shown

        chosen = {**wrong, "selected_option": {"value": f"{incident}:ranker-serving"}}
        assert _click(base, "U0ALICE", chosen, updated["blocks"]).status_code == 200
        slack_api.wait_for(lambda calls: sum(c.api_method == "chat.update" for c in calls) == 3,
                           timeout=30)
    assert _rows(store) == [("confirmed", None, "alice", "slack"),
                            ("wrong", "ranker-serving", "alice", "slack")]
    last = slack_api.calls_to("chat.update")[-1].body["blocks"]
    outcome = [b for b in last if b.get("block_id") == "verdict_outcome"]
    said = json.dumps(outcome, ensure_ascii=False)
    assert len(outcome) == 1 and "Wrong, it was `ranker-serving` — by alice" in said
    assert any(b.get("block_id") == f"verdict:{incident}" for b in last)  # the buttons stay


def test_an_inconclusive_report_offers_no_right_button(ranker_report: Report) -> None:
    from augur.server.slack.blocks import verdict_blocks

    unsure = ranker_report.model_copy(deep=True)
    unsure.root_cause.verdict, unsure.root_cause.component = "inconclusive", None
    elements = verdict_blocks(7, unsure)[0]["elements"]
    assert [e["action_id"] for e in elements] == ["verdict_wrong", "verdict_not_actionable"]
    assert "7:feature-pipeline" in {o["value"] for o in elements[0]["options"]}
