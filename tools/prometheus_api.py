"""The one Prometheus HTTP API client of augur, with failures turned into reasons.

Tools, rules (thresholds, backtests) and evals reach Prometheus through :class:`PrometheusClient`,
an ``httpx.Client`` wrapper (injectable: pass your own ``http`` to share a pool or a transport),
so a backend that is down, slow or answering garbage reads the same everywhere:

- connection refused / DNS failure -> :class:`~augur.tools.base.Unavailable` saying what to check;
- a request past its timeout -> :class:`~augur.tools.base.ToolError` saying to narrow the query;
- HTTP 400 ``bad_data`` -> ``ToolError`` with Prometheus's own message and a fix hint;
- any other non-200, or a body that is not a Prometheus API answer -> ``ToolError``.

Range queries longer than Prometheus's 11,000 points per series are split into chunks, fetched
concurrently and joined per series, in :meth:`PrometheusClient.query_range` only.

The client is synchronous; tools run it in a worker thread (:func:`fetch_range`,
:meth:`PrometheusTool.blocking`). It replaced prometheus-api-client, which had no methods for
``/api/v1/rules``, ``/alerts``, ``/status/tsdb`` or ``/metadata`` (they were reached through its
private session) and brought requests and dateparser for five GETs that httpx makes as well.
"""

from __future__ import annotations

import asyncio
import json
import math
from abc import abstractmethod
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import urlencode

import httpx
import numpy as np
import numpy.typing as npt
from pydantic import BaseModel

from augur.tools.base import Tool, ToolError, Unavailable
from augur.tools.evidence import Evidence, EvidenceStatus
from augur.tools.timeparse import parse_duration, parse_time

__all__ = [
    "MAX_POINTS_PER_SERIES",
    "PromLimits",
    "PrometheusClient",
    "PrometheusTool",
    "RangeSeries",
    "bounded_step",
    "connect",
    "fetch_range",
    "fetch_range_blocking",
    "fmt",
    "garbage_error",
    "graph_url",
    "parse_range",
    "range_step",
    "render_labels",
    "span",
    "when",
]

#: Prometheus refuses range queries of more than 11,000 points per series.
MAX_POINTS_PER_SERIES = 11_000
#: Chunks of one long range query fetched at once.
RANGE_CHUNK_WORKERS = 4

T = TypeVar("T")
_NETWORK_ERRORS = (httpx.NetworkError, httpx.RemoteProtocolError)


class PrometheusClient:
    """Prometheus's HTTP API (``/api/v1/...``) at ``url``, through an ``httpx.Client``.

    ``http``: the client to send through (its transport, auth, TLS and pool apply); by default a
    fresh one that retries a failed connection once (and nothing else: a query Prometheus timed
    out is not sent again), closed by :meth:`close`. ``timeout_s``: each request's timeout unless
    the call gives its own. ``headers`` go with every request.
    """

    def __init__(
        self, url: str, *, http: httpx.Client | None = None, timeout_s: float = 10.0,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self.headers = dict(headers or {})
        self._owns_http = http is None
        self.http = http if http is not None else httpx.Client(transport=httpx.HTTPTransport(retries=1))

    def close(self) -> None:
        """Close the HTTP client if this object made it."""
        if self._owns_http:
            self.http.close()

    def __enter__(self) -> PrometheusClient:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"PrometheusClient({self.url!r})"

    # ------------------------------------------------------------------ transport

    def request(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None, timeout_s: float | None = None,
    ) -> httpx.Response:
        """Send ``method /api/v1/<path>`` and return the response whatever its status.

        Transport failures raise ``Unavailable`` (no connection) or ``ToolError`` (timeout, other).
        """
        try:
            return self.http.request(
                method, f"{self.url}/api/v1/{path.lstrip('/')}", params=dict(params or {}),
                data=dict(data) if data is not None else None, headers=self.headers or None,
                timeout=timeout_s if timeout_s is not None else self.timeout_s,
            )
        except httpx.TimeoutException:
            raise _timeout(self.url) from None
        except _NETWORK_ERRORS as exc:
            raise Unavailable(
                f"cannot reach Prometheus at {self.url} ({_root_cause(exc)}): check that it is running "
                "and that the configured Prometheus URL (host and port) is right", retryable=True,
            ) from None
        except httpx.HTTPError as exc:
            raise ToolError(
                f"request to Prometheus at {self.url} failed: {type(exc).__name__}: {exc}") from None

    def get(self, path: str, params: Mapping[str, Any] | None = None, *,
            timeout_s: float | None = None) -> Any:
        """GET ``/api/v1/<path>`` and return the ``data`` of its success envelope."""
        response = self.request("GET", path, params=params, timeout_s=timeout_s)
        if response.status_code != 200:
            raise _http_error(response.status_code, response.content, self.url)
        try:
            payload = response.json()
        except ValueError as exc:
            raise garbage_error(self.url, f"not JSON: {exc}") from None
        if not isinstance(payload, dict) or payload.get("status") != "success" or "data" not in payload:
            raise garbage_error(self.url, f"no success/data envelope: {response.text[:120]!r}")
        return payload["data"]

    # ------------------------------------------------------------------ endpoints

    def query(self, expr: str, at: float | None = None, *, timeout_s: float | None = None) -> Any:
        """``/api/v1/query``: the ``result`` of ``expr`` at ``at`` (default: Prometheus's now)."""
        params: dict[str, Any] = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        return _field(self.get("query", params, timeout_s=timeout_s), "result", self.url)

    def query_range(
        self, expr: str, start: float, end: float, step_s: float, *, timeout_s: float | None = None,
        max_points: int = MAX_POINTS_PER_SERIES,
    ) -> list[RangeSeries]:
        """``/api/v1/query_range`` over ``[start, end]`` at ``step_s``; each series as arrays.

        A range of more than ``max_points`` steps is split into chunks of at most that many,
        fetched concurrently; a series' points are joined in time order across chunks.
        """
        if end < start:
            raise ToolError("the range ends before it starts: swap start and end")
        if step_s <= 0:
            raise ToolError("step must be positive, e.g. 15s")
        chunk_s = step_s * (max(max_points, 2) - 1)
        chunks: list[tuple[float, float]] = []
        at = start
        while at <= end:
            chunks.append((at, min(end, at + chunk_s)))
            at += chunk_s + step_s

        def one(chunk: tuple[float, float]) -> list[RangeSeries]:
            params = {"query": expr, "start": f"{chunk[0]:.3f}", "end": f"{chunk[1]:.3f}",
                      "step": f"{step_s:g}"}
            data = self.get("query_range", params, timeout_s=timeout_s)
            return _parse_matrix(_field(data, "result", self.url), self.url)

        if len(chunks) == 1:
            return one(chunks[0])
        with ThreadPoolExecutor(max_workers=min(RANGE_CHUNK_WORKERS, len(chunks))) as pool:
            answers = list(pool.map(one, chunks))
        merged: dict[tuple[tuple[str, str], ...], list[RangeSeries]] = {}
        for answer in answers:
            for series in answer:
                merged.setdefault(tuple(sorted(series.labels.items())), []).append(series)
        return [RangeSeries(parts[0].labels, np.concatenate([p.timestamps for p in parts]),
                            np.concatenate([p.values for p in parts])) for parts in merged.values()]

    def label_names(self, params: Mapping[str, Any] | None = None) -> Sequence[Any]:
        """``/api/v1/labels``: label names (``start``, ``end``, ``match[]`` in ``params``)."""
        return sequence_of(self.get("labels", params), self.url, "label names")

    def label_values(self, label: str, params: Mapping[str, Any] | None = None) -> Sequence[Any]:
        """``/api/v1/label/<label>/values`` (``start``, ``end``, ``match[]`` in ``params``)."""
        return sequence_of(self.get(f"label/{label}/values", params), self.url, f"values of {label}")

    def series(self, match: str, start: float, end: float) -> Sequence[Any]:
        """``/api/v1/series``: the label sets of the series matching ``match`` in ``[start, end]``."""
        params = {"match[]": match, "start": f"{start:.3f}", "end": f"{end:.3f}"}
        return sequence_of(self.get("series", params), self.url, "series")


def connect(
    url: str, *, timeout_s: float = 10.0, headers: Mapping[str, str] | None = None,
    http: httpx.Client | None = None,
) -> PrometheusClient:
    """A :class:`PrometheusClient` for ``url`` with a request timeout (see the class)."""
    return PrometheusClient(url, http=http, timeout_s=timeout_s, headers=headers)


def _field(data: Any, key: str, url: str) -> Any:
    if not isinstance(data, dict) or key not in data:
        raise garbage_error(url, f"no {key!r} in the answer's data")
    return data[key]


def bounded_step(start: float, end: float, step: float, max_points: int = MAX_POINTS_PER_SERIES) -> float:
    """The smallest step not below ``step`` that keeps ``[start, end]`` within ``max_points``."""
    span = max(end - start, 0.0)
    needed = span / max(max_points - 1, 1)
    return float(max(step, math.ceil(needed) if needed > 1 else needed, 0.001))


def parse_range(start: str | float, end: str | float) -> tuple[float, float, float]:
    """``(now, start, end)`` in Unix seconds, both ends read against the same ``now``.

    Raises :class:`ToolError` when the range is empty (``end`` not after ``start``).
    """
    now = parse_time(None)
    first, last = parse_time(start, now=now), parse_time(end, now=now)
    if last <= first:
        raise ToolError(f"the range is empty: start {when(first)} is not before end {when(last)}")
    return now, first, last


def range_step(
    start: float, end: float, step: str | float | None, *, per_range: int, max_points: int
) -> tuple[float, float]:
    """``(asked, used)``: the step asked for (``step``, or the range over ``per_range`` and at
    least 15 s) and the step used (not below it, keeping the range within ``max_points``)."""
    asked = parse_duration(str(step)) if step else max(15.0, math.ceil((end - start) / per_range))
    return asked, bounded_step(start, end, asked, max_points)


def render_labels(labels: Mapping[str, str]) -> str:
    """A series as PromQL writes it: ``name{a="1",b="2"}``."""
    name = labels.get("__name__", "")
    rest = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
    return f"{name}{{{rest}}}" if rest or not name else name


def _utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def graph_url(
    base_url: str, query: str, *, end: float | None = None, range_s: float | None = None,
    step_s: float | None = None,
) -> str:
    """A link to the query in Prometheus's graph page: instant (table) or range (graph)."""
    params: dict[str, str] = {"g0.expr": query}
    if range_s is None:
        params["g0.tab"] = "1"
        if end is not None:
            params["g0.moment_input"] = _utc(end)
    else:
        params["g0.tab"] = "0"
        params["g0.range_input"] = f"{max(1, round(range_s))}s"
        if end is not None:
            params["g0.end_input"] = _utc(end)
        if step_s is not None:
            params["g0.step_input"] = f"{step_s:g}"
    return f"{base_url.rstrip('/')}/graph?{urlencode(params)}"


def _http_error(status: int, body: bytes | str, url: str) -> ToolError:
    """A ToolError for a non-200 answer, quoting Prometheus's error and saying what to fix."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        payload = json.loads(text)
    except ValueError:
        payload = None
    if isinstance(payload, dict) and payload.get("status") == "error":
        kind = str(payload.get("errorType", "error"))
        message = str(payload.get("error", ""))
        if kind == "bad_data":
            hint = ("fix the PromQL (check syntax, brackets, label matchers and durations; "
                    "prom_series lists the metrics and labels that exist)")
            if "11,000 points" in message or "11000 points" in message:
                hint = "use a larger step or a shorter range"
            return ToolError(f"Prometheus rejected the request (HTTP {status} bad_data): {message}: {hint}")
        if kind == "execution":
            return ToolError(f"Prometheus could not evaluate the query (HTTP {status}): {message}: "
                             "fix the operands (e.g. add on()/ignoring() for vector matching)")
        if kind == "timeout":
            return ToolError(f"Prometheus timed out evaluating the query (HTTP {status}): {message}: "
                             "narrow the range or the label selectors, or aggregate first")
        return ToolError(f"Prometheus answered HTTP {status} {kind}: {message}")
    snippet = " ".join(text.split())[:200]
    if status in (401, 403):
        return ToolError(f"Prometheus at {url} refused access (HTTP {status}): check the credentials "
                         "or headers configured for it")
    if status == 404:
        return ToolError(f"{url} answered 404 for a Prometheus API path: check that the URL is the "
                         f"Prometheus base URL (including any route prefix); body: {snippet!r}")
    return ToolError(f"Prometheus at {url} answered HTTP {status}: {snippet!r}: retry later or check "
                     "the server's logs", retryable=status >= 500)


def garbage_error(url: str, what: str) -> ToolError:
    """A ToolError for an answer that is not the Prometheus HTTP API's, saying what to check."""
    return ToolError(
        f"{url} did not answer like the Prometheus HTTP API ({what}): check that the URL points at "
        "Prometheus itself, not a proxy, login page or another service"
    )


def _timeout(url: str) -> ToolError:
    return ToolError(
        f"Prometheus at {url} did not answer within the request timeout: it is slow or "
        "overloaded; narrow the time range or label selectors, raise the step, or retry later",
        retryable=True,
    )


def _root_cause(exc: BaseException) -> str:
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "No route to host",
                   "Temporary failure in name resolution", "Connection reset"):
        if marker in text:
            return marker.lower()
    return type(exc).__name__


@dataclass(frozen=True)
class RangeSeries:
    """One series of a range query as arrays: Unix-second ``timestamps`` and float ``values``."""

    labels: dict[str, str]
    timestamps: npt.NDArray[np.float64]
    values: npt.NDArray[np.float64]

    @property
    def name(self) -> str:
        """The series in PromQL notation, e.g. ``model_accuracy{model="ranker"}``."""
        return render_labels(self.labels)

    def __len__(self) -> int:
        return int(self.timestamps.shape[0])


def _parse_matrix(result: Any, url: str) -> list[RangeSeries]:
    if not isinstance(result, list):
        raise garbage_error(url, f"range result is {type(result).__name__}, expected a list of series")
    series: list[RangeSeries] = []
    for item in result:
        if not isinstance(item, dict) or not isinstance(item.get("values"), list):
            raise garbage_error(url, "a range series without 'values'")
        labels = item.get("metric") or {}
        try:
            ts = np.fromiter((float(p[0]) for p in item["values"]), dtype=np.float64)
            vs = np.fromiter((float(p[1]) for p in item["values"]), dtype=np.float64)
        except (TypeError, ValueError, IndexError) as exc:
            raise garbage_error(url, f"a point is not [time, \"value\"]: {exc}") from None
        series.append(RangeSeries({str(k): str(v) for k, v in labels.items()}, ts, vs))
    return series


def fetch_range_blocking(
    prom: PrometheusClient, query: str, start: float | datetime, end: float | datetime,
    step: float | str, *, timeout_s: float | None = None,
) -> list[RangeSeries]:
    """Run a range query and return each series as arrays (blocking; see :func:`fetch_range`).

    ``start``/``end`` as :func:`parse_time` reads them; ``step`` is seconds or a Prometheus
    duration. Raises ToolError/Unavailable with an actionable reason.
    """
    step_s = parse_duration(step) if isinstance(step, str) else float(step)
    return prom.query_range(query, parse_time(start), parse_time(end), step_s, timeout_s=timeout_s)


async def fetch_range(
    prom: PrometheusClient, query: str, start: float | datetime, end: float | datetime,
    step: float | str, *, timeout_s: float | None = None,
) -> list[RangeSeries]:
    """Run a range query in a worker thread; each series' labels, timestamps and values.

    For tools: ``series = await fetch_range(prom, 'model_accuracy', t0, t1, 15)``. Failures
    raise :class:`ToolError` / :class:`Unavailable`, which :meth:`Tool.run` turns into evidence.
    """
    return await asyncio.to_thread(
        fetch_range_blocking, prom, query, start, end, step, timeout_s=timeout_s
    )


def sequence_of(value: Any, url: str, what: str) -> Sequence[Any]:
    """``value`` if it is a list, else a ToolError saying the answer had the wrong shape."""
    if not isinstance(value, list):
        raise garbage_error(url, f"{what} is {type(value).__name__}, expected a list")
    return value


@dataclass(frozen=True)
class PromLimits:
    """Guards shared by the Prometheus tools."""

    request_timeout_s: float = 10.0
    max_range_s: float = 7 * 86400.0
    max_points: int = MAX_POINTS_PER_SERIES
    max_series: int = 500

    def as_dict(self) -> dict[str, Any]:
        """The guards as evidence data."""
        return {
            "request_timeout_s": self.request_timeout_s,
            "max_range_s": self.max_range_s,
            "max_points": self.max_points,
            "max_series": self.max_series,
        }


def fmt(value: float | None) -> str:
    """A value for a summary sentence: 4 significant digits."""
    if value is None:
        return "n/a"
    return f"{value:.4g}"


def when(ts: float) -> str:
    """A Unix time as compact UTC, e.g. ``2026-11-24T02:10:00Z``."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def span(seconds: float) -> str:
    """A duration in the largest whole unit that reads well: ``90m``, ``6h``, ``45s``."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


class PrometheusTool(Tool):
    """Base of the Prometheus tools: holds the client and the guards, runs calls off the loop."""

    def __init__(self, prom: PrometheusClient, limits: PromLimits | None = None) -> None:
        self.prom = prom
        self.limits = limits or PromLimits()
        # The request timeout fires first; this bounds a tool that makes several requests.
        self.timeout_s = max(30.0, 3 * self.limits.request_timeout_s)

    @property
    def base_url(self) -> str:
        """Prometheus base URL, for links."""
        return self.prom.url

    async def _run(self, args: Any) -> Evidence:
        try:
            return await self._answer(args)
        except (KeyError, TypeError, AttributeError, IndexError, ValueError) as exc:
            # The client hands back whatever JSON arrived; a wrong shape surfaces here.
            raise garbage_error(self.base_url, f"unexpected shape: {type(exc).__name__}: {exc}") from None

    @abstractmethod
    async def _answer(self, args: Any) -> Evidence:
        """Query Prometheus and build the evidence; wrong-shaped answers become ToolError."""

    async def blocking(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking client call in a worker thread."""
        return await asyncio.to_thread(fn, *args, **kwargs)

    def evidence(
        self, args: BaseModel, status: EvidenceStatus, summary: str, *, truncated: list[str] | None = None,
        **fields: Any,
    ) -> Evidence:
        """Evidence for ``args``, with what the guards cut appended to the summary."""
        cut = truncated or []
        if cut:
            summary = f"{summary} (cut by guards: {'; '.join(cut)})"
        canonical = args.model_dump(mode="json")
        return Evidence.make(self.name, canonical, status, summary, truncated=cut, **fields)
