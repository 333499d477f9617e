"""Evidence: what every tool returns, whether the backend answered, failed or was not there.

A tool never raises into the agent. It returns an :class:`Evidence` record whose ``status`` says
how it went and whose ``reason`` says what a person (or an LLM) can do about a failure. Reports
cite evidence by its ``id``, which is stable: the same tool with the same arguments gets the same
id, so a re-run investigation cites the same ids.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

__all__ = ["Evidence", "EvidenceStatus", "compact_args", "evidence_id"]


class EvidenceStatus(StrEnum):
    """How a tool call went."""

    OK = "ok"  # the backend answered with data
    EMPTY = "empty"  # the backend answered, with nothing matching
    ERROR = "error"  # the call failed (bad query, timeout, garbage answer)
    UNAVAILABLE = "unavailable"  # the backend is not there (down, not configured, no driver)


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
