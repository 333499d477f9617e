"""Structured log lines: JSON objects and logfmt ``key=value`` pairs, read into records.

The time is read from the first of ``@timestamp``, ``timestamp``, ``time``, ``ts``, ``asctime``,
``datetime``, ``date``, ``@t`` (text in any layout :func:`~augur.tools.logs.timestamps.parse_timestamp`
knows, or Unix seconds/milliseconds); the message from ``message``, ``msg``, ``log``, ``event``,
``@m``, ``body``, ``short_message``; the level from ``level``, ``severity``, ``levelname``,
``log.level``, ``lvl``, ``@l``, ``severity_text``; the service from ``service``, ``service.name``,
``app``, ``logger``, ``logger_name``; the host from ``host``, ``host.name``, ``hostname``. Every other
key is kept as a field (nested objects flattened with dots).
"""

from __future__ import annotations

import re
from typing import Any

from augur.tools.logs.backend import LogRecord
from augur.tools.logs.timestamps import YearGuess, parse_timestamp

__all__ = ["TIME_KEYS", "normalise_level", "parse_logfmt", "parse_time_text", "record_from_json"]

TIME_KEYS = ("@timestamp", "timestamp", "time", "ts", "asctime", "t", "datetime", "date", "@t")
_MESSAGE_KEYS = ("message", "msg", "log", "event", "@m", "@mt", "body", "short_message")
_LEVEL_KEYS = ("level", "severity", "levelname", "log.level", "lvl", "@l", "severity_text", "loglevel")
_SERVICE_KEYS = ("service", "service.name", "app", "logger", "logger_name")
_HOST_KEYS = ("host", "host.name", "hostname")
_LEVELS = {
    "trace": "trace", "debug": "debug", "info": "info", "notice": "info", "warn": "warning",
    "warning": "warning", "error": "error", "err": "error", "critical": "critical", "crit": "critical",
    "fatal": "critical", "panic": "critical", "alert": "critical", "emerg": "critical", "severe": "error",
    "fine": "debug", "finer": "debug", "finest": "trace", "verbose": "trace",
    "i": "info", "w": "warning", "e": "error", "f": "critical", "d": "debug", "v": "trace", "a": "critical",
}
#: Syslog severities 0..7 (the priority modulo 8).
SYSLOG_SEVERITY = ("critical", "critical", "critical", "error", "warning", "info", "info", "debug")
_LOGFMT_PAIR = re.compile(r'([\w.@/-]+)=("(?:[^"\\]|\\.)*"|[^\s"]*)')
_LOGFMT_LINE = re.compile(r'\s*(?:[\w.@/-]+=(?:"(?:[^"\\]|\\.)*"|[^\s"]*)(?:\s+|\Z))+\Z')


def normalise_level(value: Any) -> str | None:
    """``WARN`` -> ``warning``, ``E`` -> ``error``, ``trace3`` -> ``trace``; unknown kept lower-cased."""
    if value is None:
        return None
    text = str(value).strip().lower()
    if text.startswith("trace") and text[5:].isdigit():
        return "trace"
    return _LEVELS.get(text, text) or None


def parse_time_text(value: Any, guess: YearGuess | None = None) -> float | None:
    """Unix seconds from time text in a known layout or from Unix seconds/milliseconds; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) / 1000.0 if value > 1e11 else float(value)
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return parse_time_text(float(value.strip()))
    except ValueError:
        return parse_timestamp(value, guess)


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


def record_from_json(
    obj: dict[str, Any], *, service: str | None = None, ts: float | None = None,
    guess: YearGuess | None = None,
) -> LogRecord | None:
    """A record from one decoded object; None when it has no readable time (and ``ts`` is None)."""
    fields = _flatten(obj)
    own = parse_time_text(_pop_first(fields, TIME_KEYS), guess)
    if own is None and ts is None:
        return None
    message = _pop_first(fields, _MESSAGE_KEYS)
    level = normalise_level(_pop_first(fields, _LEVEL_KEYS))
    svc = _pop_first(fields, _SERVICE_KEYS)
    host = _pop_first(fields, _HOST_KEYS)
    return LogRecord(
        ts=own if own is not None else float(ts or 0.0), message="" if message is None else str(message),
        level=level, service=str(svc) if svc is not None else service,
        host=None if host is None else str(host),
        fields={k: v for k, v in fields.items() if isinstance(v, str | int | float | bool)},
    )


def parse_logfmt(line: str) -> dict[str, str] | None:
    """The pairs of a logfmt line (``time=... level=info msg="..."``), or None if it is not one."""
    if "=" not in line or not _LOGFMT_LINE.match(line):
        return None
    out: dict[str, str] = {}
    for key, value in _LOGFMT_PAIR.findall(line):
        if value.startswith('"'):
            value = re.sub(r'\\(.)', r"\1", value[1:-1])
        out[key] = value
    return out if len(out) >= 2 else None
