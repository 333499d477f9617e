"""The platform catalog: what the agent may look at, how components depend on each other.

A YAML file lists components with their layer (resource, service, model, data, business),
``depends_on`` edges (a component depends on the things it consumes: ``ranker-serving`` depends
on ``ranker-model`` which depends on ``feature-pipeline``; faults flow from a dependency to its
dependents; cycles are allowed, as real call graphs have them), owners and runbooks, the alert
labels that map an alert to the component, and per signal a PromQL query, a log query, a drift
source or (``kind: trace``) a Jaeger service. The business-to-technical map (CTR ← ranker
accuracy ← feature freshness) is the ``business_map``.

Example::

    version: 1
    components:
      - name: ranker-serving
        layer: service
        depends_on: [ranker-model, gpu-pool-a]
        match: {service: ranker-serving}
        signals:
          - name: p99_latency
            query: histogram_quantile(0.99, sum by (le) (rate(
              http_request_duration_seconds_bucket{service="ranker-serving"}[5m])))
            unit: s
            bad: up

:func:`load_catalog` reports validation errors with the file's line and column.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, model_validator

from augur.tools.errors import BadInput

__all__ = [
    "BusinessLink",
    "Catalog",
    "CatalogError",
    "Component",
    "DriftSource",
    "Layer",
    "Signal",
    "load_catalog",
    "parse_catalog",
]


class CatalogError(BadInput):
    """The catalog file is invalid; each line of the message is ``file:line:col: problem``."""


class Layer(StrEnum):
    """The layers of an ML platform, from the bottom up."""

    RESOURCE = "resource"
    SERVICE = "service"
    MODEL = "model"
    DATA = "data"
    BUSINESS = "business"


class DriftSource(BaseModel):
    """Where a drift signal's reference and current samples come from."""

    model_config = ConfigDict(extra="forbid")

    reference: str | None = Field(default=None, description="CSV/Parquet path of the reference sample.")
    current: str | None = Field(default=None, description="CSV/Parquet path of the current sample.")
    column: str | None = Field(default=None, description="Column (feature) to compare.")
    histogram: str | None = Field(
        default=None, description="Prometheus histogram metric (``_bucket``) compared across two windows."
    )
    method: str = Field(default="auto", description="psi, ks, wasserstein, jensenshannon, chisquare, auto.")


class Signal(BaseModel):
    """One thing to look at for a component."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.:-]*$")
    kind: Literal["metric", "log", "drift", "trace"] = "metric"
    query: str | None = Field(default=None, description="PromQL returning the signal's series.")
    log_query: str | None = Field(default=None, description="Log search query string.")
    trace_service: str | None = Field(
        default=None,
        description="Jaeger service of a trace signal; default: the component's `service` match label, "
        "else its name.",
    )
    drift: DriftSource | None = None
    unit: str | None = None
    bad: Literal["up", "down", "any"] = Field(default="any", description="Which direction is a fault.")
    fault_type: str | None = Field(
        default=None, pattern=r"^[a-z][a-z0-9_]*$",
        description="The fault this signal's change means (a playbook key such as gpu_oom or "
        "data_freshness); default: inferred from what the signal is (augur.agent.fault_type).",
    )
    description: str | None = None

    @model_validator(mode="after")
    def _has_source(self) -> Signal:
        if self.kind == "metric" and not self.query:
            raise ValueError(f"metric signal {self.name!r} needs a `query` (PromQL)")
        if self.kind == "log" and not self.log_query:
            raise ValueError(f"log signal {self.name!r} needs a `log_query`")
        if self.kind == "drift" and self.drift is None and not self.query:
            raise ValueError(f"drift signal {self.name!r} needs a `drift` source or a `query`")
        return self


class Component(BaseModel):
    """A part of the platform: a feature pipeline, a model, a serving deployment, a GPU pool, a KPI."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    layer: Layer
    depends_on: list[str] = Field(default_factory=list)
    owner: str | None = None
    runbook: str | None = None
    description: str | None = None
    match: dict[str, str] = Field(default_factory=dict, description="Alert labels that name this component.")
    signals: list[Signal] = Field(default_factory=list)
    registered_model: str | None = Field(
        default=None, pattern=r"^[^@\s]+(@[A-Za-z0-9_.-]+)?$",
        description="The model registry's name for this component's model, optionally with the alias "
        "that serves it (`ranker@champion`): the investigation asks model_registry whether a new "
        "version went live just before the onset.",
    )

    def signal(self, name: str) -> Signal:
        """The signal called ``name``."""
        for sig in self.signals:
            if sig.name == name:
                return sig
        raise KeyError(f"component {self.name!r} has no signal {name!r}")


class BusinessLink(BaseModel):
    """A business KPI and the technical signals it rests on (``component.signal`` references)."""

    model_config = ConfigDict(extra="forbid")

    kpi: str = Field(description="``component.signal`` of the KPI, e.g. ``ctr.ctr``.")
    drivers: list[str] = Field(description="``component.signal`` references, most direct first.")
    objective: str | None = Field(default=None, description="e.g. 'CTR >= 8 % needs accuracy >= 75 %'.")


class Catalog(BaseModel):
    """A validated platform catalog with graph look-ups."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    components: list[Component]
    business_map: list[BusinessLink] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check_graph(self, info: ValidationInfo) -> Catalog:
        # parse_catalog defers these checks to report each problem at its own line.
        if not (info.context or {}).get("defer_graph_checks"):
            problems = self.graph_problems()
            if problems:
                raise ValueError("; ".join(msg for _, msg in problems))
        return self

    def graph_problems(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Cross-reference problems as (path in the document, message): names, edges, refs.

        Cycles in ``depends_on`` are not a problem (see :meth:`find_cycle`).
        """
        problems: list[tuple[tuple[str | int, ...], str]] = []
        names = [c.name for c in self.components]
        for i, comp in enumerate(self.components):
            if names.index(comp.name) != i:
                problems.append((("components", i, "name"), f"duplicate component name {comp.name!r}"))
            for j, dep in enumerate(comp.depends_on):
                if dep not in names:
                    msg = f"{comp.name!r} depends on unknown component {dep!r}"
                    problems.append((("components", i, "depends_on", j), msg))
            sig_names = [s.name for s in comp.signals]
            for k, sig in enumerate(comp.signals):
                if sig_names.index(sig.name) != k:
                    problems.append(
                        (("components", i, "signals", k, "name"), f"duplicate signal name {sig.name!r}")
                    )
        for i, link in enumerate(self.business_map):
            refs: list[tuple[tuple[str | int, ...], str]] = [(("business_map", i, "kpi"), link.kpi)]
            refs += [(("business_map", i, "drivers", j), ref) for j, ref in enumerate(link.drivers)]
            for path, ref in refs:
                try:
                    self.resolve(ref)
                except ValueError as exc:
                    problems.append((path, str(exc)))
        return problems

    def find_cycle(self) -> list[str] | None:
        """One ``depends_on`` cycle as ``[a, b, ..., a]``, or ``None`` when the graph is acyclic.

        Cycles are allowed (real call graphs have them: a frontend calls checkout, which calls the
        frontend's API back); every graph walk here terminates on them. ``catalog check`` reports one.
        """
        state: dict[str, int] = {}
        known = {c.name for c in self.components}

        def visit(name: str, path: list[str]) -> list[str] | None:
            if state.get(name) == 1:
                return [*path[path.index(name):], name]
            if state.get(name) == 2 or name not in known:
                return None
            state[name] = 1
            for dep in self.component(name).depends_on:
                found = visit(dep, [*path, name])
                if found:
                    return found
            state[name] = 2
            return None

        for comp in self.components:
            found = visit(comp.name, [])
            if found:
                return found
        return None

    def component(self, name: str) -> Component:
        """The component called ``name``; KeyError lists the known ones."""
        for comp in self.components:
            if comp.name == name:
                return comp
        raise KeyError(f"no component {name!r}; known: {', '.join(c.name for c in self.components)}")

    def resolve(self, ref: str) -> tuple[Component, Signal]:
        """Resolve a ``component.signal`` reference."""
        comp_name, _, sig_name = ref.partition(".")
        if not sig_name:
            raise ValueError(f"reference {ref!r} must be 'component.signal'")
        try:
            comp = self.component(comp_name)
            return comp, comp.signal(sig_name)
        except KeyError as exc:
            raise ValueError(f"unknown reference {ref!r}: {exc.args[0]}") from None

    def for_alert(self, labels: Mapping[str, str]) -> Component | None:
        """The component whose ``match`` labels all appear in the alert's labels (most specific wins)."""
        best: Component | None = None
        for comp in self.components:
            matches = bool(comp.match) and all(labels.get(k) == v for k, v in comp.match.items())
            if matches and (best is None or len(comp.match) > len(best.match)):
                best = comp
        return best

    def dependents(self, name: str) -> list[str]:
        """Components that depend directly on ``name`` (where its faults propagate to)."""
        return [c.name for c in self.components if name in c.depends_on]

    def neighbours(self, name: str, hops: int = 2) -> dict[str, int]:
        """Components within ``hops`` edges of ``name`` in either direction, with their distance."""
        seen = {name: 0}
        queue = deque([name])
        while queue:
            current = queue.popleft()
            if seen[current] >= hops:
                continue
            for nxt in [*self.component(current).depends_on, *self.dependents(current)]:
                if nxt not in seen:
                    seen[nxt] = seen[current] + 1
                    queue.append(nxt)
        seen.pop(name)
        return seen

    def upstream(self, name: str) -> set[str]:
        """Every component ``name`` transitively depends on (its possible causes), never itself.

        On a cycle (``a -> b -> a``) each is upstream of the other, and neither of itself.
        """
        out: set[str] = set()
        stack = list(self.component(name).depends_on)
        while stack:
            dep = stack.pop()
            if dep not in out:
                out.add(dep)
                stack.extend(self.component(dep).depends_on)
        out.discard(name)
        return out

    def is_upstream(self, cause: str, effect: str) -> bool:
        """Whether a fault in ``cause`` can propagate to ``effect`` along depends_on edges."""
        return cause in self.upstream(effect)


class _LineLoader(yaml.SafeLoader):
    """A YAML loader that records where each mapping key and sequence item starts."""


def _node_positions(text: str) -> dict[tuple[Any, ...], tuple[int, int]]:
    """Map a path of keys/indices to the (line, column) of its node, 1-based."""
    root = yaml.compose(text, Loader=_LineLoader)
    positions: dict[tuple[Any, ...], tuple[int, int]] = {}

    def walk(node: yaml.Node, path: tuple[Any, ...]) -> None:
        positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                walk(value, (*path, key.value))
                # A key's own line beats its value's (a value may start on the next line).
                positions[(*path, key.value)] = (key.start_mark.line + 1, key.start_mark.column + 1)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, (*path, i))

    if root is not None:
        walk(root, ())
    return positions


def parse_catalog(text: str, source: str = "<catalog>") -> Catalog:
    """Parse and validate catalog YAML; errors carry ``source:line:col``."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise CatalogError(f"{at}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise CatalogError(f"{source}:1:1: a catalog is a mapping with `components:`")
    positions = _node_positions(text)

    def where(loc: tuple[Any, ...]) -> str:
        while loc and loc not in positions:  # walk up to the nearest node with a position
            loc = loc[:-1]
        line, col = positions.get(loc, (1, 1))
        return f"{source}:{line}:{col}"

    try:
        catalog = Catalog.model_validate(data, context={"defer_graph_checks": True})
    except ValidationError as exc:
        raise CatalogError("\n".join(
            f"{where(tuple(e['loc']))}: {'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}"
            for e in exc.errors()
        )) from None
    problems = catalog.graph_problems()
    if problems:
        raise CatalogError("\n".join(
            f"{where(loc)}: {'.'.join(str(p) for p in loc)}: {msg}" for loc, msg in problems
        ))
    return catalog


def load_catalog(path: Path) -> Catalog:
    """Load and validate a catalog file (see :func:`parse_catalog`)."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read catalog: {exc.strerror}") from None
    return parse_catalog(text, str(path))
