"""The investigation's state: plain data that a LangGraph checkpointer can store and restore.

Everything in :class:`InvestigationState` is JSON-shaped (dicts, lists, strings, numbers), so a
checkpoint written by one worker is read back by another, on SQLite or PostgreSQL, and a killed
investigation resumes where it stopped. Live objects (the tool registry, the catalog, the
planners) are never in the state: the graph's nodes get them from the closure that built it.

The nodes fill the state in order:

- triage: ``alert``, ``question``, ``window``, ``focus``, ``budget``;
- plan / act / observe (looped): ``pending`` -> ``calls`` and ``evidence`` -> ``findings``,
  ``open_questions``, ``refused``, ``notes``;
- correlate: ``chain``; diagnose: ``candidates``; report: ``report``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, NotRequired, TypedDict

__all__ = [
    "AlertInfo",
    "Budget",
    "CallRecord",
    "Finding",
    "InvestigationState",
    "ToolCall",
    "Window",
    "call_key",
]


class ToolCall(TypedDict, total=False):
    """A tool call a planner proposes: which tool, its arguments, and why (shown in the report)."""

    tool: str
    args: dict[str, Any]
    why: str
    component: str | None  # the catalog component the call is about, if any
    signal: str | None  # the component's signal, if any
    planner: str  # "sop" or "llm"


class CallRecord(TypedDict):
    """A tool call that ran: the proposal plus the evidence id it produced and its duration."""

    key: str
    tool: str
    args: dict[str, Any]
    why: str
    component: str | None
    signal: str | None
    planner: str
    evidence_id: str
    status: str
    started: float  # Unix seconds, for the backend-busy-time figure
    duration_s: float


class AlertInfo(TypedDict, total=False):
    """The alert (or question) under investigation, normalised from Alertmanager's shape."""

    name: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: float  # Unix seconds
    generator_url: str | None
    expr: str | None  # the rule's PromQL, from the generatorURL, without its comparison
    bad: str  # which way the expression goes when the alert fires: up, down or any
    fingerprint: str | None


class Window(TypedDict):
    """The time range looked at, in Unix seconds; ``alert_at`` is the alert's start.

    ``reference_end``, when set, ends the quiet baseline the signals are compared with (changes
    after it are this incident's); without it the baseline is the first half of the look-back.
    """

    start: float
    end: float
    alert_at: float
    step: float
    reference_end: NotRequired[float]


class Finding(TypedDict, total=False):
    """What one signal did over the window, read from its onset (and range) evidence."""

    component: str | None
    signal: str  # ``component.signal`` or a series name when there is no catalog
    layer: str | None
    query: str
    kind: str  # metric, drift, log, trace
    anomalous: bool
    onset: float | None  # Unix seconds
    direction: str | None  # "up" or "down"
    magnitude: float  # robust z of the change (|.| is its strength), capped for scoring
    z: float  # the robust z as the evidence holds it (uncapped): what reports show
    source_id: str | None  # the evidence ``before``/``after`` were read from
    before_baseline: bool  # its change had begun inside the quiet baseline: set aside
    before: float | None
    after: float | None
    bad: str  # which direction is a fault: up, down, any
    unit: str | None
    fault_type: str | None  # the catalog's declared fault type for this signal, if any
    evidence_ids: list[str]
    #: A trace finding: the component whose requests wait on this one (and whose own time did not grow).
    waited_by: str
    #: A trace finding: components whose spans were in the same requests and did not slow down.
    clears: list[str]
    #: A registry finding: which version went live when, and its offline metrics against the previous.
    registry_note: str


class InvestigationState(TypedDict, total=False):
    """The whole state of one investigation (see the module docstring for who writes what)."""

    investigation_id: str
    alert: AlertInfo
    question: str | None
    window: Window
    focus: str | None  # the catalog component the alert is about
    budget: dict[str, Any]  # Budget.to_dict()
    evidence: dict[str, dict[str, Any]]  # evidence id -> Evidence.model_dump(mode="json")
    calls: list[CallRecord]
    pending: list[ToolCall]
    refused: list[dict[str, Any]]  # {"tool", "args", "why", "reason"}
    sop_stage: int
    rounds: int
    llm_rounds: int
    notes: list[str]  # what happened that the reader should know (LLM failed, budget hit...)
    open_questions: list[str]
    findings: list[Finding]
    chain: dict[str, Any]
    candidates: list[dict[str, Any]]
    verdict: dict[str, str]  # {"verdict": "identified" | "inconclusive", "why": ...}
    llm_failed: str | None  # why the LLM path was abandoned, if it was
    report: dict[str, Any]
    done: bool


def call_key(tool: str, args: dict[str, Any]) -> str:
    """The identity of a call: identical tool and arguments give the same key (the evidence id)."""
    from augur.tools.evidence import evidence_id

    return evidence_id(tool, args)


@dataclass
class Budget:
    """Limits of one investigation: tool calls, wall time and LLM tokens, and what was used.

    Planners receive it to see what is left; an LLM planner adds the tokens it used with
    :meth:`spend_tokens`. The graph stores it in the state as :meth:`to_dict`.
    """

    max_tool_calls: int = 80
    max_wall_s: float = 120.0
    max_llm_tokens: int = 20_000
    max_rounds: int = 8
    tool_calls: int = 0
    llm_tokens: int = 0
    started_at: float = field(default_factory=time.time)

    @property
    def calls_left(self) -> int:
        """Tool calls still allowed."""
        return max(0, self.max_tool_calls - self.tool_calls)

    @property
    def tokens_left(self) -> int:
        """LLM tokens (prompt + completion) still allowed."""
        return max(0, self.max_llm_tokens - self.llm_tokens)

    def wall_left(self, now: float | None = None) -> float:
        """Seconds of wall time left."""
        return self.max_wall_s - ((time.time() if now is None else now) - self.started_at)

    def spend_tokens(self, tokens: int) -> None:
        """Record LLM tokens used (prompt + completion)."""
        self.llm_tokens += max(0, int(tokens))

    def exhausted(self) -> str | None:
        """Why the budget is spent (for the report), or None while something is left."""
        if self.calls_left <= 0:
            return f"tool-call budget spent ({self.max_tool_calls} calls)"
        if self.wall_left() <= 0:
            return f"wall-time budget spent ({self.max_wall_s:g} s)"
        return None

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the state."""
        return {
            "max_tool_calls": self.max_tool_calls, "max_wall_s": self.max_wall_s,
            "max_llm_tokens": self.max_llm_tokens, "max_rounds": self.max_rounds,
            "tool_calls": self.tool_calls, "llm_tokens": self.llm_tokens, "started_at": self.started_at,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Budget:
        """Rebuild from :meth:`to_dict` output."""
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})
