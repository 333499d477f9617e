"""Scoring an investigation against a scenario's truth: AC@k, fault type, chain order, summary.

- **AC@1 / AC@3**: the true root-cause component is the first / among the first three distinct
  components the report ranks. AC@1 also needs a verdict (an inconclusive report names no cause).
  With no true cause (a benign case), a report is right when it is inconclusive or when its top
  component is not one of ``truth.not_blamed``. A top cause in ``not_blamed`` is always wrong.
- **Fault type**: strict — the report's ``root_cause.fault_type`` must equal the truth's
  (:class:`~augur.evals.scenario.FaultType`, which the classifier's vocabulary uses); no aliases.
- **Chain accuracy**: ordered-pair agreement between the truth chain and the report's chain, on
  components: of all pairs (a before b) in the truth, the share the report also has in that order.
  A one-link truth scores 1 when the report's chain contains it.

Figures computed only where they apply (chain and fault type need a true cause) are averaged over
the cases that have them.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from augur.evals.scenario import Scenario

__all__ = [
    "CaseScore",
    "chain_agreement",
    "ranked_components",
    "score",
    "score_ranking",
    "summarise",
]

@dataclass
class CaseScore:
    """One scenario's outcome."""

    name: str
    truth: dict[str, Any]
    ranked: list[str]
    verdict: str
    fault_type: str | None
    chain: list[str]
    ac1: bool
    ac3: bool
    fault_type_ok: bool | None
    chain_accuracy: float | None
    seconds: float
    tool_calls: int = 0
    tokens: int = 0
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    skipped: bool = False  # a variant whose alert no longer fires: reported, not scored

    @property
    def inconclusive(self) -> bool:
        """Whether the report named no cause."""
        return self.verdict != "identified"

    def as_dict(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        out = asdict(self)
        out["inconclusive"] = self.inconclusive
        return out


def ranked_components(report: Any) -> list[str]:
    """Distinct components in the report's ranking, best first (root cause, then candidates)."""
    out: list[str] = []
    top = report.root_cause.component if report.root_cause.verdict == "identified" else None
    for comp in [top, *(c.component for c in sorted(report.candidates, key=lambda c: c.rank))]:
        if comp and comp not in out:
            out.append(comp)
    return out


def chain_agreement(truth: Sequence[str], predicted: Sequence[str]) -> float:
    """Ordered-pair agreement of two component sequences (see the module docstring)."""
    if not truth:
        return 1.0
    if len(truth) == 1:
        return 1.0 if truth[0] in predicted else 0.0
    pos = {c: i for i, c in reversed(list(enumerate(predicted)))}  # first occurrence
    pairs = [(a, b) for i, a in enumerate(truth) for b in truth[i + 1:]]
    agree = sum(1 for a, b in pairs if a in pos and b in pos and pos[a] < pos[b])
    return agree / len(pairs)


def score_ranking(scenario: Scenario, ranked: Sequence[str], identified: bool = True) -> tuple[bool, bool]:
    """(AC@1, AC@3) of a ranking of components, by the rules in the module docstring."""
    truth = scenario.truth
    top = ranked[0] if ranked and identified else None
    blamed_wrongly = top is not None and top in truth.not_blamed
    if truth.root_cause is None:
        return not blamed_wrongly, not blamed_wrongly
    return top == truth.root_cause, truth.root_cause in ranked[:3] and not blamed_wrongly


def score(scenario: Scenario, report: Any, seconds: float) -> CaseScore:
    """Score one report (an :class:`augur.agent.report.Report`) against the scenario's truth."""
    truth = scenario.truth
    ranked = ranked_components(report)
    verdict = report.root_cause.verdict
    chain: list[str] = []
    for link in report.chain:
        comp = link.component or link.signal.split(".")[0]
        if comp not in chain:
            chain.append(comp)
    ac1, ac3 = score_ranking(scenario, ranked, verdict == "identified")
    fault_ok: bool | None = None
    chain_acc: float | None = None
    if truth.root_cause is not None:
        fault_ok = (verdict == "identified" and truth.fault_type is not None
                    and report.root_cause.fault_type == truth.fault_type.value)
        chain_acc = chain_agreement(scenario.chain_components(), chain)
    return CaseScore(
        name=scenario.name,
        truth=truth.model_dump(mode="json"),
        ranked=ranked,
        verdict=verdict,
        fault_type=report.root_cause.fault_type,
        chain=chain,
        ac1=ac1,
        ac3=ac3,
        fault_type_ok=fault_ok,
        chain_accuracy=chain_acc,
        seconds=seconds,
        tool_calls=report.stats.tool_calls,
        tokens=report.stats.llm_tokens,
    )


def _mean(values: Sequence[float]) -> float | None:
    return round(statistics.fmean(values), 4) if values else None


def summarise(cases: Sequence[CaseScore]) -> dict[str, Any]:
    """The suite's figures (``summary`` of ``augur eval --json``)."""
    skipped = [c for c in cases if c.skipped]
    cases = [c for c in cases if not c.skipped]
    ok = [c for c in cases if c.error is None]
    return {
        "scenarios": len(cases),
        "skipped": len(skipped),
        "errors": len(cases) - len(ok),
        "ac1": _mean([float(c.ac1) for c in cases]),
        "ac3": _mean([float(c.ac3) for c in cases]),
        "fault_type_accuracy": _mean([float(c.fault_type_ok) for c in cases if c.fault_type_ok is not None]),
        "chain_accuracy": _mean([c.chain_accuracy for c in cases if c.chain_accuracy is not None]),
        "inconclusive_rate": _mean([float(c.inconclusive) for c in ok]),
        "median_seconds": round(statistics.median([c.seconds for c in ok]), 3) if ok else None,
        "tool_calls": sum(c.tool_calls for c in ok),
        "tokens": sum(c.tokens for c in ok),
        **_baseline_summary(cases),
    }


def _baseline_summary(cases: Sequence[CaseScore]) -> dict[str, Any]:
    """AC@1/AC@3 of the external baselines, when the run included them (``extra["baselines"]``)."""
    methods = sorted({m for c in cases for m in c.extra.get("baselines", {})})
    if not methods:
        return {}
    out: dict[str, Any] = {}
    for m in methods:
        scored = [c.extra["baselines"][m] for c in cases if m in c.extra.get("baselines", {})]
        out[m] = {"ac1": _mean([float(s["ac1"]) for s in scored]),
                  "ac3": _mean([float(s["ac3"]) for s in scored]), "cases": len(scored)}
    return {"baselines": out}
