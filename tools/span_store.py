"""The embedded span store: spans in one SQLite file, for traces without a Jaeger server.

``SqliteSpanStore(path)`` keeps one table of spans keyed by ``(trace id, span id)``: parent span,
service, operation, start and duration (integer microseconds, Jaeger's unit), the pod it ran in,
whether it failed, and its other attributes as JSON. Fill it with :meth:`SqliteSpanStore.ingest_file`
(``augur traces ingest FILE...``: Jaeger JSON, OTLP JSON, CSV or JSON lines, see
:mod:`augur.tools.span_files`) or :meth:`SqliteSpanStore.ingest`. Ingest is idempotent: a span
already stored (same trace and span id) is counted as a duplicate and left as it was, so the same
file can be ingested twice; a file that fails to read part-way stores nothing of itself.

The typed read API (times are Unix seconds, both ends inclusive, on the span's start):

- :meth:`~SqliteSpanStore.spans` — spans by service / operation / time range;
- :meth:`~SqliteSpanStore.trace` and :meth:`~SqliteSpanStore.traces` — whole traces (every span of
  each trace that has a span of the service in the range), newest first, as Jaeger answers them;
- :meth:`~SqliteSpanStore.call_edges` — who calls whom: per ``parent service → child service`` the
  number of calls, errors and the child span's latency (p50/p95/mean/max ms) over a range;
- :meth:`~SqliteSpanStore.services`, :meth:`~SqliteSpanStore.operations`,
  :meth:`~SqliteSpanStore.time_range`, :meth:`~SqliteSpanStore.count`.

Reads open the file read-only and are bounded by a deadline enforced inside SQLite; a missing file
raises :class:`~augur.tools.base.Unavailable`, a file that is not a span store
:class:`~augur.tools.base.ToolError`, each with the fix. The trace search tool reads the store
through :class:`~augur.tools.traces.StoreTraceBackend`.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from augur.tools.base import ToolError
from augur.tools.span_files import SpanReader
from augur.tools.spans import Refusal, Span
from augur.tools.sqlite_file import connect_ro, connect_rw

__all__ = ["CallEdge", "Refusal", "Span", "SpanIngestResult", "SqliteSpanStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spans (
    trace_id TEXT NOT NULL,
    span_id TEXT NOT NULL,
    parent_id TEXT,
    service TEXT NOT NULL,
    operation TEXT NOT NULL,
    start_us INTEGER NOT NULL,
    duration_us INTEGER NOT NULL,
    pod TEXT,
    error INTEGER NOT NULL DEFAULT 0,
    attributes TEXT NOT NULL DEFAULT '{}',
    source INTEGER,
    PRIMARY KEY (trace_id, span_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS spans_service_start ON spans(service, start_us);
CREATE INDEX IF NOT EXISTS spans_start ON spans(start_us);
CREATE TABLE IF NOT EXISTS sources (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL,
    format TEXT,
    stored INTEGER NOT NULL DEFAULT 0,
    duplicates INTEGER NOT NULL DEFAULT 0,
    refused INTEGER NOT NULL DEFAULT 0,
    ingested_at REAL NOT NULL
);
"""
_BATCH = 5000
_COLUMNS = "trace_id, span_id, parent_id, service, operation, start_us, duration_us, pod, error, attributes"
#: Refusal examples kept per ingest (the counts by reason are complete).
MAX_EXAMPLES = 10


@dataclass(slots=True)
class SpanIngestResult:
    """What one ingest did: spans stored, already there, refused (by reason, with examples)."""

    source: str
    format: str | None = None
    stored: int = 0
    duplicates: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    examples: list[Refusal] = field(default_factory=list)

    @property
    def refused_total(self) -> int:
        """Records refused, all reasons together."""
        return sum(self.refused.values())

    @property
    def read(self) -> int:
        """Spans read from the input (stored or duplicate)."""
        return self.stored + self.duplicates


@dataclass(frozen=True, slots=True)
class CallEdge:
    """Calls from spans of ``parent`` to child spans of ``child`` over a time range.

    Latency is the child span's duration (what the parent waited for), in ms.
    """

    parent: str
    child: str
    calls: int
    errors: int
    p50_ms: float
    p95_ms: float
    mean_ms: float
    max_ms: float
    operations: tuple[str, ...] = ()  # the child's operations called, most frequent first (≤ 5)

    @property
    def error_share(self) -> float:
        """Errors per call."""
        return self.errors / self.calls if self.calls else 0.0


def _span(row: tuple[Any, ...]) -> Span:
    trace_id, span_id, parent_id, service, operation, start_us, duration_us, pod, error, attributes = row
    return Span(
        trace_id=trace_id,
        span_id=span_id,
        parent_id=parent_id,
        service=service,
        operation=operation,
        start_us=int(start_us),
        duration_us=int(duration_us),
        pod=pod,
        error=bool(error),
        attributes=json.loads(attributes or "{}"),
    )


def _us(t: float | None, default: int) -> int:
    return default if t is None else round(t * 1e6)


class SqliteSpanStore:
    """Spans in a SQLite file: ingest, query by service/operation/time, traces and call edges."""

    def __init__(self, path: str | Path, *, timeout_s: float = 20.0) -> None:
        self.path = Path(path)
        self.timeout_s = timeout_s
        self.description = f"sqlite:{self.path}"

    # ------------------------------------------------------------------ ingest

    def ingest(
        self, records: Iterable[Span | Refusal], *, source: str = "<spans>", format: str | None = None
    ) -> SpanIngestResult:
        """Store the spans of ``records`` in one transaction and count the refusals among them.

        A span whose ``(trace_id, span_id)`` is stored already is a duplicate and is not changed.
        On an exception while reading ``records`` nothing of them is stored.
        """
        conn = connect_rw(self.path, _SCHEMA)
        result = SpanIngestResult(source, format)
        try:
            with conn:
                cur = conn.execute(
                    "INSERT INTO sources(path, format, ingested_at) VALUES (?, ?, ?)",
                    (source, format, time.time()),
                )
                self._insert(conn, records, cur.lastrowid, result)
                result.format = result.format or getattr(records, "format", None)  # a SpanReader knows
                conn.execute(
                    "UPDATE sources SET format = ?, stored = ?, duplicates = ?, refused = ? WHERE id = ?",
                    (result.format, result.stored, result.duplicates, result.refused_total, cur.lastrowid),
                )
        finally:
            conn.close()
        return result

    def ingest_file(
        self, path: str | Path, *, progress: Callable[[int, int], None] | None = None
    ) -> SpanIngestResult:
        """Ingest a span file in any format :mod:`augur.tools.span_files` reads.

        Raises :class:`~augur.tools.span_files.SpanFormatError` (nothing stored) when the file is
        in none of them and ``OSError`` when it cannot be read. ``progress(bytes read, size)``
        reports how far a big file is.
        """
        return self.ingest(SpanReader(path, progress=progress), source=str(path))

    @staticmethod
    def _insert(
        conn: sqlite3.Connection,
        records: Iterable[Span | Refusal],
        source_id: int | None,
        result: SpanIngestResult,
    ) -> None:
        sql = f"INSERT OR IGNORE INTO spans({_COLUMNS}, source) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
        batch: list[tuple[Any, ...]] = []

        def flush() -> None:
            before = conn.total_changes
            conn.executemany(sql, batch)
            stored = conn.total_changes - before
            result.stored += stored
            result.duplicates += len(batch) - stored
            batch.clear()

        for rec in records:
            if isinstance(rec, Refusal):
                result.refused[rec.reason.split(" (", 1)[0]] += 1
                if len(result.examples) < MAX_EXAMPLES:
                    result.examples.append(rec)
                continue
            batch.append(
                (
                    rec.trace_id,
                    rec.span_id,
                    rec.parent_id,
                    rec.service,
                    rec.operation,
                    rec.start_us,
                    rec.duration_us,
                    rec.pod,
                    int(rec.error),
                    json.dumps(rec.attributes, default=str, separators=(",", ":")),
                    source_id,
                )
            )
            if len(batch) >= _BATCH:
                flush()
        if batch:
            flush()

    # ------------------------------------------------------------------ read

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """A read-only connection with the deadline; SQLite failures become tool errors with a fix."""
        conn = connect_ro(
            self.path, self.timeout_s,
            missing=f"no span store at {self.path}: ingest spans first with `augur traces ingest FILE...` "
            "(Jaeger JSON, OTLP JSON or CSV), or set AUGUR_JAEGER_URL to search a Jaeger server",
        )
        try:
            yield conn
        except sqlite3.OperationalError as exc:
            message = str(exc)
            if "interrupted" in message:
                raise ToolError(
                    f"the span store took longer than {self.timeout_s:g} s: narrow the time range"
                ) from None
            if "no such table" in message:
                raise ToolError(
                    f"{self.path} is not an augur span store ({message}): point AUGUR_TRACE_DB at the "
                    "file `augur traces ingest` wrote"
                ) from None
            raise ToolError(f"the span store at {self.path} failed: {message}") from None
        except sqlite3.DatabaseError as exc:
            raise ToolError(
                f"{self.path} is not a readable SQLite span store ({exc}): re-create it with "
                "`augur traces ingest FILE...`"
            ) from None
        finally:
            conn.close()

    def count(self) -> int:
        """Spans stored."""
        with self._read() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM spans").fetchone()[0])

    def time_range(self) -> tuple[float, float] | None:
        """First span start and last span end (Unix seconds), None when empty."""
        with self._read() as conn:
            lo, hi = conn.execute("SELECT MIN(start_us), MAX(start_us + duration_us) FROM spans").fetchone()
        return None if lo is None else (lo / 1e6, hi / 1e6)

    def services(self) -> list[str]:
        """Every service with spans, sorted."""
        with self._read() as conn:
            return [r[0] for r in conn.execute("SELECT DISTINCT service FROM spans ORDER BY service")]

    def operations(self, service: str) -> list[str]:
        """The operations of ``service``'s spans, sorted."""
        with self._read() as conn:
            return [
                r[0]
                for r in conn.execute(
                    "SELECT DISTINCT operation FROM spans WHERE service = ? ORDER BY operation", (service,)
                )
            ]

    def spans(
        self,
        *,
        service: str | None = None,
        operation: str | None = None,
        start: float | None = None,
        end: float | None = None,
        limit: int = 10_000,
    ) -> list[Span]:
        """Spans starting in ``[start, end]`` (Unix s), oldest first, at most ``limit``."""
        where, params = self._where(service, operation, start, end)
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM spans WHERE {where} ORDER BY start_us, trace_id, span_id LIMIT ?",
                [*params, limit],
            ).fetchall()
        return [_span(r) for r in rows]

    def trace(self, trace_id: str) -> list[Span]:
        """Every span of one trace, by start time; ``[]`` when there is no such trace."""
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM spans WHERE trace_id = ? ORDER BY start_us, span_id", (trace_id,)
            ).fetchall()
        return [_span(r) for r in rows]

    def trace_ids(
        self,
        service: str,
        start: float,
        end: float,
        *,
        operation: str | None = None,
        min_duration_us: int | None = None,
        error: bool | None = None,
        attributes: dict[str, str] | None = None,
        limit: int = 200,
        spread: bool = False,
    ) -> list[str]:
        """Traces with a span of ``service`` (and ``operation``...) starting in the range, newest first.

        The span must also last at least ``min_duration_us``, fail (``error=True``) and carry the
        ``attributes`` given (compared as text) — Jaeger's search semantics. With more than
        ``limit`` matches, ``spread`` takes them evenly over time (same data, same pick) instead
        of the newest: a baseline then is not only the last minutes before its end.
        """
        where, params = self._where(service, operation, start, end)
        if min_duration_us is not None:
            where += " AND duration_us >= ?"
            params.append(min_duration_us)
        if error is not None:
            where += " AND error = ?"
            params.append(int(error))
        for key, value in sorted((attributes or {}).items()):
            where += " AND CAST(json_extract(attributes, ?) AS TEXT) = ?"
            params += ['$."' + key.replace('"', "") + '"', value]
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT trace_id, MAX(start_us) AS latest FROM spans WHERE {where} GROUP BY trace_id "
                "ORDER BY latest DESC, trace_id LIMIT ?",
                [*params, -1 if spread else limit],
            ).fetchall()
        if spread and len(rows) > limit > 0:
            step = len(rows) / limit
            rows = [rows[int(i * step)] for i in range(limit)]
        return [r[0] for r in rows]

    def traces(
        self,
        service: str,
        start: float,
        end: float,
        *,
        operation: str | None = None,
        min_duration_us: int | None = None,
        error: bool | None = None,
        attributes: dict[str, str] | None = None,
        limit: int = 200,
        spread: bool = False,
    ) -> list[list[Span]]:
        """The whole traces :meth:`trace_ids` finds (each trace's spans by start), newest first."""
        ids = self.trace_ids(
            service,
            start,
            end,
            operation=operation,
            min_duration_us=min_duration_us,
            error=error,
            attributes=attributes,
            limit=limit,
            spread=spread,
        )
        if not ids:
            return []
        by_trace: dict[str, list[Span]] = {i: [] for i in ids}
        with self._read() as conn:
            for chunk in range(0, len(ids), 500):
                part = ids[chunk : chunk + 500]
                marks = ",".join("?" * len(part))
                for row in conn.execute(
                    f"SELECT {_COLUMNS} FROM spans WHERE trace_id IN ({marks}) ORDER BY start_us, span_id",
                    part,
                ):
                    by_trace[row[0]].append(_span(row))
        return [by_trace[i] for i in ids]

    def call_edges(
        self, start: float | None = None, end: float | None = None, *, include_internal: bool = False
    ) -> list[CallEdge]:
        """Who calls whom in ``[start, end]`` (child span start, Unix s): one edge per service pair.

        A call is a span whose parent span belongs to another service (``include_internal`` also
        counts a service's calls to itself). Edges are ordered by calls, most first.
        """
        params = [_us(start, -(2**62)), _us(end, 2**62)]
        internal = "" if include_internal else " AND p.service <> c.service"
        durations: dict[tuple[str, str], list[int]] = {}
        errors: Counter[tuple[str, str]] = Counter()
        ops: dict[tuple[str, str], Counter[str]] = {}
        with self._read() as conn:
            rows = conn.execute(
                "SELECT p.service, c.service, c.duration_us, c.error, c.operation FROM spans c "
                "JOIN spans p ON p.trace_id = c.trace_id AND p.span_id = c.parent_id "
                f"WHERE c.start_us >= ? AND c.start_us <= ?{internal}",
                params,
            )
            for parent, child, duration, error, operation in rows:
                key = (parent, child)
                durations.setdefault(key, []).append(duration)
                errors[key] += error
                ops.setdefault(key, Counter())[operation] += 1
        edges = []
        for key, values in durations.items():
            arr = np.asarray(values, dtype=float) / 1000.0
            edges.append(
                CallEdge(
                    parent=key[0],
                    child=key[1],
                    calls=len(values),
                    errors=int(errors[key]),
                    p50_ms=round(float(np.percentile(arr, 50)), 3),
                    p95_ms=round(float(np.percentile(arr, 95)), 3),
                    mean_ms=round(float(arr.mean()), 3),
                    max_ms=round(float(arr.max()), 3),
                    operations=tuple(op for op, _ in ops[key].most_common(5)),
                )
            )
        edges.sort(key=lambda e: (-e.calls, e.parent, e.child))
        return edges

    @staticmethod
    def _where(
        service: str | None, operation: str | None, start: float | None, end: float | None
    ) -> tuple[str, list[Any]]:
        where = ["start_us >= ?", "start_us <= ?"]
        params: list[Any] = [_us(start, -(2**62)), _us(end, 2**62)]
        if service is not None:
            where.append("service = ?")
            params.append(service)
        if operation is not None:
            where.append("operation = ?")
            params.append(operation)
        return " AND ".join(where), params
