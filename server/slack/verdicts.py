"""The report's verdict buttons in Slack: Right, Wrong — it was… (a menu of the other candidates),
Not actionable.

As with the proposal buttons (:mod:`augur.server.slack.approvals`), a click carries only the
incident id (and, from the menu, the component); the Slack user, whose id Slack signed into the
request, is mapped to a reviewer with ``slack_reviewers`` and checked against the reviewer
allowlist (``reviewers``). The verdict is recorded as that reviewer through
:func:`augur.server.store.verdicts.record_verdict` — the same table, audit and rules as the API,
the page and the CLI. Clicks on one incident are serialised in this process, and a repeat of the
latest verdict by the same person writes nothing, so a double click is one row. The report
message is then updated with a line saying the verdict and who gave it (the buttons stay: a
verdict can be changed); a refused user gets an ephemeral note and nothing is stored.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from slack_sdk import WebClient

from augur.agent.escape import slack_code, slack_text
from augur.rules.review import ReviewError
from augur.server.errors import ApiError
from augur.server.slack.approvals import slack_reviewer
from augur.server.slack.blocks import (
    VERDICT_NOT_ACTIONABLE,
    VERDICT_OUTCOME,
    VERDICT_RIGHT,
    VERDICT_WRONG,
    verdict_outcome_block,
)
from augur.server.store.database import Store
from augur.server.store.verdicts import Recorded, record_verdict
from augur.server.validation import MAX_ID, check_verdict

__all__ = ["SlackVerdicts", "VerdictClick", "verdict_click"]

log = logging.getLogger(__name__)

_WORDS = {"confirmed": "Right", "wrong": "Wrong", "not_actionable": "Not actionable"}


@dataclass(frozen=True)
class VerdictClick:
    """One verdict click, from a ``block_actions`` payload."""

    user_id: str
    verdict: str
    incident_id: int
    real_cause: str | None
    channel: str | None
    message_ts: str | None
    blocks: tuple[dict[str, Any], ...] = ()


def _incident_id(text: str, where: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_ID:
        raise ApiError(422, "invalid_request", f"{where}: {text[:20]!r} is not an incident id")
    return int(text)


def verdict_click(action: Mapping[str, Any], index: int, user_id: str, channel: str | None,
                  message_ts: str | None, blocks: tuple[dict[str, Any], ...] = ()) -> VerdictClick:
    """A verdict action of a payload as a click; a 422 naming the field when its value is malformed."""
    action_id = action.get("action_id")
    if action_id == VERDICT_WRONG:
        value = str((action.get("selected_option") or {}).get("value", ""))
        incident, sep, cause = value.partition(":")
        if not sep or not cause:
            raise ApiError(422, "invalid_request",
                           f"actions.{index}.selected_option.value: expected incident_id:component")
        where = f"actions.{index}.selected_option.value"
        return VerdictClick(user_id, "wrong", _incident_id(incident, where), cause, channel, message_ts,
                            blocks)
    verdict = "confirmed" if action_id == VERDICT_RIGHT else "not_actionable"
    assert action_id in (VERDICT_RIGHT, VERDICT_NOT_ACTIONABLE)
    incident_id = _incident_id(str(action.get("value", "")), f"actions.{index}.value")
    return VerdictClick(user_id, verdict, incident_id, None, channel, message_ts, blocks)


@dataclass
class SlackVerdicts:
    """Turns verdict clicks into recorded verdicts and updates the report message."""

    store: Store
    client: WebClient
    reviewers: Mapping[str, str]
    allowed: frozenset[str] = frozenset()
    _locks: dict[int, threading.Lock] = field(default_factory=dict)
    _guard: threading.Lock = field(default_factory=threading.Lock)

    def _lock(self, incident_id: int) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(incident_id, threading.Lock())

    def record(self, click: VerdictClick) -> Recorded:
        """Authorise the user and record; :class:`ReviewError` (not a reviewer) or :class:`ApiError`."""
        reviewer = slack_reviewer(click.user_id, self.reviewers, self.allowed)
        judgement = check_verdict(click.verdict, click.real_cause)
        with self._lock(click.incident_id):
            return record_verdict(self.store, click.incident_id, judgement, reviewer, "slack")

    def handle(self, click: VerdictClick) -> Recorded | None:
        """Record, then update the message (or tell a refused user why); None when refused."""
        try:
            recorded = self.record(click)
        except (ReviewError, ApiError) as exc:
            reason = exc.reason if isinstance(exc, ApiError) else str(exc)
            log.info("Slack verdict by %s on incident %s refused: %s", click.user_id, click.incident_id,
                     reason)
            if click.channel:
                self.client.chat_postEphemeral(channel=click.channel, user=click.user_id,
                                               text=f"Not recorded: {slack_text(reason)}")
            return None
        v = recorded.verdict
        said = _WORDS[v.verdict] + (f", it was {slack_code(v.real_cause)}" if v.real_cause else "")
        line = f":ballot_box_with_check: Verdict: {said} — by {slack_text(v.by)} at {v.at:%H:%M} UTC"
        kept = [b for b in click.blocks if b.get("block_id") != VERDICT_OUTCOME]
        if click.channel and not (click.message_ts and kept):  # no message to update: tell the user
            self.client.chat_postEphemeral(channel=click.channel, user=click.user_id, text=line)
        elif click.channel and click.message_ts:
            self.client.chat_update(channel=click.channel, ts=click.message_ts,
                                    text=f"Incident #{click.incident_id}: verdict {_WORDS[v.verdict]}",
                                    blocks=[*kept, verdict_outcome_block(line)])
        return recorded
