"""Diagnose: ranked root-cause candidates with a score and a confidence computed from evidence.

Every component with a changed signal is a candidate. Its score adds up what the evidence
shows, each in 0..1:

- **precedence** (weight 0.45): the mean of two shares: how much of the other changed
  components' change it explains, and how much of its own change no changed dependency
  explains. A change explains one downstream of it (catalog edges) fully when it clearly
  started first (more than the onset tolerance earlier); when their onsets tie at
  the data's resolution (one-minute telemetry puts a cause and its symptoms in the same minute),
  only by the ratio of its strength to theirs: a weak change does not explain a stronger one
  beside it. A lone changed component gets half.
- **first on the chain** (weight 0): it is the chain's first link. Kept as a part for the reasons
  and the report, but it adds nothing: on one-minute data a cause and its symptoms tie in onset
  and the chain's head among them is an accident of the call graph's order, while precedence
  already credits a change that clearly came first (0.10 until 2026-12-03; chosen on Nezha's
  2022-08-22 faults, see evals/README.md).
- **strength** (0.35): how far it moved (noise-aware robust z, see
  :func:`augur.agent.findings.noise_aware_strength`) on a log scale, relative to the strongest
  change in this investigation (``log1p(z) / log1p(z_max)``): real telemetry has many changed
  services at once, and it is how much more one moved than the others that tells.
- **corroboration** (0.20): the distinct layers among its changed downstream components, logs
  of its own that changed, a hop of its traces that grew slower, and up to two more of its own
  signals that changed (CPU and latency moving together), out of three.

A candidate explained by a changed dependency (by the same rule, the other way round) is a
symptom: its score is cut by up to 40 % as much as that dependency explains it. So a service
whose own signals moved most, while what it depends on moved less or not at all, is not ranked
below a weaker change upstream of it just because the call graph puts that one first.

Trace evidence that a caller's requests wait on this component while the caller's own time did
not grow (a finding's ``waited_by``) is an edge too: the caller counts as downstream of it
whatever the catalog says, and the caller is marked down as its symptom. A component whose spans
were in the slow requests and did not slow down (a trace finding's ``clears``) is marked down too,
and its change explains nothing downstream: the requests did not wait on it, so a caller whose
own span time grew is not its symptom, however much earlier its metrics moved.

Confidence is the top score shrunk when the runner-up is close, when the chain has a single link
(unless everything the candidate depends on was checked and found normal), or when onsets are
missing. Below :data:`INCONCLUSIVE_BELOW` the verdict is ``inconclusive``,
which is better than a confident wrong answer.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

from augur.agent.catalog import Catalog
from augur.agent.correlate import TOLERANCE_S, Chain, can_cause, representatives
from augur.agent.numbers import fmt_z
from augur.agent.playbook import classify
from augur.agent.registry_findings import registry_reasons
from augur.agent.state import Finding

__all__ = ["INCONCLUSIVE_BELOW", "Diagnosis", "ScoredCandidate", "diagnose"]

INCONCLUSIVE_BELOW = 0.35
MAX_CONFIDENCE = 0.95
WEIGHTS = {"precedence": 0.45, "first": 0.0, "strength": 0.35, "corroboration": 0.20}
#: A symptom's score is cut by up to this share, as much as a changed dependency explains it.
SYMPTOM_CUT = 0.4
#: Own changed signals beyond the first that count as corroboration (at most).
OWN_SIGNALS = 2


@dataclass
class ScoredCandidate:
    """A candidate root cause with its score, confidence and reasons."""

    component: str
    signal: str
    layer: str | None
    fault_type: str
    onset: float | None
    score: float
    confidence: float = 0.0
    parts: dict[str, float] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    evidence_ids: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the state."""
        return dict(self.__dict__)


@dataclass
class Diagnosis:
    """Ranked candidates and the verdict."""

    candidates: list[ScoredCandidate]
    verdict: str  # "identified" or "inconclusive"
    why: str

    @property
    def top(self) -> ScoredCandidate | None:
        """The best candidate, if any."""
        return self.candidates[0] if self.candidates else None


def _names(catalog: Catalog) -> set[str]:
    return {c.name for c in catalog.components}


def _key(f: Finding) -> str:
    return str(f.get("component") or f["signal"])


def _dependents(changed: list[Finding], key: str, catalog: Catalog | None) -> list[Finding]:
    """The changed signals of the components that depend on ``key`` (whatever their onsets)."""
    if catalog is None or key not in _names(catalog):
        return []
    return [f for f in changed if f.get("component") and f["component"] != key
            and catalog.is_upstream(key, str(f["component"]))]


def _explains(catalog: Catalog | None, cause: Finding, effect: Finding, strength: dict[str, float],
              waited: set[tuple[str, str]], cleared: AbstractSet[str] = frozenset()) -> float:
    """How much of ``effect``'s change ``cause``'s change explains, 0..1 (see the module docstring).

    Traces showing ``effect`` waiting on ``cause`` (``waited``: callee, caller) explain it fully;
    traces showing that ``cause``'s part of the slow requests did not slow down (``cleared``)
    explain nothing: its change is not what its callers' requests waited on.
    """
    if (_key(cause), _key(effect)) in waited:
        return 1.0
    if _key(cause) in cleared:
        return 0.0
    if not can_cause(catalog, cause, effect):
        return 0.0
    oc, oe = cause.get("onset"), effect.get("onset")
    if oc is None or oe is None or oe - oc > TOLERANCE_S:
        return 1.0
    se, sc = strength[_key(effect)], strength[_key(cause)]
    return 1.0 if se <= 0 else min(1.0, sc / se)


def diagnose(chain: Chain, catalog: Catalog | None,
             prior: Callable[[list[ScoredCandidate]], None] | None = None) -> Diagnosis:
    """Rank the changed components as root causes (see the module docstring).

    ``prior`` may move the evidence scores before they are ranked, and says why in the reasons
    (past verdicts: :class:`augur.agent.memory.VerdictPrior`, bounded).
    """
    changed = [f for f in [*chain.links, *chain.symptoms, *chain.unexplained]]
    per_component: dict[str, list[Finding]] = {}
    for f in changed:
        per_component.setdefault(_key(f), []).append(f)
    if not per_component:
        return Diagnosis([], "inconclusive", "no examined signal changed in the window")
    reps = {_key(f): f for f in representatives(changed)}
    head = _key(chain.links[0]) if chain.links else None
    others_n = max(1, len(reps) - 1)
    normal = {str(f["component"]) for f in chain.normal if f.get("component")}
    waited = {(_key(f), str(f["waited_by"])) for f in changed if f.get("waited_by")}  # (callee, caller)
    traced = {_key(f) for f in changed if f.get("kind") == "trace"}
    cleared = {c for f in changed for c in f.get("clears", [])} - traced
    scored: list[ScoredCandidate] = []
    power = {key: max(abs(f.get("magnitude") or 0.0) for f in per_component[key]) for key in reps}
    strongest = max(max(power.values()), 1.0)
    for key, rep in reps.items():
        explained = {k: _explains(catalog, rep, o, power, waited, cleared)
                     for k, o in reps.items() if k != key}
        downstream = [reps[k] for k, share in explained.items() if share > 0]
        explained_by = {k: _explains(catalog, o, rep, power, waited, cleared)
                        for k, o in reps.items() if k != key}
        earlier_upstream = [k for k, share in explained_by.items() if share > 0]
        # Alone: nothing to explain, nothing to be explained by; half the precedence.
        unexplained = 1.0 - max(explained_by.values(), default=0.0)
        share = sum(explained.values()) / others_n
        precedence = (share + unexplained) / 2 if len(reps) > 1 else 0.5
        strength = math.log1p(power[key]) / math.log1p(strongest)
        layers = {o.get("layer") for o in downstream if o.get("layer")}
        own = len({str(f["signal"]) for f in per_component[key] if f.get("kind") == "metric"})
        logs = any(f.get("kind") == "log" for f in per_component[key])
        slow_hops = [f for f in per_component[key] if f.get("kind") == "trace"]
        corroboration = min(1.0, (len(layers) + (1 if logs else 0) + (1 if slow_hops else 0)
                                  + min(OWN_SIGNALS, max(0, own - 1))) / 3.0)
        parts = {"precedence": precedence, "first": 1.0 if key == head else 0.0,
                 "strength": strength, "corroboration": corroboration}
        score = sum(WEIGHTS[p] * v for p, v in parts.items())
        reasons = []
        if rep.get("onset") is not None:
            reasons.append(f"changed first among {len(downstream) + 1} linked components"
                           if downstream and not earlier_upstream else "its onset is on the chain")
        if downstream:
            reasons.append("explains " + ", ".join(_key(o) for o in downstream))
        waits_on = [k for k in earlier_upstream if (k, key) in waited]
        if waits_on:
            reasons.append("its traces wait on " + ", ".join(waits_on) + " and its own time did not grow")
        if earlier_upstream:
            reasons.append("a dependency changed before it: " + ", ".join(earlier_upstream))
            score *= 1.0 - SYMPTOM_CUT * max(explained_by.values())  # a symptom of something upstream
        reasons.append(f"strength {fmt_z(abs(rep.get('z', rep.get('magnitude')) or 0.0))}")
        if key in cleared:
            reasons.append("its spans in the slow requests did not slow down")
            score *= 0.6  # traces say where the requests' time went, and it was not here
        if logs:
            reasons.append("its logs changed too")
        reasons += registry_reasons(per_component[key])
        callers = sorted({caller for callee, caller in waited if callee == key and caller != key})
        if callers:
            reasons.append("the traces of " + ", ".join(callers) + " wait on it")
        for f in slow_hops:
            hop = str(f.get("query") or "").removeprefix("slow hop: ")
            reasons.append(f"its traces show a slower hop: {hop} {f.get('before') or 0:.0f} ms → "
                           f"{f.get('after') or 0:.0f} ms")
        upstream = catalog.upstream(key) if catalog is not None and key in _names(catalog) else set()
        if upstream and upstream <= normal:
            reasons.append("everything it depends on was checked and is normal")
        ids = [i for f in per_component[key] for i in f.get("evidence_ids", [])]
        scored.append(ScoredCandidate(
            component=key, signal=rep["signal"], layer=rep.get("layer"),
            fault_type=classify(per_component[key], _dependents(changed, key, catalog) or downstream),
            onset=rep.get("onset"), score=round(score, 4), parts=parts, reasons=reasons,
            evidence_ids=list(dict.fromkeys(ids)),
        ))
    if prior is not None:
        prior(scored)
    scored.sort(key=lambda c: (-c.score, c.onset if c.onset is not None else float("inf")))
    top = scored[0]
    runner = scored[1].score if len(scored) > 1 else 0.0
    margin = min(1.0, (top.score - runner) / 0.3) if len(scored) > 1 else 0.5
    # Statistics never make a verdict certain: confidence tops out at MAX_CONFIDENCE.
    confidence = MAX_CONFIDENCE * top.score * (0.6 + 0.4 * margin)
    if len(chain.links) < 2 and "everything it depends on was checked and is normal" not in top.reasons:
        confidence *= 0.7  # a lone change that its dependencies do not rule in or out
    if top.onset is None:
        confidence *= 0.8
    if not chain.by_dependency:
        confidence *= 0.8
    for cand in scored:
        cand.confidence = round(min(1.0, cand.score * (confidence / top.score if top.score else 0)), 3)
    top.confidence = round(min(1.0, confidence), 3)
    if top.confidence < INCONCLUSIVE_BELOW:
        return Diagnosis(scored, "inconclusive",
                         f"the best candidate ({top.component}) has confidence {top.confidence:.2f}, "
                         f"below {INCONCLUSIVE_BELOW}")
    return Diagnosis(scored, "identified", f"{top.component} changed first on a chain of {len(chain.links)}")
