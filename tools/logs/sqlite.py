"""The embedded log store: log files indexed into SQLite FTS5, for a single machine.

``SqliteLogStore(path)`` keeps one table of lines (time, level, service, host, message and the
other fields as JSON) with an FTS5 index on the message, ranked by FTS5's ``bm25()``. Ingest with
:meth:`SqliteLogStore.ingest_file` (``augur logs ingest FILE...``) or :meth:`SqliteLogStore.ingest`;
a file already ingested (same SHA-256) is skipped, and a file that fails to parse leaves nothing
behind. Searching is read-only and bounded by a deadline enforced inside SQLite.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import re
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from augur.tools.base import ToolError, Unavailable
from augur.tools.logs.backend import LOGICAL_FIELDS, LogPage, LogQuery, LogRecord
from augur.tools.logs.formats import LineFormat
from augur.tools.logs.lines import NO_RECORD_BEFORE, LineError, ReadStats, parse_lines
from augur.tools.sqlite_file import connect_ro, connect_rw

__all__ = ["IngestResult", "SqliteLogStore", "fts_query"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS logs (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    level TEXT,
    service TEXT,
    host TEXT,
    message TEXT NOT NULL,
    fields TEXT NOT NULL DEFAULT '{}',
    source INTEGER
);
CREATE INDEX IF NOT EXISTS logs_ts ON logs(ts);
CREATE VIRTUAL TABLE IF NOT EXISTS logs_fts USING fts5(message, content='logs', content_rowid='id');
CREATE TRIGGER IF NOT EXISTS logs_ai AFTER INSERT ON logs BEGIN
    INSERT INTO logs_fts(rowid, message) VALUES (new.id, new.message);
END;
CREATE TABLE IF NOT EXISTS sources (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL UNIQUE,
    lines INTEGER NOT NULL,
    ingested_at REAL NOT NULL
);
"""
_FIELD_NAME = re.compile(r"^[A-Za-z_@][A-Za-z0-9_.@-]{0,63}$")
_FTS_TOKEN = re.compile(r'"(?:[^"]|"")*"|\(|\)|[^\s()"]+')
_BAREWORD = re.compile(r"^[\w\u0080-\U0010ffff]+\*?$")
_OPERATORS = {"AND", "OR", "NOT"}
_BATCH = 5000


def fts_query(text: str) -> str:
    """An FTS5 MATCH expression for a search box query.

    Words (all must match), ``"quoted phrases"``, ``AND``/``OR``/``NOT``, parentheses and a
    trailing ``*`` for a prefix keep their FTS5 meaning; any other token (``10.0.0.1``,
    ``blk_-42``, ``out-of-memory``) becomes a phrase, so it matches instead of being a syntax error.
    """
    out: list[str] = []
    for token in _FTS_TOKEN.findall(text):
        if token.startswith('"') or token in ("(", ")") or token in _OPERATORS or _BAREWORD.match(token):
            out.append(token)
        else:
            out.append('"' + token.replace('"', '""') + '"')
    return " ".join(out)


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What one ingest did; ``stats`` says what happened to each line of a file."""

    source: str
    lines: int  # records stored (0 when skipped)
    skipped: bool = False  # the same content was ingested before
    stats: ReadStats | None = None


def _column(name: str) -> str:
    """The SQL expression for a logical or document field; rejects names that are not identifiers."""
    if name in LOGICAL_FIELDS:
        return f"l.{name}"
    if not _FIELD_NAME.match(name):
        raise ToolError(
            f"field name {name!r} is not valid: use letters, digits, '_', '.', '@' or '-' "
            f"(e.g. level, service, host, model_version)"
        )
    return f"CAST(json_extract(l.fields, '$.\"{name}\"') AS TEXT)"


def _nothing_read(source: str, stats: ReadStats, fmt: LineFormat | None) -> str:
    """Why no line of a file became a record, with the first refused line and what to do."""
    if not stats.lines:
        return f"{source}: no log lines (the file is empty or blank)"
    reason, (number, text) = min(stats.first_refused.items(), key=lambda kv: kv[1][0])
    if reason == NO_RECORD_BEFORE:
        reason = "not a log line augur can read (no time it knows, not JSON with a time field)"
    hint = ("check that --format matches the lines" if fmt is not None else
            "give the layout with --format, e.g. '<Date> <Time> <Level> <Component>: <Content>' or a "
            "regex with (?P<time>...) and (?P<content>...)")
    return f"{source}:{number}: {reason}: {text!r}; {hint}"


class SqliteLogStore:
    """A :class:`~augur.tools.logs.backend.LogBackend` over a SQLite file with an FTS5 index."""

    def __init__(self, path: str | Path, *, timeout_s: float = 20.0) -> None:
        self.path = Path(path)
        self.timeout_s = timeout_s
        self.description = f"sqlite:{self.path}"

    # ------------------------------------------------------------------ ingest

    def ingest(self, records: Iterable[LogRecord], *, source: str = "<records>") -> IngestResult:
        """Store ``records`` in one transaction; on any error nothing is stored."""
        conn = connect_rw(self.path, _SCHEMA)
        try:
            with conn:
                count = self._insert(conn, records, None)
        finally:
            conn.close()
        return IngestResult(source, count)

    def ingest_file(
        self, path: str | Path, *, service: str | None = None, year: int | None = None,
        fmt: LineFormat | None = None,
    ) -> IngestResult:
        """Index a log file (JSON lines, logfmt or plain lines); ``service`` defaults to the file's stem.

        ``fmt`` is the user's layout (``--format``); without it the layout is detected. Year-less
        times take ``year``, else the file's modification year. Raises
        :class:`~augur.tools.logs.lines.LineError` (nothing stored) when no line could be read,
        and ``OSError`` when the file cannot be read.
        """
        file = Path(path)
        digest = hashlib.sha256()
        with file.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        sha = digest.hexdigest()
        stats = ReadStats()
        conn = connect_rw(self.path, _SCHEMA)
        try:
            if conn.execute("SELECT 1 FROM sources WHERE sha256 = ?", (sha,)).fetchone():
                return IngestResult(str(file), 0, skipped=True)
            with conn, file.open(encoding="utf-8", errors="replace") as fh:
                cur = conn.execute(
                    "INSERT INTO sources(path, sha256, lines, ingested_at) VALUES (?, ?, 0, ?)",
                    (str(file), sha, time.time()),
                )
                source_id = cur.lastrowid
                records = parse_lines(fh, service=service or file.stem, year=year, source=str(file), fmt=fmt,
                                      stats=stats, modified=file.stat().st_mtime)
                count = self._insert(conn, records, source_id)
                if count == 0:
                    raise LineError(_nothing_read(str(file), stats, fmt))
                conn.execute("UPDATE sources SET lines = ? WHERE id = ?", (count, source_id))
        finally:
            conn.close()
        return IngestResult(str(file), count, stats=stats)

    @staticmethod
    def _insert(conn: sqlite3.Connection, records: Iterable[LogRecord], source_id: int | None) -> int:
        count = 0
        batch: list[tuple[Any, ...]] = []
        sql = "INSERT INTO logs(ts, level, service, host, message, fields, source) VALUES (?,?,?,?,?,?,?)"
        for r in records:
            batch.append((r.ts, r.level, r.service, r.host, r.message,
                          json.dumps(r.fields, default=str), source_id))
            if len(batch) >= _BATCH:
                conn.executemany(sql, batch)
                count += len(batch)
                batch.clear()
        if batch:
            conn.executemany(sql, batch)
            count += len(batch)
        return count

    # ------------------------------------------------------------------ search

    async def search(self, query: LogQuery) -> LogPage:
        """Answer ``query`` in a worker thread (SQLite is synchronous)."""
        return await asyncio.to_thread(self._search, query)

    def source_url(self, query: LogQuery) -> str | None:
        """No web UI for the embedded store."""
        return None

    def services(self, start: float, end: float) -> list[str]:
        """The services with lines in ``[start, end]`` (Unix s), sorted; [] without a store."""
        if not Path(self.path).is_file():
            return []
        conn = connect_ro(self.path, self.timeout_s, missing=f"no log store at {self.path}")
        try:
            rows = conn.execute("SELECT DISTINCT service FROM logs WHERE ts BETWEEN ? AND ? AND service "
                                "IS NOT NULL AND service <> '' ORDER BY service", (start, end)).fetchall()
        except sqlite3.DatabaseError:
            return []  # not a log store: log_search says so when it is asked
        finally:
            conn.close()
        return [str(r[0]) for r in rows]

    def _search(self, query: LogQuery) -> LogPage:
        conn = connect_ro(
            self.path, self.timeout_s,
            missing=f"no log store at {self.path}: index log files first with `augur logs ingest FILE...` "
            "(or set AUGUR_ELASTICSEARCH_URL to search Elasticsearch)",
        )
        try:
            return self._run_search(conn, query)
        except sqlite3.OperationalError as exc:
            message = str(exc)
            if "interrupted" in message:
                raise ToolError(
                    f"the log store took longer than {self.timeout_s:g} s: narrow the time range or "
                    "add filters"
                ) from None
            if "fts5" in message or "syntax" in message:
                raise ToolError(
                    f"the log store could not read the query {query.text!r} ({message}): use words, "
                    '"quoted phrases", AND/OR/NOT and prefix*; put field conditions in `filters`'
                ) from None
            if "no such table" in message:
                raise Unavailable(
                    f"{self.path} is not an augur log store ({message}): point AUGUR_LOG_DB at the "
                    "file `augur logs ingest` wrote"
                ) from None
            raise ToolError(f"the log store at {self.path} failed: {message}") from None
        except sqlite3.DatabaseError as exc:
            raise ToolError(
                f"{self.path} is not a readable SQLite log store ({exc}): re-create it with "
                "`augur logs ingest FILE...`"
            ) from None
        finally:
            conn.close()

    def _run_search(self, conn: sqlite3.Connection, q: LogQuery) -> LogPage:
        where = ["l.ts >= ?", "l.ts <= ?"]
        params: list[Any] = [q.start, q.end]
        for name, value in sorted(q.filters.items()):
            where.append(f"{_column(name)} = ? COLLATE NOCASE")
            params.append(value)
        text = fts_query(q.text) if q.text.strip() else ""
        if text:
            source = "logs_fts JOIN logs l ON l.id = logs_fts.rowid"
            where.insert(0, "logs_fts MATCH ?")
            params.insert(0, text)
            order = "bm25(logs_fts), l.ts DESC, l.id DESC"
        else:
            source = "logs l"
            order = "l.ts DESC, l.id DESC"
        if q.oldest_first:
            order = "l.ts, l.id"
        clause = " AND ".join(where)
        rows = conn.execute(
            f"SELECT l.id, l.ts, l.level, l.service, l.host, l.message, l.fields FROM {source} "
            f"WHERE {clause} ORDER BY {order} LIMIT ?",
            [*params, q.max_docs],
        ).fetchall()
        records = [
            LogRecord(ts=ts, level=level, service=service, host=host, message=message,
                      id=str(rid), fields=json.loads(fields or "{}"))
            for rid, ts, level, service, host, message, fields in rows
        ]
        if not q.aggregate:
            return LogPage(total=len(records), records=records)
        total = int(conn.execute(f"SELECT COUNT(*) FROM {source} WHERE {clause}", params).fetchone()[0])
        counts = dict(conn.execute(
            f"SELECT CAST(l.ts / ? AS INTEGER), COUNT(*) FROM {source} WHERE {clause} GROUP BY 1",
            [q.bucket_s, *params],
        ).fetchall())
        first, last = math.floor(q.start / q.bucket_s), math.floor(q.end / q.bucket_s)
        buckets = [(k * q.bucket_s, int(counts.get(k, 0))) for k in range(first, last + 1)]
        top: dict[str, list[tuple[str, int]]] = {}
        for name in q.top_fields:
            column = _column(name)
            top[name] = [
                (str(value), int(n)) for value, n in conn.execute(
                    f"SELECT {column} AS v, COUNT(*) AS n FROM {source} WHERE {clause} AND v IS NOT NULL "
                    f"GROUP BY v ORDER BY n DESC, v LIMIT ?", [*params, q.top_n],
                ).fetchall()
            ]
        return LogPage(total=total, records=records, buckets=buckets, top_values=top)
