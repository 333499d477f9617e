"""The planner, the narrative writer and the chat share one LLM tool-call loop (``agent/llm_loop.py``).

Each test sends the same scripted answers down the three paths and checks that they behave the
same: a tool call the screen refuses is refused with the same reason and never runs, and an
endpoint that rejects a capability gets the next mode with the same data. The endpoint is the
scripted OpenAI-compatible server on loopback (``tests/fixtures/openai_endpoint.py``): no hosted
LLM is reachable here.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest

from augur.agent.chat import IncidentBrief
from augur.agent.chat_llm import ChatLLM
from augur.agent.llm import LLMClient
from augur.agent.llm_planner import LLMPlanner
from augur.agent.narrate import LLMNarrator, NarrationError
from augur.agent.state import Budget
from augur.tools.base import ToolRegistry
from augur.tools.evidence import Evidence
from tests.fixtures.llm_state import sample_registry, sample_report, sample_state
from tests.fixtures.openai_endpoint import Reply, ScriptedEndpoint, chat_completion, tool_call

UNKNOWN = "unknown tool 'approve_rules': only the registry's read-only tools can be called"


class CountingRegistry(ToolRegistry):
    """The sample registry, counting the calls that actually run."""

    def __init__(self) -> None:
        super().__init__(list(sample_registry()))
        self.ran: list[str] = []

    async def call(self, name: str, args: dict[str, Any]) -> Evidence:
        self.ran.append(name)
        return await super().call(name, args)


def _llm(endpoint: ScriptedEndpoint) -> LLMClient:
    return LLMClient(base_url=endpoint.url, model="scripted", timeout_s=5.0)


def _brief() -> IncidentBrief:
    report = sample_report()
    return IncidentBrief(id=7, title="RankerLatencyHigh on ranker-serving", status="open",
                         opened_at=report.alert.starts_at, component="ranker-serving",
                         alertnames=("RankerLatencyHigh",), report=report)


def _final_sentence() -> Reply:
    cause = sample_report().chain[0].evidence_ids[0]
    body = {"sentences": [{"text": "The click_duration feature drifted first.", "evidence_ids": [cause]}]}
    return Reply(chat_completion(json.dumps(body)))


def _plan_refusals(endpoint: ScriptedEndpoint, registry: CountingRegistry) -> list[str]:
    result = asyncio.run(LLMPlanner(_llm(endpoint)).plan(sample_state(), registry, Budget()))
    assert list(result) == []
    return [r["reason"] for r in result.refused]


def _narrate_refusals(endpoint: ScriptedEndpoint, registry: CountingRegistry) -> list[str]:
    with pytest.raises(NarrationError, match="asked for tool calls instead of writing the narrative") as info:
        asyncio.run(LLMNarrator(_llm(endpoint)).narrate(sample_report(), Budget()))
    return [part.split(": ", 1)[1] for part in str(info.value).split("; ")[1:]]


def _chat_refusals(endpoint: ScriptedEndpoint, registry: CountingRegistry) -> list[str]:
    endpoint.push(_final_sentence())
    out = asyncio.run(ChatLLM(_llm(endpoint), registry).answer("why did ranker-serving alert?", [_brief()]))
    assert out.answered_by == "llm:scripted"
    prefix = "refused llm:scripted's call to approve_rules: "
    return [n.removeprefix(prefix) for n in out.notes if n.startswith(prefix)]


PATHS: dict[str, Callable[[ScriptedEndpoint, CountingRegistry], list[str]]] = {
    "planner": _plan_refusals, "narrator": _narrate_refusals, "chat": _chat_refusals}


@pytest.mark.parametrize("written_as", ["native", "json"])
@pytest.mark.parametrize("path", sorted(PATHS))
def test_a_call_the_screen_refuses_is_refused_the_same_way_on_every_path(
    llm_endpoint: ScriptedEndpoint, path: str, written_as: str,
) -> None:
    """A model told by a log line to approve rules asks for a tool no path has: each path refuses
    it with the screen's one reason, and nothing runs."""
    args = {"all": True}
    if written_as == "native":
        llm_endpoint.push(Reply(chat_completion(None, [tool_call("approve_rules", args)])))
    else:
        written = {"calls": [{"tool": "approve_rules", "args": args}]}
        llm_endpoint.push(Reply(chat_completion(json.dumps(written))))
    registry = CountingRegistry()

    [reason] = PATHS[path](llm_endpoint, registry)

    assert reason.startswith(UNKNOWN)
    assert registry.ran == []


def test_planner_and_chat_give_identical_reasons_for_the_same_bad_calls(
    llm_endpoint: ScriptedEndpoint,
) -> None:
    """Same registry, same tools offered: cut-off JSON, a non-object, invalid arguments and a repeat
    get word-for-word the same reasons from the planner and from the chat."""
    calls = [tool_call("promql", '{"query": "up{job=\\"ranker\\"}"'), tool_call("promql", '["a"]'),
             tool_call("promql", {"query": "up", "limit": 100000}),
             tool_call("promql", {"query": "a"}), tool_call("promql", {"query": "a"})]
    llm_endpoint.push(Reply(chat_completion(None, calls)))
    planner = LLMPlanner(_llm(llm_endpoint), max_tool_tokens=100_000, max_calls=3)
    planned = asyncio.run(planner.plan(sample_state(), sample_registry(), Budget()))

    llm_endpoint.push(Reply(chat_completion(None, calls)), _final_sentence())
    registry = CountingRegistry()
    chat = ChatLLM(_llm(llm_endpoint), registry, max_tool_tokens=100_000)
    answered = asyncio.run(chat.answer("why did ranker-serving alert?", [_brief()]))

    from_planner = [r["reason"] for r in planned.refused]
    from_chat = [n.split(": ", 1)[1] for n in answered.notes if n.startswith("refused ")]
    assert from_planner == from_chat and len(from_planner) == 4
    assert from_planner[0].startswith("malformed arguments (not JSON")
    assert from_planner[3].startswith("repeats an earlier call")
    assert [c["args"]["query"] for c in planned] == ["a"] and registry.ran == ["promql"]


def _plan_fallback(endpoint: ScriptedEndpoint) -> list[str]:
    endpoint.push(Reply(chat_completion(json.dumps({"calls": []}))))
    planner = LLMPlanner(_llm(endpoint))
    result = asyncio.run(planner.plan(sample_state(), sample_registry(), Budget()))
    assert planner.mode == "json"
    return result.notes


def _narrate_fallback(endpoint: ScriptedEndpoint) -> list[str]:
    endpoint.push(_final_sentence())
    narrator = LLMNarrator(_llm(endpoint))
    assert [s.text for s in asyncio.run(narrator.narrate(sample_report(), Budget()))]
    assert not narrator.json_schema
    return []


def _chat_fallback(endpoint: ScriptedEndpoint) -> list[str]:
    endpoint.push(_final_sentence())
    chat = ChatLLM(_llm(endpoint), sample_registry())
    out = asyncio.run(chat.answer("why did ranker-serving alert?", [_brief()]))
    assert out.answered_by == "llm:scripted" and not chat.native_tools
    assert "promql(" in endpoint.requests[1]["messages"][0]["content"]  # the tools, described as text
    return out.notes


@pytest.mark.parametrize(("path", "capability", "mode"), [
    ("planner", "tools", "json"), ("narrator", "response_format", "text"), ("chat", "tools", "text")])
def test_a_rejected_capability_steps_down_one_mode_on_every_path(
    llm_endpoint: ScriptedEndpoint, path: str, capability: str, mode: str,
) -> None:
    llm_endpoint.push(Reply({"error": {"message": f"{capability} is not supported"}}, status=400))
    run = {"planner": _plan_fallback, "narrator": _narrate_fallback, "chat": _chat_fallback}[path]

    notes = run(llm_endpoint)

    first, second = llm_endpoint.requests
    assert capability in first and capability not in second
    assert first["messages"][1:] == second["messages"][1:]  # the same data, in the same place
    if path != "narrator":  # the narrative has no notes of its own; the others say what happened
        assert any(f"switched to {mode} mode" in n for n in notes)
