"""The postmortem's data: what it is written from (records of the store) and what it holds.

:class:`PostmortemInput` gathers the incident's facts (alerts, timeline events, rule proposals,
the latest report and the chain's series); :class:`Postmortem` is the written result, with its
key facts, impact rows, timeline and action items. Building is in :mod:`augur.agent.postmortem`,
rendering in :mod:`augur.agent.postmortem_render`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from augur.agent.charts import SeriesData
from augur.agent.report import ChainLink, Report, Sentence

__all__ = [
    "ActionItem",
    "AlertRecord",
    "EventRecord",
    "ImpactRow",
    "KeyFacts",
    "Postmortem",
    "PostmortemInput",
    "ProposalRecord",
    "TimelineEntry",
    "VerdictRecord",
]


@dataclass(frozen=True)
class AlertRecord:
    """One alert episode of the incident."""

    name: str
    labels: dict[str, str]
    starts_at: datetime
    ends_at: datetime | None = None


@dataclass(frozen=True)
class EventRecord:
    """One line of the incident's stored timeline."""

    at: datetime
    kind: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ProposalRecord:
    """A rule proposal of the incident and its review history ``(at, to_state, actor)``."""

    id: str
    title: str
    state: str
    history: list[tuple[datetime, str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class VerdictRecord:
    """A person's latest verdict on the root cause: confirmed, wrong (and what it was), not_actionable."""

    verdict: str
    by: str
    at: datetime
    real_cause: str | None = None
    real_fault_type: str | None = None
    fix: str = ""
    note: str = ""

    def line(self) -> str:
        """``Verdict: wrong — it was X (data drift), by alice at 2026-12-03 19:05 UTC. Fixed by: ...``."""
        word = {"confirmed": "right", "wrong": "wrong", "not_actionable": "not actionable"}.get(
            self.verdict, self.verdict)
        real = ""
        if self.real_cause:
            kind = f" ({self.real_fault_type.replace('_', ' ')})" if self.real_fault_type else ""
            real = f" — it was {self.real_cause}{kind}"
        text = f"Verdict: {word}{real}, by {self.by} at {self.at:%Y-%m-%d %H:%M} UTC."
        text += f" Fixed by: {self.fix}." if self.fix else ""
        return text + (f" Note: {self.note}" if self.note else "")


@dataclass
class PostmortemInput:
    """Everything a postmortem is written from."""

    incident_id: int
    title: str
    status: str
    opened_at: datetime
    resolved_at: datetime | None
    alerts: list[AlertRecord]
    events: list[EventRecord]
    report: Report | None
    proposals: list[ProposalRecord] = field(default_factory=list)
    series: list[SeriesData] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    severity: str | None = None
    owners: dict[str, str] = field(default_factory=dict)  # catalog component -> owner
    verdict_record: VerdictRecord | None = None  # a person's latest verdict on the root cause


class TimelineEntry(BaseModel):
    """One timeline line: when, what kind, and the sentence (with citations when it has numbers)."""

    at: datetime
    kind: str
    sentence: Sentence


class ImpactRow(BaseModel):
    """A chain signal's level before and after its change (the report's figures) and after resolution."""

    signal: str
    layer: str | None = None
    before: float | None = Field(description="Level before the change: the report's figure.")
    during: float | None = Field(description="Level after the change (during the incident): the report's.")
    after: float | None = Field(default=None, description="Median after the incident resolved (Prometheus).")
    change: str = Field(default="", description="The report's change, written as the report writes it.")
    change_pct: float | None = Field(description="(during - before) / |before| in %.")
    evidence_id: str = Field(description="The evidence the report computed before/during/change from.")
    after_evidence_id: str | None = Field(default=None, description="The series evidence behind ``after``.")


class ActionItem(BaseModel):
    """Something to do (or done): a rule proposal under review, or a fix from the playbook."""

    kind: str = Field(description="`rule` or `fix`.")
    text: str
    state: str = Field(description="Proposal state, or `open` for a fix.")
    ref: str | None = None
    owner: str = Field(default="unassigned", description="Who acts: the catalog owner of its component.")


class KeyFacts(BaseModel):
    """Severity and the incident's clock, in minutes (None: not known or not happened yet)."""

    severity: str | None = None
    started_at: datetime | None = Field(default=None, description="The cause's onset (else the first alert).")
    duration_minutes: float | None = Field(default=None, description="Cause onset (or alert) to resolution.")
    time_to_detect_minutes: float | None = Field(default=None, description="Cause onset to the first alert.")
    time_to_diagnose_minutes: float | None = Field(default=None, description="First alert to augur's report.")
    time_to_acknowledge_minutes: float | None = Field(
        default=None, description="First alert to the first human action augur recorded (a review decision)."
    )
    time_to_resolve_minutes: float | None = Field(default=None, description="First alert to resolution.")


class Postmortem(BaseModel):
    """A postmortem: grounded prose, computed tables, and the charts it refers to."""

    incident_id: int
    title: str
    status: str
    opened_at: datetime
    resolved_at: datetime | None
    generated_at: datetime
    summary: list[Sentence]
    verdict: str = Field(description="The report's verdict, computed by code.")
    judgement: str = Field(default="", description="A person's latest verdict on that root cause, as given.")
    chain_text: str = ""
    chain: list[ChainLink] = Field(default_factory=list)
    facts: KeyFacts = Field(default_factory=KeyFacts)
    impact: list[ImpactRow] = Field(default_factory=list)
    impact_text: list[Sentence] = Field(default_factory=list)
    timeline: list[TimelineEntry] = Field(default_factory=list)
    went_well: list[Sentence] = Field(default_factory=list)
    went_badly: list[Sentence] = Field(default_factory=list)
    action_items: list[ActionItem] = Field(default_factory=list)
    charts: list[str] = Field(default_factory=list, description="Chart file names beside the postmortem.")
    evidence: dict[str, dict[str, Any]] = Field(default_factory=dict)
    dropped: list[Sentence] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)

    def sentences(self) -> list[Sentence]:
        """All grounded prose, in document order."""
        return [
            *self.summary,
            *self.impact_text,
            *(t.sentence for t in self.timeline),
            *self.went_well,
            *self.went_badly,
        ]
