"""Approve / Reject buttons: a click becomes a review action through the rules' review flow.

The button's ``value`` is only the proposal id. On a click the server maps the Slack user (whose
id Slack signed into the request) to a reviewer name with ``slack_reviewers``, checks that name
against the reviewer allowlist (``reviewers``), and calls
:meth:`augur.server.web.proposals.ProposalService.decide_as` — the same state machine and apply as the
HTTP API and the review page. Double clicks are harmless: clicks on one proposal are serialised in
this process, and the review state machine is a compare-and-set in the database, so a second
click answers the settled state and applies nothing. The message is then updated (``chat.update``)
to show the outcome; a refused user gets an ephemeral note and the message is left as it was.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

from slack_sdk import WebClient

from augur.agent.escape import slack_text
from augur.rules.review import Forbidden, ReviewError, ReviewOutcome
from augur.server.review import ProposalService
from augur.server.slack.blocks import APPROVE, REJECT, proposal_blocks

__all__ = ["Click", "SlackApprovals", "slack_reviewer"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Click:
    """One button click, from a ``block_actions`` payload."""

    user_id: str
    action_id: str
    proposal_id: str
    channel: str | None
    message_ts: str | None


def slack_reviewer(user_id: str, mapping: Mapping[str, str], allowed: frozenset[str]) -> str:
    """The reviewer name of a Slack user; :class:`Forbidden` if unmapped or off the allowlist."""
    name = mapping.get(user_id)
    if name is None:
        raise Forbidden(f"Slack user {user_id} is not a reviewer: ask to be added to AUGUR_SLACK_REVIEWERS")
    if allowed and name not in allowed:
        raise Forbidden(f"{name} is not on the reviewer allowlist (AUGUR_REVIEWERS)")
    return name


@dataclass
class SlackApprovals:
    """Turns clicks into review actions and updates the Slack message."""

    service: ProposalService
    client: WebClient
    reviewers: Mapping[str, str]
    _locks: dict[str, threading.Lock] = field(default_factory=dict)
    _guard: threading.Lock = field(default_factory=threading.Lock)

    def _lock(self, proposal_id: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(proposal_id, threading.Lock())

    def decide(self, click: Click) -> ReviewOutcome:
        """Authorise the user and approve/reject; raises :class:`ReviewError` (Forbidden, Conflict...)."""
        if click.action_id not in (APPROVE, REJECT):
            raise ReviewError(f"unknown action {click.action_id!r}")
        reviewer = slack_reviewer(click.user_id, self.reviewers, self.service.reviewers.allowed)
        action = "approve" if click.action_id == APPROVE else "reject"
        with self._lock(click.proposal_id):
            return self.service.decide_as(click.proposal_id, action, reviewer,
                                          f"via Slack by user {click.user_id}")

    def handle(self, click: Click) -> ReviewOutcome | None:
        """Decide, then update the message (or tell a refused user why); None when refused."""
        try:
            outcome = self.decide(click)
        except ReviewError as exc:
            log.info("Slack click by %s on %s refused: %s", click.user_id, click.proposal_id, exc)
            if click.channel:
                self.client.chat_postEphemeral(channel=click.channel, user=click.user_id,
                                               text=f"Not done: {slack_text(exc)}")
            return None
        events = self.service.repo.events(click.proposal_id)
        reviewer = next((e.actor for e in reversed(events)
                         if e.to_state.value in ("approved", "rejected")), None)
        detail = events[-1].comment if events and events[-1].actor == "augur" else ""
        if click.channel and click.message_ts:
            self.client.chat_update(
                channel=click.channel, ts=click.message_ts,
                text=f"{'Action' if outcome.proposal.is_action else 'Rule'} proposal "
                     f"{slack_text(outcome.proposal.title)}: {outcome.proposal.state.value}",
                blocks=proposal_blocks(outcome.proposal, actor=reviewer, detail=detail))
        return outcome
