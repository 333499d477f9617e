"""The LLM narrative writer: the real ``openai`` client against a scripted endpoint on loopback.

No hosted LLM is reachable here; the endpoint is a scripted OpenAI-compatible HTTP server (FastAPI
under uvicorn on 127.0.0.1, ``tests/fixtures/openai_endpoint.py``).
"""

from __future__ import annotations

import asyncio
import json

import pytest

from augur.agent.llm import LLMClient
from augur.agent.narrate import LLMNarrator, NarrationError
from augur.agent.planner import NarrativeWriter, PlannerError
from augur.agent.report import Sentence
from augur.agent.state import Budget
from tests.fixtures.llm_state import sample_report
from tests.fixtures.openai_endpoint import Reply, ScriptedEndpoint, chat_completion


def _narrator(endpoint: ScriptedEndpoint, timeout_s: float = 5.0) -> LLMNarrator:
    return LLMNarrator(LLMClient(base_url=endpoint.url, model="scripted", timeout_s=timeout_s))


def test_sentences_come_back_with_their_cited_ids(llm_endpoint: ScriptedEndpoint) -> None:
    report = sample_report()
    cause, accuracy = report.chain[0].evidence_ids[0], report.chain[1].evidence_ids[0]
    answer = {"sentences": [
        {"text": "The click_duration feature drifted first (PSI 0.03 to 0.41).", "evidence_ids": [cause]},
        {"text": "  Ranker accuracy then fell\n from 0.91 to 0.85. ", "evidence_ids": [accuracy]},
        {"text": "", "evidence_ids": [cause]},
        {"evidence_ids": [cause]},
        "not an object",
        {"text": "GPU utilisation stayed flat.", "evidence_ids": "ev-not-a-list"},
    ]}
    llm_endpoint.push(Reply(chat_completion(json.dumps(answer))))
    narrator = _narrator(llm_endpoint)
    assert isinstance(narrator, NarrativeWriter)
    budget = Budget()
    sentences = asyncio.run(narrator.narrate(report, budget))

    assert sentences == [
        Sentence(text="The click_duration feature drifted first (PSI 0.03 to 0.41).", evidence_ids=[cause]),
        Sentence(text="Ranker accuracy then fell from 0.91 to 0.85.", evidence_ids=[accuracy]),
        Sentence(text="GPU utilisation stayed flat.", evidence_ids=[]),
    ]
    assert budget.llm_tokens > 0
    sent = llm_endpoint.requests[0]
    assert sent["response_format"]["type"] == "json_schema"
    user = sent["messages"][1]["content"]
    assert user.startswith("<data>") and cause in user and "confidence 0.82" in user
    assert len(user) < 2500  # only the evidence the verdict cites, clipped


def test_endpoint_without_json_schema_gets_plain_json_request(llm_endpoint: ScriptedEndpoint) -> None:
    cause = sample_report().root_cause.evidence_ids[0]
    llm_endpoint.push(
        Reply({"error": {"message": "unknown field response_format"}}, status=422),
        Reply(chat_completion(f'Here you go:\n{{"sentences": [{{"text": "Drift came first.", '
                              f'"evidence_ids": ["{cause}"]}}]}}')),
    )
    sentences = asyncio.run(_narrator(llm_endpoint).narrate(sample_report(), Budget()))
    assert [s.text for s in sentences] == ["Drift came first."]
    assert "response_format" not in llm_endpoint.requests[1]


@pytest.mark.parametrize(("reply", "expected"), [
    (Reply(chat_completion("The drift caused it.")), "wrote no JSON narrative"),
    (Reply(chat_completion('{"summary": "drift"}')), "without a sentence list"),
    (Reply(chat_completion("{}"), delay_s=3.0), "timed out after 0.5 s"),
    (Reply({"error": {"message": "overloaded"}}, status=503), "retry later"),
])
def test_failures_raise_so_the_report_keeps_its_code_narrative(
    llm_endpoint: ScriptedEndpoint, reply: Reply, expected: str
) -> None:
    llm_endpoint.push(reply)
    with pytest.raises(NarrationError, match=expected) as info:
        asyncio.run(_narrator(llm_endpoint, timeout_s=0.5).narrate(sample_report(), Budget()))
    assert isinstance(info.value, PlannerError)
