"""Posting to Slack: each incident gets one thread; reports, proposals and postmortems go into it.

The channel comes from the incident's alert labels (``slack_routes``, first match wins, else
``slack_channel``). The incident's first message is posted on the first notification and
recorded in ``slack_threads``; everything later is a reply in that thread (``thread_ts``). The
first post is claimed before it is made (a ``pending-<id>`` row under a unique incident id), so
two notifications of one incident at the same moment post one first message, not two; a claim
left by a poster that crashed mid-post is retaken after :data:`CLAIM_TIMEOUT_S`.
Posted proposals are recorded on the incident's timeline (``slack_proposal_posted``) so that a
re-run does not post them twice.

The :class:`~slack_sdk.WebClient` is passed in (tests point its ``base_url`` at a recorder).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from slack_sdk import WebClient
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from augur.agent.escape import slack_text
from augur.agent.report import Report
from augur.rules.proposal import Proposal, ProposalState
from augur.server.settings import Settings, SlackRoute
from augur.server.slack.blocks import incident_blocks, proposal_blocks, report_blocks
from augur.server.store.database import Store
from augur.server.store.models import AlertEpisode, Incident, IncidentEvent, SlackThread, utcnow
from augur.server.store.proposals import SqlProposalStore

__all__ = ["ReportHook", "SlackNotifier", "notifier_from_settings", "postmortem_hook", "report_hook",
           "web_client"]

log = logging.getLogger(__name__)

#: The investigation handler's callback: ``hook(store, incident_id, report)`` after the report is stored.
ReportHook = Callable[[Store, int, Report], None]
POSTED = "slack_proposal_posted"
#: ``slack_threads.ts`` prefix of a first message being posted.
PENDING = "pending-"
#: How long a claim on an incident's first post holds before another notifier may retake it.
CLAIM_TIMEOUT_S = 60


def web_client(settings: Settings) -> WebClient:
    """A Web API client with the bot token, at ``slack_api_url`` when set."""
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    if settings.slack_api_url:
        return WebClient(token=token, base_url=settings.slack_api_url.rstrip("/") + "/", timeout=10)
    return WebClient(token=token, timeout=10)


class SlackNotifier:
    """Posts an incident's messages into its Slack thread."""

    def __init__(self, client: WebClient, store: Store, *, routes: Sequence[SlackRoute] = (),
                 default_channel: str | None = None, base_url: str | None = None) -> None:
        self.client = client
        self.store = store
        self.routes = list(routes)
        self.default_channel = default_channel
        self.base_url = base_url.rstrip("/") if base_url else None

    def channel_for(self, labels: dict[str, str]) -> str | None:
        """The channel for an alert's labels: the first route whose ``match`` all hold, else the default."""
        for route in self.routes:
            if all(labels.get(k) == v for k, v in route.match.items()):
                return str(route.channel)
        return self.default_channel

    def thread_of(self, incident_id: int) -> tuple[str, str] | None:
        """``(channel, ts)`` of the incident's first message, if it was posted."""
        with self.store.read_session() as session:
            row = session.scalars(select(SlackThread).where(SlackThread.incident_id == incident_id)).first()
            return (row.channel, row.ts) if row and not row.ts.startswith(PENDING) else None

    def _claim(self, incident_id: int, channel: str) -> bool:
        """Take the right to post the incident's first message; False if another notifier holds it."""
        now = utcnow()
        try:
            with self.store.transaction() as session:
                session.add(SlackThread(incident_id=incident_id, channel=channel,
                                        ts=f"{PENDING}{incident_id}", claimed_at=now))
            return True
        except IntegrityError:
            pass
        # Held: by a live poster (wait for its ts), or by one that crashed mid-post (retake it).
        with self.store.transaction() as session:
            taken = session.execute(
                update(SlackThread)
                .where(SlackThread.incident_id == incident_id, SlackThread.ts.startswith(PENDING),
                       SlackThread.claimed_at < now - timedelta(seconds=CLAIM_TIMEOUT_S))
                .values(claimed_at=now)
            ).rowcount  # type: ignore[attr-defined]
        return bool(taken)

    def _await_thread(self, incident_id: int) -> tuple[str, str] | None:
        deadline = time.monotonic() + CLAIM_TIMEOUT_S
        while time.monotonic() < deadline:
            if (found := self.thread_of(incident_id)) is not None:
                return found
            with self.store.read_session() as session:
                held = session.scalars(select(SlackThread.id).where(SlackThread.incident_id == incident_id))
                if held.first() is None:
                    return None  # the other poster failed and let go; this message goes unthreaded
            time.sleep(0.2)
        log.warning("incident %s: another notifier has been posting its first Slack message for %d s; "
                    "not posting a second one", incident_id, CLAIM_TIMEOUT_S)
        return None

    def _incident(self, incident_id: int) -> tuple[str, dict[str, str]]:
        with self.store.read_session() as session:
            incident = session.get(Incident, incident_id)
            if incident is None:
                raise LookupError(f"no incident {incident_id}")
            episode = session.scalars(select(AlertEpisode).where(AlertEpisode.incident_id == incident_id)
                                      .order_by(AlertEpisode.starts_at).limit(1)).first()
            labels = {str(k): str(v) for k, v in (episode.labels if episode else {}).items()}
            return incident.title, labels

    def ensure_thread(self, incident_id: int, labels: dict[str, str] | None = None) -> tuple[str, str] | None:
        """The incident's thread, posting its first message if needed; None when no channel is routed."""
        found = self.thread_of(incident_id)
        if found is not None:
            return found
        title, stored_labels = self._incident(incident_id)
        labels = {**stored_labels, **(labels or {})}
        channel = self.channel_for(labels)
        if channel is None:
            log.warning("incident %s: no Slack channel matches its labels and AUGUR_SLACK_CHANNEL is unset",
                        incident_id)
            return None
        if not self._claim(incident_id, channel):
            return self._await_thread(incident_id)
        link = f"{self.base_url}/v1/incidents/{incident_id}" if self.base_url else None
        try:
            response = self.client.chat_postMessage(channel=channel,
                                                    text=slack_text(f"Incident #{incident_id}: {title}"),
                                                    blocks=incident_blocks(incident_id, title, labels, link))
        except Exception:
            with self.store.transaction() as session:  # let go, so a later notification can post it
                session.execute(delete(SlackThread).where(SlackThread.incident_id == incident_id,
                                                          SlackThread.ts.startswith(PENDING)))
            raise
        posted_channel, ts = str(response["channel"]), str(response["ts"])
        with self.store.transaction() as session:
            session.execute(update(SlackThread).where(SlackThread.incident_id == incident_id)
                            .values(channel=posted_channel, ts=ts, claimed_at=None))
        return posted_channel, ts

    def post_report(self, incident_id: int, report: Report) -> str | None:
        """Post the report summary in the incident's thread; the reply's ``ts`` (None: no channel)."""
        thread = self.ensure_thread(incident_id, dict(report.alert.labels))
        if thread is None:
            return None
        channel, thread_ts = thread
        response = self.client.chat_postMessage(
            channel=channel, thread_ts=thread_ts, text=slack_text(report.title),
            blocks=report_blocks(incident_id, report, self.base_url))
        return str(response["ts"])

    def post_proposal(self, proposal: Proposal, channel: str, thread_ts: str) -> str:
        """Post one proposal with Approve/Reject buttons; its message ``ts``."""
        kind = "Action" if proposal.is_action else "Rule"
        response = self.client.chat_postMessage(channel=channel, thread_ts=thread_ts,
                                                text=slack_text(f"{kind} proposal: {proposal.title}"),
                                                blocks=proposal_blocks(proposal))
        return str(response["ts"])

    def post_proposals(self, incident_id: int) -> list[str]:
        """Post the incident's pending proposals not posted before; their message ids."""
        thread = self.ensure_thread(incident_id)
        if thread is None:
            return []
        with self.store.read_session() as session:
            posted = {str(e.detail.get("proposal_id")) for e in session.scalars(
                select(IncidentEvent).where(IncidentEvent.incident_id == incident_id,
                                            IncidentEvent.kind == POSTED))}
        pending = [p for p in SqlProposalStore(self.store).find(ProposalState.PENDING)
                   if p.incident_id == incident_id and p.id not in posted]
        out = []
        for proposal in sorted(pending, key=lambda p: p.created_at):
            ts = self.post_proposal(proposal, *thread)
            with self.store.transaction() as session:
                detail = {"proposal_id": proposal.id, "channel": thread[0], "ts": ts}
                session.add(IncidentEvent(incident_id=incident_id, at=utcnow(), kind=POSTED, detail=detail))
            out.append(ts)
        return out

    def post_postmortem(self, incident_id: int, summary: str, chart: Path | None) -> str | None:
        """Post the postmortem's summary and link in the thread, with its chart uploaded if given."""
        thread = self.ensure_thread(incident_id)
        if thread is None:
            return None
        channel, thread_ts = thread
        link = ""
        if self.base_url:
            where = f"{self.base_url}/v1/incidents/{incident_id}"
            link = f"\n<{where}/postmortem.html|Postmortem> · <{where}/postmortem.md|Markdown>"
        text = f"Postmortem of incident #{incident_id}: {slack_text(summary)}{link}"
        response = self.client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=text)
        if chart is not None and chart.exists():
            try:
                self.client.files_upload_v2(channel=channel, thread_ts=thread_ts, file=str(chart),
                                            filename=chart.name, title=f"Incident #{incident_id}: the chain")
            except Exception as exc:  # the link is already posted; a failed upload is not fatal
                log.warning("incident %s: chart upload to Slack failed: %s", incident_id, exc)
        return str(response["ts"])


def notifier_from_settings(
    settings: Settings, store: Store, client: WebClient | None = None
) -> SlackNotifier:
    """A notifier as configured (routes, default channel, public base URL)."""
    return SlackNotifier(client or web_client(settings), store, routes=settings.slack_routes,
                         default_channel=settings.slack_channel, base_url=settings.public_base_url)


def report_hook(settings: Settings) -> ReportHook | None:
    """The investigation handler's ``on_report`` callback posting to Slack; None when Slack is not set up."""
    if settings.slack_bot_token is None:
        return None

    def hook(store: Store, incident_id: int, report: Report) -> None:
        notifier = notifier_from_settings(settings, store)
        notifier.post_report(incident_id, report)
        notifier.post_proposals(incident_id)

    return hook


def postmortem_hook(settings: Settings) -> Callable[[Store, int, Any, Path], None] | None:
    """The postmortem job's callback posting the summary, links and chart; None without Slack."""
    if settings.slack_bot_token is None:
        return None

    def hook(store: Store, incident_id: int, postmortem: Any, directory: Path) -> None:
        summary = " ".join(s.text for s in postmortem.summary) or postmortem.title
        charts = [directory / name for name in postmortem.charts if name.endswith(".png")]
        notifier_from_settings(settings, store).post_postmortem(incident_id, summary,
                                                               charts[0] if charts else None)

    return hook
