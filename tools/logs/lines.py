"""Reading log files into :class:`~augur.tools.logs.backend.LogRecord`: JSON lines or plain text.

JSON lines: the time is read from ``@timestamp``, ``timestamp``, ``time``, ``ts`` or ``asctime``
(RFC 3339 text, or Unix seconds/milliseconds), the message from ``message``, ``msg``, ``log`` or
``event``, the level from ``level``, ``severity``, ``levelname`` or ``log.level``, the service from
``service``, ``service.name``, ``app`` or ``logger``, the host from ``host``, ``host.name`` or
``hostname``; every other key is kept as a field (nested objects flattened with dots).

Plain lines: a leading RFC 3339 / ``2026-11-24 02:10:03,123`` time, or the glog/vLLM style
``INFO 11-24 02:10:03 [file.py:12] ...`` (its year is taken from ``year``), with an optional level
word next to it. A line without a time (a traceback, a wrapped message) continues the line before.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from augur.tools.logs.backend import LogRecord

__all__ = ["LineError", "parse_lines", "parse_time_text"]

_TIME_KEYS = ("@timestamp", "timestamp", "time", "ts", "asctime", "t")
_MESSAGE_KEYS = ("message", "msg", "log", "event")
_LEVEL_KEYS = ("level", "severity", "levelname", "log.level", "lvl")
_SERVICE_KEYS = ("service", "service.name", "app", "logger", "logger_name")
_HOST_KEYS = ("host", "host.name", "hostname")
_LEVELS = {
    "trace": "trace", "debug": "debug", "info": "info", "notice": "info", "warn": "warning",
    "warning": "warning", "error": "error", "err": "error", "critical": "critical", "crit": "critical",
    "fatal": "critical", "panic": "critical", "i": "info", "w": "warning", "e": "error", "f": "critical",
}
_ISO = re.compile(
    r"^\[?(?P<ts>\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?)\]?\s*"
)
_GLOG = re.compile(r"^(?P<level>[A-Z]+)\s+(?P<md>\d{2}-\d{2})\s+(?P<hms>\d{2}:\d{2}:\d{2}(?:\.\d+)?)\s+")
_LEVEL_WORD = re.compile(r"^\[?(?P<level>[A-Za-z]+)\]?:?\s+")


class LineError(ValueError):
    """A file could not be read as log lines; the message says which line and why."""


def normalise_level(value: Any) -> str | None:
    """``WARN`` -> ``warning``, ``E`` -> ``error``; an unknown level is kept lower-cased."""
    if value is None:
        return None
    text = str(value).strip().lower()
    return _LEVELS.get(text, text) or None


def parse_time_text(value: Any) -> float | None:
    """Unix seconds from RFC 3339 text or Unix seconds/milliseconds; None if it is not a time."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) / 1000.0 if value > 1e11 else float(value)
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace(",", ".")
    try:
        return parse_time_text(float(text))
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def _flatten(obj: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, name + "."))
        else:
            out[name] = value
    return out


def _pop_first(fields: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        if key in fields and fields[key] not in (None, ""):
            return fields.pop(key)
    return None


def record_from_json(obj: dict[str, Any], *, service: str | None = None) -> LogRecord | None:
    """A record from one decoded JSON object; None when it carries no readable time."""
    fields = _flatten(obj)
    ts = parse_time_text(_pop_first(fields, _TIME_KEYS))
    if ts is None:
        return None
    message = _pop_first(fields, _MESSAGE_KEYS)
    level = normalise_level(_pop_first(fields, _LEVEL_KEYS))
    svc = _pop_first(fields, _SERVICE_KEYS)
    host = _pop_first(fields, _HOST_KEYS)
    return LogRecord(
        ts=ts, message="" if message is None else str(message), level=level,
        service=str(svc) if svc is not None else service, host=None if host is None else str(host),
        fields={k: v for k, v in fields.items() if isinstance(v, str | int | float | bool)},
    )


def _plain(line: str, year: int) -> tuple[float, str | None, str] | None:
    """(time, level, message) of a plain line that starts a record, or None for a continuation."""
    glog = _GLOG.match(line)
    if glog:
        ts = parse_time_text(f"{year}-{glog['md']}T{glog['hms']}")
        if ts is not None:
            return ts, normalise_level(glog["level"]), line[glog.end():]
    iso = _ISO.match(line)
    if not iso:
        return None
    ts = parse_time_text(iso["ts"])
    if ts is None:
        return None
    rest = line[iso.end():]
    level = None
    word = _LEVEL_WORD.match(rest)
    if word and word["level"].lower() in _LEVELS and len(word["level"]) > 1:
        level = normalise_level(word["level"])
        rest = rest[word.end():]
    return ts, level, rest


def parse_lines(
    lines: Iterable[str], *, service: str | None = None, year: int | None = None, source: str = "<input>"
) -> Iterator[LogRecord]:
    """Records from JSON lines or plain lines (each line decides for itself).

    Raises :class:`LineError` when the first non-empty line is neither JSON with a time nor a
    plain line with a leading time: such a file is not a log this reader knows.
    """
    year = year or datetime.now(UTC).year
    pending: LogRecord | None = None
    seen_first = False
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n")
        if not line.strip():
            continue
        record: LogRecord | None = None
        if line.lstrip().startswith("{"):
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                obj = None
            if isinstance(obj, dict):
                record = record_from_json(obj, service=service)
        if record is None:
            plain = _plain(line, year)
            if plain is not None:
                record = LogRecord(ts=plain[0], level=plain[1], message=plain[2], service=service)
        if record is None:
            if pending is None:
                if not seen_first:
                    raise LineError(
                        f"{source}:{number}: not a log line augur can read (no leading time, not JSON "
                        f"with a time field): {line[:120]!r}; use JSON lines with a `timestamp` "
                        "field or lines starting with an RFC 3339 time"
                    )
                continue
            pending.message += "\n" + line  # continuation: traceback, wrapped message
            continue
        seen_first = True
        if pending is not None:
            yield pending
        pending = record
    if pending is not None:
        yield pending
