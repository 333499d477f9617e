"""The planner interface: who decides which tools an investigation calls next.

Two implementations share one graph:

- :class:`augur.agent.sop.SopPlanner` follows the troubleshooting procedure with no LLM;
- an LLM planner (``augur.agent.llm``) proposes extra calls through an OpenAI-compatible endpoint.

A planner sees the state (read it, never mutate it), the tool registry (names and JSON schemas)
and the :class:`~augur.agent.state.Budget`, and returns the calls it wants next; an empty list
means "nothing more to ask". The graph refuses calls that repeat an earlier call exactly, calls
to unknown tools, and calls past the budget, and records each refusal in the report.

If a planner raises, times out or returns junk, the graph logs why in the report's notes and
the investigation finishes on the SOP path. An LLM planner should raise :class:`PlannerError`
with a reason a person can act on (``"LLM at http://... timed out after 20 s"``).

A :class:`NarrativeWriter` may rewrite the report's narrative. Every sentence it returns must cite
evidence ids; :mod:`augur.agent.grounding` drops sentences that cite nothing, cite unknown ids
or carry numbers found in none of the cited evidence.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

from augur.agent.state import Budget, InvestigationState, ToolCall
from augur.tools.base import ToolRegistry
from augur.tools.errors import BackendUnavailable

if TYPE_CHECKING:
    from augur.agent.report import Report, Sentence

__all__ = ["NarrativeWriter", "Planner", "PlannerError"]


class PlannerError(BackendUnavailable):
    """A planner could not plan (endpoint down, timeout, junk answer); the message says why."""


@runtime_checkable
class Planner(Protocol):
    """Proposes the next tool calls of an investigation."""

    #: Short name shown in the report ("sop", "llm:gpt-4o-mini").
    name: str

    async def plan(
        self, state: InvestigationState, tools: ToolRegistry, budget: Budget
    ) -> list[ToolCall]:
        """The next calls to make, given what is known; ``[]`` when there is nothing to add.

        ``state`` is read-only. LLM planners record the tokens they used with
        ``budget.spend_tokens(n)`` and must not exceed ``budget.tokens_left``.
        """
        ...


@runtime_checkable
class NarrativeWriter(Protocol):
    """Writes the report's narrative from its structured content."""

    #: Short name shown in the report.
    name: str

    async def narrate(self, report: Report, budget: Budget) -> list[Sentence]:
        """Sentences explaining ``report``; each cites the evidence ids it rests on.

        The verdict (root cause, confidence, chain) is already decided by code: the writer
        explains it and may not change it. Raise :class:`PlannerError` on failure.
        """
        ...
