"""Evidence: what every tool returns, whether the backend answered, failed or was not there.

A tool never raises into the agent. It returns an :class:`Evidence` record whose ``status`` says
how it went and whose ``reason`` says what a person (or an LLM) can do about a failure. Reports
cite evidence by its ``id``, which is stable: the same tool with the same arguments gets the same
id, so a re-run investigation cites the same ids.

Every record also says what it *means* to the agent (:class:`Meaning`): a tool declares it, the
agent reads evidence by its meaning and its typed result (:mod:`augur.tools.results`), never by
the tool's name. Rows stored before evidence carried a meaning get it from
:data:`LEGACY_MEANINGS` when they are read back.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, model_validator

__all__ = ["LEGACY_MEANINGS", "Evidence", "EvidenceStatus", "Meaning", "compact_args", "evidence_id",
           "meaning_of"]


class EvidenceStatus(StrEnum):
    """How a tool call went."""

    OK = "ok"  # the backend answered with data
    EMPTY = "empty"  # the backend answered, with nothing matching
    ERROR = "error"  # the call failed (bad query, timeout, garbage answer)
    UNAVAILABLE = "unavailable"  # the backend is not there (down, not configured, no driver)


class Meaning(StrEnum):
    """What a tool's evidence tells an investigation, whichever tool produced it.

    The agent dispatches on this, so a new tool that declares an existing meaning (and returns
    that meaning's result model, see :data:`augur.tools.results.CONTRACTS`) is read by the
    agent with no change to agent code.
    """

    LEVELS = "levels"  # series summarised before and after a baseline: their levels and deviation
    ONSET = "onset"  # when each series left its baseline (a change point), which way, how far
    DRIFT = "drift"  # a distribution drift score of a data source against its reference
    LOG_TEMPLATES = "log_templates"  # log lines mined into templates, those new in the incident flagged
    TRACE_BLAME = "trace_blame"  # which hop of the requests grew, whose errors rose, who waits on whom
    GPU_STATE = "gpu_state"  # per-node GPU readings (NVML)
    MODEL_VERSION = "model_version"  # which version of a registered model is live, since when, vs the last
    SERIES_NAMES = "series_names"  # discovery: which metrics and series exist
    CONTEXT = "context"  # read for context only (instant values, rules, alerts, cardinality)


#: The meaning of evidence stored before records carried one, by the tool that made it. Only
#: read-back of old rows (reports, checkpoints) uses this; tools declare their meaning.
LEGACY_MEANINGS: dict[str, Meaning] = {
    "promql_range": Meaning.LEVELS,
    "onset": Meaning.ONSET,
    "drift": Meaning.DRIFT,
    "log_search": Meaning.LOG_TEMPLATES,
    "trace_search": Meaning.TRACE_BLAME,
    "gpu_probe": Meaning.GPU_STATE,
    "model_registry": Meaning.MODEL_VERSION,
    "prom_series": Meaning.SERIES_NAMES,
}


def meaning_of(evidence: Mapping[str, Any]) -> Meaning:
    """The meaning of stored evidence (a :meth:`Evidence.model_dump`): its own, else the legacy one."""
    try:
        return Meaning(str(evidence["meaning"]))
    except (KeyError, ValueError):
        return LEGACY_MEANINGS.get(str(evidence.get("tool")), Meaning.CONTEXT)


def evidence_id(tool: str, args: dict[str, Any]) -> str:
    """A stable id for a tool call: ``ev-`` and 12 hex digits of the canonical call."""
    canonical = json.dumps({"tool": tool, "args": args}, sort_keys=True, default=str, separators=(",", ":"))
    return "ev-" + hashlib.sha256(canonical.encode()).hexdigest()[:12]


def compact_args(args: dict[str, Any], keep: int = 20) -> dict[str, Any]:
    """The arguments as evidence keeps them: inline value lists longer than ``keep`` become a
    count and a digest (evidence stays small; the digest keeps the id unique per input)."""
    out: dict[str, Any] = {}
    for key, value in args.items():
        if isinstance(value, list) and len(value) > keep:
            digest = hashlib.sha256(json.dumps(value, default=str).encode()).hexdigest()[:12]
            out[key] = f"{len(value)} values, sha256 {digest}"
        else:
            out[key] = value
    return out


class Evidence(BaseModel):
    """One tool call's result, bounded in size, safe to store, show and cite."""

    id: str = Field(description="Stable id: the same tool and arguments give the same id.")
    tool: str = Field(description="Registered tool name, e.g. `promql`.")
    meaning: Meaning = Field(
        default=Meaning.CONTEXT,
        description="What the evidence tells an investigation (the tool declares it).",
    )
    args: dict[str, Any] = Field(default_factory=dict, description="The validated arguments.")
    status: EvidenceStatus
    summary: str = Field(description="One or two sentences a person can read at 3 a.m.")
    reason: str | None = Field(
        default=None, description="For error/unavailable/empty: why, and what to do next."
    )
    retryable: bool = Field(
        default=False,
        description="For error/unavailable: the backend is configured but did not answer (down, "
        "refused, timed out), so the same call may work later — an outage, not an absence.",
    )
    data: dict[str, Any] = Field(default_factory=dict, description="Bounded structured result.")
    truncated: list[str] = Field(
        default_factory=list, description="What the guards cut, e.g. 'series: 412 -> 20'."
    )
    source_url: str | None = Field(default=None, description="Link back to the source (graph URL...).")
    started_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    duration_ms: float = 0.0

    @model_validator(mode="before")
    @classmethod
    def _legacy_meaning(cls, data: Any) -> Any:
        """A row stored without a meaning gets the one its tool had (:data:`LEGACY_MEANINGS`)."""
        if isinstance(data, Mapping) and data.get("meaning") is None:
            return {**data, "meaning": meaning_of(data)}
        return data

    @property
    def ok(self) -> bool:
        """Whether the backend answered (with or without matches)."""
        return self.status in (EvidenceStatus.OK, EvidenceStatus.EMPTY)

    @classmethod
    def make(
        cls,
        tool: str,
        args: dict[str, Any],
        status: EvidenceStatus,
        summary: str,
        **fields: Any,
    ) -> Evidence:
        """Build evidence with its stable id computed from ``tool`` and ``args``."""
        return cls(id=evidence_id(tool, args), tool=tool, args=args, status=status, summary=summary, **fields)
