"""What augur does with a Slack request, shared by the HTTP endpoints and Socket Mode.

Each handler takes the request's parsed payload and returns an :class:`Ack`: the body to answer
Slack with right away (Slack wants it within 3 s) and the slow ``work`` to run after the answer
(FastAPI background task, or a thread in Socket Mode):

- events (``app_mention``): answered in the thread with ``chat.postMessage``; a retried delivery
  of an ``event_id`` already handled is acknowledged and ignored (``slack_events`` unique key);
- slash commands (``/augur why|status|ask ...``): an ephemeral "looking into it" now, the answer
  later through the command's ``response_url``; a replayed command (same ``trigger_id`` or
  signature) runs once, like events;
- interactive payloads (``block_actions`` on proposal buttons): an empty 200 now, the review
  action and ``chat.update`` later (:mod:`augur.server.slack.approvals`); on a report's verdict
  buttons the same, through :mod:`augur.server.slack.verdicts` (a malformed verdict value is a 422).

Signatures are checked before any of this (:mod:`augur.server.slack.signature`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from slack_sdk import WebClient
from slack_sdk.webhook import WebhookClient
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from augur.agent.escape import slack_code, slack_text
from augur.server.jobs.questions import ask
from augur.server.slack.approvals import Click, SlackApprovals
from augur.server.slack.blocks import APPROVE, REJECT, VERDICT_ACTIONS, answer_blocks
from augur.server.slack.verdicts import SlackVerdicts, verdict_click
from augur.server.store.database import Store
from augur.server.store.models import SlackEvent, utcnow

if TYPE_CHECKING:
    from augur.agent.chat_llm import ChatLLM

__all__ = ["SLACK_EVENT_RETENTION", "Ack", "SlackHandlers", "record_event", "run_safely"]

log = logging.getLogger(__name__)


@dataclass
class Ack:
    """The immediate answer to Slack, and the work to do after it has been sent."""

    body: dict[str, Any] | None = None
    work: Callable[[], None] | None = None


#: How long a handled Slack event id is remembered: Slack retries a delivery within minutes.
SLACK_EVENT_RETENTION = timedelta(days=1)


def record_event(store: Store, event_id: str, *, retention: timedelta = SLACK_EVENT_RETENTION) -> bool:
    """Remember a Slack event id; False if it was already handled (a retry).

    Ids older than ``retention`` are forgotten in the same transaction, so ``slack_events`` holds
    about a day of events instead of growing for ever.
    """
    now = utcnow()
    try:
        with store.transaction() as session:
            session.execute(delete(SlackEvent).where(SlackEvent.received_at < now - retention))
            session.add(SlackEvent(event_id=event_id, received_at=now))
    except IntegrityError:
        return False
    return True


class SlackHandlers:
    """Events, commands and interactions, answered from the store and the review flow."""

    def __init__(self, store: Store, client: WebClient, approvals: SlackApprovals,
                 *, response_client: Callable[[str], WebhookClient] = WebhookClient,
                 chat: Callable[[], ChatLLM | None] | None = None,
                 verdicts: SlackVerdicts | None = None) -> None:
        self.store = store
        # Makes the LLM chat for one question (None: deterministic answers). One per question:
        # answers run in worker threads, each with its own event loop and HTTP connections.
        self.chat = chat
        self.client = client
        self.approvals = approvals
        # Verdicts are given by the same people, mapped the same way, as proposal approvals.
        self.verdicts = verdicts or SlackVerdicts(store, client, approvals.reviewers,
                                                  approvals.service.reviewers.allowed)
        self.response_client = response_client

    def on_event(self, payload: dict[str, Any]) -> Ack:
        """An Events API body: ``url_verification`` or an ``event_callback``."""
        kind = payload.get("type")
        if kind == "url_verification":
            return Ack({"challenge": str(payload.get("challenge", ""))})
        if kind != "event_callback":
            return Ack({"ok": True, "ignored": f"type {kind!r}"})
        event_id = str(payload.get("event_id") or "")
        event = payload.get("event") or {}
        if not event_id:
            return Ack({"ok": True, "ignored": "no event_id"})
        if not record_event(self.store, event_id):
            return Ack({"ok": True, "duplicate": event_id})
        if event.get("type") != "app_mention" or event.get("bot_id"):
            return Ack({"ok": True})
        channel, text = str(event.get("channel", "")), str(event.get("text", ""))
        thread_ts = str(event.get("thread_ts") or event.get("ts") or "")

        def work() -> None:
            result = ask(self.store, text, chat=self.chat() if self.chat else None)
            self.client.chat_postMessage(channel=channel, thread_ts=thread_ts or None,
                                         text=slack_text(result.as_text()), blocks=answer_blocks(result))

        return Ack({"ok": True}, work)

    def on_command(self, form: dict[str, str], *, replay_key: str | None = None) -> Ack:
        """A slash command (``/augur why 12``): ephemeral ack now, the answer via ``response_url``.

        Each invocation runs once, like events: a request seen before (same ``trigger_id``, else
        the same ``replay_key``, the HTTP signature) is acknowledged and ignored.
        """
        trigger = form.get("trigger_id") or replay_key
        if trigger and not record_event(self.store, f"command:{trigger}"[:128]):
            return Ack({"response_type": "ephemeral", "text": "Already answered (a replayed command)."})
        text = form.get("text", "").strip()
        response_url = form.get("response_url", "")
        if not text:
            text = "help"

        def work() -> None:
            result = ask(self.store, text, chat=self.chat() if self.chat else None)
            if response_url:
                self.response_client(response_url).send(
                    text=slack_text(result.as_text()), blocks=answer_blocks(result),
                    response_type="in_channel")

        return Ack({"response_type": "ephemeral", "text": f"Looking into {slack_code(text)}…"}, work)

    def on_interactive(self, payload: dict[str, Any]) -> Ack:
        """An interactive payload: proposal buttons in ``block_actions``; anything else is acked."""
        if payload.get("type") != "block_actions":
            return Ack()
        user = str((payload.get("user") or {}).get("id", ""))
        container = payload.get("container") or {}
        channel = str(container.get("channel_id") or (payload.get("channel") or {}).get("id") or "")
        message_ts = str(container.get("message_ts") or (payload.get("message") or {}).get("ts") or "")
        actions = [a for a in payload.get("actions", []) if isinstance(a, dict)]
        clicks = [Click(user_id=user, action_id=str(a.get("action_id")), proposal_id=str(a.get("value", "")),
                        channel=channel or None, message_ts=message_ts or None)
                  for a in actions if a.get("action_id") in (APPROVE, REJECT)]
        blocks = tuple(b for b in (payload.get("message") or {}).get("blocks", []) if isinstance(b, dict))
        judged = [verdict_click(a, i, user, channel or None, message_ts or None, blocks)
                  for i, a in enumerate(actions) if a.get("action_id") in VERDICT_ACTIONS]
        if not clicks and not judged:
            return Ack()

        def work() -> None:
            for click in clicks:
                self.approvals.handle(click)
            for verdict in judged:
                self.verdicts.handle(verdict)

        return Ack(None, work)


def run_safely(work: Callable[[], None]) -> None:
    """Run post-ack work, logging (not raising) its failure: Slack already has its answer."""
    try:
        work()
    except Exception:
        log.exception("Slack work after the ack failed")
