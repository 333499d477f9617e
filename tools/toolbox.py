"""The toolbox: the one place that turns backend addresses into clients and tools.

:func:`build_registry` constructs every tool augur has from :class:`Backends` (explicit values,
no environment), each with the client its backend needs. A tool whose backend is not configured
is still listed (so `augur tool list` and the LLM see the same names everywhere) but answers
``unavailable`` with the setting to fill in. The server maps its settings onto :class:`Backends`
(:mod:`augur.server.toolbox`); the eval runner builds them directly.

Each backend has a small ``_<backend>_tools(backends)`` function below; add yours next to them
and one line to :data:`_SECTIONS`. Keep heavy imports inside those functions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from augur.tools.base import Tool, ToolRegistry, Unavailable
from augur.tools.evidence import Evidence

if TYPE_CHECKING:
    from augur.tools.prometheus_api import PrometheusClient

__all__ = [
    "PROMETHEUS_NOT_CONFIGURED",
    "PROMETHEUS_TIMEOUT_S",
    "Backends",
    "build_registry",
    "not_configured",
    "prometheus_client",
]

@dataclass(frozen=True)
class Backends:
    """Where each backend is; ``None`` (or empty) means not configured."""

    #: The embedded log store's file (used when no Elasticsearch is set).
    log_db: Path
    #: The embedded span store's file (used when no Jaeger is set).
    trace_db: Path
    prometheus_url: str | None = None
    elasticsearch_url: str | None = None
    elasticsearch_index: str = "logs-*"
    kibana_url: str | None = None
    jaeger_url: str | None = None
    mlflow_url: str | None = None
    gpu_probe_local: bool = True
    gpu_probe_urls: Sequence[str] = ()
    #: Folders the drift tool may read tables from.
    data_roots: Sequence[Path] = field(default_factory=tuple)


#: Per-request timeout for Prometheus API calls made by tools.
PROMETHEUS_TIMEOUT_S = 10.0


class _NotConfigured(Tool):
    """Stands in for a tool whose backend is not configured; answers ``unavailable``."""

    reason: str = ""

    async def _run(self, args: Any) -> Evidence:
        raise Unavailable(self.reason)


def not_configured(tool_class: type[Tool], reason: str) -> Tool:
    """A tool with ``tool_class``'s name, description and arguments that answers ``unavailable``."""
    stand_in = type(
        f"NotConfigured{tool_class.__name__}",
        (_NotConfigured,),
        {
            "name": tool_class.name,
            "description": tool_class.description,
            "Args": tool_class.Args,
            "meaning": tool_class.meaning,
            "Result": tool_class.Result,
            "reason": reason,
            "__doc__": tool_class.__doc__,
        },
    )
    return stand_in()  # type: ignore[no-any-return]


ToolSection = Callable[[Backends], list[Tool]]


def prometheus_client(backends: Backends) -> PrometheusClient | None:
    """The Prometheus client every Prometheus-reading tool shares; ``None`` when not configured."""
    if not backends.prometheus_url:
        return None
    from augur.tools.prometheus_api import connect

    return connect(backends.prometheus_url, timeout_s=PROMETHEUS_TIMEOUT_S)


#: Why a Prometheus-reading tool is unavailable when no URL is configured.
PROMETHEUS_NOT_CONFIGURED = (
    "no Prometheus is configured: set AUGUR_PROMETHEUS_URL (e.g. http://127.0.0.1:9090), "
    "or pass --prometheus-url to `augur tool run`"
)


def _prometheus_tools(backends: Backends) -> list[Tool]:
    """promql, promql_range, prom_series, prom_rules, prom_alerts, prom_cardinality."""
    from augur.tools.prometheus import (
        PromAlertsTool,
        PromCardinalityTool,
        PrometheusTool,
        PromLimits,
        PromQLRangeTool,
        PromQLTool,
        PromRulesTool,
        PromSeriesTool,
    )

    classes: list[type[PrometheusTool]] = [
        PromQLTool, PromQLRangeTool, PromSeriesTool, PromRulesTool, PromAlertsTool, PromCardinalityTool,
    ]
    prom = prometheus_client(backends)
    if prom is None:
        return [not_configured(cls, PROMETHEUS_NOT_CONFIGURED) for cls in classes]
    limits = PromLimits(request_timeout_s=PROMETHEUS_TIMEOUT_S)
    return [cls(prom, limits) for cls in classes]


def _onset_tools(backends: Backends) -> list[Tool]:
    """onset: series from Prometheus (when configured) or passed inline."""
    from augur.tools.onset_tool import OnsetTool
    from augur.tools.prometheus import PromLimits

    return [OnsetTool(prometheus_client(backends), PromLimits(request_timeout_s=PROMETHEUS_TIMEOUT_S))]


#: Per-request timeout for log backends (Elasticsearch, the SQLite store).
LOG_TIMEOUT_S = 20.0


def _log_tools(backends: Backends) -> list[Tool]:
    """log_search: Elasticsearch when AUGUR_ELASTICSEARCH_URL is set, else the embedded SQLite store."""
    from augur.tools.logs import ElasticsearchLogBackend, LogBackend, LogSearchTool, SqliteLogStore

    backend: LogBackend
    if backends.elasticsearch_url:
        from elasticsearch import Elasticsearch

        client = Elasticsearch(backends.elasticsearch_url, request_timeout=LOG_TIMEOUT_S, max_retries=1)
        backend = ElasticsearchLogBackend(
            client, index=backends.elasticsearch_index, url=backends.elasticsearch_url,
            timeout_s=LOG_TIMEOUT_S, kibana_url=backends.kibana_url,
        )
    else:
        backend = SqliteLogStore(backends.log_db, timeout_s=LOG_TIMEOUT_S)
    return [LogSearchTool(backend)]


def _trace_tools(backends: Backends) -> list[Tool]:
    """trace_search: Jaeger when AUGUR_JAEGER_URL is set, else the embedded span store (AUGUR_TRACE_DB)."""
    from augur.tools.span_store import SqliteSpanStore
    from augur.tools.trace_backends import StoreTraceBackend
    from augur.tools.traces import TraceSearchTool

    if backends.jaeger_url:
        # No shared client: a registry may serve several event loops (`augur tool run`, the worker).
        return [TraceSearchTool.jaeger(None, backends.jaeger_url)]
    store = SqliteSpanStore(backends.trace_db, timeout_s=LOG_TIMEOUT_S)
    return [TraceSearchTool(StoreTraceBackend(store))]


def _gpu_tools(backends: Backends) -> list[Tool]:
    """gpu_probe: this host's NVML (unless AUGUR_GPU_PROBE_LOCAL=false) and AUGUR_GPU_PROBE_URLS."""
    from augur.tools.gpu import GpuProbeTool

    return [GpuProbeTool(local=backends.gpu_probe_local, probe_urls=list(backends.gpu_probe_urls))]


def _drift_tools(backends: Backends) -> list[Tool]:
    """drift: inline values and tables always; Prometheus histograms when Prometheus is configured."""
    from augur.tools.drift import DriftTool
    from augur.tools.prometheus import PromLimits

    return [DriftTool(prometheus_client(backends), PromLimits(request_timeout_s=PROMETHEUS_TIMEOUT_S),
                      roots=list(backends.data_roots))]


def _registry_tools(backends: Backends) -> list[Tool]:
    """model_registry: MLflow's REST API at AUGUR_MLFLOW_URL."""
    from augur.tools.model_registry import ModelRegistryTool

    if not backends.mlflow_url:
        return [not_configured(ModelRegistryTool, "no MLflow is configured: set AUGUR_MLFLOW_URL (the "
                               "tracking server, e.g. http://127.0.0.1:5000)")]
    return [ModelRegistryTool.mlflow(None, backends.mlflow_url)]


#: One function per backend; each returns its tools (real or not-configured stand-ins).
_SECTIONS: list[ToolSection] = [
    _prometheus_tools,
    _onset_tools,
    _drift_tools,
    _log_tools,
    _trace_tools,
    _gpu_tools,
    _registry_tools,
]


def build_registry(backends: Backends) -> ToolRegistry:
    """Every tool augur has, built from ``backends``; names are unique (the registry checks)."""
    registry = ToolRegistry()
    for section in _SECTIONS:
        for tool in section(backends):
            registry.register(tool)
    return registry
