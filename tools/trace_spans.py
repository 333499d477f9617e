"""Jaeger traces as hops: the span shapes Jaeger answers, self time, critical path, baseline growth.

Jaeger's query service answers ``GET /api/traces`` with ``{"data": [trace, ...]}``; a trace is
``{"traceID", "spans": [...], "processes": {"p1": {"serviceName": ...}}}`` and a span is
``{"spanID", "operationName", "references": [{"refType": "CHILD_OF", "spanID"}], "startTime",
"duration", "processID", "tags": [{"key", "type", "value"}]}`` with times in microseconds.
The models below accept that shape (and ignore the fields augur does not read).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Hop", "HopStats", "JaegerSpan", "JaegerTrace", "read_traces"]


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class JaegerTag(_Lenient):
    """A span tag: ``{"key": "error", "type": "bool", "value": true}``."""

    key: str
    value: Any = None


class JaegerRef(_Lenient):
    """A span reference: ``{"refType": "CHILD_OF", "traceID", "spanID"}``."""

    refType: str = "CHILD_OF"
    spanID: str


class JaegerSpan(_Lenient):
    """One span; ``startTime`` and ``duration`` are microseconds."""

    spanID: str
    operationName: str
    references: list[JaegerRef] | None = None
    startTime: int
    duration: int = Field(ge=0)
    processID: str | None = None
    tags: list[JaegerTag] | None = None


class JaegerProcess(_Lenient):
    """The process (service) that emitted spans."""

    serviceName: str


class JaegerTrace(_Lenient):
    """One trace as Jaeger's HTTP API answers it."""

    traceID: str
    spans: list[JaegerSpan]
    processes: dict[str, JaegerProcess] = Field(default_factory=dict)


def _pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)) / 1000.0, 3) if values else None


@dataclass
class Hop:
    """Every span of one ``service operation`` in one window (times in microseconds)."""

    service: str
    operation: str
    self_us: list[float] = field(default_factory=list)
    duration_us: list[float] = field(default_factory=list)
    starts_us: list[int] = field(default_factory=list)
    errors: int = 0

    @property
    def count(self) -> int:
        """Spans seen."""
        return len(self.self_us)

    def self_p(self, q: float) -> float | None:
        """The ``q``-th percentile of self time, in ms."""
        return _pct(self.self_us, q)

    def self_max(self) -> float | None:
        """The longest self time, in ms."""
        return _pct(self.self_us, 100)

    def duration_p(self, q: float) -> float | None:
        """The ``q``-th percentile of the span's whole duration, in ms."""
        return _pct(self.duration_us, q)

    def duration_max(self) -> float | None:
        """The longest span duration, in ms."""
        return _pct(self.duration_us, 100)


def is_error(span: JaegerSpan) -> bool:
    """``error=true``, OpenTelemetry status ``ERROR``, or an HTTP status of 500 or more."""
    for tag in span.tags or []:
        value = tag.value
        if tag.key == "error" and (value is True or str(value).lower() == "true"):
            return True
        if tag.key == "otel.status_code" and str(value).upper() == "ERROR":
            return True
        if tag.key in ("http.status_code", "http.response.status_code"):
            try:
                if int(value) >= 500:
                    return True
            except (TypeError, ValueError):
                continue
    return False


def _union_us(intervals: list[tuple[int, int]]) -> int:
    total, cur_start, cur_end = 0, None, None
    for a, b in sorted(intervals):
        if cur_end is None or a > cur_end:
            if cur_end is not None and cur_start is not None:
                total += cur_end - cur_start
            cur_start, cur_end = a, b
        else:
            cur_end = max(cur_end, b)
    if cur_end is not None and cur_start is not None:
        total += cur_end - cur_start
    return total


@dataclass
class HopStats:
    """The hops of both windows, and what the critical paths and trace durations were."""

    baseline: dict[tuple[str, str], Hop] = field(default_factory=dict)
    current: dict[tuple[str, str], Hop] = field(default_factory=dict)
    trace_us: dict[bool, list[float]] = field(default_factory=lambda: {True: [], False: []})
    critical: Counter[tuple[str, str]] = field(default_factory=Counter)
    critical_self_us: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    spans_seen: int = 0
    spans_cut: bool = False

    def trace_p50(self, baseline: bool) -> float | None:
        """Median whole-trace duration of a window, in ms."""
        return _pct(self.trace_us[baseline], 50)

    def critical_slowest(self) -> dict[str, Any] | None:
        """The hop most often holding the most self time on an incident trace's critical path."""
        if not self.critical:
            return None
        (service, operation), n = self.critical.most_common(1)[0]
        return {
            "service": service,
            "operation": operation,
            "traces": n,
            "self_p50_ms": _pct(self.critical_self_us[(service, operation)], 50),
        }

    def grown(self, min_samples: int, min_ratio: float, min_added_ms: float) -> dict[str, Any] | None:
        """The hop whose self time added the most ms, among those that grew ``min_ratio``×.

        Medians are compared first; when they did not grow, the p90s are (like with like): a hop
        slow in only the last third of the incident window leaves its median unchanged.
        """
        best: dict[str, Any] | None = None
        for key, hop in self.current.items():
            base = self.baseline.get(key)
            if base is None or base.count < min_samples or hop.count < min_samples:
                continue
            for q in (50, 90):
                before, after = base.self_p(q) or 0.0, hop.self_p(q) or 0.0
                ratio, added = after / max(before, 0.001), after - before
                if ratio >= min_ratio and added >= min_added_ms:
                    break
            else:
                continue
            if best and added <= best["added_ms"]:
                continue
            base_p50 = base.self_p(50) or 0.0
            threshold = max(base.self_p(95) or 0.0, base_p50 * min_ratio) * 1000.0
            slow = [s for s, v in zip(hop.starts_us, hop.self_us, strict=True) if v > threshold]
            best = {
                "service": hop.service,
                "operation": hop.operation,
                "quantile": q,
                "before_ms": before,
                "after_ms": after,
                "ratio": round(ratio, 2),
                "added_ms": round(added, 3),
                "baseline_p50_ms": base_p50,
                "p50_ms": hop.self_p(50),
                "baseline_spans": base.count,
                "spans": hop.count,
                "first_slow": min(slow) / 1e6 if slow else None,
            }
        return best


def _read_trace(trace: JaegerTrace, hops: dict[tuple[str, str], Hop], stats: HopStats, current: bool) -> None:
    by_id = {s.spanID: s for s in trace.spans}
    children: dict[str, list[JaegerSpan]] = {}
    roots: list[JaegerSpan] = []
    for span in trace.spans:
        parent = next(
            (r.spanID for r in span.references or [] if r.refType == "CHILD_OF" and r.spanID in by_id), None
        )
        if parent is None:
            roots.append(span)
        else:
            children.setdefault(parent, []).append(span)
    selfs: dict[str, float] = {}
    for span in trace.spans:
        proc = trace.processes.get(span.processID or "")
        key = (proc.serviceName if proc else "?", span.operationName)
        end = span.startTime + span.duration
        covered = _union_us(
            [
                (max(c.startTime, span.startTime), min(c.startTime + c.duration, end))
                for c in children.get(span.spanID, [])
                if c.startTime < end
            ]
        )
        self_us = float(max(span.duration - covered, 0))
        selfs[span.spanID] = self_us
        hop = hops.setdefault(key, Hop(service=key[0], operation=key[1]))
        hop.self_us.append(self_us)
        hop.duration_us.append(float(span.duration))
        hop.starts_us.append(span.startTime)
        hop.errors += is_error(span)
    if trace.spans:
        first = min(s.startTime for s in trace.spans)
        stats.trace_us[not current].append(float(max(s.startTime + s.duration for s in trace.spans) - first))
    if current and roots:
        path = _critical_path(min(roots, key=lambda s: s.startTime), children, set())
        slowest = max(path, key=lambda s: selfs[s.spanID])
        proc = trace.processes.get(slowest.processID or "")
        key = (proc.serviceName if proc else "?", slowest.operationName)
        stats.critical[key] += 1
        stats.critical_self_us.setdefault(key, []).append(selfs[slowest.spanID])


def _critical_path(
    span: JaegerSpan, children: dict[str, list[JaegerSpan]], seen: set[str]
) -> list[JaegerSpan]:
    """The span and, backwards from its end, each child that finished last before the next one began."""
    seen.add(span.spanID)
    path = [span]
    cursor = span.startTime + span.duration
    for child in sorted(children.get(span.spanID, []), key=lambda c: -(c.startTime + c.duration)):
        if (
            child.spanID in seen
            or min(child.startTime + child.duration, span.startTime + span.duration) > cursor
        ):
            continue  # overlaps the part of the path already taken: not what the parent waited on
        path += _critical_path(child, children, seen)
        cursor = child.startTime
    return path


def read_traces(baseline: list[JaegerTrace], current: list[JaegerTrace], max_spans: int) -> HopStats:
    """Per-hop statistics of both windows; each window reads at most ``max_spans // 2`` spans."""
    stats = HopStats()
    budget = max(max_spans // 2, 1)
    for traces, hops, is_current in ((baseline, stats.baseline, False), (current, stats.current, True)):
        used = 0
        for trace in traces:
            stats.spans_seen += len(trace.spans)
            if used + len(trace.spans) > budget:
                stats.spans_cut = True
                continue
            used += len(trace.spans)
            _read_trace(trace, hops, stats, is_current)
    return stats
