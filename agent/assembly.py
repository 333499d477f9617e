"""Assembly of the :class:`~augur.agent.report.Report` from a finished investigation's state.

The verdict fields come from correlate and diagnose; the narrative is written by code from the
chain (each sentence citing the evidence of the signals it names), or by an LLM narrative writer
when one is configured — and in both cases passes :func:`augur.agent.grounding.ground`, which
drops sentences that cite nothing or carry numbers found in no cited evidence. Fixes come from
the playbook; an LLM writer's extra fixes are appended only when grounded
(:func:`augur.agent.narrate.grounded_fixes`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from augur.agent.actions import propose_actions
from augur.agent.correlate import Chain, describe_change, hhmm
from augur.agent.grounding import ground
from augur.agent.narrate import grounded_fixes
from augur.agent.numbers import fmt, fmt_z, signal_label
from augur.agent.playbook import fault_type, fixes_for
from augur.agent.redact import redact_model
from augur.agent.report import (
    AlertSummary,
    Candidate,
    ChainLink,
    CheckedNormal,
    EvidenceRow,
    Fix,
    Report,
    RootCause,
    RunStats,
    Sentence,
    Unexamined,
)
from augur.agent.state import Budget, Finding, InvestigationState
from augur.tools.evidence import meaning_of
from augur.tools.results import DriftResult, LevelsResult, OnsetData, result_of

if TYPE_CHECKING:
    from augur.agent.context import GraphContext

__all__ = ["assemble_report", "backend_busy_s", "code_narrative", "evidence_row", "unexamined_signals"]


def _dt(ts: float | None) -> datetime:
    return datetime.fromtimestamp(ts or 0.0, UTC)


def backend_busy_s(calls: Sequence[Mapping[str, Any]]) -> float:
    """Seconds during which at least one backend call was running (the union of call intervals)."""
    spans = sorted((c["started"], c["started"] + c["duration_s"]) for c in calls)
    total, cur_start, cur_end = 0.0, None, None
    for start, end in spans:
        if cur_end is None or start > cur_end:
            if cur_end is not None and cur_start is not None:
                total += cur_end - cur_start
            cur_start, cur_end = start, end
        else:
            cur_end = max(cur_end, end)
    if cur_end is not None and cur_start is not None:
        total += cur_end - cur_start
    return total


def evidence_row(ev: dict[str, Any]) -> EvidenceRow:
    """One evidence table row: the headline value the report relies on, read by the result's type."""
    value = ""
    match result_of(ev):
        case LevelsResult(series=[top, *_]) as levels:
            cut = levels.baseline_end
            split = f" {hhmm(cut)} UTC" if cut is not None else ""
            value = (f"median {fmt(top.baseline_median)} before{split}, "
                     f"{fmt(top.recent_median)} after ({fmt_z(top.deviation)})")
        case OnsetData() as onset:
            rec = onset.strongest()
            if rec and rec.found and rec.onset:
                level = (f": {fmt(rec.before)} → {fmt(rec.after)}"
                         if rec.before is not None and rec.after is not None else "")
                value = f"onset {hhmm(rec.onset)} UTC{level} ({fmt_z(rec.magnitude_z or 0.0)})"
            else:
                value = "no change"
        case DriftResult() as drift if "value" in drift.model_fields_set:
            value = f"{drift.method or 'drift'} {fmt(drift.value)}"
            value += " (drifted)" if drift.drifted else ""
    if not value:
        value = ev.get("status", "")
    args = ev.get("args", {})
    return EvidenceRow(id=ev["id"], tool=ev["tool"], meaning=meaning_of(ev), status=ev["status"],
                       query=args.get("query") or args.get("match"), value=value,
                       summary=str(ev.get("summary", ""))[:300], link=ev.get("source_url"))


def _signal_of(call: Mapping[str, Any]) -> str:
    """What a call looked at: its catalog signal, else its query (or match), else its tool."""
    args = call.get("args", {})
    return str(call.get("signal") or args.get("query") or args.get("match") or call["tool"])


def unexamined_signals(state: InvestigationState) -> list[Unexamined]:
    """The signals none of whose calls got an answer (every call ``unavailable`` or ``error``).

    A call with no catalog signal counts under its query (or tool). A signal one call answered
    is examined, even if another call about it failed.
    """
    evidence = state.get("evidence", {})
    groups: dict[str, list[Any]] = {}
    for call in state.get("calls", []):
        groups.setdefault(_signal_of(call), []).append(call)
    out: list[Unexamined] = []
    for signal, calls in groups.items():
        statuses = [str(evidence.get(c["evidence_id"], {}).get("status", c.get("status"))) for c in calls]
        if not calls or any(s in ("ok", "empty") for s in statuses):
            continue
        failed = [(c, s) for c, s in zip(calls, statuses, strict=True) if s in ("unavailable", "error")]
        if not failed:
            continue
        call, status = next(((c, s) for c, s in failed if s == "unavailable"), failed[0])
        ev = evidence.get(call["evidence_id"], {})
        reason = str(ev.get("reason") or ev.get("summary") or status)[:300]
        out.append(Unexamined(component=call.get("component"), signal=signal, tool=call["tool"],
                              status="unavailable" if status == "unavailable" else "error", reason=reason,
                              retryable=all(bool(evidence.get(c["evidence_id"], {}).get("retryable"))
                                            for c, _ in failed),
                              evidence_ids=[c["evidence_id"] for c, _ in failed]))
    return out


def _ids(f: Finding) -> list[str]:
    """The finding's evidence ids, the one its figures were computed from first."""
    ids = list(f.get("evidence_ids", []))
    source = f.get("source_id")
    return [source, *(i for i in ids if i != source)] if source in ids else ids


def code_narrative(chain: Chain, verdict: str, alert_name: str) -> list[Sentence]:
    """The narrative written by code: each sentence names signals and cites their evidence."""
    out: list[Sentence] = []
    if chain.links and verdict == "identified":
        cause = chain.links[0]
        when = f" from {hhmm(cause['onset'])} UTC" if cause.get("onset") else ""
        name = signal_label(cause["signal"])
        out.append(Sentence(text=f"{name} changed first ({describe_change(cause)}{when}), "
                                 f"before any of the symptoms behind {alert_name}.",
                            evidence_ids=_ids(cause)))
        for link in chain.links[1:]:
            when = f" from {hhmm(link['onset'])} UTC" if link.get("onset") else ""
            name = signal_label(link["signal"])
            out.append(Sentence(text=f"Then {name} moved ({describe_change(link)}{when}).",
                                evidence_ids=_ids(link)))
        if chain.by_dependency and len(chain.links) > 1:
            path = " → ".join(str(f.get("component") or f["signal"]) for f in chain.links)
            out.append(Sentence(text=f"The order follows the catalog's dependencies ({path}): each effect "
                                     "started after its cause, so the later changes are symptoms.",
                                evidence_ids=[i for f in chain.links for i in _ids(f)]))
    elif chain.links:
        out.append(Sentence(text="Signals changed, but the evidence does not single out a cause; see the "
                                 "candidates and open questions.",
                            evidence_ids=[i for f in chain.links for i in _ids(f)]))
    for f in chain.unexplained:
        out.append(Sentence(text=f"{signal_label(f['signal'])} also changed but is not downstream of the "
                                 "first link; "
                                 "it is an open question.", evidence_ids=_ids(f)))
    for f in chain.normal:
        out.append(Sentence(text=f"{signal_label(f['signal'])} was checked and did not change: "
                                 "not part of this incident.",
                            evidence_ids=_ids(f)))
    return out


async def assemble_report(state: InvestigationState, ctx: GraphContext) -> Report:
    """Build the report from the state (and let the narrative writer, if any, explain it)."""
    chain = Chain.from_dict(state["chain"])
    verdict = state.get("verdict", {"verdict": "inconclusive", "why": ""})
    budget = Budget.from_dict(state["budget"])
    alert = state["alert"]
    evidence = state.get("evidence", {})
    candidates = [Candidate(rank=i + 1, component=c["component"], signal=c["signal"], layer=c["layer"],
                            fault_type=c["fault_type"], score=c["score"], confidence=c["confidence"],
                            onset=_dt(c["onset"]) if c.get("onset") else None, reasons=c["reasons"],
                            evidence_ids=c["evidence_ids"])
                  for i, c in enumerate(state.get("candidates", []))]
    top = candidates[0] if candidates else None
    identified = verdict["verdict"] == "identified" and top is not None
    root = RootCause(
        verdict="identified" if identified else "inconclusive",
        component=top.component if identified and top else None,
        signal=top.signal if identified and top else None,
        fault_type=top.fault_type if identified and top else "unknown",
        confidence=top.confidence if top else 0.0,
        summary=(f"{top.component}: {top.fault_type.replace('_', ' ')} (confidence {top.confidence:.2f})"
                 if identified and top else f"inconclusive: {verdict['why']}"),
        evidence_ids=top.evidence_ids if identified and top else [],
    )
    cause_id = id(chain.links[0]) if chain.links else None
    links = [ChainLink(component=f.get("component"), signal=f["signal"], layer=f.get("layer"),
                       onset=_dt(f["onset"]), change=describe_change(f), before=f.get("before"),
                       after=f.get("after"), unit=f.get("unit"), source_id=f.get("source_id"),
                       strength=float(f.get("z", f.get("magnitude")) or 0.0),
                       role="cause" if id(f) == cause_id and identified else "symptom", evidence_ids=_ids(f))
             for f in chain.links if f.get("onset") is not None]
    symptoms_kinds = [fault_type(f) for f in chain.symptoms]
    fixes = fixes_for(root.fault_type, root.evidence_ids, symptoms=symptoms_kinds) if identified else (
        fixes_for("unknown", [i for f in chain.links for i in _ids(f)]))
    sentences = code_narrative(chain, root.verdict, alert.get("name", "the alert"))
    notes = list(state.get("notes", []))
    llm_failed = state.get("llm_failed")
    impact = [Sentence(text=f"{signal_label(f['signal'])} moved {describe_change(f)}"
                            + (f" from {hhmm(f['onset'])} UTC." if f.get("onset") else "."),
                       evidence_ids=_ids(f))
              for f in [*chain.links, *chain.symptoms] if f.get("layer") == "business"]
    impact = list({s.text: s for s in impact}.values())
    calls = state.get("calls", [])
    unexamined = unexamined_signals(state)
    why = str(verdict.get("why", ""))
    names = ", ".join(u.signal for u in unexamined[:5]) + (" ..." if len(unexamined) > 5 else "")
    not_examined = f". {len(unexamined)} signal(s) could not be examined ({names})." if unexamined else ""
    if not identified and unexamined:
        examined = len({_signal_of(c) for c in calls}) - len(unexamined)
        why = (f"{len(unexamined)} signal(s) could not be examined ({names}: {unexamined[0].reason})"
               + (f"; of the {examined} examined, {why}" if examined > 0 and why else
                  "; nothing could be examined, so nothing is known to be normal" if examined <= 0 else ""))
        root.summary = f"inconclusive: {why}"
    stats = RunStats(
        planner="sop" if ctx.planner is None else f"sop+{ctx.planner.name}",
        llm_used=any(c["planner"] != "sop" for c in calls) or ctx.writer is not None,
        llm_failed=llm_failed, tool_calls=len(calls), refused_calls=len(state.get("refused", [])),
        rounds=state.get("rounds", 0), wall_s=round(time.time() - budget.started_at, 3),
        backend_s=round(backend_busy_s(calls), 3), llm_tokens=budget.llm_tokens, notes=notes,
    )
    report = Report(
        investigation_id=state["investigation_id"],
        title=f"{alert.get('name', 'alert')}: " + (root.summary if identified else "cause inconclusive"),
        generated_at=datetime.now(UTC),
        alert=AlertSummary(name=alert.get("name", "alert"), labels=alert.get("labels", {}),
                           starts_at=_dt(alert["starts_at"]), expr=alert.get("expr"),
                           question=state.get("question")),
        window_start=_dt(state["window"]["start"]), window_end=_dt(state["window"]["end"]),
        summary=(f"Root cause: {root.summary}. Chain: {chain.text()}{not_examined}"
                 if identified else f"Inconclusive: {why}."),
        impact=impact, root_cause=root, candidates=candidates, chain=links, chain_text=chain.text(),
        symptoms=[f["signal"] for f in chain.symptoms], fixes=fixes,
        evidence=[evidence_row(ev) for ev in evidence.values()],
        checked_normal=[CheckedNormal(component=f.get("component"), signal=f["signal"],
                                      note="no change in the window", evidence_ids=_ids(f))
                        for f in chain.normal],
        unexamined=unexamined,
        open_questions=list(state.get("open_questions", []))
        + [f"{f['signal']} changed but is not explained by the chain" for f in chain.unexplained],
        stats=stats,
    )
    proposed: list[Fix] = []  # fixes the LLM writer proposed; kept only when grounded
    if ctx.writer is not None and not llm_failed:
        try:
            written = await asyncio.wait_for(ctx.writer.narrate(report, budget), timeout=ctx.llm_timeout_s)
            if not isinstance(written, list) or not all(isinstance(s, Sentence) for s in written):
                raise TypeError("narrative writer returned something other than a list of Sentence")
            sentences = written
            proposed = list(getattr(written, "fixes", []))
        except Exception as exc:
            reason = "timed out" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"
            report.stats.llm_failed = f"LLM narrative writer failed ({reason}); the narrative is the SOP's"
            report.stats.notes.append(report.stats.llm_failed)
        report.stats.llm_tokens = budget.llm_tokens
    kept, dropped = ground(sentences, evidence)
    report.narrative = kept
    report.dropped_sentences = [Sentence(text=f"{d.text} [dropped: {d.reason}]", evidence_ids=d.evidence_ids)
                                for d in dropped]
    if proposed:  # after the playbook's fixes, never instead of them
        extra, refused = grounded_fixes(proposed, report, evidence)
        report.fixes += extra
        report.stats.notes += [f"LLM fix dropped: {why}" for why in refused]
    report.actions = propose_actions(root, evidence, alert.get("labels"))
    # Secrets in log lines, labels or annotations never reach a report (nor what is made from it).
    return redact_model(report)
