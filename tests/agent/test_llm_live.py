"""The LLM planner and narrator against a real OpenAI-compatible endpoint, when one is configured.

Set ``AUGUR_TEST_LLM_BASE_URL`` (e.g. ``https://api.openai.com/v1`` or a local vLLM, llama.cpp or
Ollama server's ``/v1``), ``AUGUR_TEST_LLM_MODEL`` and, if the server needs one,
``AUGUR_TEST_LLM_API_KEY``. Without them these tests are skipped: no hosted LLM is reachable from
the machines that run ``make test``, and the scripted-endpoint tests cover the same paths.
"""

from __future__ import annotations

import asyncio

from augur.agent.llm_planner import LLMPlanner
from augur.agent.narrate import LLMNarrator
from augur.agent.state import Budget
from tests.fixtures.live_llm import LIVE_LLM, live_client
from tests.fixtures.llm_state import sample_registry, sample_report, sample_state

pytestmark = LIVE_LLM


def test_real_model_plans_only_valid_registry_calls() -> None:
    registry = sample_registry()
    budget = Budget()
    planner = LLMPlanner(live_client())
    calls = asyncio.run(planner.plan(sample_state(), registry, budget))
    for call in calls:
        assert call["tool"] in registry
        registry.get(call["tool"]).Args.model_validate(call["args"])
    assert budget.llm_tokens == calls.tokens > 0
    print(f"\n{planner.name} in {planner.mode} mode: {len(calls)} call(s), {len(calls.refused)} refused, "
          f"{calls.tokens} tokens: {[c['tool'] for c in calls]}")


def test_real_model_narrates_with_citations() -> None:
    report = sample_report()
    budget = Budget()
    sentences = asyncio.run(LLMNarrator(live_client()).narrate(report, budget))
    assert sentences, "the model wrote no sentence"
    known = report.evidence_ids()
    assert any(set(s.evidence_ids) & known for s in sentences), "no sentence cites the report's evidence"
    lines = "\n".join(f"- {s.text} {s.evidence_ids}" for s in sentences)
    print(f"\nnarrative ({budget.llm_tokens} tokens):\n{lines}")
