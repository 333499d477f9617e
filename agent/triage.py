"""Triage: turn an Alertmanager alert (or a free-text question) into what the graph starts from.

Alertmanager sends a whole group (``{"alerts": [...], ...}``); a single alert has ``labels``,
``annotations``, ``startsAt`` and a ``generatorURL`` whose ``g0.expr`` is the rule's PromQL. The
investigation looks at one alert: the first firing one of a group. The rule's expression without
its comparison (``avg_over_time(x[30m]) > 0.3`` -> ``avg_over_time(x[30m])``) is the alert's own
signal. The catalog maps the alert to a component by labels, else by the metrics its expression
reads for the same target (a label pinned in both to different values is another service).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlparse

from augur.agent.catalog import Catalog, Component
from augur.agent.state import AlertInfo, Window
from augur.tools.errors import BadInput
from augur.tools.timeparse import TimeFormatError, parse_time

__all__ = [
    "TriageError",
    "alert_metrics",
    "bad_direction",
    "focus_component",
    "normalise_alert",
    "reads_alert_series",
    "signal_of_expr",
    "window_for",
]

_COMPARISON = re.compile(r"(==|!=|>=|<=|>|<)(\s*bool\b)?")
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_PROMQL_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
    "offset", "inf", "nan", "le", "quantile",
}


class TriageError(BadInput, ValueError):
    """The input is neither an alert nor a question; the message says what is expected."""


def _parse_time(value: Any, field: str) -> float:
    if isinstance(value, int | float | str):
        try:
            return parse_time(value, relative=False)
        except TimeFormatError:
            pass
    raise TriageError(f"{field} must be an RFC 3339 time (2026-11-24T02:40:00Z) or Unix seconds, "
                      f"got {value!r}")


def signal_of_expr(expr: str) -> str:
    """The rule expression without its top-level comparison: the series the alert watches."""
    return _split_comparison(expr)[0]


def bad_direction(expr: str) -> str:
    """Which way the watched series goes when the alert fires: ``x > t`` up, ``x < t`` down."""
    op = _split_comparison(expr)[1]
    return "up" if op in (">", ">=") else "down" if op in ("<", "<=") else "any"


def _split_comparison(expr: str) -> tuple[str, str | None]:
    """The left side of the top-level comparison and the operator (``None`` without one)."""
    depth = 0
    quote: str | None = None
    for i, ch in enumerate(expr):
        if quote:
            if ch == quote and expr[i - 1] != "\\":
                quote = None
            continue
        if ch in "\"'`":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0 and (match := _COMPARISON.match(expr, i)) and not expr[i:].startswith("=~"):
            left = expr[:i].strip()
            return (left, match.group(1)) if left else (expr.strip(), None)
    return expr.strip(), None


def alert_metrics(expr: str) -> set[str]:
    """Metric names an expression reads (identifiers outside label matchers and not functions)."""
    no_labels = re.sub(r"\{[^}]*\}", "", expr)
    no_ranges = re.sub(r"\[[^\]]*\]", "", no_labels)
    names = set()
    for match in _IDENT.finditer(no_ranges):
        rest = no_ranges[match.end():].lstrip()
        word = match.group(0)
        if rest.startswith("(") or word.lower() in _PROMQL_WORDS:
            continue
        names.add(word)
    return names


_EQ_MATCHER = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"')


def _equal_matchers(expr: str) -> dict[str, set[str]]:
    """Each label's values in the expression's ``label="value"`` matchers (not ``=~``, ``!=``)."""
    found: dict[str, set[str]] = {}
    for selector in re.findall(r"\{([^}]*)\}", expr):
        for name, value in _EQ_MATCHER.findall(selector):
            found.setdefault(name, set()).add(value)
    return found


def reads_alert_series(
    alert_expr: str | None, alert_labels: Mapping[str, str], query: str
) -> bool:
    """Whether ``query`` reads a metric of the alert's expression *for the same target*.

    Sharing a metric name is not enough: ``http_requests_total{service="checkout"}`` and
    ``http_requests_total{service="ranker-serving"}`` are different services. A label pinned to a
    value in both (the alert's expression, else its labels) with no value in common means another
    target.
    """
    if not alert_expr or not alert_metrics(alert_expr) & alert_metrics(query):
        return False
    ours = _equal_matchers(alert_expr)
    for name, theirs in _equal_matchers(query).items():
        wanted = ours.get(name) or ({alert_labels[name]} if name in alert_labels else set())
        if wanted and not wanted & theirs:
            return False
    return True


def _expr_from_url(url: str | None) -> str | None:
    if not url:
        return None
    values = parse_qs(urlparse(url).query).get("g0.expr")
    return values[0] if values else None


def normalise_alert(payload: Mapping[str, Any]) -> AlertInfo:
    """One alert from an Alertmanager webhook body or a single alert object."""
    alert: Mapping[str, Any] = payload
    if "alerts" in payload:
        alerts = payload["alerts"]
        if not isinstance(alerts, list) or not alerts:
            raise TriageError("`alerts` must be a non-empty list of Alertmanager alerts")
        firing = [a for a in alerts if isinstance(a, dict) and a.get("status", "firing") == "firing"]
        alert = (firing or alerts)[0]
        if not isinstance(alert, dict):
            raise TriageError("each item of `alerts` must be an object with `labels`")
    labels = alert.get("labels")
    if not isinstance(labels, dict) or not labels:
        raise TriageError("an alert needs `labels` (an object with at least `alertname`)")
    if "startsAt" not in alert:
        raise TriageError("an alert needs `startsAt` (RFC 3339), as Alertmanager sends it")
    annotations = alert.get("annotations") or {}
    generator_url = alert.get("generatorURL") or None
    raw_expr = _expr_from_url(generator_url)
    return AlertInfo(
        name=str(labels.get("alertname", "alert")),
        labels={str(k): str(v) for k, v in labels.items()},
        annotations={str(k): str(v) for k, v in annotations.items()} if isinstance(annotations, dict) else {},
        starts_at=_parse_time(alert["startsAt"], "startsAt"),
        generator_url=generator_url,
        expr=signal_of_expr(raw_expr) if raw_expr else None,
        bad=bad_direction(raw_expr) if raw_expr else "any",
        fingerprint=str(alert["fingerprint"]) if alert.get("fingerprint") else None,
    )


def question_alert(question: str, at: float, labels: Mapping[str, str] | None = None) -> AlertInfo:
    """A pseudo-alert for a free-text question about the time ``at``."""
    return AlertInfo(name="question", labels=dict(labels or {}), annotations={"question": question},
                     starts_at=at, generator_url=None, expr=None, fingerprint=None)


def focus_component(
    catalog: Catalog | None, alert: AlertInfo, question: str | None = None
) -> Component | None:
    """The catalog component the alert (or question) is about, if any can be found."""
    if catalog is None:
        return None
    by_labels = catalog.for_alert(alert.get("labels", {}))
    if by_labels is not None:
        return by_labels
    expr = alert.get("expr")
    if expr:
        labels = alert.get("labels", {})
        for comp in catalog.components:
            for sig in comp.signals:
                if sig.query and reads_alert_series(expr, labels, sig.query):
                    return comp
    if question:
        text = question.lower()
        named = [c for c in catalog.components if c.name.lower() in text]
        if named:
            return max(named, key=lambda c: len(c.name))
    return None


def window_for(alert_at: float, *, lookback_s: float = 4 * 3600, after_s: float = 15 * 60,
               data_end: float | None = None, step_s: float | None = None) -> Window:
    """The range to look at: ``lookback_s`` before the alert to ``after_s`` after it.

    Anchored at the alert alone, never at the wall clock: the same alert investigated now or a
    minute later queries the same range at the same step, so it gets the same answer. Data that
    does not exist yet is simply absent from the range. ``data_end`` is where the caller knows
    the data stops (a replayed history's last sample); the range does not go past it.
    """
    end = alert_at + after_s if data_end is None else min(alert_at + after_s, data_end)
    start = alert_at - lookback_s
    # From the lookback alone, so the same alert gets the same step whenever it is investigated.
    step = step_s or max(15.0, float(round(lookback_s / 960)))
    return Window(start=start, end=max(end, start + step), alert_at=alert_at, step=step)
