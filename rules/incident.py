"""What the proposal engine needs to know about an investigated incident.

The investigation graph adapts its report to :class:`Findings`; the engine depends on nothing
else of the graph. Times are Unix seconds.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

__all__ = ["Findings", "Signal", "SymptomAlert"]


class Signal(BaseModel):
    """One link of the incident's chain: a PromQL signal, which way it broke, and since when."""

    query: str = Field(description='PromQL selecting the signal, e.g. model_drift_score{model="ranker"}.')
    direction: Literal["up", "down"] = Field(description="Which way is bad: `up` (rose) or `down` (fell).")
    onset: float = Field(description="When it started to change (the onset, not an alert time).")
    evidence_ids: list[str] = Field(default_factory=list, description="Evidence showing the change.")
    name: str = Field(default="", description="Human name, e.g. `ranker click_duration drift`.")
    layer: str | None = Field(default=None, description="resource, service, model, data or business.")
    labels: dict[str, str] = Field(
        default_factory=dict, description="The component's identifying labels, e.g. {model: ranker}."
    )


class SymptomAlert(BaseModel):
    """An alert that fired during the incident because of the root cause."""

    alertname: str
    labels: dict[str, str] = Field(default_factory=dict)
    expr: str | None = Field(default=None, description="The alert's expression, when known.")
    started_at: float | None = None
    layer: str | None = Field(default=None, description="Business alerts are never inhibited.")


class Findings(BaseModel):
    """An investigated incident, as the proposal engine reads it."""

    incident_id: int | None = None
    first_alert_at: float = Field(description="When the incident's first alert fired.")
    root_cause: Signal = Field(description="The chain's first link.")
    chain: list[Signal] = Field(default_factory=list, description="The downstream links, in onset order.")
    symptoms: list[SymptomAlert] = Field(default_factory=list)
    evidence_ids: list[str] = Field(default_factory=list, description="Other evidence the report cites.")
