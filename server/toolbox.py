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
from typing import Any

from augur.server.settings import Settings
from augur.tools.base import Tool, ToolRegistry, Unavailable
from augur.tools.evidence import Evidence

__all__ = ["PROMETHEUS_TIMEOUT_S", "build_registry", "not_configured"]

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

#: One function per backend; each returns its tools (real or not-configured stand-ins).
_SECTIONS: list[ToolSection] = []


def build_registry(settings: Settings) -> ToolRegistry:
    """Every tool augur has, built from ``settings``; names are unique (the registry checks)."""
    registry = ToolRegistry()
    for section in _SECTIONS:
        for tool in section(settings):
            registry.register(tool)
    return registry
