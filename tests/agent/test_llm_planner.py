"""The LLM planner through the real ``openai`` client against a scripted endpoint on loopback.

No hosted LLM is reachable here: each test scripts the answers of an OpenAI-compatible HTTP
server (FastAPI under uvicorn on 127.0.0.1, ``tests/fixtures/openai_endpoint.py``) and runs the
official client against it, so requests and answers cross a real HTTP connection. Covered: native
tool calling, the JSON-schema mode (tool picked from an enum), the fall-back from a server that
rejects tools, a malformed tool call, an unknown tool, invalid and repeated arguments, a timeout,
junk answers, and the token budget. ``test_llm_live.py`` runs against a real endpoint when
``AUGUR_TEST_LLM_BASE_URL`` is set.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from augur.agent.llm import LLMClient, estimate_tokens
from augur.agent.llm_planner import LLMPlanError, LLMPlanner, PlanResult
from augur.agent.planner import Planner, PlannerError
from augur.agent.prompt import state_digest
from augur.agent.state import Budget
from tests.fixtures.llm_state import ALERT_AT, sample_registry, sample_state
from tests.fixtures.openai_endpoint import Reply, ScriptedEndpoint, chat_completion, tool_call

UPSTREAM = 'max(feature_freshness_seconds{pipeline="feature-pipeline"}) by (source)'


def _planner(endpoint: ScriptedEndpoint, *, timeout_s: float = 5.0, **kwargs: Any) -> LLMPlanner:
    llm = LLMClient(base_url=endpoint.url, model="scripted-model", api_key="sk-test-key-0123456789abcdef",
                    timeout_s=timeout_s)
    return LLMPlanner(llm, **kwargs)


def _plan(planner: LLMPlanner, budget: Budget | None = None, **state_kwargs: Any) -> PlanResult:
    return asyncio.run(planner.plan(sample_state(**state_kwargs), sample_registry(), budget or Budget()))


def test_native_tool_calling_returns_validated_registry_calls(llm_endpoint: ScriptedEndpoint) -> None:
    llm_endpoint.push(Reply(chat_completion(
        "Check whether the feature sources went stale before the drift.",
        [tool_call("promql_range", {"query": UPSTREAM, "start": "2026-11-24T01:00:00Z",
                                    "end": "2026-11-24T03:00:00Z"})],
        usage=(1834, 61),
    )))
    planner = _planner(llm_endpoint)
    assert isinstance(planner, Planner)
    budget = Budget()
    calls = _plan(planner, budget)

    assert [c["tool"] for c in calls] == ["promql_range"]
    call = calls[0]
    assert call["planner"] == "llm"
    assert call["args"]["query"] == UPSTREAM
    assert call["args"]["top_k"] == 5  # canonical: defaults filled in, as the tool would record them
    assert "stale" in call["why"]
    assert calls.refused == []
    assert calls.tokens == 1895 and budget.llm_tokens == 1895
    assert planner.llm.usage.total_tokens == 1895

    sent = llm_endpoint.requests[0]
    offered = [t["function"]["name"] for t in sent["tools"]]
    assert "promql_range" in offered and set(offered) <= set(sample_registry().names())
    assert estimate_tokens(sent["tools"]) <= planner.max_tool_tokens
    assert "title" not in json.dumps(sent["tools"])  # compacted schemas
    assert "response_format" not in sent
    system, user = sent["messages"]
    assert system["role"] == "system"
    assert "RankerLatencyHigh" not in system["content"] and "ev-" not in system["content"]  # no telemetry
    assert user["content"].startswith("<data>\n") and user["content"].endswith("\n</data>")
    assert llm_endpoint.headers[0]["authorization"] == "Bearer sk-test-key-0123456789abcdef"


def test_json_schema_mode_picks_tools_from_an_enum(llm_endpoint: ScriptedEndpoint) -> None:
    plan = {"calls": [{"tool": "promql", "args": {"query": "sum(model_info) by (model_version)"},
                       "why": "was a new model version deployed?"}]}
    llm_endpoint.push(Reply(chat_completion(json.dumps(plan))))
    calls = _plan(_planner(llm_endpoint, mode="json"))

    assert [(c["tool"], c["args"]["query"], c["why"]) for c in calls] == [
        ("promql", "sum(model_info) by (model_version)", "was a new model version deployed?")]
    sent = llm_endpoint.requests[0]
    assert "tools" not in sent
    schema = sent["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["calls"]["items"]["properties"]["tool"]["enum"] == sample_registry().names()
    assert "promql_range(query: string" in sent["messages"][0]["content"]  # signatures listed for the model


def test_auto_mode_falls_back_to_json_then_text_on_servers_without_support(
    llm_endpoint: ScriptedEndpoint,
) -> None:
    llm_endpoint.push(
        Reply({"error": {"message": "tools are not supported by this server"}}, status=400),
        Reply({"error": {"message": "response_format json_schema is not supported"}}, status=400),
        Reply(chat_completion('Sure.\n```json\n{"calls": [{"tool": "prom_alerts", "args": {}, '
                              '"why": "other alerts firing?"}]}\n```')),
    )
    planner = _planner(llm_endpoint)
    calls = _plan(planner)

    assert [c["tool"] for c in calls] == ["prom_alerts"]
    assert planner.mode == "text"  # remembered for the next round
    first, second, third = llm_endpoint.requests
    assert "tools" in first and "response_format" in second and "tools" not in second
    assert "tools" not in third and "response_format" not in third
    assert any("switched to json mode" in n for n in calls.notes)
    assert any("switched to text mode" in n for n in calls.notes)


def test_malformed_tool_call_is_skipped_and_recorded(llm_endpoint: ScriptedEndpoint) -> None:
    llm_endpoint.push(Reply(chat_completion(None, [
        tool_call("promql", '{"query": "up{job=\\"ranker\\"}"'),  # cut-off JSON
        tool_call("promql", '["not", "an", "object"]'),
        tool_call("promql", {"query": "sum(rate(feature_rows_total[5m]))"}),
    ])))
    calls = _plan(_planner(llm_endpoint))

    assert [c["args"]["query"] for c in calls] == ["sum(rate(feature_rows_total[5m]))"]
    reasons = [r["reason"] for r in calls.refused]
    assert reasons[0].startswith("malformed arguments (not JSON")
    assert reasons[1] == "malformed arguments: expected a JSON object, got list"
    assert calls.refused[0]["args"] == {"raw": '{"query": "up{job=\\"ranker\\"}"'}
    assert any("2 of 3 call(s)" in n for n in calls.notes)


def test_a_registry_tool_not_offered_this_round_is_refused(llm_endpoint: ScriptedEndpoint) -> None:
    """Only the tools shown to the model may be called: naming another registry tool (as a log line
    might tell it to) runs nothing."""
    llm_endpoint.push(Reply(chat_completion(None, [
        tool_call("gpu_probe", {}),
        tool_call("promql", {"query": "sum(rate(feature_rows_total[5m]))"}),
    ])))
    planner = _planner(llm_endpoint, max_tool_tokens=1)  # room for one schema: the used promql_range
    calls = _plan(planner)

    sent = {t["function"]["name"] for t in llm_endpoint.requests[0]["tools"]}
    assert "gpu_probe" not in sent and "gpu_probe" in sample_registry().names()
    assert list(calls) == [] and {r["tool"] for r in calls.refused} == {"gpu_probe", "promql"} - sent
    assert all("was not offered this round" in r["reason"] for r in calls.refused)


def test_unknown_tool_is_refused_and_recorded(llm_endpoint: ScriptedEndpoint) -> None:
    llm_endpoint.push(Reply(chat_completion(None, [
        tool_call("kubectl_exec", {"cmd": "kubectl rollout undo deploy/ranker"}),
    ])))
    calls = _plan(_planner(llm_endpoint))

    assert list(calls) == []
    [refusal] = calls.refused
    assert refusal["tool"] == "kubectl_exec" and refusal["planner"] == "llm"
    assert refusal["reason"].startswith("unknown tool 'kubectl_exec'")
    assert "promql_range" in refusal["reason"]  # names what may be called


def test_invalid_repeated_and_surplus_calls_are_refused(llm_endpoint: ScriptedEndpoint) -> None:
    state = sample_state()
    already = next(iter(state["evidence"].values()))
    llm_endpoint.push(Reply(chat_completion(None, [
        tool_call("promql", {"query": "up", "limit": 100000}),
        tool_call(already["tool"], already["args"]),
        tool_call("promql", {"query": "a"}),
        tool_call("promql", {"query": "a"}),
        tool_call("promql", {"query": "b"}),
        tool_call("promql", {"query": "c"}),
    ])))
    planner = _planner(llm_endpoint, max_calls=2)
    calls = asyncio.run(planner.plan(state, sample_registry(), Budget()))

    assert [c["args"]["query"] for c in calls] == ["a", "b"]
    reasons = [r["reason"] for r in calls.refused]
    assert reasons[0].startswith("invalid arguments: limit:")
    assert reasons[1] == f"repeats an earlier call ({already['id']})"
    assert reasons[2].startswith("repeats an earlier call")  # the same call twice in one answer
    assert reasons[3] == "over the limit of 2 calls this round"


def test_timeout_raises_a_planner_error_so_the_sop_path_continues(llm_endpoint: ScriptedEndpoint) -> None:
    llm_endpoint.push(Reply(chat_completion("DONE"), delay_s=3.0))
    planner = _planner(llm_endpoint, timeout_s=0.5)
    started = time.monotonic()
    with pytest.raises(LLMPlanError) as info:
        _plan(planner)
    assert time.monotonic() - started < 2.5
    assert isinstance(info.value, PlannerError)
    assert "timed out after 0.5 s" in str(info.value)


@pytest.mark.parametrize(("mode", "content", "expected"), [
    ("tools", "asdf ))) <<< ¿¿", "neither tool calls nor JSON"),
    ("json", '{"plan": "check everything"}', "JSON of the wrong shape"),
    ("json", "", "neither tool calls nor JSON"),
])
def test_junk_answers_raise_a_planner_error(
    llm_endpoint: ScriptedEndpoint, mode: str, content: str, expected: str
) -> None:
    llm_endpoint.push(Reply(chat_completion(content)))
    with pytest.raises(LLMPlanError, match=expected):
        _plan(_planner(llm_endpoint, mode=mode))


def test_a_non_json_http_body_is_junk(llm_endpoint: ScriptedEndpoint) -> None:
    llm_endpoint.push(Reply("<html>502 Bad Gateway (nginx)</html>"))
    with pytest.raises(LLMPlanError, match=r"not a chat completion: .<html>502 Bad Gateway"):
        _plan(_planner(llm_endpoint))


def test_done_means_no_more_calls(llm_endpoint: ScriptedEndpoint) -> None:
    llm_endpoint.push(Reply(chat_completion("DONE")))
    calls = _plan(_planner(llm_endpoint))
    assert list(calls) == [] and calls.refused == []
    assert "proposed no further calls" in calls.notes[0]


def test_spent_token_budget_asks_nothing_and_sends_nothing(llm_endpoint: ScriptedEndpoint) -> None:
    """The planner keeps ``reserve_tokens`` for the narrative: 3,000 left minus 1,500 is too few."""
    budget = Budget(max_llm_tokens=3000)
    calls = _plan(_planner(llm_endpoint), budget)
    assert list(calls) == [] and calls.tokens == 0
    assert "not asked for more calls: LLM token budget spent" in calls.notes[0]
    assert llm_endpoint.requests == []
    assert budget.llm_tokens == 0


def test_unreachable_endpoint_is_a_planner_error() -> None:
    llm = LLMClient(base_url="http://127.0.0.1:9/v1", model="m", timeout_s=2.0)
    with pytest.raises(LLMPlanError, match=r"cannot reach the LLM at http://127\.0\.0\.1:9/v1"):
        asyncio.run(LLMPlanner(llm).plan(sample_state(), sample_registry(), Budget()))


def test_digest_gives_the_model_what_it_needs_compactly(llm_endpoint: ScriptedEndpoint) -> None:
    """The prompt names the anomalous signals with onset and query, and every normal signal's id."""
    llm_endpoint.push(Reply(chat_completion("DONE")))
    _plan(_planner(llm_endpoint))
    user = llm_endpoint.requests[0]["messages"][1]["content"]
    state = sample_state()
    for finding in state["findings"]:
        assert finding["signal"] in user
        assert finding["evidence_ids"][0] in user
    assert "ctr.ctr [business] down z=-5.9 onset" in user
    assert "2026-11-24T02:40:00Z" in user  # the alert's start, in the format the tools accept
    assert f"{ALERT_AT}" not in user
    assert len(user) < 3000


def test_tools_offered_fit_the_budget_used_ones_first() -> None:
    """Schemas are the bulk of a prompt: the investigation's own tools, then preferred ones, fit first."""
    llm = LLMClient(base_url="http://127.0.0.1:1/v1", model="m")
    state, registry = sample_state(), sample_registry()
    assert LLMPlanner(llm, max_tool_tokens=1).offered_tools(state, registry, "tools") == ["promql_range"]
    everything = LLMPlanner(llm, max_tool_tokens=100_000).offered_tools(state, registry, "tools")
    assert everything == registry.names()
    some = LLMPlanner(llm, max_tool_tokens=700).offered_tools(state, registry, "tools")
    assert "promql_range" in some and "promql" in some and len(some) < len(everything)
    only = LLMPlanner(llm, allowed_tools={"promql"}, max_tool_tokens=100_000)
    assert only.offered_tools(state, registry, "json") == ["promql"]


def test_digest_lists_anomalies_in_onset_order_within_the_cap() -> None:
    state = sample_state()
    user = state_digest(state, max_evidence=2)
    first, second = user.index("click_duration_psi [data]"), user.index("ranker-model.accuracy [model]")
    assert first < second  # the drift began first, so it is listed first
    assert "ranker-serving.p99_latency (changed, not shown)" in user
    assert "ctr.ctr (changed, not shown)" in user
    assert "p99_latency [service]" not in user


@pytest.mark.parametrize("content", [
    '{"tool": "promql", "args": {"query": "sum(up)"}}',
    '<tool_call>\n{"name": "promql", "arguments": {"query": "sum(up)"}}\n</tool_call>',
    '[{"tool": "promql", "args": {"query": "sum(up)"}, "why": "x"}]',
])
def test_tool_calls_written_as_text_by_local_servers_are_understood(
    llm_endpoint: ScriptedEndpoint, content: str
) -> None:
    """Some local servers accept ``tools`` but let the model write its call into the content."""
    llm_endpoint.push(Reply(chat_completion(content)))
    calls = _plan(_planner(llm_endpoint))
    assert [(c["tool"], c["args"]["query"]) for c in calls] == [("promql", "sum(up)")]
