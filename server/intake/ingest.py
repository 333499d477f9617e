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
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

import orjson
from sqlalchemy import Connection, Table, bindparam, func, insert, or_, select, text, update
from sqlalchemy.orm import Session

from augur.agent import redact as redaction
from augur.server.intake.grouping import (
    GroupingPolicy,
    OpenIncident,
    choose_incident,
    component_of,
    incident_title,
)
from augur.server.store.database import Store
from augur.server.store.models import AlertEpisode, Incident, IncidentEvent, UTCDateTime
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
#: Most values in one ``IN (...)`` list.
_IN_CHUNK = 10_000
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


def _redact_map(values: Mapping[str, str], cache: dict[str, str]) -> dict[str, str]:
    out = {}
    for key, value in values.items():
        clean = cache.get(value)
        if clean is None:
            clean = redaction.redact(value)
            if len(value) <= _REDACTED_VALUE_MAX:
                cache[value] = clean
        out[key] = clean
    return out


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


def _open_incidents(session: Session, group_key: str, components: set[str]) -> dict[int, _Open]:
    conditions = [Incident.group_key == group_key]
    if components:
        conditions.append(Incident.component.in_(components))
    rows = session.execute(
        select(
            Incident.id, Incident.group_key, Incident.component, Incident.updated_at, Incident.severity
        ).where(Incident.status == "open", or_(*conditions))
    )
    return {r.id: _Open(r.id, r.group_key, r.component, r.updated_at, r.severity) for r in rows}


@dataclass
class _Open:
    """An open incident as the intake sees it (plain columns: no ORM objects on the hot path)."""

    id: int
    group_key: str
    component: str | None
    updated_at: datetime
    severity: str | None
    opened_now: bool = False

    def view(self) -> OpenIncident:
        return OpenIncident(self.id, self.group_key, self.component, self.updated_at)


def _assign(
    session: Session,
    payload: WebhookPayload,
    new_alerts: Iterable[_Alert],
    policy: GroupingPolicy,
    now: datetime,
    max_attempts: int,
    result: IngestResult,
    quiet: Set[tuple[str, datetime]] = frozenset(),
) -> dict[tuple[str, datetime], int | None]:
    """Choose (or open) the incident of each new episode; returns episode key -> incident id.

    A ``quiet`` episode (silenced or inhibited in Alertmanager) joins an open incident it belongs
    to but never opens one: it gets ``None`` and stays unassigned until it fires unsuppressed.
    """
    # The loud ones first, so a quiet alert finds the incident its inhibitor opens in this batch.
    new_alerts = sorted(new_alerts, key=lambda a: (a.fingerprint, a.starts_at) in quiet)
    components = {c for a in new_alerts if (c := component_of(a.labels, policy.component_labels))}
    incidents = _open_incidents(session, payload.group_key, components)
    added: dict[int, list[dict[str, str]]] = {}
    assignment: dict[tuple[str, datetime], int | None] = {}
    views = [i.view() for i in incidents.values()]
    for alert in new_alerts:
        chosen = choose_incident(payload.group_key, alert.labels, views, now, policy)
        if chosen is None and (alert.fingerprint, alert.starts_at) in quiet:
            assignment[(alert.fingerprint, alert.starts_at)] = None
            continue
        if chosen is None:
            component = component_of(alert.labels, policy.component_labels)
            severity = alert.labels.get("severity")
            chosen = session.execute(
                insert(Incident)
                .values(
                    status="open",
                    group_key=payload.group_key,
                    component=component,
                    title=incident_title(alert.labels, component),
                    severity=severity,
                    opened_at=now,
                    updated_at=now,
                )
                .returning(Incident.id)
            ).scalar_one()
            opened = _Open(chosen, payload.group_key, component, now, severity, opened_now=True)
            incidents[chosen] = opened
            views.append(opened.view())
        incident = incidents[chosen]
        incident.severity = _more_severe(incident.severity, alert.labels.get("severity"))
        added.setdefault(chosen, []).append(_brief(alert))
        assignment[(alert.fingerprint, alert.starts_at)] = chosen
    events = []
    for incident_id, alerts in added.items():
        incident = incidents[incident_id]
        session.execute(
            update(Incident)
            .where(Incident.id == incident_id)
            .values(updated_at=now, severity=incident.severity)
        )
        kind = "opened" if incident.opened_now else "alerts_added"
        events.append(
            {
                "incident_id": incident_id,
                "at": now,
                "kind": kind,
                "detail": {"group_key": payload.group_key, "alerts": alerts},
            }
        )
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
    if events:  # none when every alert was quiet and found no incident to join
        session.execute(insert(IncidentEvent), events)
    return assignment


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


def _chunks(values: Sequence[Any], size: int = _IN_CHUNK) -> Iterable[Sequence[Any]]:
    """``values`` in slices small enough for one ``IN (...)`` (PostgreSQL takes at most 65,535 parameters)."""
    for start in range(0, len(values), size):
        yield values[start:start + size]


#: The episodes as one JSON document on PostgreSQL, for :func:`_insert_recordset`.
_RECORDSET = text(
    "INSERT INTO alert_episodes (fingerprint, starts_at, ends_at, status, labels, annotations, generator_url,"
    " incident_id, first_seen, last_seen)"
    " SELECT r.fingerprint, r.starts_at, r.ends_at, r.status, r.labels, r.annotations, r.generator_url,"
    " r.incident_id, :now, :now FROM json_to_recordset(CAST(:rows AS JSON)) AS r(fingerprint VARCHAR,"
    " starts_at TIMESTAMPTZ, ends_at TIMESTAMPTZ, status VARCHAR, labels JSON, annotations JSON,"
    " generator_url TEXT, incident_id INTEGER)"
).bindparams(bindparam("now", type_=UTCDateTime()))


def _insert_recordset(conn: Connection, rows: list[dict[str, Any]], now: datetime) -> None:
    """Insert episodes on PostgreSQL as one JSON parameter per 10,000 rows.

    A multi-row ``VALUES`` list has ten parameters per row, and psycopg rewrites a statement of
    more than 50 parameters (or 4 KiB) with a regular expression at every execution (~3 ms per
    50-alert notification, more than the insert itself); arrays of strings it escapes one by one.
    One JSON document, serialised by orjson in one call, costs neither.
    """
    for chunk in _chunks(rows):
        # first_seen and last_seen are :now; the times go as RFC 3339 text with their offset.
        document = orjson.dumps([
            {**row, "starts_at": _rfc3339(row["starts_at"]), "ends_at": _rfc3339(row["ends_at"]),
             "first_seen": None, "last_seen": None}
            for row in chunk
        ]).decode()
        conn.execute(_RECORDSET, {"now": now, "rows": document})


def _rfc3339(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


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
    fingerprints = sorted({fp for fp, _ in alerts})
    columns = _EPISODES.c
    existing = {
        (row.fingerprint, row.starts_at): row
        for chunk in _chunks(fingerprints)
        for row in conn.execute(
            select(columns.id, columns.fingerprint, columns.starts_at, columns.status, columns.incident_id)
            .where(columns.fingerprint.in_(chunk))
        )
        if (row.fingerprint, row.starts_at) in alerts
    }
    touched: set[int] = set()
    new = [_clean(a, cache) for key, a in alerts.items() if key not in existing]
    if new:
        assignment = _assign(session, payload, new, policy, now, max_attempts, result, quiet)
        rows = [
            {
                "fingerprint": a.fingerprint,
                "starts_at": a.starts_at,
                "ends_at": a.ends_at if a.status == "resolved" else None,
                "status": a.status,
                "labels": a.labels,
                "annotations": a.annotations,
                "generator_url": a.generator_url,
                "incident_id": assignment[(a.fingerprint, a.starts_at)],
                "first_seen": now,
                "last_seen": now,
            }
            for a in new
        ]
        if conn.dialect.name == "postgresql":
            _insert_recordset(conn, rows, now)
        else:
            conn.execute(insert(_EPISODES), rows)
        result.new_episodes = len(new)
        touched.update(i for a in new if a.status == "resolved"
                       and (i := assignment[(a.fingerprint, a.starts_at)]) is not None)
    # Episodes stored without an incident while suppressed, now firing unsuppressed: assign them.
    waiting = [key for key, row in existing.items() if row.incident_id is None and row.status == "firing"
               and alerts[key].status == "firing" and key not in quiet]
    if waiting:
        late = _assign(session, payload, [_clean(alerts[key], cache) for key in waiting], policy, now,
                       max_attempts, result)
        for key in waiting:
            conn.execute(update(_EPISODES).where(columns.id == existing[key].id)
                         .values(incident_id=late[key]))
    resolving = [
        (row, alerts[key])
        for key, row in existing.items()
        if row.status == "firing" and alerts[key].status == "resolved"
    ]
    for row, alert in resolving:
        conn.execute(
            update(_EPISODES)
            .where(columns.id == row.id)
            .values(status="resolved", ends_at=alert.ends_at or now, last_seen=now)
        )
        if row.incident_id is not None:
            touched.add(row.incident_id)
    result.resolved_episodes = len(resolving) + sum(1 for a in new if a.status == "resolved")
    resolved_ids = {row.id for row, _ in resolving}
    seen_only = [row.id for row in existing.values() if row.id not in resolved_ids]
    for chunk in _chunks(seen_only):
        conn.execute(update(_EPISODES).where(columns.id.in_(chunk)).values(last_seen=now))
    _resolve_finished(session, touched, now, result)
    return result
