"""The log backend contract: what a backend is asked (:class:`LogQuery`) and answers (:class:`LogPage`).

Every backend (the embedded SQLite store, Elasticsearch) answers the same question the same way:
the number of matching lines, their counts over time, the most frequent values of a few fields,
and a bounded scan of the matching lines themselves. Templates, baselines and summaries are
computed from that answer once, in :mod:`augur.tools.logs.search`, so both backends give the
same evidence for the same data.

Backends signal failure with :class:`~augur.tools.base.Unavailable` (not there: down, no such
index or file) or :class:`~augur.tools.base.ToolError` (bad query, timeout, garbage answer), each
with a reason that says what to do next.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "LOGICAL_FIELDS",
    "LogBackend",
    "LogPage",
    "LogQuery",
    "LogRecord",
]

#: Field names every backend understands in ``filters`` and ``top_fields``; a backend maps them to
#: its own columns or document fields. Other names are passed through as document fields.
LOGICAL_FIELDS = ("level", "service", "host")


@dataclass(slots=True)
class LogRecord:
    """One log line as a backend returns it."""

    ts: float  # Unix seconds
    message: str
    level: str | None = None
    service: str | None = None
    host: str | None = None
    id: str = ""  # backend document id; used to merge two scans without counting a line twice
    fields: dict[str, Any] = field(default_factory=dict)  # everything else the line carried


@dataclass(frozen=True, slots=True)
class LogQuery:
    """One question to a backend. Times are Unix seconds, ``start`` inclusive, ``end`` inclusive."""

    text: str  # full-text query over the message; "" matches every line
    start: float
    end: float
    filters: dict[str, str] = field(default_factory=dict)  # field -> exact value (case-insensitive)
    max_docs: int = 5000  # most lines returned in ``LogPage.records``
    bucket_s: float = 60.0  # width of the counts-over-time buckets
    top_fields: tuple[str, ...] = LOGICAL_FIELDS  # fields whose most frequent values are counted
    top_n: int = 5  # values per field
    aggregate: bool = True  # False: only lines are wanted (counts, buckets, top values may be empty)
    oldest_first: bool = False  # return the oldest matching lines instead of the best/newest


@dataclass(slots=True)
class LogPage:
    """A backend's answer to a :class:`LogQuery`.

    ``records`` holds at most ``max_docs`` lines: the oldest when ``oldest_first``, else the best
    matches by relevance (BM25 in both backends) when there is query text, else the newest. ``buckets`` are
    ``(bucket start, count)`` pairs covering ``[start, end]`` including empty buckets;
    ``top_values`` maps a field to ``(value, count)`` pairs, most frequent first.
    """

    total: int
    records: list[LogRecord]
    buckets: list[tuple[float, int]] = field(default_factory=list)
    top_values: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    total_is_lower_bound: bool = False  # the backend stopped counting (Elasticsearch's "gte")


@runtime_checkable
class LogBackend(Protocol):
    """A place logs can be searched: the embedded SQLite store or an Elasticsearch cluster."""

    #: Short human name used in summaries, e.g. ``sqlite:/var/lib/augur/logs.db``.
    description: str

    async def search(self, query: LogQuery) -> LogPage:
        """Answer ``query``; raise ``Unavailable`` or ``ToolError`` with a reason on failure."""
        ...

    def source_url(self, query: LogQuery) -> str | None:
        """A link a person can open to see the same lines (Kibana Discover...), if there is one."""
        ...
