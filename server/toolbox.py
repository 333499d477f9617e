"""The server's toolbox: its settings mapped onto :class:`augur.tools.toolbox.Backends`.

:func:`build_registry` is what the worker, ``augur tool`` and ``augur investigate`` use; the tools
themselves are built in :mod:`augur.tools.toolbox` (which the eval runner also uses directly).
"""

from __future__ import annotations

from pathlib import Path

from augur.server.settings import Settings
from augur.tools.base import ToolRegistry
from augur.tools.toolbox import Backends
from augur.tools.toolbox import build_registry as build_from_backends

__all__ = ["backends_of", "build_registry", "log_db_path", "trace_db_path"]


def trace_db_path(settings: Settings) -> Path:
    """The embedded span store's file: AUGUR_TRACE_DB, else ``<data_dir>/traces.db``."""
    return settings.trace_db or settings.data_dir / "traces.db"


def log_db_path(settings: Settings) -> Path:
    """The embedded log store's file: AUGUR_LOG_DB, else ``<data_dir>/logs.db``."""
    return settings.log_db or settings.data_dir / "logs.db"


def backends_of(settings: Settings) -> Backends:
    """Where ``settings`` say each backend is."""
    return Backends(
        log_db=log_db_path(settings),
        trace_db=trace_db_path(settings),
        prometheus_url=settings.prometheus_url,
        elasticsearch_url=settings.elasticsearch_url,
        elasticsearch_index=settings.elasticsearch_index,
        kibana_url=settings.kibana_url,
        jaeger_url=settings.jaeger_url,
        mlflow_url=settings.mlflow_url,
        gpu_probe_local=settings.gpu_probe_local,
        gpu_probe_urls=tuple(settings.gpu_probe_urls),
        data_roots=tuple(settings.effective_data_roots),
    )


def build_registry(settings: Settings) -> ToolRegistry:
    """Every tool augur has, with the backends ``settings`` configure."""
    return build_from_backends(backends_of(settings))
