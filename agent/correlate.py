"""Correlate: the chain of anomalies across layers, ordered by onset along dependency edges.

A chain is a path ``a -> b -> c`` of signals that changed, where each step follows the catalog's
``depends_on`` edges from a dependency to its dependent (faults flow that way) and each effect's
onset comes after its cause's onset, within a lag window (with a small tolerance for the onset
estimates' error). Each component is represented by its earliest-changing signal. The longest
such chain wins (ties: the stronger one); its first link is the candidate cause and the rest are
symptoms. Ordering is by **onset**, never by alarm time: a loud symptom alarms first, a subtle
cause starts first.

Without a catalog there are no edges to follow: the chain is the changed signals in onset order,
and the report says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from augur.agent.catalog import Catalog
from augur.agent.numbers import fmt, fmt_signed, fmt_z, signal_label
from augur.agent.state import Finding

__all__ = ["Chain", "can_cause", "correlate", "describe_change", "hhmm", "representatives"]

#: How long a fault may take to show up downstream.
LAG_WINDOW_S = 3 * 3600.0
#: An effect may appear to start this much before its cause (onset estimates are not exact).
TOLERANCE_S = 120.0


def hhmm(ts: float | None) -> str:
    """UTC ``HH:MM`` of a Unix time (how the chain shows onsets); ``?`` when unknown."""
    if ts is None:
        return "?"
    return datetime.fromtimestamp(ts, UTC).strftime("%H:%M")


def describe_change(f: Finding) -> str:
    """How a signal moved, in the unit people read: ``PSI 0.462``, ``−7.2 pts``, ``×3.6``, ``−33 %``.

    Computed from the finding's ``before`` and ``after`` (one evidence record, see
    :mod:`augur.agent.findings`) and written with :mod:`augur.agent.numbers`: every place that
    shows the change shows this string.
    """
    before, after, unit = f.get("before"), f.get("after"), (f.get("unit") or "").lower()
    if unit in ("psi", "score", "ks", "wasserstein") or f.get("kind") == "drift":
        label = "PSI" if unit == "psi" else "drift"
        return f"{label} {fmt(after)}" if after is not None else f"{label} changed"
    if f.get("kind") == "registry":  # a model version went live: the versions, not a change in size
        return f"v{before:g} → v{after:g}" if before is not None and after is not None else "new version"
    if before is None or after is None:
        return fmt_z(f.get("z", f.get("magnitude")) or 0.0)
    if f.get("layer") == "business" and before:
        return f"{fmt_signed((after - before) / abs(before) * 100)} %"
    if unit == "ratio" and 0 <= before <= 1 and 0 <= after <= 1:
        return f"{fmt_signed((after - before) * 100, decimals=1)} pts"
    if before > 0 and after > 0 and (after / before >= 1.5 or after / before <= 0.67):
        ratio = after / before
        return f"×{ratio:.1f}" if ratio >= 1.5 else f"×{ratio:.2f}"
    if before:
        return f"{fmt_signed((after - before) / abs(before) * 100)} %"
    return f"{fmt(before)} → {fmt(after)}"


@dataclass
class Chain:
    """The correlation result: the chain (cause first), symptoms, and what fell outside it."""

    links: list[Finding]
    symptoms: list[Finding]  # changed signals downstream of the cause (on the chain or not)
    unexplained: list[Finding]  # changed signals neither on the chain nor downstream of its cause
    normal: list[Finding]  # examined and unchanged
    by_dependency: bool  # False when no catalog edges could be used

    @property
    def cause(self) -> Finding | None:
        """The chain's first link."""
        return self.links[0] if self.links else None

    def text(self) -> str:
        """``a.sig PSI 0.41 (02:10) → b.sig −6 pts (02:25) → ...``"""
        return " → ".join(
            f"{signal_label(f['signal'])} {describe_change(f)}"
            + (f" ({hhmm(f['onset'])})" if f.get("onset") else "")
            for f in self.links
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the state."""
        return {"links": self.links, "symptoms": self.symptoms, "unexplained": self.unexplained,
                "normal": self.normal, "by_dependency": self.by_dependency, "text": self.text()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Chain:
        """Rebuild from :meth:`to_dict` output."""
        return cls(data["links"], data["symptoms"], data["unexplained"], data["normal"],
                   data["by_dependency"])


def representatives(changed: list[Finding]) -> list[Finding]:
    """One finding per component: its earliest onset; no component: each finding.

    A catalog signal beats the alert's own expression (it has a name, a unit and a direction that
    is bad; the expression is often smoothed, which blurs its onset). Within the onset tolerance
    a metric beats a log or a trace, then the stronger change wins.
    """
    groups: dict[str, list[Finding]] = {}
    for f in changed:
        groups.setdefault(str(f.get("component") or f["signal"]), []).append(f)
    reps = []
    for group in groups.values():
        named = [f for f in group if not str(f["signal"]).startswith("alert:")]
        group = named or group  # the alert's expression only stands in when nothing else changed
        first = min(_order(f)[0] for f in group)
        close = [f for f in group if _order(f)[0] <= first + TOLERANCE_S]
        reps.append(min(close, key=lambda f: (str(f["signal"]).startswith("alert:"),
                                              f.get("kind") in ("log", "trace"),
                                              _order(f)[0], _order(f)[1])))
    return reps


def _order(f: Finding) -> tuple[float, float]:
    onset = f.get("onset")
    return (onset if onset is not None else float("inf"), -abs(f.get("magnitude") or 0.0))


def can_cause(catalog: Catalog | None, a: Finding, b: Finding) -> bool:
    """Whether ``a`` can be a cause of ``b``: dependency edge and onset order within the lag."""
    ca, cb = a.get("component"), b.get("component")
    if catalog is not None and ca and cb and (ca == cb or not catalog.is_upstream(ca, cb)):
        return False
    oa, ob = a.get("onset"), b.get("onset")
    if oa is None or ob is None:
        # Unknown onset (e.g. a two-window drift test): the dependency alone orders them.
        return catalog is not None and bool(ca and cb)
    return oa - TOLERANCE_S <= ob <= oa + LAG_WINDOW_S


def correlate(findings: list[Finding], catalog: Catalog | None) -> Chain:
    """Find the chain among ``findings`` (see the module docstring)."""
    changed = [f for f in findings if f.get("anomalous")]
    normal = [f for f in findings if not f.get("anomalous")]
    nodes = representatives(changed)
    by_dependency = catalog is not None and any(f.get("component") for f in nodes)
    # A topological order for the DP: with a catalog, by the number of transitive dependencies
    # (a dependency has strictly fewer than its dependents), so a cause whose onset estimate
    # lands a little after its effect's still comes first; without one, by onset.
    depth = {id(f): len(catalog.upstream(str(f["component"]))) if catalog and f.get("component") else 0
             for f in nodes}
    if by_dependency:
        nodes.sort(key=lambda f: (depth[id(f)], _order(f)))
    else:
        nodes.sort(key=_order)
    best_len: list[int] = []
    best_score: list[float] = []
    prev: list[int | None] = []
    for j, b in enumerate(nodes):
        length, score, back = 1, abs(b.get("magnitude") or 0.0), None
        for i in range(j):
            if can_cause(catalog if by_dependency else None, nodes[i], b):
                cand = (best_len[i] + 1, best_score[i] + abs(b.get("magnitude") or 0.0))
                if cand > (length, score):
                    length, score, back = cand[0], cand[1], i
        best_len.append(length)
        best_score.append(score)
        prev.append(back)
    links: list[Finding] = []
    if nodes:
        # Longest chain; on ties the earliest-starting one (a cause that starts first), then strength.
        end = max(range(len(nodes)), key=lambda j: (best_len[j], -_start(nodes, prev, j), best_score[j]))
        cursor: int | None = end
        while cursor is not None:
            links.append(nodes[cursor])
            cursor = prev[cursor]
        links.reverse()
    cause = links[0] if links else None
    symptoms: list[Finding] = []
    unexplained: list[Finding] = []
    for f in changed:
        if cause is None or f is cause:
            continue
        same = f.get("component") and f.get("component") == cause.get("component")
        downstream = (by_dependency and catalog is not None and f.get("component") and cause.get("component")
                      and catalog.is_upstream(str(cause["component"]), str(f["component"])))
        if f in links or same or downstream or (not by_dependency and _after(cause, f)):
            symptoms.append(f)
        else:
            unexplained.append(f)
    return Chain(links, symptoms, unexplained, normal, by_dependency)


def _start(nodes: list[Finding], prev: list[int | None], j: int) -> float:
    cursor: int | None = j
    first = j
    while cursor is not None:
        first = cursor
        cursor = prev[cursor]
    return _order(nodes[first])[0]


def _after(cause: Finding, f: Finding) -> bool:
    oc, of = cause.get("onset"), f.get("onset")
    return oc is not None and of is not None and of >= oc - TOLERANCE_S
