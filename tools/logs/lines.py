"""Reading log files into :class:`~augur.tools.logs.backend.LogRecord`: every line accounted for.

Each line decides for itself what it is, in this order:

1. a JSON object (see :mod:`~augur.tools.logs.structured` for the keys read);
2. a logfmt line (``time=... level=warn msg="..."``) with a time key;
3. a plain line in one of the :data:`~augur.tools.logs.formats.FORMATS` layouts: the file's own
   layout first (detected on its first lines, or given with ``--format``), then the others;
   the header is split into time, level, host and fields, and the message is the rest;
4. a line with no time continues the record before it (a stack trace, a wrapped message, a JSON
   payload in a plain-text log) and is counted as *merged*; with no record before it, or when it
   is a JSON object without a time in a JSON-lines file, it is *refused* with the reason.

A Kubernetes container-runtime (CRI) line's own text is read as JSON when it is; its partial
lines (tag ``P``) are joined to the next. :class:`ReadStats` counts what was stored, merged and
refused (and why), the layouts used and whether a year had to be guessed.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from augur.tools.errors import BadInput
from augur.tools.logs.backend import LogRecord
from augur.tools.logs.formats import FORMATS, LineFormat, detect_format
from augur.tools.logs.structured import (
    SYSLOG_SEVERITY,
    TIME_KEYS,
    normalise_level,
    parse_logfmt,
    parse_time_text,
    record_from_json,
)
from augur.tools.logs.timestamps import YearGuess, parse_timestamp

__all__ = ["LineError", "ReadStats", "normalise_level", "parse_lines", "parse_time_text"]

#: Lines looked at to detect a file's layout.
SAMPLE_LINES = 200
#: Reasons a line is refused.
NO_RECORD_BEFORE = "no time, and no record before it to continue"
JSON_WITHOUT_TIME = "JSON without a time field"
BAD_TIME = "its time is not a valid date"
_STARTS_HEADER = re.compile(r"[\[<{(\w-]")


class LineError(BadInput, ValueError):
    """A file could not be read as log lines; the message says which line and why."""


@dataclass(slots=True)
class ReadStats:
    """What reading a file did with its lines."""

    lines: int = 0  # non-blank lines read
    stored: int = 0  # records produced
    merged: int = 0  # lines appended to the record before (no time of their own)
    blank: int = 0
    refused: Counter[str] = field(default_factory=Counter)  # reason -> lines
    first_refused: dict[str, tuple[int, str]] = field(default_factory=dict)  # reason -> (line no, text)
    formats: Counter[str] = field(default_factory=Counter)  # layout name -> records
    detected: str | None = None  # the file's layout (detected or given)
    year: int | None = None  # the year given to year-less times, when one was needed
    year_given: bool = False

    def refuse(self, reason: str, number: int, line: str) -> None:
        """Count a refused line, keeping the first example of each reason."""
        self.refused[reason] += 1
        self.first_refused.setdefault(reason, (number, line[:120]))


def _level(groups: dict[str, str | None]) -> str | None:
    if groups.get("level"):
        return normalise_level(groups["level"])
    pri = groups.get("pri")
    if pri and pri.isdigit():
        return SYSLOG_SEVERITY[int(pri) % 8]
    status = groups.get("status")
    if status and status.isdigit():
        return "error" if status >= "500" else "warning" if status >= "400" else "info"
    return None


_NOT_FIELDS = {"level", "pri", "host", "content", "status"}


class _Reader:
    """The state of reading one file: its layout, the year guess, the record being built."""

    def __init__(
        self, fmt: LineFormat | None, guess: YearGuess, service: str | None, stats: ReadStats
    ) -> None:
        self.fmt = fmt
        self.guess = guess
        self.service = service
        self.stats = stats
        self.order = [fmt] if fmt is not None else []

    def structured(self, line: str, number: int) -> LogRecord | bool | None:
        """A record from a JSON or logfmt line; False when the line is neither; None when refused."""
        stripped = line.lstrip()
        obj: Any = None
        if stripped.startswith("{"):
            try:
                obj = json.loads(stripped)
            except json.JSONDecodeError:
                obj = None
            if isinstance(obj, dict):
                record = record_from_json(obj, service=self.service, guess=self.guess)
                if record is None and self.fmt is not None:
                    return False  # a JSON payload inside a plain-text log: it continues a record
                if record is None:
                    self.stats.refuse(JSON_WITHOUT_TIME, number, line)
                    return None
                self.stats.formats["json"] += 1
                return record
        pairs = parse_logfmt(stripped) if stripped[:1].isalpha() else None
        if pairs and any(k in pairs for k in TIME_KEYS):
            record = record_from_json(dict(pairs), service=self.service, guess=self.guess)
            if record is not None:
                self.stats.formats["logfmt"] += 1
                return record
        return False

    def plain(self, line: str) -> tuple[LogRecord, LineFormat] | str | None:
        """A record and its layout; the refusal reason for a header with a bad time; None: no header."""
        bad_time = False
        for fmt in (*self.order, *FORMATS) if self.fmt is None or self.fmt.name != "user" else self.order:
            m = fmt.pattern.match(line)
            if m is None:
                continue
            groups = m.groupdict()
            text = " ".join(groups[g] or "" for g in fmt.time_groups).strip()
            ts = parse_timestamp(text, self.guess)
            if ts is None:
                bad_time = True
                continue
            fields = {k: v for k, v in groups.items()
                      if v not in (None, "", "-") and k not in _NOT_FIELDS and k not in fmt.time_groups}
            content = groups.get("content") or ""
            record = LogRecord(ts=ts, level=_level(groups), service=self.service, host=groups.get("host"),
                               message=content if fmt.name == "cri" else content.strip(), fields=fields)
            return record, fmt
        return BAD_TIME if bad_time else None


def _cri_json(record: LogRecord, service: str | None, guess: YearGuess) -> LogRecord:
    """A CRI record whose own text is a JSON object, read as that object (outer time kept if none)."""
    if not record.message.startswith("{"):
        return record
    try:
        obj = json.loads(record.message)
    except json.JSONDecodeError:
        return record
    if not isinstance(obj, dict):
        return record
    inner = record_from_json(obj, service=service, ts=record.ts, guess=guess)
    if inner is None:
        return record
    inner.fields = {**record.fields, **inner.fields}
    return inner


def parse_lines(
    lines: Iterable[str], *, service: str | None = None, year: int | None = None, source: str = "<input>",
    fmt: LineFormat | None = None, stats: ReadStats | None = None, modified: float | None = None,
) -> Iterator[LogRecord]:
    """Records from the lines of one file, counting what happened to each line in ``stats``.

    ``fmt`` is the user's layout (``--format``), tried alone; without it the layout is detected on
    the first lines. Year-less times take ``year``, else the year of ``modified`` (the file's
    modification time, which they are kept from passing), else this year.
    """
    stats = stats if stats is not None else ReadStats()
    if year is not None:
        guess = YearGuess(year, given=True)
    elif modified is not None:
        guess = YearGuess(datetime.fromtimestamp(modified, UTC).year, not_after=modified)
    else:
        guess = YearGuess(datetime.now(UTC).year)
    it = iter(lines)
    head: list[str] = []
    for raw in it:
        head.append(raw)
        if len(head) >= SAMPLE_LINES:
            break
    if fmt is None:
        sample = [ln.rstrip("\r\n") for ln in head if _STARTS_HEADER.match(ln)]
        fmt, _ = detect_format(sample)
    stats.detected = fmt.name if fmt is not None else None
    reader = _Reader(fmt, guess, service, stats)
    pending: LogRecord | None = None
    partial = False  # the pending record is a CRI partial line: the next line's text joins it
    number = 0
    for chunk in (head, it):
        for raw in chunk:
            number += 1
            line = raw.rstrip("\r\n")
            if not line.strip():
                stats.blank += 1
                continue
            stats.lines += 1
            record = reader.structured(line, number)
            if record is None:
                continue
            if record is False:
                plain = reader.plain(line)
                if isinstance(plain, str):
                    stats.refuse(plain, number, line)
                    continue
                if plain is None:
                    if pending is None:
                        stats.refuse(NO_RECORD_BEFORE, number, line)
                    else:
                        pending.message += "\n" + line
                        stats.merged += 1
                    continue
                record, used = plain
                stats.formats[used.name] += 1
                if used.name == "cri":
                    joins = partial and pending is not None
                    partial = record.fields.get("tag") == "P"
                    if joins and pending is not None:  # the rest of a partial line
                        pending.message += record.message
                        stats.merged += 1
                        if not partial:
                            pending = _cri_json(pending, service, guess)
                        continue
                    if not partial:
                        record = _cri_json(record, service, guess)
            assert isinstance(record, LogRecord)
            if pending is not None:
                stats.stored += 1
                yield pending
            pending = record
    if pending is not None:
        stats.stored += 1
        yield pending
    if guess.used:
        stats.year, stats.year_given = guess.year, guess.given
