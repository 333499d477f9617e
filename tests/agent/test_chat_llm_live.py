"""The LLM chat against a real OpenAI-compatible endpoint, when one is configured.

Set ``AUGUR_TEST_LLM_BASE_URL``, ``AUGUR_TEST_LLM_MODEL`` and, if the server needs one,
``AUGUR_TEST_LLM_API_KEY`` (as for ``test_llm_live.py``). Without them this is skipped: no hosted
LLM is reachable from the machines that run ``make test``; ``test_chat_llm.py`` covers the same
paths against a scripted endpoint.
"""

from __future__ import annotations

import asyncio

from augur.agent.chat import IncidentBrief
from augur.agent.chat_llm import ChatLLM
from tests.fixtures.live_llm import LIVE_LLM, live_client
from tests.fixtures.llm_state import sample_registry, sample_report

pytestmark = LIVE_LLM


def test_real_model_answers_a_question_with_grounded_citations() -> None:
    llm = live_client()
    report = sample_report()
    brief = IncidentBrief(id=1, title="RankerLatencyHigh on ranker-serving", status="open",
                          opened_at=report.alert.starts_at, component="ranker-serving", report=report)
    out = asyncio.run(ChatLLM(llm, sample_registry()).answer("why did ranker-serving alert?", [brief]))

    assert out.answered_by == llm.name, out.notes
    assert out.sentences and all(set(s.evidence_ids) <= report.evidence_ids() for s in out.sentences)
    print(f"\n{out.as_text()}\n({llm.usage.total_tokens} tokens in {llm.usage.calls} calls; "
          f"{len(out.dropped)} sentence(s) dropped)")
