"""The investigation report: a pydantic model (published as ``report.schema.json``) and Markdown.

The JSON report is what machines read (Slack, postmortems, the evals runner, rule proposals);
the Markdown is what an on-call engineer reads at 3 a.m. Both come from one :class:`Report`.
The verdict fields (``root_cause``, ``candidates``, ``chain``) are computed by code from
evidence; ``narrative`` sentences each cite the evidence ids they rest on (see
:mod:`augur.agent.grounding`). :func:`write_schema` regenerates the published schema file.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from augur.tools.evidence import Meaning, meaning_of

__all__ = [
    "SCHEMA_PATH",
    "AlertSummary",
    "Candidate",
    "ChainLink",
    "CheckedNormal",
    "EvidenceRow",
    "Fix",
    "IncidentProfile",
    "PastVerdict",
    "ProposedAction",
    "Report",
    "RootCause",
    "RunStats",
    "Sentence",
    "SimilarIncident",
    "Unexamined",
    "report_schema",
    "write_schema",
]

#: The published JSON schema of :class:`Report` (a test keeps it current).
SCHEMA_PATH = Path(__file__).with_name("report.schema.json")
SCHEMA_VERSION: Literal[1] = 1


class Sentence(BaseModel):
    """One narrative sentence and the evidence ids it rests on."""

    text: str
    evidence_ids: list[str] = Field(default_factory=list, description="Cited evidence ids (ev-...).")


class RootCause(BaseModel):
    """The verdict: the first link of the chain, or ``inconclusive``."""

    verdict: Literal["identified", "inconclusive"]
    component: str | None = Field(description="Catalog component (or series) named as the cause.")
    signal: str | None = Field(default=None, description="``component.signal`` whose change came first.")
    fault_type: str = Field(description="Playbook key, e.g. data_drift, model_degradation, gpu_oom.")
    confidence: float = Field(ge=0.0, le=1.0, description="0..1, computed from evidence by code.")
    summary: str = Field(description="One line for a notification.")
    evidence_ids: list[str] = Field(default_factory=list)


class Candidate(BaseModel):
    """A ranked root-cause candidate with the score the diagnosis gave it and why."""

    rank: int = Field(ge=1)
    component: str
    signal: str | None = None
    layer: str | None = None
    fault_type: str
    score: float
    confidence: float = Field(ge=0.0, le=1.0)
    onset: datetime | None = None
    reasons: list[str] = Field(default_factory=list)
    evidence_ids: list[str] = Field(default_factory=list)


class ChainLink(BaseModel):
    """One anomaly on the causal chain, ordered by its onset (never by when it alarmed)."""

    component: str | None
    signal: str
    layer: str | None = None
    onset: datetime
    change: str = Field(description="How it moved, e.g. 'PSI 0.41', '-6 pts', 'x3', '-30 %'.")
    before: float | None = None
    after: float | None = None
    unit: str | None = Field(default=None, description="The signal's unit (catalog), e.g. ratio, s, psi.")
    source_id: str | None = Field(
        default=None, description="The evidence ``before``, ``after`` and ``change`` were computed from."
    )
    strength: float = Field(description="Robust z of the change, as its evidence holds it.")
    role: Literal["cause", "symptom"]
    evidence_ids: list[str] = Field(default_factory=list)


class EvidenceRow(BaseModel):
    """One line of the evidence table."""

    id: str
    tool: str
    #: A report stored before rows carried a meaning gets its tool's (``LEGACY_MEANINGS``) on load.
    meaning: Meaning = Field(default=Meaning.CONTEXT, description="What the evidence tells an investigation.")
    status: str
    query: str | None = None
    value: str = Field(description="The headline value the report relies on.")
    summary: str
    link: str | None = Field(default=None, description="Link to the source, e.g. a Prometheus graph.")

    @model_validator(mode="before")
    @classmethod
    def _legacy_meaning(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("meaning") is None:
            return {**data, "meaning": meaning_of(data)}
        return data


class Fix(BaseModel):
    """A remediation step from the playbook (or proposed by an LLM, citing evidence)."""

    action: str
    why: str
    fault_type: str
    source: Literal["playbook", "llm"] = "playbook"
    evidence_ids: list[str] = Field(default_factory=list)


class ProposedAction(BaseModel):
    """A change augur proposes to make, with its evidence; nothing runs until a reviewer approves it.

    ``kind`` is ``rollback_model`` (point ``params.model``'s ``params.alias`` back at
    ``params.to_version``, from ``params.from_version``), ``retrain`` (trigger the retraining
    pipeline for ``params.model`` / ``target``) or ``scale`` (scale the deployment ``target`` out).
    The server previews it (a dry run), stores it as a proposal and executes it once approved
    (:mod:`augur.rules.actions`).
    """

    kind: Literal["rollback_model", "retrain", "scale"]
    target: str = Field(description="What it acts on: the registered model, or the component/deployment.")
    params: dict[str, str | int] = Field(default_factory=dict, description="The action's arguments.")
    why: str = Field(description="Why, in one line, citing what the evidence showed.")
    evidence_ids: list[str] = Field(default_factory=list)


class CheckedNormal(BaseModel):
    """A signal that was looked at and did not change (a red herring ruled out)."""

    component: str | None
    signal: str
    note: str
    evidence_ids: list[str] = Field(default_factory=list)


class Unexamined(BaseModel):
    """A signal the investigation meant to look at but could not: its backend failed or was not there.

    Not the same as :class:`CheckedNormal`: nothing is known about this signal.
    """

    component: str | None
    signal: str
    tool: str
    status: Literal["unavailable", "error"]
    reason: str = Field(description="Why it could not be examined, and what to do about it.")
    retryable: bool = Field(
        default=False, description="Its backend is configured but did not answer: asking later may work."
    )
    evidence_ids: list[str] = Field(default_factory=list)


class AlertSummary(BaseModel):
    """The alert or question the investigation started from."""

    name: str
    labels: dict[str, str] = Field(default_factory=dict)
    starts_at: datetime
    expr: str | None = None
    question: str | None = None


#: What a person said about an incident's named cause: right, wrong (and what it really was),
#: not actionable (the alert should not have paged), or nothing yet.
PastVerdict = Literal["confirmed", "wrong", "not_actionable", "none"]


class IncidentProfile(BaseModel):
    """What incident memory compares (:mod:`augur.agent.memory`): what changed, and how.

    A stored report carries its own profile, so it can be compared with later incidents.
    """

    components: list[str] = Field(default_factory=list, description="Components with a changed signal.")
    signals: list[str] = Field(default_factory=list, description="Changed ``component.signal``s.")
    fault_type: str | None = Field(default=None, description="The named cause's fault type; None if none.")
    templates: list[str] = Field(default_factory=list, description="Log templates new in this incident.")


class SimilarIncident(BaseModel):
    """A past incident like this one: how alike (and why), what caused it and what fixed it."""

    id: str
    title: str
    at: datetime
    similarity: float = Field(ge=0.0, le=1.0, description="Weighted Jaccard over the profiles, 0..1.")
    why: str = Field(description="Each compared feature's weight, its matched share and items.")
    matched: dict[str, list[str]] = Field(default_factory=dict, description="Feature -> items both share.")
    verdict: PastVerdict
    named_cause: str | None = Field(default=None, description="The component augur named then.")
    cause: str | None = Field(
        default=None, description="The cause a person confirmed: the named one, or the real one they gave.")
    fault_type: str | None = Field(default=None, description="The confirmed cause's fault type, if known.")
    fix: str | None = Field(default=None, description="What was done that fixed it, as recorded.")


class RunStats(BaseModel):
    """How the investigation ran: planners, budgets, time."""

    planner: str
    llm_used: bool = False
    llm_failed: str | None = Field(default=None, description="Why the LLM path was abandoned, if it was.")
    tool_calls: int
    refused_calls: int
    rounds: int
    wall_s: float
    backend_s: float = Field(description="Time during which at least one backend query was running.")
    llm_tokens: int = 0
    notes: list[str] = Field(default_factory=list)


class Report(BaseModel):
    """A root-cause report. ``schema_version`` changes when fields change incompatibly."""

    schema_version: Literal[1] = SCHEMA_VERSION
    investigation_id: str
    title: str
    generated_at: datetime
    alert: AlertSummary
    window_start: datetime
    window_end: datetime
    summary: str
    impact: list[Sentence] = Field(default_factory=list)
    root_cause: RootCause
    candidates: list[Candidate] = Field(default_factory=list)
    chain: list[ChainLink] = Field(default_factory=list)
    chain_text: str = Field(default="", description="The chain in one line, cause first.")
    symptoms: list[str] = Field(
        default_factory=list, description="``component.signal`` downstream of the cause."
    )
    narrative: list[Sentence] = Field(default_factory=list)
    dropped_sentences: list[Sentence] = Field(
        default_factory=list, description="Narrative sentences the grounding validator removed."
    )
    fixes: list[Fix] = Field(default_factory=list)
    actions: list[ProposedAction] = Field(
        default_factory=list,
        description="Changes proposed for a reviewer to approve (rollback, retrain, scale).")
    evidence: list[EvidenceRow] = Field(default_factory=list)
    checked_normal: list[CheckedNormal] = Field(default_factory=list)
    unexamined: list[Unexamined] = Field(
        default_factory=list,
        description="Signals that could not be examined (backend down or missing): not known to be normal.",
    )
    open_questions: list[str] = Field(default_factory=list)
    similar_incidents: list[SimilarIncident] = Field(
        default_factory=list, description="Past incidents like this one, most similar first.")
    profile: IncidentProfile | None = Field(
        default=None, description="What incident memory compares this incident by.")
    stats: RunStats

    def evidence_ids(self) -> set[str]:
        """Ids of the evidence in the table."""
        return {row.id for row in self.evidence}


def report_schema() -> dict[str, Any]:
    """The JSON schema of :class:`Report`."""
    schema = Report.model_json_schema()
    schema["$id"] = "https://augur.dev/schemas/report-v1.json"
    schema["title"] = "augur root-cause report"
    return schema


def write_schema(path: Path = SCHEMA_PATH) -> None:
    """Regenerate the published schema file (run after changing the models)."""
    path.write_text(json.dumps(report_schema(), indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    write_schema()
