"""The rule proposal: what the engine suggests, what a reviewer sees, and what apply writes.

A :class:`Proposal` is plain data (pydantic, stored as JSON): the rule as Prometheus rule-file
YAML (or, for an inhibition, an Alertmanager ``inhibit_rules`` entry), the rationale citing the
evidence ids it rests on, ``promtool``'s verdict, and a :class:`Backtest` over history. Its
``fingerprint`` is a hash of the normalised rule, so the same rule proposed by two investigations
is one proposal.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import yaml
from pydantic import BaseModel, Field

__all__ = [
    "Backtest",
    "Proposal",
    "ProposalEvent",
    "ProposalKind",
    "ProposalState",
    "Validation",
    "normalise_expr",
    "rule_fingerprint",
]


class ProposalKind(StrEnum):
    """What kind of rule a proposal is."""

    THRESHOLD = "threshold"  # adaptive: historical quantile, seasonality-aware
    TREND = "trend"  # predict_linear / sustained slope
    COMPOSITE = "composite"  # a leading cause AND its effect
    INHIBITION = "inhibition"  # Alertmanager inhibit_rule: the cause mutes its symptoms
    MISSING_SIGNAL = "missing_signal"  # the chain's first link had no alert at all
    RETUNE = "retune"  # a loaded alert rule made quieter; replaces the rule of its name (rules/retune.py)
    # Actions (augur.rules.actions): reviewed like rules, executed when approved.
    ROLLBACK_MODEL = "rollback_model"  # point a registered model's alias back at the previous version
    RETRAIN = "retrain"  # trigger the retraining pipeline's webhook
    SCALE = "scale"  # scale a Kubernetes deployment out


class ProposalState(StrEnum):
    """Review states: pending -> approved | rejected; approved -> applied | failed."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    APPLIED = "applied"
    FAILED = "failed"


class Validation(BaseModel):
    """``promtool check rules`` (or ``amtool check-config``) on the proposed rule."""

    ok: bool
    tool: str = Field(description="The command that checked it, e.g. `promtool check rules`.")
    output: str = Field(description="What the checker printed.")


class Backtest(BaseModel):
    """The rule replayed over history: when it would have fired, and how early."""

    expr: str = Field(description="The expression evaluated (the rule's, or its condition).")
    start: float = Field(description="Unix seconds where the replay starts.")
    end: float = Field(description="Unix seconds where the replay ends.")
    step_s: float = Field(description="Resolution of the replay.")
    for_s: float = Field(default=0.0, description="The rule's `for:`; shorter episodes never fire.")
    episodes: int = Field(description="Distinct firing episodes (honouring `for:`).")
    firing_minutes: float = Field(description="Total minutes firing.")
    spans: list[tuple[float, float]] = Field(default_factory=list, description="Firing (start, end).")
    first_fire_at: float | None = Field(default=None, description="First firing time in the window.")
    incident_start: float | None = Field(default=None, description="The incident's first alert.")
    lead_minutes: float | None = Field(
        default=None,
        description="Minutes between the episode covering the incident and its first alert "
        "(positive = earlier); None if it did not fire around the incident.",
    )
    value_series: list[tuple[float, float]] = Field(
        default_factory=list, description="The signal under the condition, downsampled for a chart."
    )
    threshold: float | None = Field(default=None, description="The threshold drawn on the chart.")
    duration_ms: float = 0.0
    before: Backtest | None = Field(
        default=None, description="For a retune: the rule it replaces, replayed over the same window."
    )

    @property
    def days(self) -> float:
        """Length of the replay in days."""
        return (self.end - self.start) / 86400.0


class Proposal(BaseModel):
    """One proposed rule, with everything a reviewer needs to decide."""

    id: str = Field(description="`pr-` and the first 12 hex digits of the fingerprint.")
    kind: ProposalKind
    group: str = Field(description="Rule group (one file per group when applied).")
    rule: dict[str, Any] = Field(description="The Prometheus rule, or the Alertmanager inhibit_rule.")
    rationale: str = Field(description="Why, citing evidence ids in brackets, e.g. [ev-1a2b3c4d5e6f].")
    evidence_ids: list[str] = Field(default_factory=list)
    validation: Validation
    backtest: Backtest | None = None
    fingerprint: str
    state: ProposalState = ProposalState.PENDING
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    incident_id: int | None = None

    @property
    def title(self) -> str:
        """A one-line name: the alert or recording rule, or the inhibition's source and targets."""
        if self.is_action:
            return f"action {self.kind.value.replace('_', ' ')}: {self.rule.get('summary', self.group)}"
        if self.kind is ProposalKind.INHIBITION:
            source = ", ".join(self.rule.get("source_matchers", []))
            return f"inhibition: {source} mutes {len(self.rule.get('target_matchers', []))} target matcher(s)"
        name = self.rule.get("alert") or self.rule.get("record") or "rule"
        return f"{self.kind.value.replace('_', ' ')}: {name}"

    @property
    def is_alertmanager(self) -> bool:
        """Whether the rule goes into Alertmanager's config rather than a Prometheus rule file."""
        return self.kind is ProposalKind.INHIBITION

    @property
    def is_action(self) -> bool:
        """Whether this proposes an action (rollback, retrain, scale) rather than a rule."""
        return self.kind in (ProposalKind.ROLLBACK_MODEL, ProposalKind.RETRAIN, ProposalKind.SCALE)

    @property
    def rule_yaml(self) -> str:
        """The rule as a reviewer reads it: a rule-file group, or an inhibit_rules entry."""
        if self.is_action:
            return yaml.safe_dump({"action": self.kind.value, **self.rule}, sort_keys=False)
        if self.is_alertmanager:
            return yaml.safe_dump({"inhibit_rules": [self.rule]}, sort_keys=False)
        return yaml.safe_dump({"groups": [{"name": self.group, "rules": [self.rule]}]}, sort_keys=False)

    @classmethod
    def build(cls, kind: ProposalKind, group: str, rule: dict[str, Any], **fields: Any) -> Proposal:
        """A proposal whose id and fingerprint are computed from its rule."""
        fingerprint = rule_fingerprint(kind, rule)
        return cls(id=f"pr-{fingerprint[:12]}", kind=kind, group=group, rule=rule,
                   fingerprint=fingerprint, **fields)


class ProposalEvent(BaseModel):
    """One recorded transition: who moved the proposal from which state to which, when, and why."""

    proposal_id: str
    from_state: ProposalState | None
    to_state: ProposalState
    actor: str
    comment: str = ""
    at: datetime = Field(default_factory=lambda: datetime.now(UTC))


_SPACE = re.compile(r"\s+")
_MATCHERS = re.compile(r"\{([^{}]*)\}")


def _sort_matchers(match: re.Match[str]) -> str:
    inner = match.group(1).strip()
    if not inner:
        return "{}"
    parts = [p.strip() for p in re.split(r',(?=(?:[^"]*"[^"]*")*[^"]*$)', inner) if p.strip()]
    return "{" + ",".join(sorted(parts)) + "}"


def normalise_expr(expr: str) -> str:
    """A PromQL expression in a canonical spelling for duplicate detection.

    Whitespace outside strings is removed, label matchers are sorted, and redundant outer
    parentheses dropped: ``rate( x{b="2", a="1"}[5m] ) > 1`` and ``rate(x{a="1",b="2"}[5m])>1``
    compare equal. It is not a parser: different but equivalent expressions may compare unequal.
    """
    parts = re.split(r'("(?:[^"\\]|\\.)*")', expr)
    squeezed = "".join(p if i % 2 else _SPACE.sub("", p) for i, p in enumerate(parts))
    squeezed = _MATCHERS.sub(_sort_matchers, squeezed)
    while squeezed.startswith("(") and squeezed.endswith(")") and _balanced(squeezed[1:-1]):
        squeezed = squeezed[1:-1]
    return squeezed


def _balanced(text: str) -> bool:
    depth = 0
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


def rule_fingerprint(kind: ProposalKind, rule: dict[str, Any]) -> str:
    """SHA-256 of the rule's identity: kind, name and normalised expression (or matchers)."""
    if kind is ProposalKind.INHIBITION:
        identity: dict[str, Any] = {
            "source": sorted(rule.get("source_matchers", [])),
            "target": sorted(rule.get("target_matchers", [])),
            "equal": sorted(rule.get("equal", [])),
        }
    else:
        name = rule.get("alert") or rule.get("record")
        identity = {"name": name, "expr": normalise_expr(str(rule["expr"]))}
    canonical = json.dumps({"kind": str(kind), **identity}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()
