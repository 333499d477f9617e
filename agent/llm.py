"""A thin LLM client: the raw ``openai`` package against any OpenAI-compatible endpoint.

OpenAI, vLLM, llama.cpp's server, Ollama and LiteLLM all speak ``/v1/chat/completions``; this
module speaks it through :class:`openai.AsyncOpenAI` with a timeout, no silent retries, and token
accounting. Nothing here reads the environment: ``base_url``, ``model`` and ``api_key`` are
arguments (``server/settings.py`` reads ``AUGUR_LLM_BASE_URL``, ``AUGUR_LLM_MODEL`` and
``AUGUR_LLM_API_KEY``).

Token accounting: every completion's ``usage`` (prompt + completion tokens) is added to the
client's lifetime :attr:`LLMClient.usage` and spent from the per-investigation meter passed to
:meth:`LLMClient.complete` (anything with ``tokens_left`` and ``spend_tokens(n)``, such as
:class:`augur.agent.state.Budget` or :class:`TokenBudget`). A call whose estimated prompt alone
does not fit in what is left is refused before anything is sent; otherwise the completion is
capped to what remains. Endpoints that omit ``usage`` are charged an estimate (4 characters a
token) and the completion says so.

Errors, all :class:`LLMError` with a message that says what to do::

    LLMError
    ├── LLMTimeout           the endpoint did not answer in time
    ├── LLMUnavailable       cannot connect, authentication failed, 429/5xx
    ├── LLMRejected          4xx for this request (e.g. the server does not support tools)
    ├── LLMJunk              a 200 answer that is not a chat completion
    └── TokenBudgetExceeded  refused locally: the token budget is spent
"""

from __future__ import annotations

import asyncio
import json
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import openai

if TYPE_CHECKING:
    import httpx2

from augur.tools.errors import AugurError, BackendUnavailable, BadInput

__all__ = [
    "Completion",
    "LLMClient",
    "LLMError",
    "LLMJunk",
    "LLMRejected",
    "LLMTimeout",
    "LLMUnavailable",
    "RawToolCall",
    "TokenBudget",
    "TokenBudgetExceeded",
    "TokenMeter",
    "Usage",
    "estimate_tokens",
]

#: Below this many tokens left for the answer, a call is not worth making.
MIN_COMPLETION_TOKENS = 64


class LLMError(AugurError):
    """An LLM call failed; the message says why and what to do next."""


class LLMTimeout(LLMError, BackendUnavailable):
    """The endpoint did not answer within the client's timeout."""


class LLMUnavailable(LLMError, BackendUnavailable):
    """The endpoint cannot be used now: unreachable, unauthorised, rate-limited or failing."""


class LLMRejected(LLMError, BadInput):
    """The endpoint refused this request (4xx): unsupported feature, unknown model, bad input."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class LLMJunk(LLMError, BackendUnavailable):
    """The endpoint answered 200 with something that is not a usable chat completion."""


class TokenBudgetExceeded(LLMError, BadInput):
    """Refused before sending: the prompt does not fit in the tokens left."""


class TokenMeter(Protocol):
    """What the client needs of a budget: the tokens left and a way to spend them."""

    @property
    def tokens_left(self) -> int:
        """LLM tokens (prompt + completion) still allowed."""
        ...

    def spend_tokens(self, tokens: int) -> None:
        """Record tokens used."""
        ...


@dataclass
class TokenBudget:
    """A standalone token meter (the graph uses :class:`augur.agent.state.Budget` instead)."""

    limit: int
    used: int = 0

    @property
    def tokens_left(self) -> int:
        """Tokens still allowed."""
        return max(0, self.limit - self.used)

    def spend_tokens(self, tokens: int) -> None:
        """Record tokens used."""
        self.used += max(0, int(tokens))


@dataclass
class Usage:
    """Tokens and calls a client has used over its lifetime."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class RawToolCall:
    """A tool call as the model wrote it: ``arguments`` is unparsed JSON text, maybe invalid."""

    id: str
    name: str
    arguments: str


@dataclass
class Completion:
    """One chat completion: text and/or tool calls, and the tokens it cost."""

    content: str | None
    tool_calls: list[RawToolCall] = field(default_factory=list)
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    usage_estimated: bool = False

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens


def estimate_tokens(payload: Any) -> int:
    """A rough token count (4 characters a token) of a JSON-shaped payload, rounded up."""
    text = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"), default=str)
    return math.ceil(len(text) / 4)


class LLMClient:
    """Chat completions against one OpenAI-compatible endpoint and model.

    ``timeout_s`` bounds each call end to end (the SDK's retries are off: a slow endpoint fails
    fast and the investigation goes on without it). ``http_client`` is for tests and proxies.
    """

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout_s: float = 20.0,
        max_completion_tokens: int = 600,
        temperature: float | None = 0.0,
        http_client: httpx2.AsyncClient | None = None,
    ) -> None:
        if not base_url:
            raise ValueError("base_url is empty: pass the endpoint, e.g. http://127.0.0.1:8000/v1")
        if not model:
            raise ValueError("model is empty: pass the model name the endpoint serves")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.timeout_s = timeout_s
        self.max_completion_tokens = max_completion_tokens
        self.temperature = temperature
        self.usage = Usage()
        # Local servers need no key, but the SDK would then read OPENAI_API_KEY: pass a placeholder.
        self._api_key = api_key or "not-needed"
        self._http_client = http_client
        self._client: openai.AsyncOpenAI | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _sdk(self) -> openai.AsyncOpenAI:
        """The SDK client for the running event loop.

        Its connection pool belongs to the loop it first ran on; a worker that runs each job in a
        fresh loop (``asyncio.run``) would otherwise fail every call after the first job with
        "Event loop is closed". An injected ``http_client`` is the caller's to manage.
        """
        loop = asyncio.get_running_loop()
        if self._client is None or (self._loop is not loop and self._http_client is None):
            self._client = openai.AsyncOpenAI(
                base_url=self.base_url, api_key=self._api_key, timeout=self.timeout_s,
                max_retries=0, http_client=self._http_client,
            )
            self._loop = loop
        return self._client

    @property
    def name(self) -> str:
        """Shown in reports: ``llm:<model>``."""
        return f"llm:{self.model}"

    async def aclose(self) -> None:
        """Close the underlying HTTP connections."""
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def complete(
        self,
        messages: list[dict[str, Any]],
        *,
        tools: list[dict[str, Any]] | None = None,
        response_format: dict[str, Any] | None = None,
        max_completion_tokens: int | None = None,
        budget: TokenMeter | None = None,
    ) -> Completion:
        """One chat completion; raises an :class:`LLMError` subclass on any failure.

        With ``budget``, the call is refused (:class:`TokenBudgetExceeded`) when the estimated
        prompt leaves fewer than :data:`MIN_COMPLETION_TOKENS` for the answer, the answer is
        capped to what is left, and the tokens used are spent from it.
        """
        cap = max_completion_tokens or self.max_completion_tokens
        estimate = estimate_tokens([messages, tools or [], response_format or {}])
        if budget is not None:
            room = budget.tokens_left - estimate
            if room < MIN_COMPLETION_TOKENS:
                raise TokenBudgetExceeded(
                    f"LLM token budget spent: about {estimate} prompt tokens needed, "
                    f"{budget.tokens_left} left; raise the investigation's token budget to use the LLM more"
                )
            cap = min(cap, room)
        kwargs: dict[str, Any] = {"model": self.model, "messages": messages, "max_tokens": cap}
        if self.temperature is not None:
            kwargs["temperature"] = self.temperature
        if tools:
            kwargs["tools"] = tools
        if response_format:
            kwargs["response_format"] = response_format
        try:
            # The SDK's timeout is per phase (connect, read...); this bounds the whole call.
            async with asyncio.timeout(self.timeout_s + 1.0):
                response = await self._sdk().chat.completions.create(**kwargs)
        except (openai.APITimeoutError, TimeoutError):
            raise LLMTimeout(
                f"LLM at {self.base_url} timed out after {self.timeout_s:g} s: "
                "use a faster model or raise the LLM timeout"
            ) from None
        except openai.APIConnectionError as exc:
            raise LLMUnavailable(
                f"cannot reach the LLM at {self.base_url} ({exc}): check AUGUR_LLM_BASE_URL and that the "
                "server is up"
            ) from exc
        except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
            raise LLMUnavailable(
                f"the LLM at {self.base_url} refused the credentials (HTTP {exc.status_code}): "
                "check AUGUR_LLM_API_KEY"
            ) from exc
        except (openai.RateLimitError, openai.InternalServerError) as exc:
            raise LLMUnavailable(
                f"the LLM at {self.base_url} is overloaded or failing (HTTP {exc.status_code}): retry later"
            ) from exc
        except openai.APIStatusError as exc:
            raise LLMRejected(
                f"the LLM at {self.base_url} rejected the request (HTTP {exc.status_code}): "
                f"{_error_text(exc)}", exc.status_code,
            ) from exc
        except openai.APIError as exc:  # e.g. a 200 whose body is not JSON
            raise LLMJunk(f"the LLM at {self.base_url} sent an unreadable answer: {exc}") from exc
        except Exception as exc:  # anything else at the network boundary: still an LLM failure
            raise LLMError(f"calling the LLM at {self.base_url} failed: {type(exc).__name__}: {exc}") from exc
        completion = self._parse(response, estimate)
        self.usage.calls += 1
        self.usage.prompt_tokens += completion.prompt_tokens
        self.usage.completion_tokens += completion.completion_tokens
        if budget is not None:
            budget.spend_tokens(completion.total_tokens)
        return completion

    def _parse(self, response: Any, estimate: int) -> Completion:
        if isinstance(response, str | bytes):  # the SDK hands back bodies that are not JSON as is
            text = " ".join(str(response)[:120].split())
            raise LLMJunk(f"the LLM at {self.base_url} answered with something that is not a chat "
                          f"completion: {text!r}; check that the base URL ends in /v1")
        choices = getattr(response, "choices", None)
        if not choices or getattr(choices[0], "message", None) is None:
            raise LLMJunk(
                f"the LLM at {self.base_url} answered without a message (is {self.model!r} a chat model?)"
            )
        choice = choices[0]
        message = choice.message
        calls: list[RawToolCall] = []
        for i, call in enumerate(getattr(message, "tool_calls", None) or []):
            function = getattr(call, "function", None)
            calls.append(RawToolCall(
                id=str(getattr(call, "id", None) or f"call_{i}"),
                name=str(getattr(function, "name", None) or ""),
                arguments=str(getattr(function, "arguments", None) or ""),
            ))
        content = message.content if isinstance(message.content, str) else None
        usage = getattr(response, "usage", None)
        prompt = getattr(usage, "prompt_tokens", None)
        answer = getattr(usage, "completion_tokens", None)
        estimated = not isinstance(prompt, int) or not isinstance(answer, int)
        if estimated:
            prompt = estimate
            answer = estimate_tokens(content or "") + sum(estimate_tokens(c.arguments) + 4 for c in calls)
        return Completion(
            content=content, tool_calls=calls, finish_reason=getattr(choice, "finish_reason", None),
            prompt_tokens=int(prompt or 0), completion_tokens=int(answer or 0), usage_estimated=estimated,
        )


def _error_text(exc: openai.APIStatusError) -> str:
    """The endpoint's own error message, short."""
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])[:300]
        return json.dumps(body)[:300]
    return str(exc.message)[:300]
