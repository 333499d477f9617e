"""Reading times and durations as augur's users and backends write them: one grammar for each.

- a duration is Prometheus's (``90s``, ``5m``, ``1h30m``, ``250ms``; units ms s m h d w y) or a
  plain number of seconds: :func:`parse_duration`;
- a time is RFC 3339 / ISO 8601 (``2026-11-24T02:10:00Z``; no offset means UTC; fractions past
  microseconds, as Alertmanager writes them, are cut), Unix seconds, or ``now`` / ``now-1h`` /
  ``now+5m`` where relative times are allowed: :func:`parse_time`, with :func:`parse_rfc3339`
  for callers that need the ``datetime`` (and whether it had an offset).

Every failure is a :class:`TimeFormatError`, a ``ToolError``: a tool turns it into error evidence
whose reason shows the accepted forms; other callers catch it and raise their own bad-input error.
(It is deliberately not a ``ValueError``: tools read a ``ValueError`` as a backend's garbled answer.)
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

from augur.tools.base import ToolError

__all__ = ["TIME_HELP", "TimeFormatError", "parse_duration", "parse_rfc3339", "parse_time"]

#: How time arguments are written, for argument descriptions.
TIME_HELP = "'now', 'now-1h', RFC 3339 (2026-11-24T02:10:00Z) or Unix seconds"

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0, "y": 31536000.0}
# Seconds with more than six fractional digits, and what follows them (an offset or nothing).
_LONG_FRACTION = re.compile(r"^(.*\.\d{6})\d+(.*)$")


class TimeFormatError(ToolError):
    """A time or duration that cannot be read; the message shows the forms that can."""


def parse_duration(text: str) -> float:
    """Seconds in a Prometheus duration (``90s``, ``5m``, ``1h30m``) or a plain number of seconds."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise TimeFormatError(
            f"cannot read duration {text!r}: use seconds or Prometheus units, e.g. 30s, 5m, 1h30m"
        )
    return sum(float(n) * _UNIT_S[u] for n, u in parts)


def parse_rfc3339(text: str) -> datetime:
    """The ``datetime`` of RFC 3339 / ISO 8601 text; naive when the text gives no offset.

    ``Z`` reads as UTC; fractional seconds past microseconds (Go's and Alertmanager's
    nanoseconds) are cut, not refused.
    """
    text = text.strip()
    trimmed = _LONG_FRACTION.sub(r"\1\2", text)
    try:
        return datetime.fromisoformat(trimmed.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise TimeFormatError(
            f"cannot read time {text[:60]!r}: use RFC 3339, e.g. 2026-11-24T02:10:00Z"
        ) from None


def parse_time(
    value: str | float | datetime | None, *, now: float | None = None, relative: bool = True
) -> float:
    """Unix seconds for an RFC 3339 time, a ``datetime``, Unix seconds, or ``now``/``now-1h``.

    ``None`` is ``now``. A time without an offset is UTC. ``relative=False`` refuses ``now`` and
    ``now±duration``, for values that must name a fixed instant (an alert's start, a question's
    anchor).
    """
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    if isinstance(value, int | float):
        return float(value)
    now = time.time() if now is None else now
    if value is None and relative:
        return now
    text = "" if value is None else value.strip()
    if relative and text == "now":
        return now
    if relative and (text.startswith("now-") or text.startswith("now+")):
        offset = parse_duration(text[4:])
        return now - offset if text[3] == "-" else now + offset
    try:
        return float(text)
    except ValueError:
        pass
    try:
        parsed = parse_rfc3339(text)
    except TimeFormatError:
        forms = ("'now', 'now-30m', RFC 3339 (2026-11-24T02:10:00Z) or Unix seconds" if relative
                 else "RFC 3339 (2026-11-24T02:10:00Z) or Unix seconds")
        raise TimeFormatError(f"cannot read time {value!r}: use {forms}") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
