"""Typed tool results: the model of ``Evidence.data`` for each :class:`~augur.tools.evidence.Meaning`.

A tool declares ``meaning`` and a ``Result`` model; its ``Result`` must be the meaning's contract
model here (:data:`CONTRACTS`) or a subclass of it, which the registry checks, and
:meth:`augur.tools.base.Tool.run` checks every ``ok``/``empty`` answer against it. The agent reads
stored evidence with :func:`result_of` and dispatches on the model's type::

    match result_of(ev):
        case DriftResult() as drift: ...
        case LogTemplatesResult() as logs: ...

so a second drift tool is read exactly like the first. Most models type the fields the agent
reads and keep every other field (``extra="allow"``), so stored evidence JSON is unchanged and rows
written before the models existed still load; :class:`OnsetData` is typed whole (``extra`` forbidden).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from augur.tools.evidence import Meaning, meaning_of

__all__ = [
    "CONTRACTS",
    "ContextResult",
    "DriftResult",
    "GpuStateResult",
    "LevelsResult",
    "LogTemplate",
    "LogTemplatesResult",
    "ModelVersionResult",
    "OnsetData",
    "OnsetReference",
    "SeriesLevels",
    "SeriesNamesResult",
    "SeriesOnset",
    "ToolResult",
    "TraceBlameResult",
    "result_of",
]


class ToolResult(BaseModel):
    """Base of every result model: typed where the agent reads, open to any other field."""

    model_config = ConfigDict(extra="allow")


class ContextResult(ToolResult):
    """Evidence read for context only (by a person or an LLM); the agent draws nothing from it."""


class SeriesLevels(ToolResult):
    """One series summarised against its own baseline (the part of the range before the cut)."""

    series: str | None = None
    labels: dict[str, str] = {}
    baseline_median: float | None = None
    recent_median: float | None = None
    deviation: float | None = None  # robust z of the recent median against the baseline
    direction: str | None = None  # up, down, flat, appeared, vanished


class LevelsResult(ToolResult):
    """Series levels before and after ``baseline_end``, most changed first."""

    baseline_end: float | None = None  # Unix seconds
    series: list[SeriesLevels] = []


class OnsetReference(BaseModel):
    """The baseline a series was compared with (:class:`~augur.tools.onset.ReferenceStats`)."""

    model_config = ConfigDict(extra="forbid")

    start: float  # Unix seconds of the first and last reference sample
    end: float
    points: int
    median: float
    sigma: float  # robust: 1.4826 x MAD, or IQR / 1.349, or the standard deviation
    deseasonalised: bool
    constant: bool = False  # every reference value equal: z-scores are only a ranking, read delta


class SeriesOnset(BaseModel):
    """One series' answer: :class:`~augur.tools.onset.OnsetResult` with the series' name and labels.

    Floats are rounded to 6 decimals and non-finite ones are ``None``, as the evidence stores them.
    """

    model_config = ConfigDict(extra="forbid")

    series: str  # the series in PromQL notation, or "inline series"
    labels: dict[str, str] = {}
    found: bool  # whether it left its baseline after reference_end
    onset: float | None = None  # Unix seconds of the first changed sample
    onset_index: int | None = None
    alarm: float | None = None  # when the detector became sure (at or after the onset)
    kind: Literal["level_shift", "ramp", "spike", "transient"] | None = None
    direction: Literal["up", "down"] | None = None
    magnitude_z: float | None = None  # typical post-onset deviation in robust z (peak z for a spike)
    peak_z: float | None = None
    effect_size: float | None = None  # Cohen's d
    delta: float | None = None  # change in the series' units (robust)
    relative_change: float | None = None  # delta / |reference median|
    confidence: float | None = None  # 0..1
    step_s: float | None = None
    reference: OnsetReference | None = None
    note: str = ""

    @property
    def before(self) -> float | None:
        """The level before the change: the reference median."""
        return self.reference.median if self.reference is not None else None

    @property
    def after(self) -> float | None:
        """The level after it: the reference median plus the change."""
        if self.before is None or self.delta is None:
            return None
        return self.before + self.delta


class OnsetData(BaseModel):
    """Onset evidence data (``extra`` forbidden: every field has one name): the window (absent
    for inline series) and each series' answer."""

    model_config = ConfigDict(extra="forbid")

    start: float | None = None  # Unix seconds
    end: float | None = None
    step_s: float | None = None
    reference_end: float | None = None
    series_count: int = 0  # series the query returned (before the max_series cut)
    order: list[str] = []  # series that changed, earliest onset first
    series: list[SeriesOnset] = []  # those that changed (earliest first), then the rest
    problems: list[str] = []  # series that could not be analysed, and why

    def strongest(self) -> SeriesOnset | None:
        """The series a finding reports: the largest ``|magnitude_z|`` of those that changed, else
        of all (the first on a tie); ``None`` when no series was analysed."""
        changed = [s for s in self.series if s.found]
        candidates = changed or self.series
        if not candidates:
            return None
        return max(candidates, key=lambda s: abs(s.magnitude_z) if s.magnitude_z is not None else 0.0)


class DriftResult(ToolResult):
    """A drift score; with one column the column's figures are at the top level too."""

    method: str | None = None
    value: float | None = None
    drifted: bool | None = None
    columns: list[dict[str, Any]] = []


class LogTemplate(ToolResult):
    """Log lines of one shape, with whether it is new against the baseline."""

    template: str | None = None
    count: int | None = None
    new: bool | None = None
    first_seen: str | float | None = None  # ISO time (or Unix seconds)


class LogTemplatesResult(ToolResult):
    """Log lines mined into templates, those absent from the baseline flagged ``new``."""

    templates: list[LogTemplate] = []


class TraceBlameResult(ToolResult):
    """What the traces say: the hop that grew most, per-service changes, who waits on whom.

    See :mod:`augur.agent.trace_findings` for how each field becomes findings. An empty answer
    lists the known service names in ``services``; a full one, per-service change records.
    """

    grown: dict[str, Any] | None = None
    services: list[dict[str, Any] | str] = []
    observed: list[str] = []
    waits_on: dict[str, Any] | None = None


class GpuStateResult(ToolResult):
    """GPU readings, one record per node."""

    nodes: list[dict[str, Any]] = []


class ModelVersionResult(ToolResult):
    """The live version of a registered model, when it went live, and the version before it."""

    model: str | None = None
    live: dict[str, Any] | None = None
    previous: dict[str, Any] | None = None
    changed_at: str | None = None  # ISO time
    changed_since: bool | None = None  # whether it went live after the call's `since`


class SeriesNamesResult(ToolResult):
    """Which metrics (and series) exist for a selector."""

    metrics: list[str] = []


#: The contract model of each meaning: a tool of that meaning returns it or a subclass of it.
CONTRACTS: dict[Meaning, type[BaseModel]] = {
    Meaning.LEVELS: LevelsResult,
    Meaning.ONSET: OnsetData,
    Meaning.DRIFT: DriftResult,
    Meaning.LOG_TEMPLATES: LogTemplatesResult,
    Meaning.TRACE_BLAME: TraceBlameResult,
    Meaning.GPU_STATE: GpuStateResult,
    Meaning.MODEL_VERSION: ModelVersionResult,
    Meaning.SERIES_NAMES: SeriesNamesResult,
    Meaning.CONTEXT: ContextResult,
}


def result_of(evidence: Mapping[str, Any]) -> BaseModel:
    """Stored evidence's data as its meaning's model (a :class:`ContextResult` if it does not fit)."""
    data = evidence.get("data") or {}
    try:
        return CONTRACTS[meaning_of(evidence)].model_validate(data)
    except ValidationError:
        return ContextResult.model_validate(data if isinstance(data, Mapping) else {})
