"""``trace_search``: which hop of a request is slow, from Jaeger or the embedded span store.

The tool asks its backend (:mod:`augur.tools.trace_backends`: Jaeger's ``GET /api/traces``, or the
SQLite span store ``augur traces ingest`` fills) for a service's traces in two windows, the
baseline (before ``baseline_end``) and the incident (after it), and reads each span as a *hop*
named ``service operation``. Per hop it reports the p50/p95/max **self time** (the span's duration
minus the time covered by its children, so a parent does not inherit its slow child's latency), the
p50/p95 total duration, and error spans (tag ``error=true``, OpenTelemetry status ``ERROR`` or
``http.status_code >= 500``). Along each trace's critical path (from the root's end backwards, the
child that finished last, then the one that finished before that began, and so on into each child,
as Jaeger's UI draws it) it finds the hop with the most self time, and it names the hop whose self
time grew most against the baseline: "feature-store get_features self p50 50 ms → 400 ms (×8.0)"
(medians first, else p90s: a hop slow only late in the window).

*Grew most* means the largest added milliseconds among the hops whose median (or p90) is at least
``min_ratio`` times the baseline's: a 0.1 → 1 ms hop is ×10 yet explains nothing of a
400 ms regression.

Guards: the window is at most ``max_range_s``; at most ``limit`` (≤ ``max_traces``) traces per
window and ``max_spans`` spans in all are read; at most ``max_hops`` hops are listed. What was cut
is in ``truncated``. Jaeger down (or no span store) is ``unavailable``; a timeout, an HTTP error or
an answer that is not Jaeger's shape is ``error``. The evidence has the same shape from either
backend; ``data.backend`` says which answered.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel, Field

from augur.tools.base import Tool, ToolError
from augur.tools.evidence import Evidence, EvidenceStatus, Meaning
from augur.tools.results import TraceBlameResult
from augur.tools.timeparse import TIME_HELP, parse_time
from augur.tools.trace_backends import JaegerBackend, TraceBackend, TraceQuery
from augur.tools.trace_spans import Hop, JaegerTrace, read_traces

__all__ = ["TraceLimits", "TraceSearchArgs", "TraceSearchTool"]


@dataclass(frozen=True, slots=True)
class TraceLimits:
    """The guards of ``trace_search``."""

    max_range_s: float = 24 * 3600.0
    max_traces: int = 500
    max_spans: int = 50_000
    max_hops: int = 30
    request_timeout_s: float = 10.0
    #: A hop needs this many spans in each window to be compared.
    min_samples: int = 3
    #: A hop's median self time must grow at least this much to count as grown.
    min_ratio: float = 1.5
    #: ...and by at least this many milliseconds.
    min_added_ms: float = 1.0


class TraceSearchArgs(BaseModel):
    """Arguments of ``trace_search``."""

    service: str = Field(
        min_length=1, max_length=200, description="Jaeger service name, e.g. `ranker-serving`."
    )
    operation: str | None = Field(
        default=None, max_length=300, description="Only traces with this operation."
    )
    start: str | float = Field(default="now-1h", description=f"Window start: {TIME_HELP}.")
    end: str | float = Field(default="now", description=f"Window end: {TIME_HELP}.")
    baseline_end: str | float | None = Field(
        default=None,
        description="Traces before this time are the baseline the hops are compared with. "
        "Default: the end of the window's first quarter.",
    )
    min_duration: str | None = Field(
        default=None,
        pattern=r"^\d+(\.\d+)?(ns|us|µs|ms|s|m|h)$",
        description="Only traces at least this long, e.g. `100ms` (Jaeger's minDuration).",
    )
    tags: dict[str, str] = Field(
        default_factory=dict, description='Span tags all matched, e.g. {"http.status_code": "500"}.'
    )
    limit: int = Field(
        default=200, ge=1, le=1000, description="Most traces read per window (baseline, incident)."
    )


@dataclass
class _Window:
    """One window's traces as read (``asked``: the limit they were read with)."""

    traces: list[JaegerTrace] = field(default_factory=list)
    asked: int = 0


def _ms(us: float) -> float:
    return us / 1000.0


def _fmt_ms(ms: float) -> str:
    return f"{ms:.0f} ms" if ms >= 10 else f"{ms:.2g} ms"


def _hop_json(h: Hop) -> dict[str, Any]:
    return {
        "service": h.service,
        "operation": h.operation,
        "spans": h.count,
        "errors": h.errors,
        "self_ms": {"p50": h.self_p(50), "p95": h.self_p(95), "max": h.self_max()},
        "duration_ms": {"p50": h.duration_p(50), "p95": h.duration_p(95), "max": h.duration_max()},
    }


class TraceSearchTool(Tool):
    """Trace search over a :class:`~augur.tools.trace_backends.TraceBackend`, answered as per-hop latency."""

    name: ClassVar[str] = "trace_search"
    meaning: ClassVar[Meaning] = Meaning.TRACE_BLAME
    Result: ClassVar[type[BaseModel]] = TraceBlameResult
    description: ClassVar[str] = (
        "Search a service's traces (Jaeger, or the embedded span store) and say which hop (service "
        "operation) is slow: per hop the p50/p95/max self time and total duration and the error spans, "
        "the slowest hop on the critical path, and the hop whose latency grew most against the baseline "
        "(default: the window's first quarter), e.g. 'feature-store get_features p50 50 ms -> 400 ms'. "
        "Use it when request latency rose, to find the hop between gateway, feature store and inference "
        "that is responsible."
    )
    Args: ClassVar[type[BaseModel]] = TraceSearchArgs
    timeout_s = 30.0

    def __init__(self, backend: TraceBackend, limits: TraceLimits | None = None) -> None:
        self.backend = backend
        self.limits = limits or TraceLimits()

    @classmethod
    def jaeger(
        cls, http: httpx.AsyncClient | None, base_url: str, limits: TraceLimits | None = None
    ) -> TraceSearchTool:
        """Over Jaeger's query service; ``http=None`` opens a client per call (a registry may outlive
        one event loop)."""
        limits = limits or TraceLimits()
        return cls(JaegerBackend(http, base_url, timeout_s=limits.request_timeout_s), limits)

    async def _run(self, args: TraceSearchArgs) -> Evidence:
        lim = self.limits
        canonical = args.model_dump(mode="json")
        truncated: list[str] = []
        now = time.time()
        start, end = parse_time(args.start, now=now), parse_time(args.end, now=now)
        if start >= end:
            raise ToolError(f"start ({start:.0f}) is not before end ({end:.0f}): swap or widen them")
        if end - start > lim.max_range_s:
            truncated.append(f"window: {end - start:g} s -> {lim.max_range_s:g} s (the latest part)")
            start = end - lim.max_range_s
        cut = (
            start + (end - start) / 4 if args.baseline_end is None else parse_time(args.baseline_end, now=now)
        )
        cut = min(max(cut, start), end)
        limit = min(args.limit, lim.max_traces)
        if limit < args.limit:
            truncated.append(f"traces per window: {args.limit} -> {limit}")
        services: list[str] = []
        # The baseline ends just before the cut: a trace at the cut belongs to the incident only.
        windows = [(start, cut - 1e-6), (cut, end)] if cut > start else [(start, end)]
        queries = [
            TraceQuery(
                service=args.service,
                start=a,
                end=b,
                limit=limit,
                operation=args.operation,
                min_duration=args.min_duration,
                tags=dict(args.tags),
            )
            for a, b in windows
        ]
        read = [
            _Window(traces=t, asked=limit)
            for t in await asyncio.gather(*(self.backend.find(q) for q in queries))
        ]
        if not any(w.traces for w in read):
            services = await self.backend.services()
        baseline, current = (read[0], read[1]) if len(read) == 2 else (_Window(), read[0])
        for label, w in (("baseline", baseline), ("incident", current)):
            if len(w.traces) >= w.asked > 0:
                truncated.append(
                    f"{label} traces: at the limit of {w.asked} (more may exist; narrow the window)"
                )
        result = read_traces(baseline.traces, current.traces, max_spans=lim.max_spans)
        if result.spans_cut:
            truncated.append(f"spans read: {result.spans_seen} -> {lim.max_spans} (later traces skipped)")
        source_url = self.backend.source_url(
            TraceQuery(service=args.service, start=start, end=end, limit=limit, operation=args.operation)
        )
        where = self.backend.description
        if not result.current and not result.baseline:
            known = ", ".join(services[:20]) or "none"
            label = self.backend.label
            hint = (
                f"the service is known to {label}: widen the window or drop filters"
                if args.service in services
                else f"{label} knows no service {args.service!r} (known: {known}): check the name"
            )
            return Evidence.make(
                self.name,
                canonical,
                EvidenceStatus.EMPTY,
                f"no traces of {args.service} in the window ({where}).",
                reason=hint,
                data={"traces": 0, "services": services[:50], "backend": where},
                truncated=truncated,
                source_url=source_url,
            )
        hops = sorted(result.current.values(), key=lambda h: -(h.self_p(50) or 0.0))
        grown = result.grown(lim.min_samples, lim.min_ratio, lim.min_added_ms)
        changes = result.service_changes(lim.min_samples, lim.min_ratio, lim.min_added_ms)
        waits = result.waits_on(lim.min_samples, lim.min_ratio, lim.min_added_ms)
        slowest = result.critical_slowest()
        hop_rows = [_hop_json(h) for h in hops]
        if len(hop_rows) > lim.max_hops:
            truncated.append(f"hops: {len(hop_rows)} -> {lim.max_hops} (most self time first)")
            hop_rows = hop_rows[: lim.max_hops]
        base_rows = {f"{h.service} {h.operation}": _hop_json(h) for h in result.baseline.values()}
        for row in hop_rows:
            base = base_rows.get(f"{row['service']} {row['operation']}")
            row["baseline"] = {"spans": base["spans"], "self_ms": base["self_ms"]} if base else None
        data: dict[str, Any] = {
            "backend": where,
            "window": {"start": start, "end": end, "baseline_end": cut},
            "traces": {"baseline": len(baseline.traces), "incident": len(current.traces)},
            "trace_duration_ms": {
                "baseline_p50": result.trace_p50(baseline=True),
                "incident_p50": result.trace_p50(baseline=False),
            },
            "error_spans": sum(h.errors for h in result.current.values()),
            "hops": hop_rows,
            "critical_path_slowest": slowest,
            "grown": grown,
            "services": changes[: lim.max_hops],
            "observed": result.observed(lim.min_samples)[:200],
            "waits_on": waits,
        }
        summary = self._summary(args, data, grown, slowest, cut > start)
        return Evidence.make(
            self.name,
            canonical,
            EvidenceStatus.OK,
            summary,
            data=data,
            truncated=truncated,
            source_url=source_url,
        )

    def _summary(
        self,
        args: TraceSearchArgs,
        data: dict[str, Any],
        grown: dict[str, Any] | None,
        slowest: dict[str, Any] | None,
        has_baseline: bool,
    ) -> str:
        what = args.service + (f" {args.operation}" if args.operation else "")
        n = data["traces"]
        d = data["trace_duration_ms"]
        parts = [f"{n['incident']} traces of {what} after the baseline cut ({n['baseline']} before)"]
        if d["incident_p50"] is not None:
            before = f"{_fmt_ms(d['baseline_p50'])} → " if d["baseline_p50"] is not None else ""
            parts.append(f"trace p50 {before}{_fmt_ms(d['incident_p50'])}")
        if grown:
            parts.append(
                f"slower hop: {grown['service']} {grown['operation']} self p{grown['quantile']} "
                f"{_fmt_ms(grown['before_ms'])} → {_fmt_ms(grown['after_ms'])} (×{grown['ratio']:.1f})"
            )
        elif has_baseline:
            parts.append("no hop's self time grew against the baseline")
        if slowest:
            parts.append(
                f"slowest on the critical path: {slowest['service']} {slowest['operation']} "
                f"(p50 self {_fmt_ms(slowest['self_p50_ms'])}, in {slowest['traces']} traces)"
            )
        waits = data.get("waits_on")
        if waits and waits["service"] != waits["caller"]:
            hop = waits["path"][-1]
            how = {
                "call": "the call's own time (wire, queue) grew",
                "calls": "its calls to several services all grew",
                "self": "its own time grew",
                "spread": "no single call explains it",
            }[waits["via"]]
            parts.append(
                f"{waits['caller']} waits on {waits['service']}: {hop['service']} {hop['operation']} "
                f"p{hop['quantile']} {_fmt_ms(hop['before_ms'])} → {_fmt_ms(hop['after_ms'])}, {how}"
                + ("" if waits["caller_self_grew"] else f"; {waits['caller']}'s own time did not grow")
            )
        if data["error_spans"]:
            parts.append(f"{data['error_spans']} error spans")
        failing = [c for c in data.get("services", []) if c.get("errors")]
        for c in failing[:3]:
            e = c["errors"]
            parts.append(
                f"errors starting in {c['service']} ({e['service']} {e['operation']}): "
                f"{e['before_share']:.0%} → {e['after_share']:.0%} of its spans"
            )
        return "; ".join(parts) + "."
