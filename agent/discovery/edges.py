"""Call edges for ``depends_on``: from an edge table file, Jaeger's dependency graph, or spans.

A call edge ``caller -> callee`` means the caller depends on the callee (a fault in the callee
shows in its callers). Every source here implements :class:`EdgeSource`:

- :class:`EdgeTable`: a CSV file ``Source,Target[,Weight]`` (the header may also say
  ``caller,callee`` or ``parent,child``), as Nezha's and RCAEval's datasets ship them;
- :class:`JaegerDependencies`: ``GET /api/dependencies?endTs=&lookback=`` of a Jaeger query
  service (milliseconds; ``[{parent, child, callCount}]``);
- :class:`SpanEdges`: edges the embedded span store computes from parent/child spans
  (``call_edges(start, end)``: a parent span's service calls its child span's).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import httpx

from augur.tools.errors import BadInput

__all__ = ["CallEdge", "EdgeError", "EdgeSource", "EdgeTable", "JaegerDependencies", "SpanEdges"]


class EdgeError(BadInput, ValueError):
    """An edge source could not be read; the message says which file/line or server, and the fix."""


@dataclass(frozen=True)
class CallEdge:
    """``caller`` calls ``callee`` (so the caller depends on it), ``weight`` calls or a weight."""

    caller: str
    callee: str
    weight: float = 1.0


class EdgeSource(Protocol):
    """Where call edges come from; ``describe`` goes into the catalog's comments."""

    traced: bool  # whether the services also have traces augur can search (adds trace signals)

    def describe(self) -> str:
        """One line: where the edges came from."""
        ...

    def edges(self, start: float, end: float) -> list[CallEdge]:
        """The call edges seen in ``[start, end]`` (Unix seconds); raises EdgeError."""
        ...


_CALLER = ("source", "caller", "parent", "from", "src")
_CALLEE = ("target", "callee", "child", "to", "dst", "destination")


class EdgeTable:
    """A ``Source,Target[,Weight]`` CSV file (see the module docstring)."""

    traced = False

    def __init__(self, path: Path) -> None:
        self.path = path

    def describe(self) -> str:
        """Where the edges came from."""
        return f"edge table {self.path}"

    def edges(self, start: float = 0.0, end: float = 0.0) -> list[CallEdge]:
        """Every row of the file (the window does not apply to a table)."""
        try:
            text = self.path.read_text()
        except OSError as exc:
            raise EdgeError(f"{self.path}: cannot read the edge table: {exc.strerror}") from None
        rows = list(csv.reader(text.splitlines()))
        if not rows:
            raise EdgeError(f"{self.path}:1: the edge table is empty: write a header Source,Target[,Weight]")
        header = [h.strip().lower() for h in rows[0]]
        src = next((header.index(h) for h in _CALLER if h in header), None)
        dst = next((header.index(h) for h in _CALLEE if h in header), None)
        if src is None or dst is None:
            raise EdgeError(f"{self.path}:1: the header {','.join(rows[0])!r} names no Source and Target "
                            "columns: write Source,Target[,Weight]")
        weight = header.index("weight") if "weight" in header else None
        out: list[CallEdge] = []
        for n, row in enumerate(rows[1:], start=2):
            if not any(cell.strip() for cell in row):
                continue
            try:
                caller, callee = row[src].strip(), row[dst].strip()
                w = float(row[weight]) if weight is not None and row[weight].strip() else 1.0
            except (IndexError, ValueError):
                raise EdgeError(f"{self.path}:{n}: expected Source,Target[,Weight], "
                                f"got {','.join(row)!r}") from None
            if caller and callee:
                out.append(CallEdge(caller, callee, w))
        return out


class JaegerDependencies:
    """Jaeger's service dependency graph (``/api/dependencies``); the client is injectable."""

    traced = True

    def __init__(self, url: str, client: httpx.Client | None = None, timeout_s: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.client = client
        self.timeout_s = timeout_s

    def describe(self) -> str:
        """Where the edges came from."""
        return f"Jaeger dependencies at {self.url}"

    def edges(self, start: float, end: float) -> list[CallEdge]:
        """``GET /api/dependencies`` over the window."""
        params = {"endTs": str(int(end * 1000)), "lookback": str(int(max(end - start, 60.0) * 1000))}
        client = self.client or httpx.Client(timeout=self.timeout_s)
        try:
            response = client.get(f"{self.url}/api/dependencies", params=params)
        except httpx.HTTPError as exc:
            raise EdgeError(f"cannot reach Jaeger at {self.url} ({type(exc).__name__}): check that its "
                            "query service runs there (port 16686)") from None
        finally:
            if self.client is None:
                client.close()
        if response.status_code != 200:
            raise EdgeError(f"Jaeger at {self.url} answered HTTP {response.status_code} for "
                            "/api/dependencies: check the URL is the query service")
        try:
            data = response.json().get("data")
        except (ValueError, AttributeError):
            data = None
        if not isinstance(data, list):
            raise EdgeError(f"{self.url}/api/dependencies did not answer like Jaeger ({{\"data\": [...]}})")
        return [CallEdge(str(d["parent"]), str(d["child"]), float(d.get("callCount") or 1))
                for d in data if isinstance(d, dict) and d.get("parent") and d.get("child")]


class _StoreEdge(Protocol):
    @property
    def parent(self) -> str: ...
    @property
    def child(self) -> str: ...
    @property
    def calls(self) -> int: ...


class _SpanStore(Protocol):
    def call_edges(self, start: float | None = None, end: float | None = None) -> Sequence[_StoreEdge]: ...


class SpanEdges:
    """Edges from a span store's parent/child spans: augur's embedded store
    (:class:`augur.tools.span_store.SqliteSpanStore`, filled by ``augur traces ingest``)."""

    traced = True

    def __init__(self, store: _SpanStore, where: str) -> None:
        self.store = store
        self.where = where

    def describe(self) -> str:
        """Where the edges came from."""
        return f"spans in {self.where}"

    def edges(self, start: float, end: float) -> list[CallEdge]:
        """The store's call edges (a parent span's service calls its child span's) in the window."""
        try:
            found = self.store.call_edges(start, end)
        except Exception as exc:  # the store's own errors say what to do; keep their words
            raise EdgeError(f"cannot read call edges from {self.where}: {exc}") from None
        return [CallEdge(e.parent, e.child, float(e.calls)) for e in found]
