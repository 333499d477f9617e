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

__all__ = ["Hop", "HopStats", "JaegerSpan", "JaegerTrace", "read_traces", "shift"]


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
    #: Error spans none of whose children failed: where an error started, not where it passed through.
    own_errors: int = 0
    #: For a client span: the other service its children run in (the time it adds is the call's).
    callees: Counter[str] = field(default_factory=Counter)
    #: The hops its spans' children belong to, with counts.
    children: Counter[tuple[str, str]] = field(default_factory=Counter)

    @property
    def count(self) -> int:
        """Spans seen."""
        return len(self.self_us)

    @property
    def callee(self) -> str | None:
        """The service this hop calls, when most of its spans are client spans into one other service."""
        if not self.callees:
            return None
        service, n = self.callees.most_common(1)[0]
        return service if n * 2 >= self.count else None

    @property
    def owner(self) -> str:
        """Whose time the hop's self time is: the callee of a client hop (the call's wire and queue
        time), else the hop's own service."""
        return self.callee or self.service

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


def shift(
    base_us: list[float], cur_us: list[float], min_samples: int, min_ratio: float, min_added_ms: float
) -> dict[str, Any] | None:
    """How much a latency grew: medians first, else p90s (like with like), with a robust z.

    None unless both windows have ``min_samples`` values and the quantile grew ``min_ratio``× and
    by ``min_added_ms``. ``z`` is the growth over the baseline's spread (1.4826 MAD, at least 5 %
    of its median and 0.1 ms), so a hop that is always erratic needs a larger change.
    """
    if len(base_us) < min_samples or len(cur_us) < min_samples:
        return None
    for q in (50, 90):
        before, after = _pct(base_us, q) or 0.0, _pct(cur_us, q) or 0.0
        ratio, added = after / max(before, 0.001), after - before
        if ratio >= min_ratio and added >= min_added_ms:
            break
    else:
        return None
    base = np.asarray(base_us, dtype=float) / 1000.0
    median = float(np.median(base))
    spread = max(1.4826 * float(np.median(np.abs(base - median))), 0.05 * median, 0.1)
    return {
        "quantile": q,
        "before_ms": before,
        "after_ms": after,
        "ratio": round(ratio, 2),
        "added_ms": round(added, 3),
        "z": round(added / spread, 2),
    }


def _error_shift(
    base_n: int, base_err: int, cur_n: int, cur_err: int, min_samples: int
) -> dict[str, Any] | None:
    """A rise in the share of spans that failed, by a two-proportion z-test (z ≥ 3, +2 points)."""
    if base_n < min_samples or cur_n < min_samples:
        return None
    p0, p1 = base_err / base_n, cur_err / cur_n
    pooled = (base_err + cur_err) / (base_n + cur_n)
    se = (pooled * (1 - pooled) * (1 / base_n + 1 / cur_n)) ** 0.5
    z = (p1 - p0) / se if se > 0 else 0.0
    if p1 - p0 < 0.02 or z < 3.0:
        return None
    return {
        "before_share": round(p0, 4),
        "after_share": round(p1, 4),
        "spans": cur_n,
        "errors": cur_err,
        "z": round(z, 2),
    }


@dataclass
class HopStats:
    """The hops of both windows, and what the critical paths and trace durations were."""

    baseline: dict[tuple[str, str], Hop] = field(default_factory=dict)
    current: dict[tuple[str, str], Hop] = field(default_factory=dict)
    trace_us: dict[bool, list[float]] = field(default_factory=lambda: {True: [], False: []})
    roots: Counter[tuple[str, str]] = field(default_factory=Counter)  # incident traces' root hops
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

    def slow_callers(self, min_samples: int, min_ratio: float, min_added_ms: float) -> set[str]:
        """Services whose calls to two or more *different* services all grew alike.

        A client span's own time is the callee's (its network, its queue) — unless the caller's
        calls to several services grew by comparable amounts: then the common factor is the caller
        (starved of CPU, it is slow to send and to read the answers). "Alike" is at least half of
        the caller's largest growth.
        """
        grown: dict[str, dict[str, float]] = {}  # caller -> callee -> added ms
        for key, hop in self.current.items():
            base = self.baseline.get(key)
            if hop.callee is None or base is None:
                continue
            grew = shift(base.self_us, hop.self_us, min_samples, min_ratio, min_added_ms)
            if grew is not None:
                by_callee = grown.setdefault(hop.service, {})
                by_callee[hop.callee] = max(by_callee.get(hop.callee, 0.0), grew["added_ms"])
        return {
            caller
            for caller, by_callee in grown.items()
            if sum(1 for v in by_callee.values() if v >= 0.5 * max(by_callee.values())) >= 2
        }

    def owner_of(self, hop: Hop, slow_callers: set[str]) -> str:
        """Whose time a hop's self time is: :attr:`Hop.owner`, or the caller among ``slow_callers``."""
        return hop.service if hop.service in slow_callers else hop.owner

    def grown(self, min_samples: int, min_ratio: float, min_added_ms: float) -> dict[str, Any] | None:
        """The hop whose self time added the most ms, among those that grew ``min_ratio``×.

        Medians are compared first; when they did not grow, the p90s are (like with like): a hop
        slow in only the last third of the incident window leaves its median unchanged. ``owner``
        is the service whose time it is (the callee, for a client span).
        """
        best: dict[str, Any] | None = None
        callers = self.slow_callers(min_samples, min_ratio, min_added_ms)
        for key, hop in self.current.items():
            base = self.baseline.get(key)
            grew = shift(base.self_us, hop.self_us, min_samples, min_ratio, min_added_ms) if base else None
            if base is None or grew is None or (best and grew["added_ms"] <= best["added_ms"]):
                continue
            best = {
                "service": hop.service,
                "operation": hop.operation,
                "owner": self.owner_of(hop, callers),
                "callee": hop.callee,
                **grew,
                "baseline_p50_ms": base.self_p(50) or 0.0,
                "p50_ms": hop.self_p(50),
                "baseline_spans": base.count,
                "spans": hop.count,
                "first_slow": _first_slow(base, hop, min_ratio),
            }
        return best

    def observed(self, min_samples: int) -> list[str]:
        """Services (as hop owners) with at least ``min_samples`` spans in both windows: what the
        traces can speak for, changed or not."""
        seen: dict[bool, Counter[str]] = {True: Counter(), False: Counter()}
        for current, hops in ((True, self.current), (False, self.baseline)):
            for hop in hops.values():
                seen[current][hop.owner] += hop.count
        return sorted(s for s, n in seen[True].items() if n >= min_samples and seen[False][s] >= min_samples)

    def service_changes(
        self, min_samples: int, min_ratio: float, min_added_ms: float
    ) -> list[dict[str, Any]]:
        """Per service whose time grew or whose own errors rose: its most grown hop and its error shift.

        A client hop's self time counts for the service it calls (see :attr:`Hop.owner`); errors
        count where they started (:attr:`Hop.own_errors`), per hop (the one whose error share rose
        most). Largest added latency first.
        """
        latency: dict[str, dict[str, Any]] = {}
        errors: dict[str, dict[str, Any]] = {}
        callers = self.slow_callers(min_samples, min_ratio, min_added_ms)
        for key, hop in self.current.items():
            base = self.baseline.get(key)
            if base is None:
                continue
            owner = self.owner_of(hop, callers)
            grew = shift(base.self_us, hop.self_us, min_samples, min_ratio, min_added_ms)
            if grew is not None and grew["added_ms"] > latency.get(owner, {}).get("added_ms", -1.0):
                latency[owner] = {
                    "service": hop.service,
                    "operation": hop.operation,
                    "via": ("calls" if owner == hop.service else "call") if hop.callee else "self",
                    **grew,
                    "first_slow": _first_slow(base, hop, min_ratio),
                }
            failed = _error_shift(base.count, base.own_errors, hop.count, hop.own_errors, min_samples)
            if failed is not None and failed["z"] > errors.get(hop.owner, {}).get("z", -1.0):
                errors[hop.owner] = {"service": hop.service, "operation": hop.operation, **failed}
        out: list[dict[str, Any]] = [
            {"service": owner, "latency": latency.get(owner), "errors": errors.get(owner)}
            for owner in sorted(set(latency) | set(errors))
        ]
        out.sort(
            key=lambda r: (
                -(r["latency"] or {}).get("added_ms", 0.0),
                -(r["errors"] or {}).get("z", 0.0),
                r["service"],
            )
        )
        return out

    def waits_on(self, min_samples: int, min_ratio: float, min_added_ms: float) -> dict[str, Any] | None:
        """Which child a slow request waits on: from the root hop down, the child whose duration grew
        most, while it explains at least half of its parent's growth; None when the root did not grow.

        The walk ends at the hop whose own time grew (``via`` ``self``; ``call``: a client span's
        wire and queue time, blamed on its callee; ``calls``: the same, blamed on a caller whose
        calls to several services all grew, see :meth:`slow_callers`) or whose growth no single
        child explains (``spread``). ``caller_self_grew`` says whether the root service's own work grew too.
        """
        if not self.roots:
            return None
        root = next((k for k, _ in self.roots.most_common() if k in self.baseline), None)
        if root is None:
            return None
        grew = self._duration_shift(root, min_samples, min_ratio, min_added_ms)
        if grew is None:
            return None
        path = [(root, grew)]
        seen = {root}
        while len(path) < 20:
            key, parent = path[-1]
            best: tuple[tuple[str, str], dict[str, Any]] | None = None
            for child in self.current[key].children:
                if child in seen:
                    continue
                d = self._duration_shift(child, min_samples, 1.0, min_added_ms)
                if d is not None and (best is None or d["added_ms"] > best[1]["added_ms"]):
                    best = (child, d)
            if best is None or best[1]["added_ms"] < 0.5 * parent["added_ms"]:
                break
            path.append(best)
            seen.add(best[0])
        end = self.current[path[-1][0]]
        own = shift(self.baseline[path[-1][0]].self_us, end.self_us, min_samples, min_ratio, min_added_ms)
        callers = self.slow_callers(min_samples, min_ratio, min_added_ms)
        owner = self.owner_of(end, callers)
        via = ("calls" if owner == end.service else "call") if end.callee else "self"
        via = via if own is not None else "spread"
        root_service = root[0]
        caller_self_grew = any(
            self.owner_of(h, callers) == root_service
            and k in self.baseline
            and shift(self.baseline[k].self_us, h.self_us, min_samples, min_ratio, min_added_ms) is not None
            for k, h in self.current.items()
        )
        return {
            "service": owner if via != "spread" else end.service,
            "operation": end.operation,
            "via": via,
            "caller": root_service,
            "caller_self_grew": caller_self_grew,
            "path": [
                {
                    "service": k[0],
                    "operation": k[1],
                    "before_ms": d["before_ms"],
                    "after_ms": d["after_ms"],
                    "quantile": d["quantile"],
                }
                for k, d in path
            ],
        }

    def _duration_shift(
        self, key: tuple[str, str], min_samples: int, min_ratio: float, min_added_ms: float
    ) -> dict[str, Any] | None:
        base, cur = self.baseline.get(key), self.current.get(key)
        if base is None or cur is None:
            return None
        return shift(base.duration_us, cur.duration_us, min_samples, min_ratio, min_added_ms)


def _first_slow(base: Hop, hop: Hop, min_ratio: float) -> float | None:
    """When the hop's self time first exceeded the baseline's p95 (and ``min_ratio``× its median)."""
    base_p50 = base.self_p(50) or 0.0
    threshold = max(base.self_p(95) or 0.0, base_p50 * min_ratio) * 1000.0
    slow = [t for t, v in zip(hop.starts_us, hop.self_us, strict=True) if v > threshold]
    return min(slow) / 1e6 if slow else None


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
    failed = {span.spanID for span in trace.spans if is_error(span)}

    def service_of(span: JaegerSpan) -> str:
        proc = trace.processes.get(span.processID or "")
        return proc.serviceName if proc else "?"

    for span in trace.spans:
        key = (service_of(span), span.operationName)
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
        kids = children.get(span.spanID, [])
        if span.spanID in failed:
            hop.errors += 1
            hop.own_errors += not any(c.spanID in failed for c in kids)
        other = {service_of(c) for c in kids} - {key[0]}
        if len(other) == 1 and all(service_of(c) != key[0] for c in kids):
            hop.callees[next(iter(other))] += 1
        for c in kids:
            hop.children[(service_of(c), c.operationName)] += 1
    if trace.spans:
        first = min(s.startTime for s in trace.spans)
        stats.trace_us[not current].append(float(max(s.startTime + s.duration for s in trace.spans) - first))
    if current and roots:
        first_root = min(roots, key=lambda s: s.startTime)
        stats.roots[(service_of(first_root), first_root.operationName)] += 1
        path = _critical_path(first_root, children, set())
        slowest = max(path, key=lambda s: selfs[s.spanID])
        key = (service_of(slowest), slowest.operationName)
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
