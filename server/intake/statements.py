"""The intake's SQL for one notification: one lookup, then one write, on PostgreSQL.

Each statement is a round trip to PostgreSQL, which in an alert storm shares the CPUs with the
server and the senders: the intake used to spend five on a notification that adds alerts to an
open incident (its stored episodes, the open incidents, the incident's update, its timeline
event, the new episodes) and two on a redelivery. Here:

- :func:`look_up` finds a notification's stored episodes, marks them seen (``last_seen``), and
  finds the open incidents its alerts may join (:func:`open_incidents`) — one statement (a
  data-modifying CTE beside a ``UNION ALL``) on PostgreSQL;
- :func:`write` updates the incidents that gain alerts, adds their timeline events and inserts
  the new episodes — one statement (data-modifying CTEs) on PostgreSQL.

The look-up names the fingerprints twice: PostgreSQL guesses 100 rows for a JSON document, and
with that guess it scanned the whole ``alert_episodes`` table (7 ms at 9,000 rows, against 1 ms by
the index) until the table was large enough; an array it cannot see into (``ANY(ARRAY(...))``)
keeps it on the index at every size.

Rows travel as one JSON document per statement, serialised by orjson in one call: psycopg
rewrites statements of more than 50 parameters with a regular expression at every execution,
and escapes arrays of strings one by one. SQLite, in the process, has no round trips to save and
no data-modifying CTEs: the same effects take a few plain statements there.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import orjson
from sqlalchemy import Connection, Table, bindparam, insert, or_, select, text, update

from augur.server.store.models import AlertEpisode, Incident, IncidentEvent, UTCDateTime

__all__ = ["OpenRow", "StoredEpisode", "chunks", "look_up", "open_incidents", "write"]

_EPISODES = cast(Table, AlertEpisode.__table__)
_INCIDENTS = cast(Table, Incident.__table__)
_EVENTS = cast(Table, IncidentEvent.__table__)
#: Most values in one ``IN (...)`` list (PostgreSQL takes at most 65,535 parameters), and most
#: rows in one JSON document.
CHUNK = 10_000


@dataclass(frozen=True, slots=True)
class StoredEpisode:
    """An episode of the notification that is already stored, as it was before this notification."""

    id: int
    status: str
    incident_id: int | None


@dataclass(frozen=True, slots=True)
class OpenRow:
    """An open incident's columns that grouping reads."""

    id: int
    group_key: str
    component: str | None
    updated_at: datetime
    severity: str | None


_LOOK_UP = text(
    "WITH keys AS (SELECT k.fingerprint, k.starts_at FROM json_to_recordset(CAST(:keys AS JSON))"
    " AS k(fingerprint VARCHAR, starts_at TIMESTAMPTZ)),"
    " seen AS (UPDATE alert_episodes AS e SET last_seen = :now FROM keys"
    " WHERE e.fingerprint = ANY(ARRAY(SELECT fingerprint FROM keys))"
    " AND e.fingerprint = keys.fingerprint AND e.starts_at = keys.starts_at"
    " RETURNING e.id, e.fingerprint, e.starts_at, e.status, e.incident_id)"
    " SELECT 'episode' AS row_kind, id, fingerprint AS name, starts_at AS at, status AS state,"
    " incident_id, NULL AS severity FROM seen"
    " UNION ALL"
    " SELECT 'incident', id, group_key, updated_at, component, NULL, severity FROM incidents"
    " WHERE status = 'open' AND (group_key = :group_key"
    " OR component = ANY(ARRAY(SELECT json_array_elements_text(CAST(:components AS JSON)))))"
).bindparams(bindparam("now", type_=UTCDateTime())).columns(at=UTCDateTime())

#: first_seen and last_seen are :now; times go as RFC 3339 text with their offset.
_EPISODE_ROWS = (
    " SELECT r.fingerprint, r.starts_at, r.ends_at, r.status, r.labels, r.annotations, r.generator_url,"
    " r.incident_id, :now, :now FROM json_to_recordset(CAST(:rows AS JSON)) AS r(fingerprint VARCHAR,"
    " starts_at TIMESTAMPTZ, ends_at TIMESTAMPTZ, status VARCHAR, labels JSON, annotations JSON,"
    " generator_url TEXT, incident_id INTEGER)"
)
_INSERT_EPISODES = (
    "INSERT INTO alert_episodes (fingerprint, starts_at, ends_at, status, labels, annotations, generator_url,"
    " incident_id, first_seen, last_seen)" + _EPISODE_ROWS
)
_EPISODES_ONLY = text(_INSERT_EPISODES).bindparams(bindparam("now", type_=UTCDateTime()))
_WRITE = text(
    "WITH touched AS (UPDATE incidents AS i SET updated_at = :now, severity = u.severity"
    " FROM json_to_recordset(CAST(:incidents AS JSON)) AS u(id INTEGER, severity VARCHAR) WHERE i.id = u.id),"
    " events AS (INSERT INTO incident_events (incident_id, at, kind, detail)"
    " SELECT e.incident_id, :now, e.kind, e.detail"
    " FROM json_to_recordset(CAST(:events AS JSON)) AS e(incident_id INTEGER, kind VARCHAR, detail JSON))"
    " " + _INSERT_EPISODES
).bindparams(bindparam("now", type_=UTCDateTime()))


def look_up(
    conn: Connection, keys: Collection[tuple[str, datetime]], group_key: str, components: Collection[str],
    now: datetime,
) -> tuple[dict[tuple[str, datetime], StoredEpisode], dict[int, OpenRow] | None]:
    """The stored episodes among ``keys`` ((fingerprint, startsAt)), each now marked seen at ``now``,
    and on PostgreSQL the :func:`open_incidents` of ``group_key`` and ``components`` in the same
    statement (``None`` on SQLite, where a statement costs no round trip: ask when they are needed)."""
    if conn.dialect.name != "postgresql":
        return _stored_episodes(conn, keys, now), None
    document = orjson.dumps([{"fingerprint": fp, "starts_at": _rfc3339(at)} for fp, at in keys]).decode()
    stored: dict[tuple[str, datetime], StoredEpisode] = {}
    incidents: dict[int, OpenRow] = {}
    parameters = {"keys": document, "now": now, "group_key": group_key,
                  "components": orjson.dumps(sorted(components)).decode()}
    for kind, row_id, name, at, state, incident_id, severity in conn.execute(_LOOK_UP, parameters):
        if kind == "episode":
            stored[(name, at)] = StoredEpisode(row_id, state, incident_id)
        else:
            incidents[row_id] = OpenRow(row_id, name, state, at, severity)
    return stored, incidents


def _stored_episodes(
    conn: Connection, keys: Collection[tuple[str, datetime]], now: datetime
) -> dict[tuple[str, datetime], StoredEpisode]:
    columns = _EPISODES.c
    wanted = set(keys)
    stored = {
        (row.fingerprint, row.starts_at): StoredEpisode(row.id, row.status, row.incident_id)
        for chunk in chunks(sorted({fp for fp, _ in wanted}))
        for row in conn.execute(
            select(columns.id, columns.fingerprint, columns.starts_at, columns.status, columns.incident_id)
            .where(columns.fingerprint.in_(chunk))
        )
        if (row.fingerprint, row.starts_at) in wanted
    }
    for chunk in chunks([episode.id for episode in stored.values()]):
        conn.execute(update(_EPISODES).where(columns.id.in_(chunk)).values(last_seen=now))
    return stored


def open_incidents(conn: Connection, group_key: str, components: Collection[str]) -> dict[int, OpenRow]:
    """The open incidents of ``group_key`` or about one of ``components``, by id."""
    incident = _INCIDENTS.c
    conditions = [incident.group_key == group_key]
    if components:
        conditions.append(incident.component.in_(sorted(components)))
    rows = conn.execute(
        select(incident.id, incident.group_key, incident.component, incident.updated_at, incident.severity)
        .where(incident.status == "open", or_(*conditions))
    )
    return {r.id: OpenRow(r.id, r.group_key, r.component, r.updated_at, r.severity) for r in rows}


def write(
    conn: Connection, incidents: Sequence[tuple[int, str | None]], events: Sequence[dict[str, Any]],
    episodes: Sequence[dict[str, Any]], now: datetime,
) -> None:
    """Set each of ``incidents`` ((id, severity)) updated at ``now`` with that severity, add ``events``
    (``incident_id``, ``kind``, ``detail``) at ``now``, and insert ``episodes`` (the columns of
    ``alert_episodes`` but the id, ``first_seen`` and ``last_seen``, which are ``now``)."""
    if conn.dialect.name != "postgresql":
        _write_plainly(conn, incidents, events, episodes, now)
        return
    batches = list(chunks(episodes)) or [[]]
    conn.execute(_WRITE, {
        "now": now,
        "incidents": orjson.dumps([{"id": i, "severity": severity} for i, severity in incidents]).decode(),
        "events": orjson.dumps(list(events)).decode(),
        "rows": _episode_document(batches[0]),
    })
    for batch in batches[1:]:
        conn.execute(_EPISODES_ONLY, {"now": now, "rows": _episode_document(batch)})


def _write_plainly(
    conn: Connection, incidents: Sequence[tuple[int, str | None]], events: Sequence[dict[str, Any]],
    episodes: Sequence[dict[str, Any]], now: datetime,
) -> None:
    if incidents:
        conn.execute(
            update(_INCIDENTS).where(_INCIDENTS.c.id == bindparam("incident"))
            .values(updated_at=now, severity=bindparam("new_severity")),
            [{"incident": i, "new_severity": severity} for i, severity in incidents],
        )
    if events:
        conn.execute(insert(_EVENTS), [{**event, "at": now} for event in events])
    if episodes:
        conn.execute(insert(_EPISODES), [{**row, "first_seen": now, "last_seen": now} for row in episodes])


def _episode_document(rows: Iterable[dict[str, Any]]) -> str:
    return orjson.dumps([
        {**row, "starts_at": _rfc3339(row["starts_at"]), "ends_at": _rfc3339(row["ends_at"])} for row in rows
    ]).decode()


def chunks(values: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    """``values`` in slices of at most ``size``."""
    for start in range(0, len(values), size):
        yield values[start:start + size]


def _rfc3339(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()
