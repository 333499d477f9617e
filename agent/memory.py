"""Incident memory: similar past incidents, and the bounded ranking prior their verdicts give.

A past incident is what augur concluded then (its :class:`~augur.agent.report.IncidentProfile`:
changed components and signals, fault type, new log templates; the cause it named) and what a
person said about it (a verdict, the real cause when it was wrong, and the fix that was applied).
Nothing here stores anything: the caller passes the past incidents as a list of
:class:`PastIncident` (built from stored reports with :meth:`PastIncident.from_report`) to
:func:`augur.agent.investigation.investigate` as ``memory``.

**Similarity** is a weighted Jaccard over the four sets, in 0..1::

    sim = sum(w_k * |A_k & B_k| / |A_k | B_k|) / sum(w_k)      over the features compared

with :data:`WEIGHTS` components 0.35, signals 0.30, fault type 0.20, new log templates 0.15. A
feature empty on both sides (no new log template either time), or unknown on this side (the fault
type, before the diagnosis has named one), is not compared: its weight leaves the denominator,
and the explanation says so. The explanation gives every feature's weight, share and matched items.
Past incidents at least :data:`MIN_SIMILARITY` alike are listed on the report, most alike first;
where a listed incident's confirmed cause is not the one named here, an open question says so
(and whether that cause is a candidate at all), since the prior below only reorders close calls.

**Verdict priors.** Each judged past incident at least :data:`MIN_SIMILARITY` alike (compared
without the fault type, which is the candidate's own) votes, weighted by its similarity:

- *confirmed*: ``+sim`` for (its cause, its fault type);
- *wrong, it was X*: ``-sim`` for (the cause augur named, its fault type) and ``+sim`` for (X, the
  fault type the person gave, or any fault type when they gave none);
- *not actionable* and no verdict: nothing (not actionable says the alert should not have paged,
  not which cause was right).

A candidate's evidence score (0..1, :mod:`augur.agent.diagnose`) moves by :data:`PRIOR_STEP` times
its net vote (0.08 for one fully alike verdict), **bounded at ±** :data:`PRIOR_MAX` **(0.10)**: a
prior can swap two candidates whose evidence scores are within 2 × 0.10 = 0.20 of each other, and
never one that leads by more (diagnose's confidence reads a 0.3 lead as a clear one). The
candidate's "why ranked" reasons say by how much and which past incidents moved it. The scores
are ranked and the confidence computed after the prior, so a prior on a borderline top candidate
can also move its confidence across the inconclusive threshold, by at most that much.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field, model_validator

from augur.agent.redact import redact_model
from augur.agent.report import IncidentProfile, PastVerdict, Report, SimilarIncident
from augur.agent.state import InvestigationState
from augur.tools.results import LogTemplatesResult, result_of

if TYPE_CHECKING:
    from augur.agent.diagnose import ScoredCandidate

__all__ = [
    "MIN_SIMILARITY",
    "PRIOR_MAX",
    "PRIOR_STEP",
    "WEIGHTS",
    "PastIncident",
    "Similarity",
    "VerdictPrior",
    "profile_of",
    "recall",
    "remember",
    "similarity",
    "verdict_prior",
]

#: The weight of each feature in the similarity (they sum to 1).
WEIGHTS = {"components": 0.35, "signals": 0.30, "fault_type": 0.20, "templates": 0.15}
#: Past incidents less alike than this are neither listed nor counted in a prior.
MIN_SIMILARITY = 0.3
#: How many similar past incidents a report lists.
MAX_LISTED = 5
#: Score points one fully alike judged incident adds (or takes away).
PRIOR_STEP = 0.08
#: The most a prior moves a candidate's 0..1 score, either way.
PRIOR_MAX = 0.10

_LABELS = {"components": "components", "signals": "signals", "fault_type": "fault type",
           "templates": "new log templates"}


class PastIncident(BaseModel):
    """One past incident as memory sees it: its profile, the cause augur named, and its verdict."""

    id: str
    title: str
    at: datetime
    components: list[str] = Field(default_factory=list)
    signals: list[str] = Field(default_factory=list)
    fault_type: str | None = Field(default=None, description="The fault type of the cause augur named.")
    templates: list[str] = Field(default_factory=list, description="Log templates new in it.")
    root_cause: str | None = Field(default=None, description="The component augur named (None: none named).")
    verdict: PastVerdict = "none"
    real_cause: str | None = Field(default=None, description="With ``wrong``: the component it really was.")
    real_fault_type: str | None = Field(default=None, description="With ``wrong``: the real fault type.")
    fix: str | None = Field(default=None, description="What fixed it, as recorded.")

    @model_validator(mode="after")
    def _real_cause_only_when_wrong(self) -> PastIncident:
        if self.verdict != "wrong" and (self.real_cause or self.real_fault_type):
            raise ValueError(f"incident {self.id}: a real cause goes with verdict 'wrong', "
                             f"not '{self.verdict}'")
        return self

    @property
    def profile(self) -> IncidentProfile:
        """The features similarity compares."""
        return IncidentProfile(components=self.components, signals=self.signals, fault_type=self.fault_type,
                               templates=self.templates)

    @property
    def cause(self) -> tuple[str | None, str | None]:
        """(component, fault type) a person confirmed; (None, None) when nobody did."""
        if self.verdict == "confirmed":
            return self.root_cause, self.fault_type
        if self.verdict == "wrong" and self.real_cause:
            # The person named the component; a fault type they did not give is unknown, and
            # the one augur named (for another component, or judged wrong) is not carried over.
            return self.real_cause, self.real_fault_type
        return None, None

    @classmethod
    def from_report(cls, report: Report, *, id: str, verdict: PastVerdict = "none",
                    real_cause: str | None = None, real_fault_type: str | None = None,
                    fix: str | None = None, title: str | None = None) -> PastIncident:
        """A past incident from its stored report and what a person said about it."""
        profile = report.profile or IncidentProfile(
            components=list(dict.fromkeys(str(c.component) for c in report.chain if c.component)),
            signals=list(dict.fromkeys(c.signal for c in report.chain)))
        rc = report.root_cause
        named = rc.component if rc.verdict == "identified" else None
        return cls(id=id, title=title or report.title, at=report.alert.starts_at,
                   components=profile.components, signals=profile.signals,
                   fault_type=rc.fault_type if named else None, templates=profile.templates,
                   root_cause=named, verdict=verdict, real_cause=real_cause,
                   real_fault_type=real_fault_type, fix=fix)


@dataclass(frozen=True)
class FeatureMatch:
    """One feature's term of a similarity: its weight, what both share, and the union's size."""

    feature: str
    weight: float
    matched: tuple[str, ...]
    union: int

    @property
    def share(self) -> float:
        """Jaccard index of the two sets."""
        return len(self.matched) / self.union if self.union else 0.0


@dataclass(frozen=True)
class Similarity:
    """A similarity with its terms, and the features that were not compared."""

    score: float
    terms: tuple[FeatureMatch, ...]
    skipped: tuple[str, ...]

    def explain(self) -> str:
        """``components 2/3 × 0.35 (a, b); ...; templates not compared (...)``."""
        parts = []
        for t in self.terms:
            items = f" ({', '.join(t.matched)})" if t.matched else ""
            parts.append(f"{_LABELS[t.feature]} {len(t.matched)}/{t.union} × {t.weight:.2f}{items}")
        parts += [f"{_LABELS[f]} not compared" for f in self.skipped]
        return "; ".join(parts)


def _template_key(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().lower())


def _sets(p: IncidentProfile) -> dict[str, set[str]]:
    return {"components": set(p.components), "signals": set(p.signals),
            "fault_type": {p.fault_type} if p.fault_type and p.fault_type != "unknown" else set(),
            "templates": {_template_key(t) for t in p.templates}}


def similarity(current: IncidentProfile, past: IncidentProfile) -> Similarity:
    """Weighted Jaccard of two profiles (see the module docstring)."""
    a, b = _sets(current), _sets(past)
    terms, skipped = [], []
    for feature, weight in WEIGHTS.items():
        if not a[feature] and (feature == "fault_type" or not b[feature]):
            skipped.append(feature)
            continue
        union = a[feature] | b[feature]
        terms.append(FeatureMatch(feature, weight, tuple(sorted(a[feature] & b[feature])), len(union)))
    total = sum(t.weight for t in terms)
    score = sum(t.weight * t.share for t in terms) / total if total else 0.0
    return Similarity(round(score, 4), tuple(terms), tuple(skipped))


def recall(current: IncidentProfile, memory: Sequence[PastIncident],
           min_similarity: float = MIN_SIMILARITY) -> list[tuple[PastIncident, Similarity]]:
    """Past incidents at least ``min_similarity`` alike, most alike first (then the most recent)."""
    scored = [(p, similarity(current, p.profile)) for p in memory]
    kept = [(p, s) for p, s in scored if s.score >= min_similarity]
    kept.sort(key=lambda ps: (-ps[1].score, -ps[0].at.timestamp(), ps[0].id))
    return kept


def _new_templates(state: InvestigationState) -> list[str]:
    """Log templates the log search found new in this incident (absent from the baseline)."""
    evidence = state.get("evidence", {})
    out: list[str] = []
    for call in state.get("calls", []):
        match result_of(evidence.get(call["evidence_id"], {})):
            case LogTemplatesResult(templates=templates):
                out += [t.template for t in templates if t.new and t.template is not None]
    return list(dict.fromkeys(out))


def profile_of(state: InvestigationState, fault_type: str | None = None) -> IncidentProfile:
    """The current investigation's profile, from its findings and log evidence."""
    changed = [f for f in state.get("findings", []) if f.get("anomalous")]
    return IncidentProfile(
        components=sorted({str(f.get("component") or f["signal"]) for f in changed}),
        signals=sorted({str(f["signal"]) for f in changed}),
        fault_type=fault_type if fault_type and fault_type != "unknown" else None,
        templates=_new_templates(state))


@dataclass(frozen=True)
class _Vote:
    incident: str
    similarity: float
    sign: int
    what: str  # "confirmed in", "judged wrong in", "named the real cause in"


def _matches(component: str, fault_type: str, cause: str | None, cause_type: str | None) -> bool:
    return cause == component and (cause_type is None or cause_type == fault_type)


class VerdictPrior:
    """The bounded nudge past verdicts give the candidates (the ``prior`` hook of ``diagnose``)."""

    def __init__(self, weighed: Sequence[tuple[PastIncident, Similarity]]) -> None:
        self.weighed = [(p, s) for p, s in weighed if p.verdict in ("confirmed", "wrong")]

    def votes(self, component: str, fault_type: str) -> list[_Vote]:
        """What the judged past incidents say about (component, fault type)."""
        out = []
        for past, sim in self.weighed:
            named = _matches(component, fault_type, past.root_cause, past.fault_type)
            if past.verdict == "confirmed" and named:
                out.append(_Vote(past.id, sim.score, +1, "confirmed in"))
            if past.verdict == "wrong":
                if named:
                    real = f", it was {past.real_cause}" if past.real_cause else ""
                    out.append(_Vote(past.id, sim.score, -1, f"judged wrong{real} in"))
                real_cause, real_type = past.cause
                if real_cause and _matches(component, fault_type, real_cause, real_type):
                    out.append(_Vote(past.id, sim.score, +1,
                                     f"named the real cause instead of {past.root_cause} in"))
        return out

    def delta(self, votes: Sequence[_Vote]) -> float:
        """The score change the votes give, bounded at ±PRIOR_MAX."""
        net = sum(v.sign * v.similarity for v in votes)
        return max(-PRIOR_MAX, min(PRIOR_MAX, PRIOR_STEP * net))

    def __call__(self, candidates: list[ScoredCandidate]) -> None:
        """Move each candidate's score by its prior and say why in its reasons."""
        for cand in candidates:
            votes = self.votes(cand.component, cand.fault_type)
            if not votes:
                continue
            delta = self.delta(votes)
            cand.score = round(max(0.0, min(1.0, cand.score + delta)), 4)
            cand.parts["prior"] = round(delta, 4)
            cited = "; ".join(f"{v.what} {v.incident} (similarity {v.similarity:.2f})" for v in votes)
            moved = f"{delta:+.2f}" if round(delta, 2) else "±0.00, they cancel out"
            cand.reasons.append(f"past verdicts {moved} (a prior, bounded at ±{PRIOR_MAX:.2f}): {cited}")


def verdict_prior(state: InvestigationState, memory: Sequence[PastIncident]) -> VerdictPrior | None:
    """The prior for this investigation's candidates, or None when no judged past incident is alike."""
    if not any(p.verdict in ("confirmed", "wrong") for p in memory):
        return None
    prior = VerdictPrior(recall(profile_of(state), memory))
    return prior if prior.weighed else None


def _listed(past: PastIncident, sim: Similarity) -> SimilarIncident:
    cause, cause_type = past.cause
    return SimilarIncident(
        id=past.id, title=past.title, at=past.at, similarity=min(1.0, sim.score), why=sim.explain(),
        matched={t.feature: list(t.matched) for t in sim.terms if t.matched}, verdict=past.verdict,
        named_cause=past.root_cause, cause=cause, fault_type=cause_type, fix=past.fix)


def _disagreements(report: Report, listed: Sequence[SimilarIncident]) -> list[str]:
    """Open questions where a similar past incident's confirmed cause is not the one named here.

    The prior only reorders close candidates; a cause that is far behind, or not a candidate at all
    (its signals did not change, or were not examined), is left for the reader to check.
    """
    rc = report.root_cause
    named = rc.component if rc.verdict == "identified" else None
    candidates = {c.component for c in report.candidates}
    out, seen = [], set()
    for s in listed:
        if not s.cause or s.cause == named or s.cause in seen:
            continue
        seen.add(s.cause)
        kind = f" ({s.fault_type.replace('_', ' ')})" if s.fault_type else ""
        here = ("a candidate here, ranked lower" if s.cause in candidates
                else "not among the changed components here: check whether its signals were examined")
        out.append(f"{s.id} (similarity {s.similarity:.2f}) was caused by {s.cause}{kind}, "
                   f"not {named or 'an identified cause'}: {here}")
    return out


def remember(report: Report, state: InvestigationState, memory: Sequence[PastIncident]) -> Report:
    """``report`` with its profile, the similar past incidents, and open questions where a similar
    incident's confirmed cause differs from the one named here (redacted, like the rest of it)."""
    rc = report.root_cause
    report.profile = profile_of(state, rc.fault_type if rc.verdict == "identified" else None)
    alike = recall(report.profile, memory)
    report.similar_incidents = [_listed(p, s) for p, s in alike[:MAX_LISTED]]
    report.open_questions += _disagreements(report, report.similar_incidents)
    if memory:
        report.stats.notes.append(f"incident memory: {len(memory)} past incidents compared, {len(alike)} "
                                  f"at least {MIN_SIMILARITY:.1f} alike")
    return redact_model(report)
