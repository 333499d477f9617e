"""One set of rules for what every write endpoint accepts: no NUL, bounded sizes, sane times, labels.

The webhook, ``POST /v1/investigations``, the proposal review endpoints and the Slack routes all
call these checks, so the same bad input gets the same 4xx everywhere — and the same answer on
SQLite and PostgreSQL (PostgreSQL text cannot hold NUL; without the check one store took what the
other refused with a 500). Each failure is an :class:`~augur.server.errors.ApiError` (422) whose
reason starts with the field's path (``alerts.3.startsAt: ...``), so the caller knows what to fix.

Rules:

- no string (key or value, at any depth) contains NUL (``\\u0000``);
- an alert has at least one label; label names are non-empty; a label value is at most
  :data:`MAX_LABEL_VALUE` characters, an annotation at most :data:`MAX_ANNOTATION_VALUE`, and an
  alert has at most :data:`MAX_LABELS` labels;
- ``startsAt`` is a real time (not Go's zero time, ``0001-01-01T00:00:00Z``, which would put the
  investigation window two thousand years back), and ``endsAt``, when set, is not before it;
- integer ids fit the store's integer column (:data:`MAX_ID`): a larger one is "not found" on
  both stores instead of an overflow error on one;
- a verdict (:func:`check_verdict`) is ``confirmed`` (or ``right``), ``wrong`` or ``not_actionable``;
  ``wrong`` names the real cause (one line, at most :data:`MAX_CAUSE` characters), and only
  ``wrong`` does; a fault type is a playbook key (``[a-z][a-z0-9_]*``); the fix and the note are at
  most :data:`MAX_NOTE` characters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Path

from augur.server.errors import ApiError
from augur.tools.timeparse import TimeFormatError, parse_rfc3339

__all__ = [
    "MAX_ANNOTATION_VALUE",
    "MAX_CAUSE",
    "MAX_ID",
    "MAX_LABELS",
    "MAX_LABEL_VALUE",
    "MAX_NOTE",
    "VERDICTS",
    "IncidentId",
    "Judgement",
    "check_alert_dict",
    "check_alert_times",
    "check_labels",
    "check_verdict",
    "find_nul",
    "reject_nul",
]

#: Largest id the store holds (a 32-bit signed INTEGER column on PostgreSQL).
MAX_ID = 2**31 - 1
#: Most labels on one alert.
MAX_LABELS = 256
#: Longest label value, in characters (Prometheus has no limit; nothing real comes close).
MAX_LABEL_VALUE = 16 * 1024
#: Longest annotation value, in characters (descriptions, runbooks).
MAX_ANNOTATION_VALUE = 64 * 1024

#: The verdicts a person can give, as stored (the words people type are mapped in :func:`check_verdict`).
VERDICTS = ("confirmed", "wrong", "not_actionable")
_VERDICT_WORDS = {"confirmed": "confirmed", "right": "confirmed", "wrong": "wrong",
                  "not_actionable": "not_actionable", "not-actionable": "not_actionable"}
#: Longest real cause (a component name), in characters.
MAX_CAUSE = 255
#: Longest fix or note on a verdict, in characters.
MAX_NOTE = 4000
_FAULT_TYPE = re.compile(r"[a-z][a-z0-9_]{0,63}")

#: An incident id in a path: 1 .. MAX_ID (FastAPI answers 422 naming it otherwise).
IncidentId = Annotated[int, Path(ge=1, le=MAX_ID, description="The incident's id.")]


def find_nul(value: object, path: str = "") -> str | None:
    """The path of the first string (key or value) holding a NUL character in ``value``, or ``None``."""
    if isinstance(value, str):
        return (path or "body") if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and "\x00" in key:
                return where.replace("\x00", "\\u0000")
            found = find_nul(item, where)
            if found is not None:
                return found
        return None
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            found = find_nul(item, f"{path}.{i}" if path else str(i))
            if found is not None:
                return found
    return None


def reject_nul(value: object, path: str = "", *, code: str = "invalid_request") -> None:
    """Raise a 422 naming the field if any string in ``value`` holds a NUL character."""
    where = find_nul(value, path)
    if where is not None:
        raise ApiError(422, code, f"{where}: contains a NUL character (\\u0000), which augur does not store")


def check_labels(labels: object, path: str, *, code: str = "invalid_request", required: bool = True,
                 max_value: int = MAX_LABEL_VALUE) -> None:
    """Labels (or annotations, with ``required=False``) are a bounded string-to-string map."""
    if labels is None and required:
        raise ApiError(422, code, f"{path}: missing: an alert needs `labels` (at least alertname) to be "
                                  "grouped and investigated")
    if not isinstance(labels, dict):
        raise ApiError(422, code, f"{path}: must be an object of name -> value strings")
    if required and not labels:
        raise ApiError(422, code, f"{path}: an alert needs at least one label (e.g. alertname) to be grouped "
                                  "and investigated")
    if len(labels) > MAX_LABELS:
        raise ApiError(422, code, f"{path}: {len(labels)} entries, more than the {MAX_LABELS} augur accepts")
    for name, value in labels.items():
        if not isinstance(name, str) or not name:
            raise ApiError(422, code, f"{path}: a name is empty")
        if not isinstance(value, str):
            raise ApiError(422, code, f"{path}.{name}: must be a string")
        if len(value) > max_value:
            raise ApiError(422, code, f"{path}.{name}: {len(value)} characters, more than the {max_value} "
                                      "augur accepts")


def check_alert_times(starts_at: datetime | None, ends_at: datetime | None, path: str, *,
                      code: str = "invalid_request") -> None:
    """``startsAt`` is a real time and ``endsAt`` (``None``: still firing) is not before it."""
    if starts_at is not None and starts_at.year <= 1:
        raise ApiError(422, code, f"{path}.startsAt: Go's zero time (0001-01-01) is not a start time: send "
                                  "when the alert started firing")
    if starts_at is not None and ends_at is not None and ends_at < starts_at:
        raise ApiError(422, code, f"{path}.endsAt: {ends_at.isoformat()} is before startsAt "
                                  f"{starts_at.isoformat()}")


def check_alert_dict(alert: dict[str, Any], path: str, *, code: str = "invalid_request") -> None:
    """An alert given as plain JSON (``POST /v1/investigations``): the webhook's rules on its fields."""
    check_labels(alert.get("labels"), f"{path}.labels", code=code)
    check_labels(alert.get("annotations", {}) or {}, f"{path}.annotations", code=code, required=False,
                 max_value=MAX_ANNOTATION_VALUE)
    starts, ends = (_time(alert.get(k), f"{path}.{k}", code) for k in ("startsAt", "endsAt"))
    if ends is not None and ends.year <= 1:
        ends = None  # Go's zero time: still firing
    check_alert_times(starts, ends, path, code=code)


def _time(value: object, path: str, code: str) -> datetime | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ApiError(422, code, f"{path}: must be an RFC 3339 time string")
    try:
        parsed = parse_rfc3339(value)  # Alertmanager's nanoseconds are cut to microseconds
    except TimeFormatError:
        raise ApiError(422, code, f"{path}: {value[:40]!r} is not an RFC 3339 time") from None
    if parsed.tzinfo is None:
        raise ApiError(422, code, f"{path}: give a timezone, e.g. 2026-01-01T00:00:00Z")
    return parsed


@dataclass(frozen=True)
class Judgement:
    """A checked verdict: what a person said about an incident's root cause."""

    verdict: str
    real_cause: str | None = None
    real_fault_type: str | None = None
    fix: str = ""
    note: str = ""


def _text(value: object, path: str, limit: int, code: str, *, one_line: bool = False) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ApiError(422, code, f"{path}: must be a string")
    reject_nul(value, path, code=code)
    text = value.strip()
    if len(text) > limit:
        raise ApiError(422, code, f"{path}: {len(text)} characters, more than the {limit} augur accepts")
    if one_line and any(c in text for c in "\r\n\t"):
        raise ApiError(422, code, f"{path}: one line, please (a component name, as the report shows it)")
    return text


def check_verdict(verdict: object, real_cause: object = None, real_fault_type: object = None,
                  fix: object = None, note: object = None, *, code: str = "invalid_verdict") -> Judgement:
    """A verdict as given (the API, the page, the CLI, Slack), checked; 422 naming the field if not."""
    if not isinstance(verdict, str) or verdict.strip().lower() not in _VERDICT_WORDS:
        shown = repr(verdict)[:40] if verdict is not None else "missing"
        raise ApiError(422, code, f"verdict: {shown}: use confirmed (right), wrong (with real_cause) "
                                  "or not_actionable")
    kind = _VERDICT_WORDS[verdict.strip().lower()]
    cause = _text(real_cause, "real_cause", MAX_CAUSE, code, one_line=True)
    fault = _text(real_fault_type, "real_fault_type", 64, code, one_line=True)
    if kind == "wrong" and not cause:
        raise ApiError(422, code, "real_cause: a 'wrong' verdict names the real cause (the component it was)")
    if kind != "wrong" and (cause or fault):
        field = "real_cause" if cause else "real_fault_type"
        raise ApiError(422, code, f"{field}: only a 'wrong' verdict names a real cause "
                                  f"(this one is {kind!r})")
    if fault and not _FAULT_TYPE.fullmatch(fault):
        raise ApiError(422, code, f"real_fault_type: {fault[:40]!r} is not a fault type: a playbook key such "
                                  "as data_drift or bad_model_version (lower case, digits, _)")
    return Judgement(kind, cause or None, fault or None, _text(fix, "fix", MAX_NOTE, code),
                     _text(note, "note", MAX_NOTE, code))
