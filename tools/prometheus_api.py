"""Calls to the Prometheus HTTP API through prometheus-api-client, with failures turned into reasons.

Every Prometheus tool (and the onset and drift tools, which read series from Prometheus) goes
through this module, so a backend that is down, slow or answering garbage reads the same
everywhere:

- connection refused / DNS failure -> :class:`~augur.tools.base.Unavailable` saying what to check;
- a request past its timeout -> :class:`~augur.tools.base.ToolError` saying to narrow the query;
- HTTP 400 ``bad_data`` -> ``ToolError`` with Prometheus's own message and a fix hint;
- any other non-200, or a body that is not a Prometheus API answer -> ``ToolError``.

``PrometheusConnect`` is synchronous (requests); the async helpers run it in a worker thread.
prometheus-api-client 0.7 has no methods for ``/api/v1/rules``, ``/api/v1/alerts`` or
``/api/v1/status/tsdb``: :func:`api_get` calls those through the client's own session, so its
authentication, headers, TLS and proxy settings apply to them too.
"""

from __future__ import annotations

import ast
import asyncio
import json
import math
import re
import time
from abc import abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlencode

import numpy as np
import numpy.typing as npt
import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from pydantic import BaseModel
from urllib3.exceptions import MaxRetryError, ReadTimeoutError
from urllib3.util.retry import Retry

from augur.tools.base import Tool, ToolError, Unavailable
from augur.tools.evidence import Evidence, EvidenceStatus

__all__ = [
    "MAX_POINTS_PER_SERIES",
    "TIME_HELP",
    "PromLimits",
    "PrometheusTool",
    "RangeSeries",
    "api_get",
    "bounded_step",
    "call",
    "connect",
    "fetch_range",
    "fetch_range_blocking",
    "fmt",
    "garbage_error",
    "graph_url",
    "parse_duration",
    "parse_range",
    "parse_time",
    "range_step",
    "render_labels",
    "span",
    "when",
]

#: Prometheus refuses range queries of more than 11,000 points per series.
MAX_POINTS_PER_SERIES = 11_000

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0, "y": 31536000.0}
T = TypeVar("T")
#: How time arguments are written, for argument descriptions.
TIME_HELP = "'now', 'now-1h', RFC 3339 (2026-11-24T02:10:00Z) or Unix seconds"
_CLIENT_ERROR = re.compile(r"^HTTP Status Code (\d+) \((.*)\)$", re.DOTALL)


def connect(
    url: str, *, timeout_s: float = 10.0, headers: Mapping[str, str] | None = None
) -> PrometheusConnect:
    """A ``PrometheusConnect`` with a request timeout and one quick retry on connection errors.

    The client's default retries three times with 1 s backoff and on 5xx, which turns a down
    Prometheus into a 7 s wait and retries queries Prometheus already timed out.
    """
    # read=False: a read timeout is re-raised as such, not retried and reported as a connection error.
    retry = Retry(
        total=1, connect=1, read=False, status=0, other=0, backoff_factor=0.1, raise_on_status=False
    )
    return PrometheusConnect(
        url=url.rstrip("/"), headers=dict(headers) if headers else None, retry=retry,
        timeout=timeout_s,  # type: ignore[arg-type]  # typed int, used as requests' float timeout
    )


def parse_duration(text: str) -> float:
    """Seconds in a Prometheus duration (``90s``, ``5m``, ``1h30m``) or a plain number of seconds."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ToolError(
            f"cannot read duration {text!r}: use seconds or Prometheus units, e.g. 30s, 5m, 1h30m"
        )
    return sum(float(n) * _UNIT_S[u] for n, u in parts)


def parse_time(value: str | float | datetime | None, *, now: float | None = None) -> float:
    """Unix seconds for ``now``, ``now-1h``, an RFC 3339 time, a ``datetime`` or Unix seconds."""
    now = time.time() if now is None else now
    if value is None:
        return now
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    if isinstance(value, int | float):
        return float(value)
    text = value.strip()
    if text == "now":
        return now
    if text.startswith("now-") or text.startswith("now+"):
        offset = parse_duration(text[4:])
        return now - offset if text[3] == "-" else now + offset
    try:
        return float(text)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ToolError(
            f"cannot read time {value!r}: use 'now', 'now-30m', RFC 3339 (2026-11-24T02:10:00Z) "
            "or Unix seconds"
        ) from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


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


def call(prom: PrometheusConnect, method: str, *args: Any, **kwargs: Any) -> Any:
    """Call a ``PrometheusConnect`` method, translating every failure into ToolError/Unavailable."""
    return _guarded(str(prom.url), lambda: getattr(prom, method)(*args, **kwargs))


def _guarded(url: str, fn: Callable[[], Any]) -> Any:
    """Run ``fn`` (HTTP through requests) and translate its failures into ToolError/Unavailable."""
    try:
        return fn()
    except (ToolError, Unavailable):
        raise
    except PrometheusApiClientException as exc:
        match = _CLIENT_ERROR.match(str(exc))
        if match is None:
            raise ToolError(f"Prometheus at {url}: {exc}") from None
        try:
            body = ast.literal_eval(match.group(2))
        except (ValueError, SyntaxError):
            body = match.group(2)
        raise _http_error(int(match.group(1)), body, url) from None
    except requests.exceptions.InvalidJSONError as exc:
        raise garbage_error(url, f"not JSON: {exc}") from None
    except requests.exceptions.Timeout:
        raise _timeout(url) from None
    except (requests.exceptions.ConnectionError, requests.exceptions.RetryError) as exc:
        # With retries on read errors, urllib3 wraps a read timeout in MaxRetryError and
        # requests reports that as a ConnectionError.
        if isinstance(exc.args[0] if exc.args else None, MaxRetryError) and isinstance(
                exc.args[0].reason, ReadTimeoutError):
            raise _timeout(url) from None
        raise Unavailable(
            f"cannot reach Prometheus at {url} ({_root_cause(exc)}): check that it is running and "
            "that the configured Prometheus URL (host and port) is right", retryable=True,
        ) from None
    except requests.exceptions.RequestException as exc:
        raise ToolError(f"request to Prometheus at {url} failed: {type(exc).__name__}: {exc}") from None
    except ValueError as exc:  # requests' JSONDecodeError is a ValueError
        raise garbage_error(url, f"not JSON: {exc}") from None
    except (KeyError, TypeError, IndexError, AttributeError) as exc:
        raise garbage_error(url, f"unexpected shape: {type(exc).__name__} {exc}") from None


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


def api_get(
    prom: PrometheusConnect, path: str, params: Mapping[str, Any] | None = None,
    timeout_s: float | None = None,
) -> Any:
    """GET ``/api/v1/<path>`` through the client's session and return the answer's ``data``."""
    url = str(prom.url)
    session: requests.Session = prom._session

    def request() -> Any:
        response = session.request(
            method="GET", url=f"{url}/api/v1/{path.lstrip('/')}", params=dict(params or {}),
            headers=prom.headers, auth=prom.auth, verify=session.verify, cert=session.cert,
            timeout=timeout_s if timeout_s is not None else prom._timeout,
        )
        if response.status_code != 200:
            raise _http_error(response.status_code, response.content, url)
        payload = response.json()
        if not isinstance(payload, dict) or payload.get("status") != "success" or "data" not in payload:
            raise garbage_error(url, f"no success/data envelope: {response.text[:120]!r}")
        return payload["data"]

    return _guarded(url, request)


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
    prom: PrometheusConnect, query: str, start: float | datetime, end: float | datetime,
    step: float | str, *, timeout_s: float | None = None,
) -> list[RangeSeries]:
    """Run a range query and return each series as arrays (blocking; see :func:`fetch_range`).

    ``step`` is seconds (or a Prometheus duration); raise it with :func:`bounded_step` first
    when the range is long. Raises ToolError/Unavailable with an actionable reason.
    """
    start_s, end_s = parse_time(start), parse_time(end)
    step_s = parse_duration(step) if isinstance(step, str) else float(step)
    if end_s < start_s:
        raise ToolError("the range ends before it starts: swap start and end")
    if step_s <= 0:
        raise ToolError("step must be positive, e.g. 15s")
    result = call(
        prom, "custom_query_range", query, datetime.fromtimestamp(start_s, UTC),
        datetime.fromtimestamp(end_s, UTC), f"{step_s:g}", timeout=timeout_s,
    )
    return _parse_matrix(result, str(prom.url))


async def fetch_range(
    prom: PrometheusConnect, query: str, start: float | datetime, end: float | datetime,
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

    def __init__(self, prom: PrometheusConnect, limits: PromLimits | None = None) -> None:
        self.prom = prom
        self.limits = limits or PromLimits()
        # The request timeout fires first; this bounds a tool that makes several requests.
        self.timeout_s = max(30.0, 3 * self.limits.request_timeout_s)

    @property
    def base_url(self) -> str:
        """Prometheus base URL, for links."""
        return str(self.prom.url).rstrip("/")

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
