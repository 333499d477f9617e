"""A discovered catalog before it is written: components with where each part came from.

:class:`Draft` is one component; :class:`DraftCatalog` holds them and renders the YAML a person
reviews (:meth:`DraftCatalog.to_yaml`), every component, edge and signal with a comment saying
where it came from. The YAML is the catalog: :func:`augur.agent.catalog.parse_catalog` reads it
back, so what is reviewed is exactly what the agent uses.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from augur.agent.catalog import Layer, Signal
from augur.agent.discovery.families import Owner, OwnerFamilies
from augur.agent.discovery.signals import SignalSpec

__all__ = ["LAYER_ORDER", "Draft", "DraftCatalog"]

LAYER_ORDER = (Layer.RESOURCE, Layer.DATA, Layer.MODEL, Layer.SERVICE, Layer.BUSINESS)
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_./-]*")
#: Whether the catalog schema lets a signal declare its fault type (a playbook key).
_DECLARES_FAULT_TYPE = "fault_type" in Signal.model_fields
_YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"}
#: What a component's ``errors`` log signal searches its lines for (an on-call engineer's first query).
ERROR_LOG_QUERY = "error OR exception OR failed OR fatal OR timeout OR refused OR unavailable"


def _scalar(value: str) -> str:
    """A YAML scalar for ``value``: plain when unambiguous, else a JSON (double-quoted) string."""
    if _PLAIN.fullmatch(value) and value.lower() not in _YAML_WORDS:
        return value
    return json.dumps(value)


def _comment(text: str) -> str:
    return " ".join(text.split())


@dataclass
class Draft:
    """One discovered component."""

    owner: Owner
    kind: str  # family kind of its first family (gpu, node, pods, http, ...)
    group: OwnerFamilies
    origins: list[str] = field(default_factory=list)
    signals: list[SignalSpec] = field(default_factory=list)
    depends_on: dict[str, str] = field(default_factory=dict)  # name -> why
    workloads: set[str] = field(default_factory=set)
    models: set[str] = field(default_factory=set)
    trace_service: str | None = None
    log_service: str | None = None  # its lines in the log store carry service=<this>

    @property
    def name(self) -> str:
        """The component's name."""
        return self.owner.name

    @property
    def layer(self) -> Layer:
        """The component's layer."""
        return self.owner.layer

    def depend(self, other: str, why: str) -> None:
        """Add ``other`` to ``depends_on`` (the first reason given is kept)."""
        if other != self.name:
            self.depends_on.setdefault(other, why)


@dataclass
class DraftCatalog:
    """The components, the header lines and what was left out."""

    url: str
    at: float
    window_s: float
    drafts: dict[str, Draft]
    sources: list[str] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)

    def ordered(self) -> list[Draft]:
        """Components from the bottom layer up, then by name."""
        return sorted(self.drafts.values(), key=lambda d: (LAYER_ORDER.index(d.layer), d.name))

    @property
    def edges(self) -> int:
        """Number of depends_on edges."""
        return sum(len(d.depends_on) for d in self.drafts.values())

    @property
    def signal_count(self) -> int:
        """Number of signals (trace and log signals included)."""
        return sum(len(d.signals) + (1 if d.trace_service else 0) + (1 if d.log_service else 0)
                   for d in self.drafts.values())

    def provenance(self) -> str:
        """``discovered from URL at TIME, N components, E depends_on edges``."""
        when = datetime.fromtimestamp(self.at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return (f"discovered from {self.url} at {when}, {len(self.drafts)} components, "
                f"{self.edges} depends_on edges")

    def to_yaml(self) -> str:
        """The catalog as commented YAML (see the module docstring)."""
        lines = [
            f"# Platform catalog {self.provenance()}",
            f"# (series seen in the {self.window_s / 60:g} minutes before), by `augur catalog discover`.",
            "# Review it: rename components, fix layers and depends_on, delete signals you do not need,",
            "# then `augur catalog check FILE` and set AUGUR_CATALOG_FILE (a hand-written catalog wins).",
        ]
        lines += [f"# Edges: {_comment(s)}" for s in self.sources]
        lines += [f"# Left out: {_comment(s)}" for s in self.left_out]
        lines += ["version: 1", "components:" if self.drafts else "components: []"]
        for draft in self.ordered():
            lines.append(f"  # {_comment('; '.join(dict.fromkeys(draft.origins)))}")
            lines.append(f"  - name: {_scalar(draft.name)}")
            lines.append(f"    layer: {draft.layer.value}")
            if draft.owner.match:
                pairs = ", ".join(f"{_scalar(k)}: {_scalar(v)}" for k, v in draft.owner.match)
                lines.append(f"    match: {{{pairs}}}")
            if draft.depends_on:
                lines.append("    depends_on:")
                for dep, why in sorted(draft.depends_on.items()):
                    lines.append(f"      - {_scalar(dep)}  # {_comment(why)}")
            signals = draft.signals
            if signals or draft.trace_service or draft.log_service:
                lines.append("    signals:")
            for sig in signals:
                lines.append(f"      - name: {_scalar(sig.name)}  # {_comment(sig.origin)}")
                lines.append(f"        query: {json.dumps(sig.query)}")
                if sig.unit:
                    lines.append(f"        unit: {_scalar(sig.unit)}")
                lines.append(f"        bad: {sig.bad}")
                if sig.fault_type and _DECLARES_FAULT_TYPE:
                    lines.append(f"        fault_type: {sig.fault_type}  # what the exporter's metric means")
            if draft.log_service:
                where = _comment(draft.log_service)
                lines.append(f"      - name: errors  # its lines in the log store (service={where}): "
                             "error templates new since the baseline")
                lines.append("        kind: log")
                lines.append(f"        log_query: {json.dumps(ERROR_LOG_QUERY)}")
            if draft.trace_service:
                lines.append("      - name: traces  # the service's spans: which hop of a request grew")
                lines.append("        kind: trace")
                lines.append(f"        trace_service: {_scalar(draft.trace_service)}")
        return "\n".join(lines) + "\n"
