"""Pulling Alertmanager's ``GET /api/v2/alerts`` into the same episodes and incidents as webhooks.

Why: a webhook never carries an inhibited or silenced alert, and a notification lost while augur
was down is only re-sent at the route's ``repeat_interval``. A pull sees every alert Alertmanager
holds, suppressed or not.

One write path: each pull is turned into :class:`~augur.server.intake.webhook.WebhookPayload` objects
(one per receiver set and ``alertname``, with a ``alertmanager-pull:...`` group key, since the API
does not expose Alertmanager's own group keys) and stored by :func:`augur.server.intake.ingest.ingest_many`,
so episodes stay keyed by ``(fingerprint, startsAt)`` and a second pull of the same alerts changes
nothing. A suppressed alert (silenced or inhibited) is stored and joins an open incident it belongs
to, but never opens or investigates one on its own: it waits, unassigned, until it fires
unsuppressed (a later pull, or the webhook). In the same transaction the suppression of each
pulled alert is put on its incident's
timeline — an ``alert_suppressed`` event (``inhibited_by`` with the inhibiting alerts' names,
``silenced_by`` with each silence's author and comment) when it becomes suppressed or its
suppressors change, ``alert_unsuppressed`` when it is active again — so a report can say "this
alert was inhibited by X". Unchanged suppression records nothing.

Alerts that vanish from the pull: Alertmanager lists every alert that has not ended, and keeps
alerts in memory only, so "absent" means "resolved" only when the *same* Alertmanager process
listed the alert before. :class:`AlertPuller` therefore resolves (``endsAt`` = the pull time) an
episode only if the previous pull by the same puller listed it, Alertmanager's start time
(``/api/v2/status`` ``uptime``) and running config are unchanged since that pull, and the episode
is still firing in the store. After a restart of Alertmanager or of augur, a config reload, or
behind a load balancer over several replicas, nothing is resolved by absence: the resolved
webhook (``send_resolved``) does it. A failed pull (Alertmanager down, bad answer) raises
:class:`PullError` before anything is written.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from augur.server.intake.grouping import GroupingPolicy
from augur.server.intake.ingest import IngestResult, ingest_many
from augur.server.intake.webhook import WebhookAlert, WebhookPayload
from augur.server.store.database import Store
from augur.server.store.models import AlertEpisode, IncidentEvent
from augur.tools.errors import BackendUnavailable

if TYPE_CHECKING:
    from augur.server.metrics import Metrics

__all__ = ["AlertPuller", "PullError", "PullLoop", "PullResult", "PulledAlert", "fetch_alerts"]

log = logging.getLogger(__name__)

#: Timeline event kinds this module writes.
SUPPRESSED = "alert_suppressed"
UNSUPPRESSED = "alert_unsuppressed"


class PullError(BackendUnavailable):
    """Alertmanager could not be pulled; the message says what to check. Nothing was written."""


class PulledAlertStatus(BaseModel):
    """``alertStatus``: ``state`` and what suppresses the alert."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    state: Literal["active", "suppressed", "unprocessed"]
    silenced_by: list[str] = Field(default_factory=list, alias="silencedBy")
    inhibited_by: list[str] = Field(default_factory=list, alias="inhibitedBy")


class PulledAlert(BaseModel):
    """One ``gettableAlert`` of ``GET /api/v2/alerts``."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: datetime = Field(alias="startsAt")
    ends_at: datetime | None = Field(default=None, alias="endsAt")
    updated_at: datetime | None = Field(default=None, alias="updatedAt")
    fingerprint: str = Field(min_length=1, max_length=64)
    generator_url: str = Field(default="", alias="generatorURL")
    status: PulledAlertStatus
    receivers: list[str] = Field(default_factory=list)

    @field_validator("receivers", mode="before")
    @classmethod
    def _receiver_names(cls, value: Any) -> Any:
        # The API gives [{"name": "augur"}]; keep the names.
        if isinstance(value, list):
            return [r.get("name", "") if isinstance(r, dict) else r for r in value]
        return value

    @field_validator("starts_at", "ends_at", "updated_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)

    @field_validator("ends_at", "updated_at")
    @classmethod
    def _zero_is_none(cls, value: datetime | None) -> datetime | None:
        return None if value is not None and value.year <= 1 else value  # Go's zero time: not set

    def storable(self) -> bool:
        """Whether every string is free of NUL, which augur does not store (the webhook refuses it too)."""
        texts = [self.fingerprint, self.generator_url, *self.labels.items(), *self.annotations.items()]
        return not any("\x00" in (t if isinstance(t, str) else t[0] + t[1]) for t in texts)

    @property
    def suppressed(self) -> bool:
        """Silenced or inhibited in Alertmanager."""
        return bool(self.status.silenced_by or self.status.inhibited_by)

    def ended(self, now: datetime) -> bool:
        """Whether Alertmanager's ``endsAt`` has passed (it lists such alerts until it collects them)."""
        return self.ends_at is not None and self.ends_at <= now

    def as_webhook(self, now: datetime) -> WebhookAlert:
        """The alert as a webhook would carry it (``resolved`` once its ``endsAt`` has passed)."""
        ended = self.ended(now)
        return WebhookAlert(
            status="resolved" if ended else "firing", labels=self.labels, annotations=self.annotations,
            starts_at=self.starts_at, ends_at=self.ends_at if ended else None,
            generator_url=self.generator_url, fingerprint=self.fingerprint,
        )


@dataclass(frozen=True)
class Snapshot:
    """One successful read of Alertmanager: its alerts, which process answered, the silences by id."""

    alerts: list[PulledAlert]
    #: Which Alertmanager answered: its start time and a hash of its running config (None if unknown).
    identity: tuple[str, str] | None
    silences: dict[str, dict[str, str]]


def _get(client: httpx.Client, url: str, params: dict[str, str] | None = None) -> Any:
    try:
        response = client.get(url, params=params, timeout=10.0)
    except httpx.HTTPError as exc:
        raise PullError(f"cannot reach Alertmanager at {url} ({type(exc).__name__}: {exc}): "
                        "check AUGUR_ALERTMANAGER_URL and that Alertmanager is running") from None
    if response.status_code != 200:
        raise PullError(f"{url} answered HTTP {response.status_code}: {response.text.strip()[:300]}")
    try:
        return response.json()
    except ValueError:
        raise PullError(f"{url} did not answer JSON: is AUGUR_ALERTMANAGER_URL an Alertmanager?") from None


def fetch_alerts(client: httpx.Client, base_url: str, receiver: str | None = None) -> Snapshot:
    """Read every alert (active, silenced, inhibited, unprocessed); raise :class:`PullError` if impossible.

    ``receiver`` (a regular expression, Alertmanager's ``receiver`` filter) keeps only the alerts
    routed to matching receivers — e.g. augur's own, as webhooks would bring.
    """
    base = base_url.rstrip("/")
    raw = _get(client, f"{base}/api/v2/alerts", {"receiver": receiver} if receiver else None)
    if not isinstance(raw, list):
        raise PullError(f"{base}/api/v2/alerts did not answer a list of alerts: "
                        "is AUGUR_ALERTMANAGER_URL an Alertmanager (API v2)?")
    try:
        alerts = [PulledAlert.model_validate(item) for item in raw]
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise PullError(f"{base}/api/v2/alerts: unexpected alert shape at {where}: {first['msg']}") from None
    status = _get(client, f"{base}/api/v2/status")
    identity = None
    if isinstance(status, dict) and isinstance(status.get("uptime"), str):
        config = str((status.get("config") or {}).get("original", ""))
        identity = (status["uptime"], hashlib.sha256(config.encode()).hexdigest())
    silences: dict[str, dict[str, str]] = {}
    if any(a.status.silenced_by for a in alerts):
        listed = _get(client, f"{base}/api/v2/silences")
        for item in listed if isinstance(listed, list) else []:
            if isinstance(item, dict) and "id" in item:
                silences[str(item["id"])] = {"created_by": str(item.get("createdBy", "")),
                                             "comment": str(item.get("comment", ""))}
    return Snapshot(alerts, identity, silences)


def _payloads(
    alerts: Iterable[PulledAlert], vanished: Sequence[WebhookAlert], now: datetime
) -> list[WebhookPayload]:
    """One payload per (receivers, alertname); vanished episodes in one payload of their own."""
    groups: dict[str, list[WebhookAlert]] = {}
    for alert in alerts:
        receivers = ",".join(sorted(alert.receivers))
        key = f'alertmanager-pull:{receivers}:{{alertname="{alert.labels.get("alertname", "")}"}}'
        groups.setdefault(key, []).append(alert.as_webhook(now))
    if vanished:
        groups.setdefault("alertmanager-pull:vanished", []).extend(vanished)
    return [
        WebhookPayload(
            version="4", group_key=key, alerts=items,
            status="firing" if any(a.status == "firing" for a in items) else "resolved",
        )
        for key, items in groups.items()
    ]


def _suppression(
    alert: PulledAlert, names: dict[str, str], silences: dict[str, dict[str, str]]
) -> dict[str, Any]:
    return {
        "fingerprint": alert.fingerprint,
        "starts_at": alert.starts_at.isoformat(),
        "alertname": alert.labels.get("alertname", ""),
        "state": alert.status.state,
        "inhibited_by": [{"fingerprint": fp, "alertname": names.get(fp, "")}
                         for fp in sorted(alert.status.inhibited_by)],
        "silenced_by": [{"id": sid, **silences.get(sid, {})} for sid in sorted(alert.status.silenced_by)],
    }


def _signature(detail: dict[str, Any]) -> tuple[Any, ...]:
    return (tuple(i["fingerprint"] for i in detail.get("inhibited_by", [])),
            tuple(s["id"] for s in detail.get("silenced_by", [])))


def _record_suppression(
    session: Session, snapshot: Snapshot, now: datetime, recorded: list[dict[str, Any]],
    held: list[dict[str, Any]],
) -> None:
    """Add a timeline event for each pulled alert whose suppression differs from the last one recorded;
    list in ``held`` the suppressed alerts that have no incident (none was open for them)."""
    alerts = {(a.fingerprint, a.starts_at): a for a in snapshot.alerts if not a.ended(now)}
    if not alerts:
        return
    incident_of = {
        (row.fingerprint, row.starts_at): row.incident_id
        for row in session.execute(
            select(AlertEpisode.fingerprint, AlertEpisode.starts_at, AlertEpisode.incident_id)
            .where(AlertEpisode.fingerprint.in_({fp for fp, _ in alerts}))
        )
    }
    incidents = {i for key, i in incident_of.items() if key in alerts and i is not None}
    last: dict[tuple[str, str], tuple[Any, ...]] = {}
    for event in session.scalars(
        select(IncidentEvent).where(IncidentEvent.incident_id.in_(incidents),
                                    IncidentEvent.kind.in_((SUPPRESSED, UNSUPPRESSED)))
        .order_by(IncidentEvent.at, IncidentEvent.id)
    ):
        key = (event.detail.get("fingerprint", ""), event.detail.get("starts_at", ""))
        last[key] = _signature(event.detail) if event.kind == SUPPRESSED else ()
    names = {a.fingerprint: a.labels.get("alertname", "") for a in snapshot.alerts}
    for key, alert in alerts.items():
        incident_id = incident_of.get(key)
        if incident_id is None:
            if alert.suppressed and key in incident_of:
                held.append(_suppression(alert, names, snapshot.silences))
            continue
        detail = _suppression(alert, names, snapshot.silences)
        suppressed = bool(alert.status.inhibited_by or alert.status.silenced_by)
        before = last.get((alert.fingerprint, detail["starts_at"]))
        now_sig = _signature(detail) if suppressed else ()
        if (before or ()) == now_sig:
            continue
        kind = SUPPRESSED if suppressed else UNSUPPRESSED
        session.add(IncidentEvent(incident_id=incident_id, at=now, kind=kind, detail=detail))
        recorded.append({"kind": kind, "incident_id": incident_id, **detail})


@dataclass
class PullResult:
    """What one pull found and changed."""

    alerts: int = 0
    suppressed: int = 0
    vanished_resolved: int = 0
    #: Fingerprints of alerts not stored because a string holds NUL (one bad alert must not block the rest).
    unstorable: list[str] = field(default_factory=list)
    ingest: IngestResult = field(default_factory=IngestResult)
    suppression_events: list[dict[str, Any]] = field(default_factory=list)
    #: Suppressed alerts stored without an incident (none was open for them; they open none).
    held: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Plain data for the CLI's output."""
        return {"alerts": self.alerts, "suppressed": self.suppressed,
                "vanished_resolved": self.vanished_resolved, "unstorable": self.unstorable,
                **self.ingest.as_dict(),
                "suppression_events": self.suppression_events, "held": self.held}


class AlertPuller:
    """Pulls one Alertmanager into a store; remembers the last pull to resolve vanished alerts safely."""

    def __init__(self, store: Store, client: httpx.Client, alertmanager_url: str, policy: GroupingPolicy,
                 max_attempts: int = 5, receiver: str | None = None) -> None:
        """``client`` is injected; ``alertmanager_url`` is Alertmanager's base URL; ``receiver`` a filter."""
        self.store = store
        self.client = client
        self.url = alertmanager_url.rstrip("/")
        self.policy = policy
        self.max_attempts = max_attempts
        self.receiver = receiver
        self._previous: set[tuple[str, datetime]] = set()
        self._previous_identity: tuple[str, str] | None = None

    def _vanished(self, snapshot: Snapshot, now: datetime) -> list[WebhookAlert]:
        """Episodes the previous pull listed, absent now from the same Alertmanager process, still firing."""
        # A restart loses Alertmanager's alerts; a config reload may re-route them past the filter.
        if snapshot.identity is None or snapshot.identity != self._previous_identity:
            return []
        absent = self._previous - {(a.fingerprint, a.starts_at) for a in snapshot.alerts}
        if not absent:
            return []
        with self.store.read_session() as session:
            rows = session.execute(
                select(AlertEpisode.fingerprint, AlertEpisode.starts_at, AlertEpisode.labels,
                       AlertEpisode.annotations, AlertEpisode.generator_url)
                .where(AlertEpisode.fingerprint.in_({fp for fp, _ in absent}),
                       AlertEpisode.status == "firing")
            ).all()
        return [
            WebhookAlert(status="resolved", labels=r.labels, annotations=r.annotations, starts_at=r.starts_at,
                         ends_at=now, generator_url=r.generator_url, fingerprint=r.fingerprint)
            for r in rows if (r.fingerprint, r.starts_at) in absent
        ]

    def pull(self, now: datetime | None = None) -> PullResult:
        """Read Alertmanager, then store what it holds in one transaction.

        Raises :class:`PullError` (before writing anything) when Alertmanager cannot be read.
        """
        snapshot = fetch_alerts(self.client, self.url, self.receiver)
        at = now or datetime.now(UTC)
        vanished = self._vanished(snapshot, at)
        unstorable = [a.fingerprint for a in snapshot.alerts if not a.storable()]
        if unstorable:
            log.warning("alertmanager pull: skipping %d alert(s) whose labels or annotations hold NUL: %s",
                        len(unstorable), ", ".join(unstorable))
            kept = [a for a in snapshot.alerts if a.storable()]
            snapshot = Snapshot(kept, snapshot.identity, snapshot.silences)
        result = PullResult(alerts=len(snapshot.alerts),
                            suppressed=sum(1 for a in snapshot.alerts if a.status.state == "suppressed"),
                            vanished_resolved=len(vanished), unstorable=unstorable)
        quiet = frozenset((a.fingerprint, a.starts_at) for a in snapshot.alerts if a.suppressed)
        # Payloads with a loud alert first: a suppressed alert joins the incident its inhibitor opens.
        payloads = sorted(_payloads(snapshot.alerts, vanished, at),
                          key=lambda p: all((a.fingerprint, a.starts_at) in quiet for a in p.alerts))
        outcomes = ingest_many(self.store, payloads, self.policy, at, self.max_attempts, quiet=quiet,
                               then=lambda s: _record_suppression(s, snapshot, at, result.suppression_events,
                                                                  result.held))
        for outcome in outcomes:
            merged = result.ingest
            merged.alerts += outcome.alerts
            merged.new_episodes += outcome.new_episodes
            merged.resolved_episodes += outcome.resolved_episodes
            merged.opened_incidents += outcome.opened_incidents
            merged.updated_incidents += [
                i for i in outcome.updated_incidents if i not in merged.updated_incidents]
            merged.resolved_incidents += outcome.resolved_incidents
        self._previous = {(a.fingerprint, a.starts_at) for a in snapshot.alerts if not a.ended(at)}
        self._previous_identity = snapshot.identity
        return result


class PullLoop:
    """Runs :meth:`AlertPuller.pull` every ``interval_s`` in a thread (what ``augur serve`` starts)."""

    def __init__(self, puller: AlertPuller, interval_s: float, metrics: Metrics | None = None) -> None:
        """Pull with ``puller`` every ``interval_s`` seconds until :meth:`stop`; count into ``metrics``."""
        self.puller = puller
        self.interval_s = interval_s
        self.metrics = metrics
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="augur-alert-pull", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                result = self.puller.pull()
                self._count(result)
                if result.ingest.new_episodes or result.suppression_events or result.vanished_resolved:
                    log.info("alertmanager pull: %d alerts, %d new episodes, %d suppression changes, "
                             "%d resolved by absence", result.alerts, result.ingest.new_episodes,
                             len(result.suppression_events), result.vanished_resolved)
            except PullError as exc:
                self._count(None)
                log.warning("alertmanager pull failed: %s", exc)
            except Exception:  # a store hiccup must not end the loop; the next pull retries
                self._count(None)
                log.exception("alertmanager pull failed")
            self._stop.wait(self.interval_s)

    def _count(self, result: PullResult | None) -> None:
        if self.metrics is None:
            return
        self.metrics.alertmanager_pulls.labels(outcome="ok" if result else "error").inc()
        if result is not None:
            self.metrics.episodes_created.inc(result.ingest.new_episodes)
            self.metrics.incidents_opened.inc(len(result.ingest.opened_incidents))

    def start(self) -> None:
        """Start pulling in the background."""
        self._thread.start()

    def stop(self) -> None:
        """Stop after the current pull."""
        self._stop.set()
        self._thread.join(timeout=30)
