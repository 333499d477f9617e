"""The tool contract and the registry.

A tool is a small class: a pydantic ``Args`` model (its JSON schema is what an LLM sees), a
``name``, a one-paragraph ``description``, what its evidence means (``meaning``) and the model of
its result (``Result``, the meaning's contract in :mod:`augur.tools.results` or a subclass), and
``_run(args)``, which returns :class:`Evidence`. :meth:`Tool.run` wraps ``_run`` with the guards
every tool shares: argument validation, a timeout, a check of the answer against ``Result``, and
conversion of any exception into ``error`` evidence — a tool never raises into the agent.
Backends' clients are passed to the tool's constructor; nothing here reads the environment.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar

from pydantic import BaseModel, ValidationError

from augur.tools.errors import BackendUnavailable, BadInput
from augur.tools.evidence import Evidence, EvidenceStatus, Meaning
from augur.tools.results import CONTRACTS, ContextResult

__all__ = ["Tool", "ToolError", "ToolRegistry", "Unavailable"]


class ToolError(BadInput):
    """Raised inside ``_run`` to return ``error`` evidence with an actionable reason.

    ``retryable``: the backend did not answer (timed out, overloaded): the same call may work later.
    """

    def __init__(self, reason: str, *, retryable: bool = False) -> None:
        super().__init__(reason)
        self.retryable = retryable


class Unavailable(BackendUnavailable):
    """Raised inside ``_run`` when the backend is not there (down, not configured, no driver).

    ``retryable``: it is configured but did not answer (refused, unreachable) — an outage, not an
    absence; the same call may work later.
    """

    def __init__(self, reason: str, *, retryable: bool = False) -> None:
        super().__init__(reason)
        self.retryable = retryable


class Tool(ABC):
    """Base class of every tool. Subclasses set ``name``, ``description``, ``Args`` and ``_run``, and
    ``meaning`` and ``Result`` when the agent should draw more than context from their evidence."""

    name: ClassVar[str]
    description: ClassVar[str]
    Args: ClassVar[type[BaseModel]]
    meaning: ClassVar[Meaning] = Meaning.CONTEXT
    Result: ClassVar[type[BaseModel]] = ContextResult
    timeout_s: float = 30.0

    async def run(self, args: BaseModel | dict[str, Any]) -> Evidence:
        """Validate ``args``, run with the timeout, and return evidence; never raises."""
        raw = args.model_dump(mode="json") if isinstance(args, BaseModel) else dict(args)
        try:
            parsed = args if isinstance(args, self.Args) else self.Args.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '(args)'}: {e['msg']}" for e in exc.errors()
            )
            return Evidence.make(
                self.name, raw, EvidenceStatus.ERROR, f"{self.name}: invalid arguments",
                reason=f"fix the arguments and call again: {problems}",
            )
        canonical = parsed.model_dump(mode="json")
        started = time.perf_counter()
        try:
            evidence = await asyncio.wait_for(self._run(parsed), timeout=self.timeout_s)
        except TimeoutError:
            evidence = Evidence.make(
                self.name, canonical, EvidenceStatus.ERROR,
                f"{self.name}: timed out after {self.timeout_s:g} s",
                reason="the backend is slow or overloaded: narrow the time range or query, or retry later",
                retryable=True,
            )
        except Unavailable as exc:
            evidence = Evidence.make(
                self.name, canonical, EvidenceStatus.UNAVAILABLE,
                f"{self.name}: backend unavailable ({_gist(exc)})", reason=str(exc), retryable=exc.retryable,
            )
        except ToolError as exc:
            evidence = Evidence.make(
                self.name, canonical, EvidenceStatus.ERROR, f"{self.name}: failed ({_gist(exc)})",
                reason=str(exc), retryable=exc.retryable,
            )
        except Exception as exc:  # a tool must never raise into the agent
            evidence = Evidence.make(
                self.name, canonical, EvidenceStatus.ERROR, f"{self.name}: unexpected failure",
                reason=f"{type(exc).__name__}: {exc}",
            )
        if evidence.ok:
            try:
                self.Result.model_validate(evidence.data)
            except ValidationError as exc:
                evidence = Evidence.make(
                    self.name, canonical, EvidenceStatus.ERROR, f"{self.name}: malformed result",
                    reason=f"the tool's answer does not match its {self.Result.__name__} model "
                    f"(a bug in the tool): {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}",
                )
        evidence.meaning = self.meaning
        evidence.duration_ms = (time.perf_counter() - started) * 1000.0
        return evidence

    @abstractmethod
    async def _run(self, args: Any) -> Evidence:
        """Do the work. Raise :class:`ToolError` or :class:`Unavailable` with a reason on failure."""

    def schema(self) -> dict[str, Any]:
        """The OpenAI-style function schema an LLM sees for this tool."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.Args.model_json_schema(),
            },
        }


class ToolRegistry:
    """The tools an investigation may call, by unique name."""

    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for tool in tools:
            self.register(tool)

    def register(self, tool: Tool) -> None:
        """Add a tool; a second tool with the same name, or a ``Result`` that is not its meaning's
        contract model, is a programming error."""
        if tool.name in self._tools:
            raise ValueError(f"duplicate tool name {tool.name!r}: each tool needs a unique name")
        contract = CONTRACTS[tool.meaning]
        if not issubclass(tool.Result, contract):
            raise ValueError(
                f"tool {tool.name!r} means {tool.meaning.value!r} but its Result "
                f"{tool.Result.__name__} is not {contract.__name__} or a subclass of it: the agent "
                f"reads {tool.meaning.value!r} evidence as {contract.__name__}"
            )
        self._tools[tool.name] = tool

    def get(self, name: str) -> Tool:
        """The tool called ``name``; KeyError names the tools that exist."""
        try:
            return self._tools[name]
        except KeyError:
            raise KeyError(f"no tool {name!r}; known tools: {', '.join(sorted(self._tools))}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool]:
        return iter(sorted(self._tools.values(), key=lambda t: t.name))

    def __len__(self) -> int:
        return len(self._tools)

    def meaning(self, name: str) -> Meaning:
        """What the evidence of the tool called ``name`` means (context for an unknown name)."""
        tool = self._tools.get(name)
        return tool.meaning if tool is not None else Meaning.CONTEXT

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._tools)

    def schemas(self) -> list[dict[str, Any]]:
        """Function schemas of every tool, for an LLM's tool list."""
        return [tool.schema() for tool in self]

    async def call(self, name: str, args: dict[str, Any]) -> Evidence:
        """Run a tool by name; an unknown name is ``error`` evidence, not an exception."""
        if name not in self._tools:
            return Evidence.make(
                name, args, EvidenceStatus.ERROR, f"unknown tool {name!r}",
                reason=f"choose one of: {', '.join(self.names())}",
            )
        return await self._tools[name].run(args)


def _gist(exc: BaseException) -> str:
    """The first clause of an error (what failed and where, e.g. the backend's URL), for a summary."""
    text = str(exc).split(": ", 1)[0].strip() or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."
