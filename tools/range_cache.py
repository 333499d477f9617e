"""One Prometheus range query per signal: the samples an investigation fetched, shared by its tools.

The SOP asks two questions of every metric signal over the same window: ``promql_range`` (how
each series compares with its baseline) and ``onset`` (when it left it). Both need the same
samples, so within :func:`shared_ranges` the first tool to ask for ``(Prometheus, query, start,
end, step)`` fetches them and every other call with that key, concurrent or later, awaits the
same answer. Each tool still makes its own evidence from those samples: evidence ids, summaries
and every figure are what separate queries would have given.

The scope is a :class:`~contextvars.ContextVar` entered by :func:`augur.agent.investigation.investigate`
around one investigation, so the tools stay stateless: outside a scope (``augur tool run``, the
chat) every call queries Prometheus itself, and nothing outlives the investigation that fetched
it. Samples are Prometheus's answer at the time of the first fetch; an investigation's window is
fixed, so re-asking within it would not tell it more.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

from augur.tools.prometheus_api import RangeSeries, fetch_range

if TYPE_CHECKING:
    from augur.tools.prometheus_api import PrometheusClient

__all__ = ["RangeCache", "fetch_range_once", "shared_ranges"]

#: Samples a scope keeps once fetched (in-flight fetches are always kept): about 32 MB.
MAX_POINTS = 2_000_000

RangeKey = tuple[str, str, float, float, float]

_SCOPE: ContextVar[RangeCache | None] = ContextVar("augur_range_cache", default=None)


class RangeCache:
    """Range answers keyed by ``(Prometheus URL, query, start, end, step)``, fetched once each.

    A fetch that fails is forgotten (its callers all see the error; the next call tries again).
    The oldest finished answers are dropped once they hold more than ``max_points`` samples.
    """

    def __init__(self, max_points: int = MAX_POINTS) -> None:
        self.max_points = max_points
        self.fetched = 0  # range queries sent to Prometheus
        self.shared = 0  # calls answered from a fetch another call made
        self._answers: OrderedDict[RangeKey, asyncio.Task[list[RangeSeries]]] = OrderedDict()

    async def fetch(self, prom: PrometheusClient, query: str, start: float, end: float, step: float,
                    *, timeout_s: float | None = None) -> list[RangeSeries]:
        """The series of ``query`` over ``start..end`` at ``step`` seconds, from Prometheus once."""
        key: RangeKey = (str(prom.url), query, float(start), float(end), float(step))
        task = self._answers.get(key)
        if task is None:
            task = asyncio.ensure_future(_read_only(fetch_range(prom, query, start, end, step,
                                                                timeout_s=timeout_s)))
            task.add_done_callback(lambda done: self._settled(key, done))
            self._answers[key] = task
            self.fetched += 1
        else:
            self.shared += 1
        # A caller cancelled (by the wall-time budget) must not cancel the fetch others await.
        return list(await asyncio.shield(task))

    def _settled(self, key: RangeKey, task: asyncio.Task[list[RangeSeries]]) -> None:
        if task.cancelled() or task.exception() is not None:
            if self._answers.get(key) is task:
                del self._answers[key]
            return
        held = sum(_points(t) for t in self._answers.values() if t.done())
        for old in list(self._answers):
            if held <= self.max_points or old == key:
                break
            if self._answers[old].done():
                held -= _points(self._answers.pop(old))


async def _read_only(fetch: Awaitable[list[RangeSeries]]) -> list[RangeSeries]:
    """The fetched series with their arrays frozen: every caller reads the same samples."""
    series = await fetch
    for s in series:
        s.timestamps.setflags(write=False)
        s.values.setflags(write=False)
    return series


def _points(task: asyncio.Task[list[RangeSeries]]) -> int:
    if task.cancelled() or task.exception() is not None:
        return 0
    return sum(len(s.values) for s in task.result())


@contextmanager
def shared_ranges() -> Iterator[RangeCache]:
    """Within this block, range queries with the same key are fetched once (see the module docstring)."""
    cache = RangeCache()
    token = _SCOPE.set(cache)
    try:
        yield cache
    finally:
        _SCOPE.reset(token)


async def fetch_range_once(prom: PrometheusClient, query: str, start: float, end: float, step: float,
                           *, timeout_s: float | None = None) -> list[RangeSeries]:
    """:func:`~augur.tools.prometheus_api.fetch_range`, shared within :func:`shared_ranges`."""
    cache = _SCOPE.get()
    if cache is None:
        return await fetch_range(prom, query, start, end, step, timeout_s=timeout_s)
    return await cache.fetch(prom, query, start, end, step, timeout_s=timeout_s)
