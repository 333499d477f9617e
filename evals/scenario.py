"""The incident scenario format: a simulated ML platform, the faults injected into it, the truth.

A scenario is one YAML file (``evals/scenarios/*.yaml``, documented in that folder's README). It
holds everything needed to replay an incident through real Prometheus and Alertmanager and to
score an investigation of it:

- ``catalog``: the simulated platform, validated as an :class:`augur.agent.catalog.Catalog`;
- ``metrics``: the series to generate, each owned by a component, with a baseline (level, daily
  seasonality, noise; a latency histogram's shape);
- ``faults``: what goes wrong, where, when and how (step, ramp, spike), and how it propagates to
  dependents with lags (one ``effect`` per affected series);
- ``logs``: log templates with rates, and error bursts inside a time window;
- ``drift``: reference and current feature samples (written as Parquet);
- ``rules`` and ``alert``: the Prometheus rule file and the alert that fires;
- ``truth``: the root-cause component, the fault type, and the chain, cause first.

Times inside a scenario are offsets from the end of the generated history (the moment the
alert fires): ``-90m`` is ninety minutes before it. :func:`load_scenario` reports problems with
the file name and the path of the offending field.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from augur.agent.catalog import Catalog
from augur.tools.errors import BadInput
from augur.tools.timeparse import TimeFormatError
from augur.tools.timeparse import parse_duration as prometheus_duration

__all__ = [
    "SCENARIO_DIR",
    "Distribution",
    "DriftSamples",
    "Effect",
    "Fault",
    "FaultType",
    "Histogram",
    "History",
    "LogTemplate",
    "MetricSpec",
    "Registry",
    "RegistryModel",
    "RegistryVersion",
    "Scenario",
    "ScenarioError",
    "Seasonality",
    "Truth",
    "list_scenarios",
    "load_scenario",
    "parse_duration",
    "parse_scenario",
]

#: Where the shipped scenarios live.
SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"



class ScenarioError(BadInput):
    """A scenario file is invalid; the message names the file and each problem's field path."""


def parse_duration(value: Any) -> float:
    """Seconds from a Prometheus duration (``"90m"``, ``"1h30m"``), negated by a leading ``-``
    (``"-2h"``: before the end), or a plain number of seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip()
    negative = text.startswith("-")
    try:
        seconds = prometheus_duration(text[1:] if negative else text)
    except TimeFormatError:
        raise ValueError(f"{value!r} is not a duration: write e.g. 30s, 15m, -90m, 2h") from None
    return -seconds if negative else seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]
"""A duration in seconds, written in YAML as ``30s``, ``15m``, ``2h`` (negative: before the end)."""


class FaultType(StrEnum):
    """The kinds of root cause the suite scores (named like the agent's playbook keys where equal)."""

    DATA_DRIFT = "data_drift"
    BAD_MODEL_VERSION = "bad_model_version"
    GPU_OOM = "gpu_oom"
    GPU_UNDERUTILIZED = "gpu_underutilized"
    NETWORK_BOTTLENECK = "network_bottleneck"
    DATA_FRESHNESS = "data_freshness"
    MISSING_FEATURES = "missing_features"
    SLICE_DEGRADATION = "slice_degradation"
    TRAIN_SERVE_SKEW = "train_serve_skew"
    UPSTREAM_LATENCY = "upstream_latency"
    GPU_HARDWARE = "gpu_hardware"
    BAD_DEPLOY = "bad_deploy"
    TRAFFIC_SURGE = "traffic_surge"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class History(_Model):
    """How much history to generate and at which resolution."""

    hours: float = Field(default=6.0, gt=0, le=72)
    step_seconds: int = Field(default=30, ge=1, le=300)


class Seasonality(_Model):
    """A daily cycle: the value is multiplied by ``1 + amplitude * cos(2π (hour - peak_hour) / 24)``."""

    amplitude: float = Field(default=0.0, ge=0, le=1)
    peak_hour: float = Field(default=20.0, ge=0, lt=24, description="UTC hour of the daily peak.")


class Histogram(_Model):
    """A latency histogram: log-normal request durations spread over cumulative ``le`` buckets."""

    buckets: list[float] = Field(min_length=2, description="Upper bounds in seconds (+Inf is added).")
    median: float = Field(gt=0, description="Median request duration, seconds.")
    sigma: float = Field(default=0.5, gt=0, description="Log-normal shape (spread) of the durations.")

    @model_validator(mode="after")
    def _sorted(self) -> Histogram:
        if self.buckets != sorted(set(self.buckets)):
            raise ValueError("buckets must be strictly increasing")
        return self


class MetricSpec(_Model):
    """One generated series (or, for a histogram, one family of bucket/count/sum series).

    ``level`` is the baseline value of a gauge, the per-second rate of a counter, or the
    requests per second of a histogram. ``noise`` is the standard deviation of the Gaussian
    noise added at each step (absolute, in the metric's unit). ``start``/``end`` limit when the
    series exists (a ``model_version`` that is deployed mid-history).
    """

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$", description="Name faults refer to.")
    component: str = Field(description="The catalog component this series belongs to.")
    metric: str = Field(pattern=r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
    labels: dict[str, str] = Field(default_factory=dict)
    type: Literal["gauge", "counter", "histogram"] = "gauge"
    level: float
    noise: float = Field(default=0.0, ge=0)
    seasonality: Seasonality = Field(default_factory=Seasonality)
    min: float | None = None
    max: float | None = None
    histogram: Histogram | None = None
    start: Duration | None = Field(default=None, description="Series appears at this offset.")
    end: Duration | None = Field(default=None, description="Series stops at this offset.")

    @model_validator(mode="after")
    def _consistent(self) -> MetricSpec:
        if self.type == "histogram" and self.histogram is None:
            raise ValueError(f"histogram metric {self.id!r} needs `histogram:` (buckets, median)")
        if self.type != "histogram" and self.histogram is not None:
            raise ValueError(f"`histogram:` is only for type: histogram (metric {self.id!r})")
        if self.type == "counter" and not self.metric.endswith("_total"):
            raise ValueError(f"counter {self.metric!r} must end in _total (OpenMetrics)")
        if self.type == "histogram" and self.metric.endswith(("_bucket", "_count", "_sum")):
            raise ValueError(f"name the histogram family, not a series: {self.metric!r}")
        return self


class Effect(_Model):
    """How a fault changes one series: by a factor or a delta, after a lag, on one target."""

    metric: str = Field(description="A `metrics[].id`.")
    lag: Duration = Field(default=0.0, ge=0, description="Delay after the fault's start.")
    factor: float | None = Field(
        default=None, gt=0, description="Multiply the target by this at full effect."
    )
    delta: float | None = Field(default=None, description="Add this to the target at full effect.")
    target: Literal["value", "median", "sigma", "noise"] = Field(
        default="value",
        description="value (a gauge's value, a counter's or histogram's rate), a histogram's "
        "median or sigma, or the noise level.",
    )

    @model_validator(mode="after")
    def _one_change(self) -> Effect:
        if (self.factor is None) == (self.delta is None):
            raise ValueError(f"effect on {self.metric!r} needs exactly one of `factor` or `delta`")
        return self


class Fault(_Model):
    """A fault injected at ``start`` into ``component``, propagating through ``effects``.

    ``shape`` says how each effect reaches its magnitude: ``step`` at once, ``ramp`` linearly
    over ``duration``, ``spike`` at once and back to baseline after ``duration``.
    """

    id: str
    component: str
    type: FaultType
    start: Duration = Field(lt=0, description="Offset before the end of history, e.g. -90m.")
    shape: Literal["step", "ramp", "spike"] = "step"
    duration: Duration | None = Field(default=None, gt=0, description="Ramp length or spike length.")
    effects: list[Effect] = Field(min_length=1)
    benign: bool = Field(
        default=False, description="A change that is not the cause: a confounder or a legitimate shift."
    )

    @model_validator(mode="after")
    def _duration(self) -> Fault:
        if self.shape in ("ramp", "spike") and self.duration is None:
            raise ValueError(f"fault {self.id!r}: shape {self.shape} needs `duration`")
        return self


class LogTemplate(_Model):
    """Log lines from one component: a message template with ``{field}`` placeholders.

    Each field is either a list of values (picked at random) or ``[low, high]`` numbers (a
    uniform draw, rendered as an integer when both bounds are). ``start``/``end`` restrict
    the template to a window: that is how an error burst is written.
    """

    component: str
    level: Literal["debug", "info", "warning", "error", "critical"] = "info"
    message: str = Field(min_length=1)
    fields: dict[str, list[str] | tuple[float, float]] = Field(default_factory=dict)
    rate_per_minute: float = Field(gt=0, le=600)
    start: Duration | None = None
    end: Duration | None = None

    @model_validator(mode="after")
    def _placeholders(self) -> LogTemplate:
        used = set(re.findall(r"{(\w+)}", self.message))
        missing = used - set(self.fields)
        if missing:
            raise ValueError(f"message uses undefined fields: {', '.join(sorted(missing))}")
        return self


class Distribution(_Model):
    """A feature's distribution for drift samples."""

    kind: Literal["normal", "uniform", "lognormal", "exponential", "categorical"]
    mean: float = 0.0
    std: float = Field(default=1.0, gt=0)
    low: float = 0.0
    high: float = 1.0
    scale: float = Field(default=1.0, gt=0)
    categories: dict[str, float] = Field(default_factory=dict, description="Value → probability weight.")
    missing: float = Field(default=0.0, ge=0, lt=1, description="Share of rows left empty (null).")

    @model_validator(mode="after")
    def _params(self) -> Distribution:
        if self.kind == "uniform" and self.high <= self.low:
            raise ValueError("uniform needs high > low")
        if self.kind == "categorical" and not self.categories:
            raise ValueError("categorical needs `categories`")
        return self


class DriftSamples(_Model):
    """Reference and current samples of a component's features, written as two Parquet files."""

    component: str
    rows: int = Field(default=2000, ge=50, le=200_000)
    reference: dict[str, Distribution] = Field(min_length=1)
    current: dict[str, Distribution] = Field(min_length=1)

    @model_validator(mode="after")
    def _same_columns(self) -> DriftSamples:
        if set(self.reference) != set(self.current):
            raise ValueError("reference and current must describe the same features")
        return self


class RegistryVersion(_Model):
    """One version of a registered model: its training run's logged metrics and when it went live."""

    metrics: dict[str, float] = Field(default_factory=dict, description="Logged once: accuracy, p99...")
    curves: dict[str, list[float]] = Field(default_factory=dict, description="Logged per step: loss...")
    deployed: Duration | None = Field(
        default=None, description="When it went live (the `deployed_at` tag), an offset before the end.")
    stage: str | None = None
    description: str | None = None


class RegistryModel(_Model):
    """A registered model in the scenario's MLflow registry (versions are numbered 1, 2, ...)."""

    name: str = Field(min_length=1)
    versions: list[RegistryVersion] = Field(default_factory=list)
    aliases: dict[str, int] = Field(default_factory=dict, description="alias -> version number")

    @model_validator(mode="after")
    def _aliases_exist(self) -> RegistryModel:
        for alias, number in self.aliases.items():
            if not 1 <= number <= len(self.versions):
                raise ValueError(f"alias {alias!r} points at version {number}, which is not registered")
        return self


class Registry(_Model):
    """What a real MLflow server holds for the scenario (``augur.evals.mlflow_server`` serves it)."""

    models: list[RegistryModel] = Field(min_length=1)


class Truth(_Model):
    """What an investigation should conclude.

    ``root_cause`` null means nothing should be blamed (a benign or inconclusive case); then
    a report that is inconclusive, or whose top cause is not in ``not_blamed``, scores as right.
    """

    root_cause: str | None
    fault_type: FaultType | None = None
    chain: list[str] = Field(default_factory=list, description="component or component.signal, cause first.")
    not_blamed: list[str] = Field(default_factory=list, description="Components that must not rank first.")
    note: str | None = None


class Scenario(_Model):
    """A complete incident scenario (see the module docstring and ``scenarios/README.md``)."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    title: str
    description: str = ""
    seed: int = 1
    story: bool = Field(default=False, description="The demo's scenario (the seed's story).")
    history: History = Field(default_factory=History)
    catalog: Catalog
    metrics: list[MetricSpec] = Field(min_length=1)
    faults: list[Fault] = Field(default_factory=list)
    logs: list[LogTemplate] = Field(default_factory=list)
    drift: list[DriftSamples] = Field(default_factory=list)
    registry: Registry | None = Field(default=None, description="Registered models MLflow serves.")
    rules: dict[str, Any] = Field(description="A Prometheus rule file: {groups: [...]}.")
    alert: str = Field(description="The alertname (in `rules`) that fires and starts the investigation.")
    truth: Truth

    @model_validator(mode="after")
    def _cross_check(self) -> Scenario:
        problems: list[str] = []
        components = {c.name for c in self.catalog.components}
        ids = [m.id for m in self.metrics]
        for dup in sorted({i for i in ids if ids.count(i) > 1}):
            problems.append(f"metrics: duplicate id {dup!r}")
        by_id = {m.id: m for m in self.metrics}
        span = -self.history.hours * 3600
        for m in self.metrics:
            if m.component not in components:
                problems.append(f"metrics.{m.id}: unknown component {m.component!r}")
        for f in self.faults:
            if f.component not in components:
                problems.append(f"faults.{f.id}: unknown component {f.component!r}")
                continue
            if f.start <= span:
                problems.append(f"faults.{f.id}: start {f.start:g}s is before the history begins")
            for e in f.effects:
                spec = by_id.get(e.metric)
                if spec is None:
                    problems.append(f"faults.{f.id}: effect on unknown metric {e.metric!r}")
                elif spec.component != f.component and not self.catalog.is_upstream(
                    f.component, spec.component
                ):
                    problems.append(
                        f"faults.{f.id}: {e.metric!r} belongs to {spec.component!r}, which does not depend "
                        f"on {f.component!r}: faults only propagate to dependents (add a depends_on edge)"
                    )
                elif e.target in ("median", "sigma") and spec.type != "histogram":
                    problems.append(f"faults.{f.id}: target {e.target} needs a histogram metric")
        for where, comp in [*((f"logs[{i}]", t.component) for i, t in enumerate(self.logs)),
                            *((f"drift[{i}]", d.component) for i, d in enumerate(self.drift))]:
            if comp not in components:
                problems.append(f"{where}: unknown component {comp!r}")
        problems += self._check_rules()
        problems += self._check_truth(components)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _check_rules(self) -> list[str]:
        groups = self.rules.get("groups")
        if not isinstance(groups, list) or not groups:
            return ["rules: needs `groups:` (a Prometheus rule file)"]
        names = [r.get("alert") for g in groups for r in (g.get("rules") or []) if isinstance(r, dict)]
        if self.alert not in names:
            return [f"alert {self.alert!r} is not an alerting rule in `rules` (have: {names})"]
        return []

    def _check_truth(self, components: set[str]) -> list[str]:
        problems: list[str] = []
        t = self.truth
        if t.root_cause is not None and t.root_cause not in components:
            problems.append(f"truth.root_cause: unknown component {t.root_cause!r}")
        if t.root_cause is not None and t.fault_type is None:
            problems.append("truth.fault_type is required when there is a root cause")
        for ref in t.chain:
            if "." in ref:
                try:
                    self.catalog.resolve(ref)
                except ValueError as exc:
                    problems.append(f"truth.chain: {exc}")
            elif ref not in components:
                problems.append(f"truth.chain: unknown component {ref!r}")
        if t.chain and t.root_cause and t.chain[0].split(".")[0] != t.root_cause:
            problems.append("truth.chain must start at the root cause")
        problems += [
            f"truth.not_blamed: unknown component {c!r}" for c in t.not_blamed if c not in components
        ]
        return problems

    def rule(self, alertname: str | None = None) -> dict[str, Any]:
        """The alerting rule called ``alertname`` (default: the scenario's alert)."""
        name = alertname or self.alert
        for group in self.rules["groups"]:
            for rule in group.get("rules") or []:
                if rule.get("alert") == name:
                    return dict(rule)
        raise KeyError(f"no alerting rule {name!r} in scenario {self.name!r}")

    def metric(self, metric_id: str) -> MetricSpec:
        """The metric spec with this id."""
        for m in self.metrics:
            if m.id == metric_id:
                return m
        raise KeyError(f"scenario {self.name!r} has no metric {metric_id!r}")

    def chain_components(self) -> list[str]:
        """The truth chain reduced to components, in order, without repeats."""
        out: list[str] = []
        for ref in self.truth.chain:
            comp = ref.split(".")[0]
            if comp not in out:
                out.append(comp)
        return out


def _format_errors(source: str, exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top)"
        lines.append(f"{source}: {loc}: {err['msg']}")
    return "\n".join(lines)


def parse_scenario(text: str, source: str = "<scenario>") -> Scenario:
    """Parse and validate scenario YAML."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: a scenario is a mapping (name, catalog, metrics, ...)")
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(_format_errors(source, exc)) from None


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Load a scenario by file path, or by name from :data:`SCENARIO_DIR`."""
    path = Path(name_or_path)
    if not path.suffix:
        path = SCENARIO_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        known = ", ".join(s.stem for s in sorted(SCENARIO_DIR.glob("*.yaml")))
        raise ScenarioError(f"no scenario {str(name_or_path)!r}; known: {known}")
    return parse_scenario(path.read_text(), str(path))


def list_scenarios(directory: Path = SCENARIO_DIR) -> list[Scenario]:
    """Every scenario in ``directory``, sorted by name."""
    return sorted((load_scenario(p) for p in directory.glob("*.yaml")), key=lambda s: s.name)
