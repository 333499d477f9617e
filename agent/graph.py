"""The investigation graph: a LangGraph ``StateGraph`` from an alert to a grounded report.

::

    triage -> plan -> act -> observe -> plan ... (while a planner asks and budget is left)
                  \\-> correlate -> diagnose -> report

- **plan** asks the SOP planner for its next stage; when the SOP has nothing left and an LLM
  planner is configured, the LLM may propose more. Calls identical to earlier ones, to unknown
  tools, malformed, or past the budget are refused and recorded. If the LLM fails, times out
  or returns junk, the investigation continues on the SOP path and the report says why.
- **act** runs the planned calls concurrently through the :class:`ToolRegistry`;
  **observe** turns evidence into findings and open questions.
- **correlate**, **diagnose** and **report** are code (see their modules).

The state is plain data (:mod:`augur.agent.state`), so any LangGraph checkpointer can store it;
with a checkpointer and ``thread_id`` = the investigation id, a worker that dies mid-way is
resumed by another from the last completed step.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from augur.agent.assembly import assemble_report
from augur.agent.context import GraphContext
from augur.agent.correlate import Chain, correlate
from augur.agent.diagnose import diagnose
from augur.agent.findings import collect_findings
from augur.agent.llm_loop import MALFORMED_CALL, CallScreen, Proposal, Refused
from augur.agent.memory import remember, verdict_prior
from augur.agent.prompt import clip
from augur.agent.state import Budget, CallRecord, InvestigationState, ToolCall, call_key
from augur.agent.triage import focus_component
from augur.agent.verdict import apply_verdict_rules
from augur.tools.evidence import Evidence, EvidenceStatus, Meaning, meaning_of

__all__ = ["build_graph"]


def _screen(calls: list[Any], state: InvestigationState, ctx: GraphContext, budget: Budget,
            planner: str) -> tuple[list[ToolCall], list[dict[str, Any]]]:
    """Keep the well-formed, new, known calls within budget; refuse the others with a reason.

    The screen is the LLM paths' own (:class:`~augur.agent.llm_loop.CallScreen`), without argument
    validation: a planner's arguments are checked by the tool when it runs.
    """
    screen = CallScreen(ctx.registry, room=budget.calls_left, seen={c["key"] for c in state.get("calls", [])},
                        limit=f"over the tool-call budget ({budget.max_tool_calls})", validate=False)
    keep: list[ToolCall] = []
    refused: list[dict[str, Any]] = []
    for raw in calls:
        if not isinstance(raw, dict):
            refused.append(Refused(clip(repr(raw), 80), {}, "", MALFORMED_CALL).as_dict())
            continue
        verdict = screen.check(Proposal(raw.get("tool"), raw.get("args", {}), str(raw.get("why", ""))))
        if isinstance(verdict, Refused):
            refused.append(verdict.as_dict())
            continue
        keep.append(ToolCall(tool=verdict.tool, args=verdict.args, why=verdict.why,
                             component=raw.get("component"), signal=raw.get("signal"),
                             planner=str(raw.get("planner") or planner)))
    return keep, refused


async def _triage(state: InvestigationState, runtime: Runtime[GraphContext]) -> dict[str, Any]:
    ctx = runtime.context
    comp = focus_component(ctx.catalog, state["alert"], state.get("question"))
    notes = list(state.get("notes", []))
    if ctx.catalog is None:
        notes.append("no platform catalog: worked from the alert's expression and labels only")
    elif comp is None:
        notes.append("no catalog component matches the alert's labels or metrics")
    questions = []
    if comp is not None and any(s.kind == "trace" for s in comp.signals):
        # Dropped by observe once trace_search answers for it.
        questions.append(f"which hop of {comp.name} is slow: no trace backend has answered")
    ctx.emit("triage", component=comp.name if comp else None)
    return {"focus": comp.name if comp else None, "notes": notes, "open_questions": questions,
            "calls": state.get("calls", []), "evidence": state.get("evidence", {}), "refused": [],
            "rounds": 0, "llm_rounds": 0, "findings": []}


async def _plan(state: InvestigationState, runtime: Runtime[GraphContext]) -> dict[str, Any]:
    ctx = runtime.context
    budget = Budget.from_dict(state["budget"])
    notes = list(state.get("notes", []))
    spent = budget.exhausted()
    if spent or state.get("rounds", 0) >= budget.max_rounds:
        why = spent or f"round limit reached ({budget.max_rounds})"
        left = await ctx.sop.plan(state, ctx.registry, budget)
        if left:  # say so only when the procedure had more to look at
            notes.append(f"stopped gathering evidence: {why}; {len(left)} planned calls not made")
        return {"pending": [], "notes": notes}
    calls: list[Any] = list(await ctx.sop.plan(state, ctx.registry, budget))
    source = "sop"
    llm_rounds = state.get("llm_rounds", 0)
    llm_failed = state.get("llm_failed")
    extra: list[dict[str, Any]] = []  # what the LLM planner itself refused (PlanResult / LLMPlanError)
    if not calls and ctx.planner is not None and not llm_failed and llm_rounds < ctx.max_llm_rounds \
            and budget.tokens_left > 0:
        source = ctx.planner.name
        llm_rounds += 1
        try:
            proposed = await asyncio.wait_for(ctx.planner.plan(state, ctx.registry, budget),
                                              timeout=ctx.llm_timeout_s)
            if not isinstance(proposed, list):
                raise TypeError(f"planner returned {type(proposed).__name__}, not a list of calls")
            extra = list(getattr(proposed, "refused", []))
            notes += list(getattr(proposed, "notes", []))
            calls = [dict(c, planner=source) if isinstance(c, dict) else c for c in proposed]
        except Exception as exc:  # any LLM failure: finish on the SOP path
            extra = list(getattr(exc, "refused", []))
            notes += list(getattr(exc, "notes", []))
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            if isinstance(exc, TimeoutError):
                reason = f"timed out after {ctx.llm_timeout_s:g} s"
            llm_failed = f"LLM planner {ctx.planner.name} failed ({reason}); finished on the SOP path"
            notes.append(llm_failed)
            calls = []
    keep, refused = _screen(calls, state, ctx, budget, source)
    ctx.emit("plan", planner=source, calls=len(keep), refused=len(extra) + len(refused))
    return {"pending": keep, "refused": [*state.get("refused", []), *extra, *refused], "notes": notes,
            "llm_rounds": llm_rounds, "llm_failed": llm_failed, "budget": budget.to_dict()}


async def _act(state: InvestigationState, runtime: Runtime[GraphContext]) -> dict[str, Any]:
    ctx = runtime.context
    budget = Budget.from_dict(state["budget"])
    semaphore = asyncio.Semaphore(ctx.concurrency)

    wall_left = max(0.0, budget.wall_left())

    async def run(call: ToolCall) -> tuple[ToolCall, dict[str, Any], float, float]:
        started = time.time()
        t0 = time.perf_counter()
        try:
            async with semaphore:
                started = time.time()
                t0 = time.perf_counter()
                evidence = await ctx.registry.call(call["tool"], call["args"])
        except asyncio.CancelledError:  # the wall-time budget ran out while it waited or ran
            evidence = Evidence.make(
                call["tool"], call["args"], EvidenceStatus.ERROR,
                f"{call['tool']}: not finished within the investigation's wall-time budget",
                reason=f"the investigation may take {budget.max_wall_s:g} s: raise the budget or narrow "
                "the query", meaning=ctx.registry.meaning(call["tool"]))
        duration = time.perf_counter() - t0
        ctx.emit("call", tool=call["tool"], status=evidence.status.value, summary=evidence.summary,
                 why=call.get("why", ""))
        return call, evidence.model_dump(mode="json"), started, duration

    tasks = [asyncio.ensure_future(run(c)) for c in state.get("pending", [])]
    if tasks:
        _, late = await asyncio.wait(tasks, timeout=wall_left)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)
    results = [task.result() for task in tasks]
    evidence = dict(state.get("evidence", {}))
    calls = list(state.get("calls", []))
    for call, ev, started, duration in results:
        evidence[ev["id"]] = ev
        calls.append(CallRecord(
            key=call_key(call["tool"], call["args"]), tool=call["tool"], args=call["args"],
            why=call.get("why", ""), component=call.get("component"), signal=call.get("signal"),
            planner=call.get("planner", "sop"), evidence_id=ev["id"], status=ev["status"],
            started=started, duration_s=duration))
    budget.tool_calls += len(results)
    return {"evidence": evidence, "calls": calls, "pending": [], "budget": budget.to_dict()}


async def _observe(state: InvestigationState, runtime: Runtime[GraphContext]) -> dict[str, Any]:
    ctx = runtime.context
    findings = collect_findings(state, ctx.catalog)
    questions = [q for q in state.get("open_questions", []) if not q.startswith("could not read")]
    traced = {str(call.get("component")) for call in state.get("calls", [])
              if (ev := state["evidence"].get(call["evidence_id"], {})).get("status") in ("ok", "empty")
              and meaning_of(ev) is Meaning.TRACE_BLAME}
    questions = [q for q in questions if not any(q.startswith(f"which hop of {c} is slow") for c in traced)]
    for call in state.get("calls", []):
        ev = state["evidence"].get(call["evidence_id"], {})
        if ev.get("status") in ("error", "unavailable"):
            what = call.get("signal") or call["tool"]
            why = ev.get("reason") or ev.get("summary")
            questions.append(f"could not read {what} ({call['tool']}: {why})")
    ctx.emit("observe", findings=len(findings), changed=sum(1 for f in findings if f.get("anomalous")))
    return {"findings": findings, "open_questions": list(dict.fromkeys(questions)),
            "rounds": state.get("rounds", 0) + 1}


async def _correlate(state: InvestigationState, runtime: Runtime[GraphContext]) -> dict[str, Any]:
    ctx = runtime.context
    chain = correlate(state.get("findings", []), ctx.catalog)
    ctx.emit("correlate", chain=chain.text())
    return {"chain": chain.to_dict()}


async def _diagnose(state: InvestigationState, runtime: Runtime[GraphContext]) -> dict[str, Any]:
    ctx = runtime.context
    ranked = diagnose(Chain.from_dict(state["chain"]), ctx.catalog, prior=verdict_prior(state, ctx.memory))
    result = apply_verdict_rules(ranked, state, ctx.catalog)
    ctx.emit("diagnose", verdict=result.verdict, top=result.top.component if result.top else None)
    return {"candidates": [c.to_dict() for c in result.candidates],
            "verdict": {"verdict": result.verdict, "why": result.why}}


async def _report(state: InvestigationState, runtime: Runtime[GraphContext]) -> dict[str, Any]:
    ctx = runtime.context
    report = remember(await assemble_report(state, ctx), state, ctx.memory)
    ctx.emit("report", root_cause=report.root_cause.component, confidence=report.root_cause.confidence)
    return {"report": report.model_dump(mode="json"), "done": True}


def _after_plan(state: InvestigationState) -> str:
    return "act" if state.get("pending") else "correlate"


def _compile() -> Any:
    """The graph, compiled once per process; the context comes with each run."""
    graph = StateGraph(InvestigationState, context_schema=GraphContext)
    graph.add_node("triage", _triage)
    graph.add_node("plan", _plan)
    graph.add_node("act", _act)
    graph.add_node("observe", _observe)
    graph.add_node("correlate", _correlate)
    graph.add_node("diagnose", _diagnose)
    graph.add_node("report", _report)
    graph.add_edge(START, "triage")
    graph.add_edge("triage", "plan")
    graph.add_conditional_edges("plan", _after_plan, {"act": "act", "correlate": "correlate"})
    graph.add_edge("act", "observe")
    graph.add_edge("observe", "plan")
    graph.add_edge("correlate", "diagnose")
    graph.add_edge("diagnose", "report")
    graph.add_edge("report", END)
    return graph.compile()


_COMPILED: Any = None


def build_graph(checkpointer: Any = None) -> Any:
    """The compiled investigation graph, with ``checkpointer`` if given.

    Run it with ``graph.ainvoke(state, config, context=GraphContext(...))``: the nodes take their
    tools, catalog and planners from the run's context, so one compiled graph serves every run.
    """
    global _COMPILED
    if _COMPILED is None:
        _COMPILED = _compile()
    return _COMPILED if checkpointer is None else _COMPILED.copy(update={"checkpointer": checkpointer})
