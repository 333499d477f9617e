"""Scoring the Nezha cases: which alert belongs to which fault, and service-level AC@k.

This module and the baseline are the only readers of the fault lists (the truth). A fault's
alert is the first rule firing at or after its injection, within :data:`MAX_DELAY_S` and before
the next fault is injected; a fault with no such firing is scored as missed (the alert a user
wrote never told anyone). **AC@k** is whether the true root-cause service is among the first
``k`` distinct services a ranking names; an inconclusive report still ranks its candidates, but
AC@1 needs a verdict (as in :mod:`augur.evals.scoring`).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from augur.evals.nezha.alerting import Firing
from augur.evals.nezha.dataset import Fault

__all__ = ["KS", "MAX_DELAY_S", "NezhaCase", "ac_at", "funnel", "match_firings", "summarise"]

#: The longest an alert may take after the injection to count as that fault's alert.
MAX_DELAY_S = 300.0
KS = (1, 3, 5)


def match_firings(faults: Sequence[Fault], fired: Sequence[Firing],
                  max_delay_s: float = MAX_DELAY_S) -> list[tuple[Fault, Firing | None]]:
    """Each fault with its alert (see the module docstring), in the faults' order."""
    ordered = sorted(faults, key=lambda f: f.inject_time)
    out: list[tuple[Fault, Firing | None]] = []
    for i, fault in enumerate(ordered):
        limit = fault.inject_time + max_delay_s
        if i + 1 < len(ordered) and ordered[i + 1].day == fault.day:
            limit = min(limit, ordered[i + 1].inject_time)
        first = next((f for f in sorted(fired, key=lambda f: f.at) if fault.inject_time <= f.at < limit),
                     None)
        out.append((fault, first))
    return out


def ac_at(ranked: Sequence[str], truth: str, k: int, identified: bool = True) -> bool:
    """Whether ``truth`` is among the first ``k`` distinct names of ``ranked`` (k=1 needs a verdict)."""
    distinct = list(dict.fromkeys(ranked))
    if k == 1 and not identified:
        return False
    return truth in distinct[:k]


@dataclass
class NezhaCase:
    """One fault's outcome."""

    case_id: str
    day: str
    truth: str
    fault_type: str
    fired: bool
    alert: str | None = None
    alert_delay_s: float | None = None
    ranked: list[str] = field(default_factory=list)
    verdict: str = "missed"
    confidence: float | None = None
    seconds: float = 0.0
    tool_calls: int = 0
    error: str | None = None
    baselines: dict[str, list[str]] = field(default_factory=dict)
    top_reasons: list[str] = field(default_factory=list)

    def ac(self, k: int) -> bool:
        """AC@k of the agent (a fault whose alert never fired, or that errored, is a miss)."""
        return self.fired and self.error is None and ac_at(self.ranked, self.truth, k,
                                                             self.verdict == "identified")

    def baseline_ac(self, method: str, k: int) -> bool:
        """AC@k of a baseline's ranking."""
        return ac_at(self.baselines.get(method, []), self.truth, k)

    def as_dict(self) -> dict[str, Any]:
        """Plain data for ``--json``, with the AC@k flags."""
        return {**asdict(self), **{f"ac{k}": self.ac(k) for k in KS}}


def _rate(flags: Sequence[bool]) -> float | None:
    return round(sum(flags) / len(flags), 4) if flags else None


def _identified(ran: Sequence[NezhaCase]) -> dict[str, Any]:
    named = [c for c in ran if c.verdict == "identified"]
    right = sum(1 for c in named if ac_at(c.ranked, c.truth, 1))
    return {"cases": len(named), "right": right,
            "accuracy": round(right / len(named), 4) if named else None}


def funnel(cases: Sequence[NezhaCase]) -> dict[str, int]:
    """Where the faults are lost, stage by stage: each count is a subset of the one before.

    ``faults`` → ``alert_fired`` (the user's rule told someone) → ``cause_changed`` (the true
    service is among the report's candidates: one of its examined signals changed) →
    ``cause_first`` (it is the top candidate) → ``identified`` (and the verdict names it: AC@1).
    The first loss is the alert rule's, the second detection's, the third the ranking's, the last
    the verdict's confidence rule.
    """
    ran = [c for c in cases if c.fired and c.error is None]
    changed = [c for c in ran if c.truth in c.ranked]
    first = [c for c in changed if ac_at(c.ranked, c.truth, 1)]
    return {"faults": len(cases), "alert_fired": sum(c.fired for c in cases), "cause_changed": len(changed),
            "cause_first": len(first), "identified": sum(c.verdict == "identified" for c in first)}


def summarise(cases: Sequence[NezhaCase]) -> dict[str, Any]:
    """AC@1/3/5 over all faults and over those whose alert fired, per fault type and per day, time, baselines.

    ``ac1`` needs the verdict ``identified``; ``ranked_ac1`` scores the top candidate whatever the
    verdict; ``identified`` is how many reports named a cause and how many of those were right;
    ``funnel`` where the faults are lost (:func:`funnel`).
    """
    fired = [c for c in cases if c.fired]
    ran = [c for c in fired if c.error is None]
    out: dict[str, Any] = {
        "faults": len(cases), "alert_fired": len(fired), "errors": len(fired) - len(ran),
        **{f"ac{k}": _rate([c.ac(k) for c in cases]) for k in KS},
        "fired": {f"ac{k}": _rate([c.ac(k) for c in fired]) for k in KS},
        "inconclusive": sum(1 for c in ran if c.verdict != "identified"),
        # The ranking alone (the top candidate, whatever the verdict), and how often a named cause is right.
        "ranked_ac1": _rate([c.fired and c.error is None and ac_at(c.ranked, c.truth, 1) for c in cases]),
        "identified": _identified(ran),
        "funnel": funnel(cases),
        "median_seconds": round(statistics.median([c.seconds for c in ran]), 3) if ran else None,
        "median_tool_calls": statistics.median([c.tool_calls for c in ran]) if ran else None,
    }
    types: dict[str, list[NezhaCase]] = {}
    for c in cases:
        types.setdefault(c.fault_type, []).append(c)
    methods = sorted({m for c in cases for m in c.baselines})
    out["by_fault_type"] = {
        t: {"faults": len(cs), "alert_fired": sum(c.fired for c in cs),
            **{f"ac{k}": _rate([c.ac(k) for c in cs]) for k in KS},
            **{m: {f"ac{k}": _rate([c.baseline_ac(m, k) for c in cs]) for k in KS} for m in methods}}
        for t, cs in sorted(types.items())
    }
    days: dict[str, list[NezhaCase]] = {}
    for c in cases:
        days.setdefault(c.day, []).append(c)
    out["by_day"] = {
        d: {"faults": len(cs), "alert_fired": sum(c.fired for c in cs),
            **{f"ac{k}": _rate([c.ac(k) for c in cs]) for k in KS},
            "ranked_ac1": _rate([c.fired and c.error is None and ac_at(c.ranked, c.truth, 1) for c in cs]),
            "identified": _identified([c for c in cs if c.fired and c.error is None]),
            **{m: {f"ac{k}": _rate([c.baseline_ac(m, k) for c in cs]) for k in KS} for m in methods}}
        for d, cs in sorted(days.items())
    }
    out["baselines"] = {m: {f"ac{k}": _rate([c.baseline_ac(m, k) for c in cases]) for k in KS}
                        for m in methods}
    return out
