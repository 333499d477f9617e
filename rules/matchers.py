"""Alertmanager matchers that match only what they name, whatever the names hold.

Alert names and label values come from telemetry. Put into ``alertname=~"..."`` unquoted, a name
``RankerLatency.*|.*`` becomes a regex that matches every alert, and an approved inhibit rule
would mute them all. :func:`regex_quote` is Go's ``regexp.QuoteMeta`` (the RE2 that Prometheus
and Alertmanager use); :func:`quoted` escapes a matcher's double-quoted value as Alertmanager's
parser reads it (``\\`` and ``\"``). ``tests/rules/test_matchers.py`` checks the result with
``amtool``.
"""

from __future__ import annotations

import re

__all__ = ["LABEL_NAME", "any_of", "equal", "quoted", "regex_quote"]

#: A label name Alertmanager accepts unquoted.
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_RE_SPECIAL = re.compile(r"([\\.+*?()|\[\]{}^$])")


def regex_quote(text: str) -> str:
    """``text`` as a regular expression matching only itself (``regexp.QuoteMeta``)."""
    return _RE_SPECIAL.sub(r"\\\1", text)


def quoted(value: str) -> str:
    """A matcher's double-quoted value: backslash, quote and newline escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def equal(label: str, value: str) -> str:
    """``label="value"``, whatever the value holds."""
    return f"{label}={quoted(value)}"


def any_of(label: str, values: list[str]) -> str:
    """``label=~"a|b"`` matching exactly these values, each regex-quoted."""
    return f"{label}=~{quoted('|'.join(regex_quote(v) for v in values))}"
