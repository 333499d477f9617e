"""Turning one Alertmanager notification into episodes, incidents and jobs, in one transaction.

An alert episode is ``(fingerprint, startsAt)``. A redelivered or repeated notification finds
its episodes already stored and changes nothing but their ``last_seen``; a ``resolved`` alert
closes its episode with ``endsAt`` (resolution is final for that episode: a later re-fire has
a new ``startsAt``, hence a new episode). New episodes are grouped into incidents by
:mod:`augur.server.intake.grouping`; a new incident enqueues an ``investigate`` job, an open incident
that gains alerts records them on its timeline, and an incident whose episodes are all resolved
is resolved.

Concurrency: the whole notification is one transaction, serialised with other intakes — by
``BEGIN IMMEDIATE`` on SQLite and by a transaction-scoped advisory lock on PostgreSQL (all
replicas share it) — so concurrent deliveries of overlapping groups cannot create the same
episode or two incidents for one group. The unique ``(fingerprint, starts_at)`` constraint
backs this up.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence, Set
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Connection, Table, func, insert, select, update
from sqlalchemy.orm import Session

from augur.agent import redact as redaction
from augur.server.intake import statements
from augur.server.intake.grouping import (
    GroupingPolicy,
    OpenIncident,
    choose_incident,
    component_of,
    incident_title,
)
from augur.server.intake.statements import OpenRow, StoredEpisode
from augur.server.store.database import Store
from augur.server.store.models import AlertEpisode, Incident, IncidentEvent
from augur.server.store.queue import enqueue

if TYPE_CHECKING:
    from augur.server.intake.webhook import WebhookAlert, WebhookPayload

__all__ = ["INVESTIGATE", "POSTMORTEM", "IngestResult", "ingest", "ingest_many"]

#: Job kind enqueued for every new incident.
INVESTIGATE = "investigate"
#: Job kind enqueued for every resolved incident.
POSTMORTEM = "postmortem"
#: PostgreSQL advisory lock key serialising intakes ("augi").
_INTAKE_LOCK = 0x61756769
_EPISODES = cast(Table, AlertEpisode.__table__)
_INCIDENTS = cast(Table, Incident.__table__)
_SEVERITY_RANK = {"critical": 4, "page": 4, "error": 3, "high": 3, "warning": 2, "info": 1}
#: Most values the redaction cache holds (it starts over when full), and the longest it caches:
#: at most ~25 MiB however many distinct values arrive.
_REDACTED_MAX = 50_000
_REDACTED_VALUE_MAX = 256


@dataclass
class IngestResult:
    """What one notification changed."""

    alerts: int = 0
    new_episodes: int = 0
    resolved_episodes: int = 0
    opened_incidents: list[int] = field(default_factory=list)
    updated_incidents: list[int] = field(default_factory=list)
    resolved_incidents: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Plain data for the webhook's response."""
        return asdict(self)


@dataclass(slots=True)
class _Alert:
    """An alert about to be stored or grouped, its label and annotation values redacted."""

    fingerprint: str
    starts_at: datetime
    ends_at: datetime | None
    status: str
    labels: dict[str, str]
    annotations: dict[str, str]
    generator_url: str


class _Redacted:
    """Redacted label and annotation values, by value.

    Redaction (about twenty regular expressions per value) was the intake's largest cost per
    alert, and label values repeat from alert to alert and notification to notification
    (alertname, service, severity, instance, runbook URLs). Only alerts that are stored or
    grouped are redacted at all; a redelivered alert's labels are never read. The cache starts
    over when the redaction patterns change (``AUGUR_REDACT_PATTERNS`` adds some at start-up).
    """

    def __init__(self) -> None:
        self._values: dict[str, str] = {}
        self._patterns: tuple[int, int] = (0, 0)

    def values(self) -> dict[str, str]:
        """The cache for the current patterns."""
        patterns = (id(redaction.PATTERNS), len(redaction.PATTERNS))
        if patterns != self._patterns or len(self._values) >= _REDACTED_MAX:
            self._values = {}
            self._patterns = patterns
        return self._values


_REDACTED = _Redacted()


def _redacted(value: str, cache: dict[str, str]) -> str:
    clean = cache.get(value)
    if clean is None:
        clean = redaction.redact(value)
        if len(value) <= _REDACTED_VALUE_MAX:
            cache[value] = clean
    return clean


def _redact_map(values: Mapping[str, str], cache: dict[str, str]) -> dict[str, str]:
    return {key: clean if (clean := cache.get(value)) is not None else _redacted(value, cache)
            for key, value in values.items()}


def _clean(alert: WebhookAlert, cache: dict[str, str]) -> _Alert:
    """``alert`` with secrets in its label and annotation values redacted: they are never stored,
    so no API answer, report, postmortem or Slack message can show them."""
    labels, annotations = _redact_map(alert.labels, cache), _redact_map(alert.annotations, cache)
    return _Alert(alert.fingerprint, alert.starts_at, alert.ends_at, alert.status, labels, annotations,
                  alert.generator_url)


def _brief(alert: _Alert) -> dict[str, str]:
    return {
        "fingerprint": alert.fingerprint,
        "alertname": alert.labels.get("alertname", ""),
        "status": alert.status,
    }


def _more_severe(current: str | None, new: str | None) -> str | None:
    if new is None:
        return current
    if current is None or _SEVERITY_RANK.get(new, 0) > _SEVERITY_RANK.get(current, 0):
        return new
    return current


@dataclass
class _Open:
    """An open incident as the intake sees it (plain columns: no ORM objects on the hot path)."""

    id: int
    group_key: str
    component: str | None
    updated_at: datetime
    severity: str | None
    opened_now: bool = False

    @classmethod
    def of(cls, row: OpenRow) -> _Open:
        return cls(row.id, row.group_key, row.component, row.updated_at, row.severity)

    def view(self) -> OpenIncident:
        return OpenIncident(self.id, self.group_key, self.component, self.updated_at)


@dataclass
class _Assignment:
    """Where a pass of :func:`_assign` put each new episode, and what its incidents need written."""

    incidents: dict[tuple[str, datetime], int | None] = field(default_factory=dict)
    #: (id, severity) of each incident that gained alerts: it is updated at ``now``.
    updated: list[tuple[int, str | None]] = field(default_factory=list)
    #: Their timeline events (``opened`` or ``alerts_added``).
    events: list[dict[str, Any]] = field(default_factory=list)


def _assign(
    conn: Connection,
    session: Session,
    payload: WebhookPayload,
    new_alerts: Iterable[_Alert],
    incidents: dict[int, _Open],
    policy: GroupingPolicy,
    now: datetime,
    max_attempts: int,
    result: IngestResult,
    quiet: Set[tuple[str, datetime]] = frozenset(),
) -> _Assignment:
    """Choose (or open) the incident of each new episode among the open ``incidents``.

    A new incident is inserted at once (the next episodes may join it) and gets its investigation
    job; the updates of the incidents that gained alerts and their events are returned, for
    :func:`statements.write` to write with the episodes. ``incidents`` is kept up to date, as a
    second pass over the same notification must see it. A ``quiet`` episode (silenced or
    inhibited in Alertmanager) joins an open incident it belongs to but never opens one: it gets
    ``None`` and stays unassigned until it fires unsuppressed.
    """
    # The loud ones first, so a quiet alert finds the incident its inhibitor opens in this batch.
    new_alerts = sorted(new_alerts, key=lambda a: (a.fingerprint, a.starts_at) in quiet)
    added: dict[int, list[dict[str, str]]] = {}
    out = _Assignment()
    views = [i.view() for i in incidents.values()]
    for alert in new_alerts:
        chosen = choose_incident(payload.group_key, alert.labels, views, now, policy)
        if chosen is None and (alert.fingerprint, alert.starts_at) in quiet:
            out.incidents[(alert.fingerprint, alert.starts_at)] = None
            continue
        if chosen is None:
            component = component_of(alert.labels, policy.component_labels)
            severity = alert.labels.get("severity")
            chosen = conn.execute(
                insert(_INCIDENTS)
                .values(
                    status="open",
                    group_key=payload.group_key,
                    component=component,
                    title=incident_title(alert.labels, component),
                    severity=severity,
                    opened_at=now,
                    updated_at=now,
                )
                .returning(_INCIDENTS.c.id)
            ).scalar_one()
            opened = _Open(chosen, payload.group_key, component, now, severity, opened_now=True)
            incidents[chosen] = opened
            views.append(opened.view())
        incident = incidents[chosen]
        incident.severity = _more_severe(incident.severity, alert.labels.get("severity"))
        added.setdefault(chosen, []).append(_brief(alert))
        out.incidents[(alert.fingerprint, alert.starts_at)] = chosen
    for incident_id, alerts in added.items():
        incident = incidents[incident_id]
        out.updated.append((incident_id, incident.severity))
        kind = "opened" if incident.opened_now else "alerts_added"
        detail = {"group_key": payload.group_key, "alerts": alerts}
        out.events.append({"incident_id": incident_id, "kind": kind, "detail": detail})
        if incident.opened_now:
            enqueue(
                session,
                INVESTIGATE,
                {"incident_id": incident_id},
                dedupe_key=f"{INVESTIGATE}:{incident_id}",
                max_attempts=max_attempts,
                now=now,
            )
            result.opened_incidents.append(incident_id)
        else:
            result.updated_incidents.append(incident_id)
        incident.updated_at, incident.opened_now = now, False
    return out


def _resolve_finished(session: Session, incident_ids: set[int], now: datetime, result: IngestResult) -> None:
    """Resolve each open incident among ``incident_ids`` none of whose episodes still fires."""
    if not incident_ids:
        return
    still_firing = set(
        session.scalars(
            select(AlertEpisode.incident_id)
            .where(AlertEpisode.incident_id.in_(incident_ids), AlertEpisode.status == "firing")
            .distinct()
        )
    )
    for incident in session.scalars(
        select(Incident).where(Incident.id.in_(incident_ids - still_firing), Incident.status == "open")
    ):
        last_end = session.scalar(
            select(func.max(AlertEpisode.ends_at)).where(AlertEpisode.incident_id == incident.id)
        )
        incident.status = "resolved"
        incident.resolved_at = last_end or now
        incident.updated_at = now
        session.add(
            IncidentEvent(
                incident_id=incident.id,
                at=now,
                kind="resolved",
                detail={"resolved_at": (last_end or now).isoformat()},
            )
        )
        # The postmortem is written by a worker (augur.server.jobs.postmortems), once per incident.
        enqueue(session, POSTMORTEM, {"incident_id": incident.id}, dedupe_key=f"{POSTMORTEM}:{incident.id}",
                now=now)
        result.resolved_incidents.append(incident.id)


def ingest(
    store: Store, payload: WebhookPayload, policy: GroupingPolicy, now: datetime, max_attempts: int = 5
) -> IngestResult:
    """Store one notification; returns what changed. Raises SQLAlchemy errors if the store fails."""
    return ingest_many(store, [payload], policy, now, max_attempts)[0]


def ingest_many(
    store: Store,
    payloads: Sequence[WebhookPayload],
    policy: GroupingPolicy,
    now: datetime,
    max_attempts: int = 5,
    then: Callable[[Session], None] | None = None,
    quiet: Set[tuple[str, datetime]] = frozenset(),
) -> list[IngestResult]:
    """Store several notifications in one transaction, in order (group commit); all or none.

    ``then``, if given, runs in the same transaction after the notifications are stored (the
    Alertmanager puller records suppression there), so its writes commit or roll back with them.
    ``quiet``: the (fingerprint, startsAt) of alerts Alertmanager suppresses, which are stored but
    do not open an incident of their own (see :func:`_assign`).
    """
    cache = _REDACTED.values()
    with store.transaction() as session:
        if store.dialect == "postgresql":
            session.execute(select(func.pg_advisory_xact_lock(_INTAKE_LOCK)))
        results = [_ingest_one(session, payload, policy, now, max_attempts, quiet, cache)
                   for payload in payloads]
        if then is not None:
            then(session)
        return results


def _ingest_one(
    session: Session, payload: WebhookPayload, policy: GroupingPolicy, now: datetime, max_attempts: int,
    quiet: Set[tuple[str, datetime]] = frozenset(), cache: dict[str, str] | None = None,
) -> IngestResult:
    cache = {} if cache is None else cache
    # Core statements on the session's connection: the episodes are plain rows, and the ORM's
    # per-statement bookkeeping cost more than the SQL itself.
    conn: Connection = session.connection()
    alerts: dict[tuple[str, datetime], WebhookAlert] = {}
    for alert in payload.alerts:
        alerts[(alert.fingerprint, alert.starts_at)] = alert  # the last copy of a repeated alert wins
    result = IngestResult(alerts=len(payload.alerts))
    # The open incidents any of the alerts could join (a superset of those the new ones can: one
    # statement with the episodes' lookup), by their stored, redacted, component.
    components = {
        _redacted(value, cache)
        for a in alerts.values() if (value := component_of(a.labels, policy.component_labels))
    }
    existing, open_rows = statements.look_up(conn, alerts.keys(), payload.group_key, components, now)
    touched: set[int] = set()
    new = [_clean(a, cache) for key, a in alerts.items() if key not in existing]
    # Episodes stored without an incident while suppressed, now firing unsuppressed: assigned below.
    waiting = [key for key, row in existing.items() if row.incident_id is None and row.status == "firing"
               and alerts[key].status == "firing" and key not in quiet]
    if open_rows is None and (new or waiting):
        open_rows = statements.open_incidents(conn, payload.group_key, components)
    incidents = {i: _Open.of(row) for i, row in (open_rows or {}).items()}
    assigned = _assign(conn, session, payload, new, incidents, policy, now, max_attempts, result, quiet) \
        if new else _Assignment()
    rows = [
        {
            "fingerprint": a.fingerprint,
            "starts_at": a.starts_at,
            "ends_at": a.ends_at if a.status == "resolved" else None,
            "status": a.status,
            "labels": a.labels,
            "annotations": a.annotations,
            "generator_url": a.generator_url,
            "incident_id": assigned.incidents[(a.fingerprint, a.starts_at)],
        }
        for a in new
    ]
    if rows:
        statements.write(conn, assigned.updated, assigned.events, rows, now)
    result.new_episodes = len(new)
    touched.update(i for a in new if a.status == "resolved"
                   and (i := assigned.incidents[(a.fingerprint, a.starts_at)]) is not None)
    if waiting:
        late = _assign(conn, session, payload, [_clean(alerts[key], cache) for key in waiting], incidents,
                       policy, now, max_attempts, result)
        statements.write(conn, late.updated, late.events, [], now)
        columns = _EPISODES.c
        for key in waiting:
            conn.execute(update(_EPISODES).where(columns.id == existing[key].id)
                         .values(incident_id=late.incidents[key]))
    resolving: list[tuple[StoredEpisode, WebhookAlert]] = [
        (row, alerts[key])
        for key, row in existing.items()
        if row.status == "firing" and alerts[key].status == "resolved"
    ]
    for row, alert in resolving:
        conn.execute(
            update(_EPISODES)
            .where(_EPISODES.c.id == row.id)
            .values(status="resolved", ends_at=alert.ends_at or now, last_seen=now)
        )
        if row.incident_id is not None:
            touched.add(row.incident_id)
    result.resolved_episodes = len(resolving) + sum(1 for a in new if a.status == "resolved")
    _resolve_finished(session, touched, now, result)
    return result
