"""The Slack app over HTTP, with the real ``slack_sdk`` clients talking to a loopback recorder.

No Slack is reachable here: ``WebClient(base_url=...)`` and the slash command's ``response_url``
point at :class:`tests.fixtures.slack_api.SlackRecorder`, which answers like Slack's Web API and
records each call. The app is served by a real uvicorn where timing matters (an ack must not
wait for the answer); requests are signed as Slack signs them. With ``AUGUR_TEST_SLACK_BOT_TOKEN``
and ``AUGUR_TEST_SLACK_CHANNEL`` set, :func:`test_live_slack_report` posts to the real Slack.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from fastapi.testclient import TestClient
from slack_sdk import WebClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from sqlalchemy import func, select

from augur.agent.report import Report
from augur.evals.servers import free_port
from augur.server.jobs.investigations import investigation_handler
from augur.server.jobs.worker import Worker
from augur.server.settings import Settings
from augur.server.slack.notifier import SlackNotifier, notifier_from_settings, report_hook
from augur.server.slack.socket_mode import socket_listener
from augur.server.store.database import Store
from augur.server.store.models import SlackEvent, SlackThread
from augur.server.web.app import create_app
from augur.server.web.slack_routes import handlers_for
from tests.agent.investigation_support import latency_alert, platform_catalog, registry_for
from tests.fixtures.incidents import ranker_report, seed_incident
from tests.fixtures.prometheus import PromHistory
from tests.fixtures.serving import serving
from tests.fixtures.slack_api import SlackRecorder, signed_headers, slack_api
from tests.server.conftest import ADMIN_TOKEN, row_counts, settings_for

__all__ = ["ranker_report", "slack_api"]

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
LIVE_TOKEN = os.environ.get("AUGUR_TEST_SLACK_BOT_TOKEN", "")


def slack_settings(store_url: str, recorder: SlackRecorder, tmp_path: Path, **extra: object) -> Settings:
    """Settings of an app wired to the recorder: bot token, signing secret, routes, reviewers."""
    return settings_for(
        store_url, data_dir=tmp_path, slack_bot_token="xoxb-test-token", slack_signing_secret=SECRET,
        slack_api_url=recorder.api_url, slack_channel="C0INCIDENTS",
        slack_routes=[{"match": {"service": "ranker-serving"}, "channel": "C0RANKING"}],
        public_base_url="https://augur.example", **extra)


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[tuple[str, Store]]:
    url = f"sqlite:///{tmp_path / 'augur.db'}"
    store = Store.open(url)
    try:
        yield url, store
    finally:
        store.dispose()


def _blocks_text(call_body: dict[str, object]) -> str:
    blocks = call_body.get("blocks")
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    return json.dumps(blocks)


def test_investigation_posts_a_threaded_report(sqlite_store: tuple[str, Store], slack_api: SlackRecorder,
                                               prom_history: PromHistory, tmp_path: Path) -> None:
    url, store = sqlite_store
    settings = slack_settings(url, slack_api, tmp_path)
    client = TestClient(create_app(settings, store=store), client=("127.0.0.1", 5000),
                        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    accepted = client.post("/v1/alertmanager",
                           json=latency_alert(prom_history.t_end - 40 * 60, prom_history.url))
    assert accepted.status_code < 300, accepted.text
    handler = investigation_handler(settings, registry=registry_for(prom_history.url, tmp_path),
                                    catalog=platform_catalog(), on_report=report_hook(settings))
    assert Worker(store, {"investigate": handler}).run_once()

    posts = slack_api.calls_to("chat.postMessage")
    assert len(posts) == 2, [p.body for p in posts]
    first, reply = posts
    assert first.headers["authorization"] == "Bearer xoxb-test-token"
    assert first.body["channel"] == "C0RANKING" and "thread_ts" not in first.body  # routed by label
    assert "Incident #1" in _blocks_text(first.body)
    first_ts = slack_api.calls_to("chat.postMessage")[0]
    with store.read_session() as session:
        thread = session.scalars(select(SlackThread)).one()
    assert reply.body["thread_ts"] == thread.ts and reply.body["channel"] == "C0RANKING"
    text = _blocks_text(reply.body)
    assert "feature-pipeline" in text and "Confidence" in text and "Top fixes" in text
    assert "https://augur.example/v1/incidents/1/report.md" in text
    assert first_ts.body["channel"] == thread.channel

    # A later report (a re-investigation) goes into the same thread; no second first message.
    report = Report.model_validate(client.get("/v1/incidents/1/report").json())
    notifier_from_settings(settings, store).post_report(1, report)
    posts = slack_api.calls_to("chat.postMessage")
    assert len(posts) == 3 and posts[2].body["thread_ts"] == thread.ts


def _command_body(text: str, response_url: str) -> bytes:
    return urlencode({"command": "/augur", "text": text, "user_id": "U0ALICE", "channel_id": "C0RANKING",
                      "response_url": response_url, "trigger_id": "1.2.3"}).encode()


def test_slash_command_acks_within_3_s_and_answers_later(
    sqlite_store: tuple[str, Store], slack_api: SlackRecorder, ranker_report: Report, tmp_path: Path
) -> None:
    url, store = sqlite_store
    incident = seed_incident(store, ranker_report)
    app = create_app(slack_settings(url, slack_api, tmp_path), store=store)
    slack_api.hold_responses()
    body = _command_body("why ranker-serving", slack_api.response_url())
    with serving(app) as base:
        started = time.monotonic()
        ack = httpx.post(f"{base}/slack/commands", content=body, timeout=10, headers={
            "Content-Type": "application/x-www-form-urlencoded", **signed_headers(SECRET, body)})
        elapsed = time.monotonic() - started
        assert ack.status_code == 200, ack.text
        assert elapsed < 3.0
        assert ack.json()["response_type"] == "ephemeral" and "Looking into" in ack.json()["text"]
        assert slack_api.calls_to("/response/cmd") == []  # the answer is still being held back
        slack_api.release.set()
        slack_api.wait_for(lambda calls: any(c.path == "/response/cmd" for c in calls))
    answer = slack_api.calls_to("/response/cmd")[0].body
    assert answer["response_type"] == "in_channel"
    assert f"Incident #{incident}" in answer["text"] and "feature-pipeline" in answer["text"]


def test_a_replayed_signed_command_runs_once(
    sqlite_store: tuple[str, Store], slack_api: SlackRecorder, ranker_report: Report, tmp_path: Path
) -> None:
    """The same signed request sent again inside the 5-minute window (an attacker who saw it, or a
    retry) is acknowledged and ignored, like a redelivered event; a new invocation still runs."""
    url, store = sqlite_store
    seed_incident(store, ranker_report)
    app = create_app(slack_settings(url, slack_api, tmp_path), store=store)
    body = _command_body("why ranker-serving", slack_api.response_url())
    headers = {"Content-Type": "application/x-www-form-urlencoded", **signed_headers(SECRET, body)}
    with serving(app) as base:
        first = httpx.post(f"{base}/slack/commands", content=body, timeout=10, headers=headers)
        slack_api.wait_for(lambda calls: any(c.path == "/response/cmd" for c in calls))
        replay = httpx.post(f"{base}/slack/commands", content=body, timeout=10, headers=headers)
        assert first.status_code == replay.status_code == 200
        assert "Looking into" in first.json()["text"] and "replayed" in replay.json()["text"]
        other = body.replace(b"trigger_id=1.2.3", b"trigger_id=1.2.4")
        again = httpx.post(f"{base}/slack/commands", content=other, timeout=10, headers={
            "Content-Type": "application/x-www-form-urlencoded", **signed_headers(SECRET, other)})
        assert "Looking into" in again.json()["text"]
        slack_api.wait_for(lambda calls: len([c for c in calls if c.path == "/response/cmd"]) == 2)
    time.sleep(0.3)
    assert len(slack_api.calls_to("/response/cmd")) == 2  # the replay answered nothing


def _mention(event_id: str, text: str = "<@U0AUGUR> why did ranker p99 jump?") -> bytes:
    return json.dumps({
        "type": "event_callback", "event_id": event_id, "team_id": "T0", "api_app_id": "A0",
        "event": {"type": "app_mention", "user": "U0BOB", "text": text, "channel": "C0RANKING",
                  "ts": "1700000100.000200"},
    }).encode()


def _click_body(proposal_id: str) -> bytes:
    payload = {"type": "block_actions", "user": {"id": "U0ALICE"},
               "container": {"channel_id": "C0RANKING", "message_ts": "1700000001.000100"},
               "actions": [{"action_id": "proposal_approve", "value": proposal_id}]}
    return urlencode({"payload": json.dumps(payload)}).encode()


@pytest.mark.parametrize("path,body", [
    ("/slack/events", _mention("Ev0UNSIGNED")),
    ("/slack/commands", _command_body("status", "http://127.0.0.1:9/response")),
    ("/slack/interactive", _click_body("pr-000000000000")),
])
def test_unsigned_wrongly_signed_or_stale_requests_are_refused(
    sqlite_store: tuple[str, Store], slack_api: SlackRecorder, tmp_path: Path, path: str, body: bytes
) -> None:
    url, store = sqlite_store
    client = TestClient(create_app(slack_settings(url, slack_api, tmp_path), store=store))
    before = row_counts(store)
    cases = {
        "unsigned": {},
        "wrong secret": signed_headers("not-the-secret", body),
        "six minutes old": signed_headers(SECRET, body, int(time.time()) - 360),
        "body changed after signing": signed_headers(SECRET, body + b"x"),
    }
    for case, headers in cases.items():
        answer = client.post(path, content=body, headers={"Content-Type": "application/json", **headers})
        assert answer.status_code == 401, (case, answer.text)
        assert answer.json()["error"] == "invalid_signature"
    stale = client.post(path, content=body, headers=cases["six minutes old"]).json()["reason"]
    assert "limit 300 s" in stale
    time.sleep(0.2)
    assert row_counts(store) == before
    assert slack_api.calls == []


def test_url_verification_answers_the_challenge(sqlite_store: tuple[str, Store], slack_api: SlackRecorder,
                                                tmp_path: Path) -> None:
    url, store = sqlite_store
    client = TestClient(create_app(slack_settings(url, slack_api, tmp_path), store=store))
    challenge = "3eZbrw1aBm2rZgRNFdxV"
    body = json.dumps({"type": "url_verification", "token": "x", "challenge": challenge}).encode()
    answer = client.post("/slack/events", content=body, headers=signed_headers(SECRET, body))
    assert answer.status_code == 200 and answer.json() == {"challenge": challenge}


def test_a_retried_event_is_answered_once(sqlite_store: tuple[str, Store], slack_api: SlackRecorder,
                                          ranker_report: Report, tmp_path: Path) -> None:
    url, store = sqlite_store
    incident = seed_incident(store, ranker_report)
    app = create_app(slack_settings(url, slack_api, tmp_path), store=store)
    body = _mention("Ev0RETRIED01")
    with serving(app) as base:
        first = httpx.post(f"{base}/slack/events", content=body, headers=signed_headers(SECRET, body))
        retry = httpx.post(f"{base}/slack/events", content=body,
                           headers={**signed_headers(SECRET, body), "X-Slack-Retry-Num": "1",
                                    "X-Slack-Retry-Reason": "http_timeout"})
        assert first.status_code == retry.status_code == 200
        assert retry.json() == {"ok": True, "duplicate": "Ev0RETRIED01"}
        slack_api.wait_for(lambda calls: any(c.api_method == "chat.postMessage" for c in calls))
        time.sleep(0.5)
    posts = slack_api.calls_to("chat.postMessage")
    assert len(posts) == 1
    assert posts[0].body["thread_ts"] == "1700000100.000200" and posts[0].body["channel"] == "C0RANKING"
    assert f"Incident #{incident}" in posts[0].body["text"]
    with store.read_session() as session:
        assert session.scalar(select(func.count()).select_from(SlackEvent)) == 1


class _SocketRecorder:
    """Stands in for the WebSocket side of a Socket Mode client: records the acks sent back."""

    def __init__(self) -> None:
        self.acks: list[SocketModeResponse] = []

    def send_socket_mode_response(self, response: SocketModeResponse) -> None:
        self.acks.append(response)


def test_socket_mode_shares_the_handlers(sqlite_store: tuple[str, Store], slack_api: SlackRecorder,
                                         ranker_report: Report, tmp_path: Path) -> None:
    url, store = sqlite_store
    incident = seed_incident(store, ranker_report)
    handlers = handlers_for(slack_settings(url, slack_api, tmp_path), store)
    listen = socket_listener(handlers, background=False)
    socket = _SocketRecorder()
    command = SocketModeRequest(type="slash_commands", envelope_id="env-1", payload={
        "command": "/augur", "text": f"why {incident}", "response_url": slack_api.response_url("sock")})
    listen(socket, command)  # type: ignore[arg-type]
    assert socket.acks[0].envelope_id == "env-1" and "Looking into" in socket.acks[0].payload["text"]
    assert "feature-pipeline" in slack_api.calls_to("/response/sock")[0].body["text"]
    mention = SocketModeRequest(type="events_api", envelope_id="env-2",
                                payload=json.loads(_mention("Ev0SOCK")))
    listen(socket, mention)  # type: ignore[arg-type]
    listen(socket, mention)  # type: ignore[arg-type]  # redelivered
    assert [a.envelope_id for a in socket.acks] == ["env-1", "env-2", "env-2"]
    assert len(slack_api.calls_to("chat.postMessage")) == 1


@pytest.mark.live
@pytest.mark.skipif(not (LIVE_TOKEN and os.environ.get("AUGUR_TEST_SLACK_CHANNEL")),
                    reason="set AUGUR_TEST_SLACK_BOT_TOKEN and AUGUR_TEST_SLACK_CHANNEL for a real Slack")
def test_live_slack_report(sqlite_store: tuple[str, Store], ranker_report: Report, tmp_path: Path) -> None:
    url, store = sqlite_store
    incident = seed_incident(store, ranker_report)
    settings = settings_for(url, data_dir=tmp_path, slack_bot_token=LIVE_TOKEN,
                            slack_channel=os.environ["AUGUR_TEST_SLACK_CHANNEL"])
    notifier = notifier_from_settings(settings, store, WebClient(token=LIVE_TOKEN))
    assert notifier.post_report(incident, ranker_report)


def test_concurrent_notifications_post_one_first_message(
        store: Store, store_url: str, slack_api: SlackRecorder, tmp_path: Path) -> None:
    """Issue 14: a report and a postmortem (or two workers) notifying one incident at once used to
    post two first messages; now one is posted, and every notifier threads under it."""
    incident_id = seed_incident(store, None, title="RankerP99High on ranker-serving")
    settings = slack_settings(store_url, slack_api, tmp_path)
    slack_api.answer_delay_s = 0.3  # every poster is mid-post at the same time
    notifiers = [notifier_from_settings(settings, store) for _ in range(6)]
    start = threading.Barrier(len(notifiers))
    threads: list[tuple[str, str] | None] = []

    def notify(notifier: SlackNotifier) -> None:
        start.wait()
        threads.append(notifier.ensure_thread(incident_id))

    with ThreadPoolExecutor(len(notifiers)) as pool:
        list(pool.map(notify, notifiers))
    firsts = [c for c in slack_api.calls_to("chat.postMessage") if "thread_ts" not in c.body]
    assert len(firsts) == 1, [c.body for c in firsts]
    with store.read_session() as session:
        thread = session.scalars(select(SlackThread)).one()
    assert set(threads) == {(thread.channel, thread.ts)} and not thread.ts.startswith("pending")


def test_a_failed_first_post_lets_the_next_notification_post_it(
        store: Store, store_url: str, slack_api: SlackRecorder, tmp_path: Path) -> None:
    incident_id = seed_incident(store, None, title="RankerP99High on ranker-serving")
    settings = slack_settings(store_url, slack_api, tmp_path)
    broken = settings.model_copy(update={"slack_api_url": f"http://127.0.0.1:{free_port()}/api/"})
    with pytest.raises(OSError):  # connection refused: nothing answered
        notifier_from_settings(broken, store).ensure_thread(incident_id)
    assert row_counts(store)["slack_threads"] == 0  # the claim was let go
    found = notifier_from_settings(settings, store).ensure_thread(incident_id)
    assert found is not None and len(slack_api.calls_to("chat.postMessage")) == 1
