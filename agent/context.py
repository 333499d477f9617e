"""What an investigation run carries besides its state: the tools, catalog, planners and limits.

:class:`GraphContext` is LangGraph's run context (``graph.ainvoke(..., context=ctx)``): live
objects that are never stored in a checkpoint. It lives apart from :mod:`augur.agent.graph` so
that the nodes' helpers (report assembly) can take it without importing the graph.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from augur.agent.catalog import Catalog
from augur.agent.memory import PastIncident
from augur.agent.planner import NarrativeWriter, Planner
from augur.agent.sop import SopPlanner
from augur.tools.base import ToolRegistry

__all__ = ["Event", "GraphContext"]

#: progress callback: (kind, details) — e.g. ("call", {"tool": ..., "summary": ...})
Event = Callable[[str, dict[str, Any]], None]


@dataclass
class GraphContext:
    """The live objects the graph's nodes use (never stored in the state)."""

    registry: ToolRegistry
    catalog: Catalog | None = None
    planner: Planner | None = None  # an LLM planner, on top of the SOP
    writer: NarrativeWriter | None = None  # an LLM narrative writer
    concurrency: int = 8
    llm_timeout_s: float = 60.0
    max_llm_rounds: int = 3
    on_event: Event | None = None
    #: Past incidents and their verdicts (:mod:`augur.agent.memory`): listed when alike, and a bounded prior.
    memory: Sequence[PastIncident] = ()
    sop: SopPlanner = field(init=False)

    def __post_init__(self) -> None:
        self.sop = SopPlanner(self.catalog)

    def emit(self, kind: str, **details: Any) -> None:
        """Report progress to the callback, if any."""
        if self.on_event is not None:
            self.on_event(kind, details)
