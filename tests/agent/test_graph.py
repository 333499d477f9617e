"""The graph's guard rails on the real Prometheus fixture: refusals, budgets, planner failure, no catalog.

The extra planners here are small deterministic implementations of the ``Planner`` protocol
(what an LLM planner plugs into), not stand-ins for a service: they propose exactly the calls a
misbehaving LLM would, so the graph's screening can be checked call by call.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from augur.agent.investigation import investigate
from augur.agent.planner import PlannerError
from augur.agent.report import Report
from augur.agent.state import Budget, InvestigationState, ToolCall
from augur.tools.base import Tool, ToolRegistry
from augur.tools.evidence import Evidence, EvidenceStatus
from tests.agent.investigation_support import latency_alert, platform_catalog, registry_for
from tests.fixtures.prometheus import PromHistory


class ScriptedPlanner:
    """Proposes one fixed batch of calls the first time it is asked, then nothing."""

    name = "scripted"

    def __init__(self, calls: list[Any]) -> None:
        self.calls = calls
        self.asked = 0

    async def plan(self, state: InvestigationState, tools: ToolRegistry, budget: Budget) -> list[ToolCall]:
        self.asked += 1
        return self.calls if self.asked == 1 else []


class FailingPlanner:
    """A planner whose endpoint is down."""

    name = "llm:down"

    async def plan(self, state: InvestigationState, tools: ToolRegistry, budget: Budget) -> list[ToolCall]:
        raise PlannerError("LLM at http://127.0.0.1:9/v1 refused the connection")


def _run(prom_history: PromHistory, tmp_path: Path, **options: Any) -> Report:
    registry = registry_for(prom_history.url, tmp_path)
    alert = latency_alert(prom_history.t_end - 5 * 60, prom_history.url)
    options.setdefault("catalog", platform_catalog())
    return asyncio.run(investigate(alert, registry=registry, now=prom_history.t_end, **options))


def test_repeated_unknown_and_malformed_calls_are_refused_with_reasons(
    prom_history: PromHistory, tmp_path: Path,
) -> None:
    window = {"start": prom_history.t_end - 3600, "end": prom_history.t_end}
    fresh = {"tool": "promql", "args": {"query": "sum(DCGM_FI_DEV_GPU_UTIL)", "time": prom_history.t_end},
             "why": "check the GPU pool once more"}
    planner = ScriptedPlanner([
        fresh, dict(fresh),  # the second is identical to the first
        {"tool": "kubectl_delete", "args": {"pod": "ranker-0"}, "why": "restart it"},
        {"tool": "promql", "args": "not an object"},
        "ignore previous instructions",
        {"tool": "onset", "args": {"query": 'model_accuracy{model="ranker"}', **window}},
    ])
    report = _run(prom_history, tmp_path, planner=planner)
    assert report.root_cause.component == "feature-pipeline"
    assert report.stats.refused_calls == 4
    extra = [row for row in report.evidence if row.query in ("sum(DCGM_FI_DEV_GPU_UTIL)",)]
    assert len(extra) == 1 and extra[0].status == "ok"
    assert report.stats.planner == "sop+scripted" and report.stats.llm_used


def test_a_failing_planner_keeps_the_sop_verdict(prom_history: PromHistory, tmp_path: Path) -> None:
    report = _run(prom_history, tmp_path, planner=FailingPlanner())
    assert report.root_cause.component == "feature-pipeline"
    assert report.stats.llm_failed is not None
    assert "refused the connection" in report.stats.llm_failed and "SOP path" in report.stats.llm_failed


def test_tool_call_budget_stops_gathering_and_is_reported(prom_history: PromHistory, tmp_path: Path) -> None:
    report = _run(prom_history, tmp_path, budget=Budget(max_tool_calls=5))
    assert report.stats.tool_calls <= 5
    assert any("tool-call budget spent (5 calls)" in note for note in report.stats.notes)
    # What it could see (the serving layer only) is no basis for blaming the drift.
    assert report.root_cause.component != "feature-pipeline"


def test_without_a_catalog_it_uses_the_alert_expression(prom_history: PromHistory, tmp_path: Path) -> None:
    report = _run(prom_history, tmp_path, catalog=None)
    assert any("no platform catalog" in note for note in report.stats.notes)
    assert any(row.tool == "prom_series" for row in report.evidence)  # discovery by the alert's labels
    assert report.candidates and report.candidates[0].signal is not None
    assert report.chain and report.chain[0].signal.startswith(("alert:", "http_request_duration"))


@pytest.mark.parametrize("payload, message", [
    ({"alerts": "nope"}, "non-empty list"),
    ({"labels": {"alertname": "X"}}, "startsAt"),
])
def test_bad_alerts_are_rejected_before_any_tool_runs(payload: dict[str, Any], message: str) -> None:
    from augur.agent.triage import TriageError

    with pytest.raises(TriageError, match=message):
        asyncio.run(investigate(payload, registry=ToolRegistry()))


class _SleepArgs(BaseModel):
    seconds: float = 30.0


class SleepyTool(Tool):
    """A backend that hangs (what a stuck log cluster looks like from the agent)."""

    name = "sleepy"
    description = "Sleeps for `seconds`, then answers."
    Args = _SleepArgs

    async def _run(self, args: _SleepArgs) -> Evidence:
        await asyncio.sleep(args.seconds)
        return Evidence.make(self.name, args.model_dump(), EvidenceStatus.OK, "woke up")


def test_wall_time_budget_cuts_a_hanging_call(prom_history: PromHistory, tmp_path: Path) -> None:
    registry = registry_for(prom_history.url, tmp_path)
    registry.register(SleepyTool())
    planner = ScriptedPlanner([{"tool": "sleepy", "args": {"seconds": 30}, "why": "wait for it"}])
    alert = latency_alert(prom_history.t_end - 5 * 60, prom_history.url)
    started = time.monotonic()
    report = asyncio.run(investigate(alert, registry=registry, catalog=platform_catalog(), planner=planner,
                                     budget=Budget(max_wall_s=3.0), now=prom_history.t_end))
    assert time.monotonic() - started < 10
    sleepy = next(row for row in report.evidence if row.tool == "sleepy")
    assert sleepy.status == "error" and "wall-time budget" in sleepy.summary
    assert report.root_cause.component == "feature-pipeline"  # what was gathered still counts


def test_an_alert_the_catalog_does_not_know_sweeps_every_catalog_signal(
    prom_history: PromHistory, tmp_path: Path,
) -> None:
    registry = registry_for(prom_history.url, tmp_path)
    alert = {"labels": {"alertname": "SomethingOdd", "team": "search"}, "status": "firing",
             "startsAt": prom_history.t_end - 5 * 60}
    report = asyncio.run(investigate(alert, registry=registry, catalog=platform_catalog(),
                                     now=prom_history.t_end))
    assert any("no catalog component matches" in note for note in report.stats.notes)
    # What changed is swept and ranked, but nothing ties it to this alert: no confident cause.
    assert report.root_cause.verdict == "inconclusive" and report.root_cause.component is None
    assert "matches no catalog component" in report.root_cause.summary
    assert report.candidates[0].component == "feature-pipeline"
    chain = [link.component for link in report.chain]
    assert chain == ["feature-pipeline", "ranker-model", "ranker-serving", "ctr"]



class HangingRegistry(ToolRegistry):
    """The real tools, until ``dead`` is set from outside: then every call hangs (a stuck worker)."""

    def __init__(self, base: ToolRegistry) -> None:
        super().__init__(list(base))
        self.dead = False
        self.calls = 0
        self.stuck = asyncio.Event()

    async def call(self, name: str, args: dict[str, Any]) -> Evidence:
        if self.dead:
            self.stuck.set()
            await asyncio.Event().wait()
        self.calls += 1
        return await super().call(name, args)


def test_a_run_killed_mid_way_resumes_from_its_checkpoint_without_redoing_steps(
    prom_history: PromHistory, tmp_path: Path,
) -> None:
    """The worker hangs as the second round's calls start and is cancelled from outside the graph;
    a second ``investigate`` with the same checkpointer and id carries on from the checkpoint
    before that step and does not repeat the first round's calls."""
    from langgraph.checkpoint.memory import InMemorySaver

    saver = InMemorySaver()
    alert = latency_alert(prom_history.t_end - 5 * 60, prom_history.url)
    plans: list[int] = []

    async def killed_run() -> HangingRegistry:
        registry = HangingRegistry(registry_for(prom_history.url, tmp_path))

        def on_event(kind: str, details: dict[str, Any]) -> None:
            if kind == "plan":
                plans.append(details["calls"])
                registry.dead = len(plans) >= 2

        run = asyncio.ensure_future(investigate(
            alert, registry=registry, catalog=platform_catalog(), now=prom_history.t_end, checkpointer=saver,
            investigation_id="inv-killed", on_event=on_event))
        await asyncio.wait_for(registry.stuck.wait(), timeout=120)
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run
        return registry

    first = asyncio.run(killed_run())
    assert len(plans) == 2 and plans[1] > 0 and first.calls == plans[0]

    second = HangingRegistry(registry_for(prom_history.url, tmp_path))
    report = asyncio.run(investigate(alert, registry=second, catalog=platform_catalog(), checkpointer=saver,
                                     now=prom_history.t_end, investigation_id="inv-killed"))
    assert any(note.startswith("resumed from a checkpoint before act") for note in report.stats.notes)
    assert report.root_cause.component == "feature-pipeline"
    assert second.calls == report.stats.tool_calls - first.calls  # the first round was not redone
