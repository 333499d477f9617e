"""The toolbox: the one place that turns settings into backend clients and tools.

:func:`build_registry` constructs every tool augur has, each with the client its backend needs.
A tool whose backend is not configured is still listed (so `augur tool list` and the LLM see the
same names everywhere) but answers ``unavailable`` with the setting to fill in. Tools never read
the environment; this module reads only :class:`~augur.server.settings.Settings`.

Each backend has a small ``_<backend>_tools(settings)`` function below; add yours next to them
and one line to :data:`_SECTIONS`. Keep heavy imports inside those functions.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from augur.server.settings import Settings
from augur.tools.base import Tool, ToolRegistry, Unavailable
from augur.tools.evidence import Evidence

if TYPE_CHECKING:
    from augur.tools.prometheus_api import PrometheusClient

__all__ = [
    "PROMETHEUS_NOT_CONFIGURED",
    "PROMETHEUS_TIMEOUT_S",
    "build_registry",
    "not_configured",
    "prometheus_client",
    "trace_db_path",
]

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
            "reason": reason,
            "__doc__": tool_class.__doc__,
        },
    )
    return stand_in()  # type: ignore[no-any-return]


ToolSection = Callable[[Settings], list[Tool]]


def prometheus_client(settings: Settings) -> PrometheusClient | None:
    """The Prometheus client every Prometheus-reading tool shares; ``None`` when not configured."""
    if not settings.prometheus_url:
        return None
    from augur.tools.prometheus_api import connect

    return connect(settings.prometheus_url, timeout_s=PROMETHEUS_TIMEOUT_S)


#: Why a Prometheus-reading tool is unavailable when no URL is configured.
PROMETHEUS_NOT_CONFIGURED = (
    "no Prometheus is configured: set AUGUR_PROMETHEUS_URL (e.g. http://127.0.0.1:9090), "
    "or pass --prometheus-url to `augur tool run`"
)


def _prometheus_tools(settings: Settings) -> list[Tool]:
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
    prom = prometheus_client(settings)
    if prom is None:
        return [not_configured(cls, PROMETHEUS_NOT_CONFIGURED) for cls in classes]
    limits = PromLimits(request_timeout_s=PROMETHEUS_TIMEOUT_S)
    return [cls(prom, limits) for cls in classes]


def _onset_tools(settings: Settings) -> list[Tool]:
    """onset: series from Prometheus (when configured) or passed inline."""
    from augur.tools.onset_tool import OnsetTool
    from augur.tools.prometheus import PromLimits

    return [OnsetTool(prometheus_client(settings), PromLimits(request_timeout_s=PROMETHEUS_TIMEOUT_S))]


#: Per-request timeout for log backends (Elasticsearch, the SQLite store).
LOG_TIMEOUT_S = 20.0


def _log_tools(settings: Settings) -> list[Tool]:
    """log_search: Elasticsearch when AUGUR_ELASTICSEARCH_URL is set, else the embedded SQLite store."""
    from augur.tools.logs import ElasticsearchLogBackend, LogBackend, LogSearchTool, SqliteLogStore

    backend: LogBackend
    if settings.elasticsearch_url:
        from elasticsearch import Elasticsearch

        client = Elasticsearch(settings.elasticsearch_url, request_timeout=LOG_TIMEOUT_S, max_retries=1)
        backend = ElasticsearchLogBackend(
            client, index=settings.elasticsearch_index, url=settings.elasticsearch_url,
            timeout_s=LOG_TIMEOUT_S, kibana_url=settings.kibana_url,
        )
    else:
        backend = SqliteLogStore(settings.log_db or settings.data_dir / "logs.db", timeout_s=LOG_TIMEOUT_S)
    return [LogSearchTool(backend)]


def trace_db_path(settings: Settings) -> Path:
    """The embedded span store's file: AUGUR_TRACE_DB, else ``<data_dir>/traces.db``."""
    return settings.trace_db or settings.data_dir / "traces.db"


def _trace_tools(settings: Settings) -> list[Tool]:
    """trace_search: Jaeger when AUGUR_JAEGER_URL is set, else the embedded span store (AUGUR_TRACE_DB)."""
    from augur.tools.span_store import SqliteSpanStore
    from augur.tools.trace_backends import StoreTraceBackend
    from augur.tools.traces import TraceSearchTool

    if settings.jaeger_url:
        # No shared client: a registry may serve several event loops (`augur tool run`, the worker).
        return [TraceSearchTool.jaeger(None, settings.jaeger_url)]
    store = SqliteSpanStore(trace_db_path(settings), timeout_s=LOG_TIMEOUT_S)
    return [TraceSearchTool(StoreTraceBackend(store))]


def _gpu_tools(settings: Settings) -> list[Tool]:
    """gpu_probe: this host's NVML (unless AUGUR_GPU_PROBE_LOCAL=false) and AUGUR_GPU_PROBE_URLS."""
    from augur.tools.gpu import GpuProbeTool

    return [GpuProbeTool(local=settings.gpu_probe_local, probe_urls=list(settings.gpu_probe_urls))]


def _drift_tools(settings: Settings) -> list[Tool]:
    """drift: inline values and tables always; Prometheus histograms when Prometheus is configured."""
    from augur.tools.drift import DriftTool
    from augur.tools.prometheus import PromLimits

    return [DriftTool(prometheus_client(settings), PromLimits(request_timeout_s=PROMETHEUS_TIMEOUT_S),
                      roots=settings.effective_data_roots)]


def _registry_tools(settings: Settings) -> list[Tool]:
    """model_registry: MLflow's REST API at AUGUR_MLFLOW_URL."""
    from augur.tools.model_registry import ModelRegistryTool

    if not settings.mlflow_url:
        return [not_configured(ModelRegistryTool, "no MLflow is configured: set AUGUR_MLFLOW_URL (the "
                               "tracking server, e.g. http://127.0.0.1:5000)")]
    return [ModelRegistryTool.mlflow(None, settings.mlflow_url)]


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


def build_registry(settings: Settings) -> ToolRegistry:
    """Every tool augur has, built from ``settings``; names are unique (the registry checks)."""
    registry = ToolRegistry()
    for section in _SECTIONS:
        for tool in section(settings):
            registry.register(tool)
    return registry
