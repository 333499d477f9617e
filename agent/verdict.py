"""Verdict rules: when the evidence cannot carry a named cause, the answer is ``inconclusive``.

:func:`augur.agent.diagnose.diagnose` ranks what changed; these rules look at what the ranking
cannot see — what was *not* learned — and lower the confidence to ``inconclusive`` when:

- **the evidence failed**: the onset (or drift) evidence of most examined signals is an error
  (typically a look-back that reaches before the data starts: no baseline to compare with) or
  found no series at all (a query that matches nothing is missing evidence, not "normal"), or
  the best candidate rests on log lines alone while metric evidence failed. A first ERROR line in
  a window whose metrics could not be read is not a root cause;
- **nothing ties the changes to the alert**: with a catalog, the alert matches no component (by
  labels, metrics or the question's words) and its own signal did not change, so whatever else is
  changing in the window is unrelated as far as the evidence shows. Naming it confidently (and
  proposing rules from it) would be a confident wrong answer.

An inconclusive report still lists the ranked candidates and says why it stopped short.
"""

from __future__ import annotations

from augur.agent.catalog import Catalog
from augur.agent.diagnose import INCONCLUSIVE_BELOW, Diagnosis
from augur.agent.state import InvestigationState
from augur.agent.triage import reads_alert_series
from augur.tools.evidence import Meaning, meaning_of

__all__ = ["MIN_COVERAGE", "apply_verdict_rules", "evidence_coverage"]

#: Below this share of examined signals with usable onset evidence the verdict is inconclusive.
MIN_COVERAGE = 0.5
#: Evidence of these meanings judges whether a signal changed (the rest only describes it).
_JUDGING = (Meaning.ONSET, Meaning.DRIFT)
_USABLE = ("ok", "empty")


def evidence_coverage(state: InvestigationState) -> tuple[int, list[str], str | None]:
    """(signals judged, signals whose every onset/drift call failed or found no data, the first reason)."""
    status: dict[str, list[str]] = {}
    reasons: dict[str, str] = {}
    evidence = state.get("evidence", {})
    for call in state.get("calls", []):
        ev = evidence.get(call["evidence_id"], {"tool": call["tool"]})
        if meaning_of(ev) not in _JUDGING or not call.get("signal"):
            continue
        state_of = str(ev.get("status", call.get("status", "error")))
        if state_of == "empty" and ev.get("data", {}).get("series") == []:
            state_of = "no series"  # nothing matched: missing evidence, not "no change"
        status.setdefault(str(call["signal"]), []).append(state_of)
        if state_of not in _USABLE:
            reasons.setdefault(str(call["signal"]), str(ev.get("reason") or ev.get("summary") or state_of))
    failed = [s for s, states in status.items() if not any(x in _USABLE for x in states)]
    return len(status), failed, reasons.get(failed[0]) if failed else None


def _lower(diagnosis: Diagnosis, why: str) -> Diagnosis:
    """The same ranking, inconclusive: confidences scaled so the best one is below the threshold."""
    top = diagnosis.top
    if top is not None and top.confidence >= INCONCLUSIVE_BELOW:
        factor = (INCONCLUSIVE_BELOW - 0.01) / top.confidence
        for cand in diagnosis.candidates:
            cand.confidence = round(cand.confidence * factor, 3)
    return Diagnosis(diagnosis.candidates, "inconclusive", why)


def _tied_to_alert(state: InvestigationState) -> bool:
    """Whether a changed finding is the alert's own signal or reads its metrics for the same target."""
    alert = state.get("alert", {})
    expr, labels = alert.get("expr"), alert.get("labels", {})
    for f in state.get("findings", []):
        if not f.get("anomalous"):
            continue
        if str(f["signal"]).startswith("alert:"):
            return True
        if reads_alert_series(expr, labels, str(f.get("query") or "")):
            return True
    return False


def _own_signal_unseen(state: InvestigationState) -> bool:
    """Whether the alert's own signal was queried and no call of it found any series."""
    evidence = state.get("evidence", {})
    seen = []
    for call in state.get("calls", []):
        if not str(call.get("signal") or "").startswith("alert:"):
            continue
        ev = evidence.get(call["evidence_id"], {})
        if meaning_of(ev) in _JUDGING:
            seen.append(not (ev.get("status") == "empty" and ev.get("data", {}).get("series") == []))
    return bool(seen) and not any(seen)


def apply_verdict_rules(
    diagnosis: Diagnosis, state: InvestigationState, catalog: Catalog | None
) -> Diagnosis:
    """``diagnosis``, or the same ranking made inconclusive by the rules in the module docstring."""
    judged, failed, reason = evidence_coverage(state)
    too_little = bool(judged) and (judged - len(failed)) / judged < MIN_COVERAGE
    why_failed = (f"the onset evidence of {len(failed)} of {judged} examined signals failed ({reason}): "
                  "too little was read to name a cause; widen the data or shorten the look-back")
    if diagnosis.top is None:
        # "Nothing changed" is only true of what could be read: say that most of it could not.
        return Diagnosis([], "inconclusive", why_failed) if too_little else diagnosis
    if too_little:
        # Also when the ranking alone was too weak: "confidence 0.24" hides that nothing was read.
        return _lower(diagnosis, why_failed)
    if diagnosis.verdict != "identified":
        return diagnosis
    top = diagnosis.top
    own = [f for f in state.get("findings", []) if f.get("anomalous")
           and str(f.get("component") or f["signal"]) == top.component]
    if failed and own and all(f.get("kind") == "log" for f in own):
        return _lower(diagnosis, f"{top.component} is named by its logs alone while the onset evidence of "
                                 f"{len(failed)} signals failed ({reason})")
    if catalog is not None and state.get("focus") is None and not _tied_to_alert(state):
        if state.get("question"):
            return _lower(diagnosis, "the question names no catalog component: what changed "
                                     f"({top.component}) is not tied to it; name what it is about")
        name = state.get("alert", {}).get("name", "the alert")
        own_signal = ("its own expression matched no series (check its labels against what Prometheus "
                      "has)" if _own_signal_unseen(state) else "its own signal did not change")
        return _lower(diagnosis, f"{name} matches no catalog component and {own_signal}: "
                                 f"what changed ({top.component}) is not tied to it by any evidence")
    return diagnosis
