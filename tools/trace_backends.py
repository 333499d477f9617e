"""Where ``trace_search`` reads traces: a Jaeger query service, or the embedded span store.

Both backends answer the same :class:`TraceQuery` with the same thing — a list of
:class:`~augur.tools.trace_spans.JaegerTrace` (the shape Jaeger's HTTP API answers), newest first —
so the hop statistics, the critical path and the grown hop are computed once, in
:mod:`augur.tools.traces`, and the evidence has the same shape whichever backend answered.

- :class:`JaegerBackend` — ``GET /api/traces`` and ``/api/services`` of Jaeger's query service
  (times in microseconds). Down is :class:`~augur.tools.base.Unavailable`; a timeout, an HTTP
  error or an answer that is not Jaeger's shape is :class:`~augur.tools.base.ToolError`
  (:mod:`augur.tools.http_json`, as for MLflow).
- :class:`StoreTraceBackend` — a :class:`~augur.tools.span_store.SqliteSpanStore` filled by
  ``augur traces ingest``; a missing store is ``Unavailable`` with the command that fills it.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlencode

import httpx
from pydantic import BaseModel, ValidationError

from augur.tools.base import ToolError
from augur.tools.http_json import JsonBackend
from augur.tools.span_store import Span, SqliteSpanStore
from augur.tools.trace_spans import JaegerProcess, JaegerRef, JaegerSpan, JaegerTag, JaegerTrace

__all__ = ["JaegerBackend", "StoreTraceBackend", "TraceBackend", "TraceQuery", "duration_us"]

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)$")
_UNIT_US = {"ns": 1e-3, "us": 1.0, "µs": 1.0, "ms": 1e3, "s": 1e6, "m": 60e6, "h": 3600e6}


def duration_us(text: str) -> int:
    """``100ms`` -> 100000 (Jaeger's ``minDuration`` syntax); ``ToolError`` when it is not one."""
    match = _DURATION.match(text.strip())
    if not match:
        raise ToolError(f"duration {text!r} is not like 100ms, 1.5s or 250us")
    return int(float(match[1]) * _UNIT_US[match[2]])


@dataclass(frozen=True, slots=True)
class TraceQuery:
    """One trace search: traces with a span of ``service`` (and ``operation``) in ``[start, end]`` (s)."""

    service: str
    start: float
    end: float
    limit: int = 200
    operation: str | None = None
    min_duration: str | None = None  # Jaeger's syntax, e.g. "100ms"
    tags: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class TraceBackend(Protocol):
    """A place traces can be searched (see the module docstring)."""

    #: Short name for summaries and evidence, e.g. ``jaeger http://jaeger:16686``, ``sqlite:/x/traces.db``.
    description: str
    #: What a person calls it in a hint: ``Jaeger``, ``the span store``.
    label: str

    async def find(self, query: TraceQuery) -> list[JaegerTrace]:
        """The matching traces, newest first, at most ``query.limit``."""
        ...

    async def services(self) -> list[str]:
        """Every service the backend knows, sorted."""
        ...

    def source_url(self, query: TraceQuery) -> str | None:
        """A link a person can open to see the same traces, if there is one."""
        ...


class _Envelope(BaseModel):
    """Jaeger's query-service answer: ``{"data": [...], "errors": [{"code", "msg"}]}``."""

    data: list[JaegerTrace] | None = None
    errors: list[dict[str, Any]] | None = None


class JaegerBackend:
    """The Jaeger query service's HTTP API; ``http=None`` opens a client per call."""

    label = "Jaeger"

    def __init__(self, http: httpx.AsyncClient | None, base_url: str, *, timeout_s: float = 10.0) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.description = f"jaeger {self.base_url}"
        self._backend = JsonBackend(
            "Jaeger", self.base_url, timeout_s,
            down="is the query service running, and is AUGUR_JAEGER_URL its HTTP port (16686)?",
            not_json="check that AUGUR_JAEGER_URL is Jaeger's query service",
            slow="narrow the window or lower the limit",
        )

    def source_url(self, query: TraceQuery) -> str | None:
        """Jaeger UI's search page for the same service and window."""
        return f"{self.base_url}/search?" + urlencode(
            {
                "service": query.service,
                "start": int(query.start * 1e6),
                "end": int(query.end * 1e6),
                "limit": query.limit,
            }
            | ({"operation": query.operation} if query.operation else {})
        )

    async def find(self, query: TraceQuery) -> list[JaegerTrace]:
        """``GET /api/traces`` (microseconds)."""
        params: dict[str, Any] = {
            "service": query.service,
            "start": int(query.start * 1e6),
            "end": int(query.end * 1e6),
            "limit": query.limit,
        }
        if query.operation:
            params["operation"] = query.operation
        if query.min_duration:
            params["minDuration"] = query.min_duration
        if query.tags:
            params["tags"] = json.dumps(query.tags, separators=(",", ":"))
        body = await self._get("/api/traces", params)
        try:
            envelope = _Envelope.model_validate(body)
        except ValidationError as exc:
            raise ToolError(
                f"the answer of {self.base_url}/api/traces is not Jaeger's trace list "
                f"({exc.error_count()} problems, first: {exc.errors()[0]['msg']}): check the URL"
            ) from None
        if envelope.data is None and envelope.errors:
            raise ToolError(f"Jaeger refused the search: {envelope.errors}")
        return list(envelope.data or [])

    async def services(self) -> list[str]:
        """``GET /api/services``."""
        body = await self._get("/api/services", {})
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list):
            raise ToolError(
                f"the answer of {self.base_url}/api/services is not Jaeger's service list: check the URL"
            )
        return sorted(str(s) for s in data)

    async def _get(self, path: str, params: dict[str, Any]) -> Any:
        answer = await self._backend.get(self.http, f"{self.base_url}{path}", params)
        if answer.status != 200:
            errors = answer.body.get("errors") if isinstance(answer.body, dict) else None
            msg = (
                "; ".join(str(e.get("msg", e)) for e in errors if isinstance(e, dict))
                if errors
                else str(answer.body)[:200]
            )
            raise answer.refused(msg, "fix the arguments or check Jaeger")
        return answer.body


def as_jaeger_trace(spans: list[Span]) -> JaegerTrace:
    """One stored trace in the shape Jaeger answers (one process per service and pod)."""
    processes: dict[str, JaegerProcess] = {}
    pids: dict[tuple[str, str | None], str] = {}
    out: list[JaegerSpan] = []
    for s in spans:
        pid = pids.get((s.service, s.pod))
        if pid is None:
            pid = pids[(s.service, s.pod)] = f"p{len(pids) + 1}"
            processes[pid] = JaegerProcess(serviceName=s.service)
        tags = [JaegerTag(key=k, value=v) for k, v in s.attributes.items()]
        if s.error:
            tags.append(JaegerTag(key="error", value=True))
        out.append(
            JaegerSpan(
                spanID=s.span_id,
                operationName=s.operation,
                startTime=s.start_us,
                duration=s.duration_us,
                processID=pid,
                tags=tags,
                references=[JaegerRef(refType="CHILD_OF", spanID=s.parent_id)] if s.parent_id else [],
            )
        )
    return JaegerTrace(traceID=spans[0].trace_id if spans else "", spans=out, processes=processes)


class StoreTraceBackend:
    """The embedded span store, answering like Jaeger (SQLite runs in a worker thread)."""

    label = "the span store"

    def __init__(self, store: SqliteSpanStore) -> None:
        self.store = store
        self.description = store.description

    def source_url(self, query: TraceQuery) -> str | None:
        """No web UI for the embedded store."""
        return None

    async def find(self, query: TraceQuery) -> list[JaegerTrace]:
        """Traces with a matching span (duration, ``error`` and other tags too), newest first; past
        ``query.limit`` matches, spread evenly over the window (Jaeger answers the newest)."""
        min_us = duration_us(query.min_duration) if query.min_duration else None
        tags = dict(query.tags)
        error_tag = tags.pop("error", None)
        error = None if error_tag is None else error_tag.strip().lower() == "true"
        traces = await asyncio.to_thread(
            self.store.traces,
            query.service,
            query.start,
            query.end,
            operation=query.operation,
            min_duration_us=min_us,
            error=error,
            attributes=tags,
            limit=query.limit,
            spread=True,
        )
        return [as_jaeger_trace(t) for t in traces]

    async def services(self) -> list[str]:
        """The services with stored spans."""
        return await asyncio.to_thread(self.store.services)
