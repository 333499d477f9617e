"""Which catalog an investigation uses: the configured file, else one discovered (and cached).

A hand-written catalog (``AUGUR_CATALOG_FILE``) always wins. Without one, and with a Prometheus
configured, :func:`resolve_catalog` discovers a catalog from it as of the alert's time (call edges
from ``AUGUR_CATALOG_EDGES_FILE`` and from traces: Jaeger when configured, else the embedded span
store when it exists), keeps it in
``$AUGUR_DATA_DIR/catalogs/`` for ``AUGUR_CATALOG_DISCOVERY_TTL_S`` and says where it came from in
:attr:`ResolvedCatalog.note`, which the report carries. When discovery fails the investigation
goes on without a catalog and the note says why. ``augur investigate`` and the worker use this.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from augur.server.settings import Settings

if TYPE_CHECKING:
    from augur.agent.catalog import Catalog
    from augur.agent.discovery import EdgeSource

__all__ = ["ResolvedCatalog", "edge_sources", "resolve_catalog"]

#: Per-request timeout of discovery's Prometheus calls.
DISCOVERY_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class ResolvedCatalog:
    """The catalog to use (``None``: none), how it was found, and the note for the report."""

    catalog: Catalog | None
    source: str  # "file", "discovered", "cached", "none", "failed"
    note: str | None = None
    path: Path | None = None


def edge_sources(settings: Settings, *, traces: bool, edge_files: Sequence[Path] = ()) -> list[EdgeSource]:
    """The call-edge sources for discovery: edge tables, then, with ``traces``, Jaeger's dependency
    graph when AUGUR_JAEGER_URL is set, else the embedded span store when its file exists."""
    from augur.agent.discovery import EdgeTable, JaegerDependencies, SpanEdges
    from augur.server.toolbox import trace_db_path
    from augur.tools.span_store import SqliteSpanStore

    sources: list[EdgeSource] = [EdgeTable(path) for path in edge_files]
    if traces and settings.jaeger_url:
        sources.append(JaegerDependencies(settings.jaeger_url))
    elif traces and trace_db_path(settings).is_file():
        path = trace_db_path(settings)
        sources.append(SpanEdges(SqliteSpanStore(path, timeout_s=DISCOVERY_TIMEOUT_S), str(path)))
    return sources


def log_services(settings: Settings, start: float, end: float) -> list[str]:
    """The services with lines in the embedded log store over ``[start, end]`` (none with
    Elasticsearch configured, or without a store): discovery gives them an ``errors`` log signal."""
    if settings.elasticsearch_url:
        return []
    from augur.server.toolbox import log_db_path
    from augur.tools.logs import SqliteLogStore

    return SqliteLogStore(log_db_path(settings), timeout_s=DISCOVERY_TIMEOUT_S).services(start, end)


def resolve_catalog(
    settings: Settings, *, at: float, window_s: float = 4 * 3600.0,
    on_progress: Callable[[str], None] | None = None, now: float | None = None,
) -> ResolvedCatalog:
    """The catalog for an investigation of an alert at ``at`` (see the module docstring).

    ``window_s`` is the investigation's look-back: a service whose series stopped during it (it
    crashed) is still a component.

    Raises :class:`~augur.agent.catalog.CatalogError` only for an invalid configured file.
    """
    from augur.agent.catalog import load_catalog

    if settings.catalog_file is not None:
        return ResolvedCatalog(load_catalog(settings.catalog_file), "file", None, settings.catalog_file)
    if not settings.catalog_discovery or not settings.prometheus_url:
        return ResolvedCatalog(None, "none")
    from augur.agent.discovery import EdgeError, discover
    from augur.agent.discovery.cache import CatalogCache
    from augur.tools.base import ToolError, Unavailable
    from augur.tools.prometheus_api import connect

    url = settings.prometheus_url
    wall = time.time() if now is None else now
    files = [settings.catalog_edges_file] if settings.catalog_edges_file else []
    sources = edge_sources(settings, traces=True, edge_files=files)
    look = max(window_s, 3600.0)
    logged = log_services(settings, at - look, at)
    described = [s.describe() for s in sources] + ([f"log services: {','.join(logged)}"] if logged else [])
    cache = CatalogCache(settings.data_dir / "catalogs", settings.catalog_discovery_ttl_s)
    cached = cache.get(url, described, now=wall)
    if cached is not None:
        return ResolvedCatalog(cached.catalog, "cached", _note(cached.provenance, cached.path), cached.path)
    try:
        found = discover(connect(url, timeout_s=DISCOVERY_TIMEOUT_S), at=at, window_s=look,
                         edge_sources=sources, on_progress=on_progress, log_services=logged)
    except (ToolError, Unavailable, EdgeError) as exc:
        return ResolvedCatalog(None, "failed", f"no catalog configured and discovery from {url} failed "
                               f"({exc}): worked from the alert's expression and labels only")
    path = cache.put(url, described, found.yaml, found.provenance, now=wall)
    return ResolvedCatalog(found.catalog, "discovered", _note(found.provenance, path), path)


def _note(provenance: str, path: Path) -> str:
    # The same words whether it was just discovered or read from the cache: the same alert gives
    # the same report.
    return (f"no catalog configured: using the catalog {provenance} (kept in {path}: review it and set "
            "AUGUR_CATALOG_FILE)")
