"""The LLM client: the real ``openai`` client against a scripted endpoint on loopback.

No hosted LLM is reachable here, so the endpoint is a scripted OpenAI-compatible HTTP server
(FastAPI under uvicorn on 127.0.0.1, ``tests/fixtures/openai_endpoint.py``). Covered: token
accounting from ``usage`` (and an estimate when a server omits it), the token budget refusing and
capping calls, and each HTTP failure turned into an error that says what to do.
"""

from __future__ import annotations

import asyncio

import pytest

from augur.agent.llm import (
    Completion,
    LLMClient,
    LLMJunk,
    LLMRejected,
    LLMUnavailable,
    TokenBudget,
    TokenBudgetExceeded,
)
from tests.fixtures.openai_endpoint import Reply, ScriptedEndpoint, chat_completion

MESSAGES = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Say hi."}]


def _client(endpoint: ScriptedEndpoint, **kwargs: object) -> LLMClient:
    return LLMClient(base_url=endpoint.url, model="scripted", timeout_s=5.0, **kwargs)  # type: ignore[arg-type]


def _complete(client: LLMClient, budget: TokenBudget | None = None, **kwargs: object) -> Completion:
    return asyncio.run(client.complete(MESSAGES, budget=budget, **kwargs))  # type: ignore[arg-type]


def test_usage_is_counted_per_call_and_over_the_clients_life(llm_endpoint: ScriptedEndpoint) -> None:
    """Two calls in two event loops (as a worker running one job per ``asyncio.run`` does)."""
    llm_endpoint.push(Reply(chat_completion("hi", usage=(120, 3))),
                      Reply(chat_completion("hi", usage=(130, 4))))
    client = _client(llm_endpoint)
    budget = TokenBudget(limit=10_000)
    first = _complete(client, budget)
    second = _complete(client, budget)

    assert (first.content, first.prompt_tokens, first.completion_tokens) == ("hi", 120, 3)
    assert second.total_tokens == 134 and not second.usage_estimated
    assert (client.usage.calls, client.usage.prompt_tokens, client.usage.completion_tokens) == (2, 250, 7)
    assert budget.used == 257 and budget.tokens_left == 10_000 - 257
    assert llm_endpoint.requests[0]["model"] == "scripted"
    assert llm_endpoint.requests[0]["temperature"] == 0.0


def test_a_server_that_reports_no_usage_is_charged_an_estimate(llm_endpoint: ScriptedEndpoint) -> None:
    llm_endpoint.omit_usage = True
    llm_endpoint.push(Reply(chat_completion("hello there")))
    budget = TokenBudget(limit=10_000)
    done = _complete(_client(llm_endpoint), budget)
    assert done.usage_estimated
    assert done.prompt_tokens > 10 and done.completion_tokens >= 3
    assert budget.used == done.total_tokens


def test_budget_refuses_a_call_that_cannot_fit_and_caps_one_that_can(llm_endpoint: ScriptedEndpoint) -> None:
    client = _client(llm_endpoint, max_completion_tokens=600)
    with pytest.raises(TokenBudgetExceeded, match="LLM token budget spent"):
        _complete(client, TokenBudget(limit=80))
    assert llm_endpoint.requests == []

    llm_endpoint.push(Reply(chat_completion("hi", usage=(40, 2))))
    _complete(client, TokenBudget(limit=200))
    assert 64 <= llm_endpoint.requests[0]["max_tokens"] < 200  # capped to what is left, not 600


@pytest.mark.parametrize(("status", "error", "hint"), [
    (401, LLMUnavailable, "check AUGUR_LLM_API_KEY"),
    (429, LLMUnavailable, "retry later"),
    (503, LLMUnavailable, "retry later"),
    (404, LLMRejected, "model 'nope' does not exist"),
    (400, LLMRejected, "model 'nope' does not exist"),
])
def test_http_errors_say_what_to_do(
    llm_endpoint: ScriptedEndpoint, status: int, error: type[Exception], hint: str
) -> None:
    llm_endpoint.push(Reply({"error": {"message": "model 'nope' does not exist"}}, status=status))
    with pytest.raises(error, match=hint) as info:
        _complete(_client(llm_endpoint))
    assert f"HTTP {status}" in str(info.value)
    if isinstance(info.value, LLMRejected):
        assert info.value.status == status


def test_a_completion_without_choices_is_junk(llm_endpoint: ScriptedEndpoint) -> None:
    llm_endpoint.push(Reply({"id": "x", "object": "chat.completion", "created": 0, "model": "m",
                             "choices": []}))
    with pytest.raises(LLMJunk, match="without a message"):
        _complete(_client(llm_endpoint))


def test_the_key_is_sent_and_the_environment_is_not_read(
    llm_endpoint: ScriptedEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-environment-0000000000")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    llm_endpoint.push(Reply(chat_completion("a")), Reply(chat_completion("b")))
    _complete(_client(llm_endpoint, api_key="sk-given-1234"))
    _complete(_client(llm_endpoint))  # a local server needs no key
    assert [h["authorization"] for h in llm_endpoint.headers] == ["Bearer sk-given-1234", "Bearer not-needed"]


def test_missing_endpoint_or_model_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="base_url is empty"):
        LLMClient(base_url="", model="m")
    with pytest.raises(ValueError, match="model is empty"):
        LLMClient(base_url="http://127.0.0.1:1/v1", model="")
