"""A span as augur holds it, and a record refused on the way in: what span files are read into
(:mod:`augur.tools.span_files`) and what the span store keeps and answers
(:mod:`augur.tools.span_store`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Refusal", "Span"]


@dataclass(frozen=True, slots=True)
class Span:
    """One span. ``start_us``/``duration_us`` are microseconds; ``parent_id`` is None for a root."""

    trace_id: str
    span_id: str
    parent_id: str | None
    service: str
    operation: str
    start_us: int
    duration_us: int
    pod: str | None = None
    error: bool = False
    attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def start(self) -> float:
        """Start in Unix seconds."""
        return self.start_us / 1e6

    @property
    def end(self) -> float:
        """End in Unix seconds."""
        return (self.start_us + self.duration_us) / 1e6


@dataclass(frozen=True, slots=True)
class Refusal:
    """A record that could not be a span: where it was (``file.csv:12``) and why."""

    where: str
    reason: str
