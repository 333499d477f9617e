"""One LLM tool-call loop, shared by the planner, the narrative writer, the chat and the graph.

Three things every caller of a model does the same way, so they are written once here:

- **Capability fallback** (:class:`ToolLoop`). A caller lists the modes it can work in, best
  first: ``tools`` (native tool calling), ``json`` (``response_format`` with a JSON schema),
  ``text`` (plain answer, JSON dug out of it). When the endpoint rejects a request (HTTP 4xx,
  :class:`~augur.agent.llm.LLMRejected`) that used the current mode's capability, the loop steps
  down one mode, says so in the caller's notes, retries, and remembers the mode for later calls.
  Any other failure is the caller's to handle. Every request is charged to the token meter the
  caller passes, so budgets are enforced by :meth:`~augur.agent.llm.LLMClient.complete` alone.
- **Reading tool calls** (:func:`read_calls`): native tool calls, or JSON written in the answer
  (``{"calls": [...]}``, one ``{"tool"|"name": ..., "args"|"arguments": ...}``, or a list of
  them), as some local servers do. ``None`` means the answer asks for no tool call.
- **Screening** (:class:`CallScreen`): every proposed call is checked before anything runs, in
  one order with one set of reasons: the tool must be a string naming a registry tool, one
  offered this round (tool output cannot widen what may be called), its arguments a JSON object
  that validates against the tool's ``Args``, not a repeat of an earlier call, and within the
  caller's limit. A refused call never runs; its reason is recorded for the report or the answer.

What the loop never does: put telemetry, tool output or a question into the system prompt. The
callers build their user messages as redacted ``<data>`` blocks (:func:`augur.agent.prompt.data_block`
with a :class:`~augur.agent.redact.Redactor`), and tool results go back the same way
(:func:`results_message`), so nothing a tool returns can change the instructions.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError

from augur.agent.llm import Completion, LLMClient, LLMRejected, TokenMeter
from augur.agent.prompt import clip, compact_tool_schema, data_block, extract_json
from augur.agent.redact import Redactor
from augur.agent.state import call_key
from augur.tools.base import Tool, ToolRegistry

__all__ = [
    "MALFORMED_CALL",
    "Accepted",
    "CallScreen",
    "Mode",
    "Proposal",
    "Refused",
    "Request",
    "ToolLoop",
    "Turn",
    "read_calls",
    "results_message",
]

Mode = Literal["tools", "json", "text"]

#: Why a proposal that is not ``{tool: str, args: object}`` at all is refused.
MALFORMED_CALL = "malformed call: expected {tool: str, args: object}"


@dataclass(frozen=True)
class Proposal:
    """A tool call as the model wrote it: ``args`` is JSON text or a value, maybe invalid."""

    tool: Any
    args: Any
    why: str = ""


@dataclass(frozen=True)
class Accepted:
    """A call that passed the screen: its canonical arguments and its key (the evidence id)."""

    tool: str
    args: dict[str, Any]
    why: str
    key: str


@dataclass(frozen=True)
class Refused:
    """A call the screen refused, with the reason; ``args`` as shown (``{"raw": ...}`` if not an object)."""

    tool: str
    args: dict[str, Any]
    why: str
    reason: str

    def as_dict(self, planner: str | None = None) -> dict[str, Any]:
        """The shape of ``state["refused"]`` rows (with ``planner`` when given)."""
        row: dict[str, Any] = {"tool": self.tool, "args": self.args, "why": self.why, "reason": self.reason}
        if planner is not None:
            row["planner"] = planner
        return row


def _shown(args: Any) -> dict[str, Any]:
    return dict(args) if isinstance(args, dict) else {"raw": clip(str(args), 200)}


class CallScreen:
    """Checks proposed calls one at a time, in the order and with the reasons of the module docstring.

    ``known`` names the tools that exist for this caller (default: the registry's), ``offered``
    those shown to the model this round (default: every known one). ``seen`` holds the keys of
    calls already made; calls accepted here are added to it. At most ``room`` calls are accepted;
    past that a call is refused with ``limit`` as the reason. With ``validate=False`` (the graph,
    whose planners' calls are checked by the tool when it runs) arguments are kept as given.
    """

    def __init__(
        self,
        registry: ToolRegistry,
        *,
        room: int,
        limit: str,
        known: Collection[str] | None = None,
        offered: Collection[str] | None = None,
        seen: set[str] | None = None,
        validate: bool = True,
    ) -> None:
        self.registry = registry
        self.known = sorted(known) if known is not None else registry.names()
        self.offered = sorted(offered) if offered is not None else None
        self.seen = seen if seen is not None else set()
        self.room = room
        self.limit = limit
        self.validate = validate
        self.accepted = 0

    def check(self, proposal: Proposal) -> Accepted | Refused:
        """Accept the call (counting it against ``room``) or say why not."""
        name, raw, why = proposal.tool, proposal.args, proposal.why
        if not isinstance(name, str):
            return Refused(clip(repr(name), 80), _shown(raw), why, MALFORMED_CALL)

        def refuse(reason: str, args: Any = raw) -> Refused:
            return Refused(name or "?", _shown(args), why, reason)

        if name not in self.known or name not in self.registry:
            return refuse(f"unknown tool {name!r}: only the registry's read-only tools can be called "
                          f"({', '.join(self.known) or 'none here'})")
        if self.offered is not None and name not in self.offered:
            shown = ", ".join(self.offered) or "none"
            return refuse(f"{name!r} was not offered this round (offered: {shown})")
        args = raw
        if isinstance(raw, str):
            try:
                args = json.loads(raw) if raw.strip() else {}
            except json.JSONDecodeError as exc:
                return refuse(f"malformed arguments (not JSON: {exc.msg} at {exc.pos})")
        if not isinstance(args, dict):
            return refuse(f"malformed arguments: expected a JSON object, got {type(args).__name__}")
        canonical = dict(args)
        if self.validate:
            try:
                canonical = self.registry.get(name).Args.model_validate(args).model_dump(mode="json")
            except ValidationError as exc:
                problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(args)'}: {e['msg']}"
                                     for e in exc.errors())
                return refuse(f"invalid arguments: {clip(problems, 200)}", args)
        key = call_key(name, canonical)
        if key in self.seen:
            return refuse(f"repeats an earlier call ({key})", canonical)
        if self.accepted >= self.room:
            return refuse(self.limit, canonical)
        self.seen.add(key)
        self.accepted += 1
        return Accepted(name, canonical, why, key)


def read_calls(completion: Completion, *, why: str = "") -> list[Proposal] | None:
    """The tool calls ``completion`` asks for, or ``None`` when it asks for none (an answer, or junk).

    ``why`` is the reason given to calls that carry none: the answer's text for native calls
    (clipped), else ``why``.
    """
    if completion.tool_calls:
        reason = clip(completion.content or "", 160) or why
        return [Proposal(c.name, c.arguments, reason) for c in completion.tool_calls]
    try:
        value = extract_json(completion.content or "")
    except ValueError:
        return None
    items: list[Any]
    if isinstance(value, dict) and "sentences" not in value and isinstance(value.get("calls"), list):
        items = value["calls"]
    elif isinstance(value, dict) and "sentences" not in value and ("tool" in value or "name" in value):
        items = [value]
    elif isinstance(value, list) and value and all(
            isinstance(i, dict) and ("tool" in i or "name" in i) for i in value):
        items = value
    else:
        return None
    out: list[Proposal] = []
    for item in items:
        if not isinstance(item, dict):
            out.append(Proposal("", item, why))
            continue
        name = str(item.get("tool") or item.get("name") or "")
        args = item.get("args", item.get("arguments", {}))
        out.append(Proposal(name, args, clip(str(item.get("why") or why), 160)))
    return out


def results_message(lines: Iterable[str], redactor: Redactor) -> dict[str, Any]:
    """Tool results for the model: a user message holding one redacted data block, never instructions."""
    return {"role": "user", "content": "Results of the tool calls you asked for:\n"
            + data_block("\n".join(lines), redactor)}


@dataclass
class Request:
    """One request as a caller builds it for a mode: the messages, the tools offered, the schema."""

    messages: list[dict[str, Any]]
    tools: Sequence[Tool] = ()
    response_format: dict[str, Any] | None = None
    redactor: Redactor = field(default_factory=Redactor)


@dataclass
class Turn:
    """A completion, the mode it was asked in, and the request that got it."""

    completion: Completion
    mode: Mode
    request: Request


class ToolLoop:
    """Asks one model in the best mode the endpoint supports (see the module docstring)."""

    def __init__(self, llm: LLMClient, modes: Sequence[Mode]) -> None:
        if not modes:
            raise ValueError("give at least one mode: tools, json or text")
        self.llm = llm
        self.modes: list[Mode] = list(modes)
        self.name = llm.name

    @property
    def mode(self) -> Mode:
        """The mode the next request is sent in (the endpoint rejected the ones before it)."""
        return self.modes[0]

    async def ask(
        self,
        build: Callable[[Mode], Request],
        *,
        budget: TokenMeter,
        max_completion_tokens: int | None = None,
        notes: list[str] | None = None,
    ) -> Turn:
        """Send ``build(mode)``; on a rejected capability, step down a mode and send again.

        Tools are sent only in ``tools`` mode and ``response_format`` only in ``json`` mode.
        Raises what :meth:`LLMClient.complete` raises otherwise (the caller decides what a
        timeout or a spent budget means for it).
        """
        while True:
            mode = self.mode
            request = build(mode)
            tools = [compact_tool_schema(t) for t in request.tools] if mode == "tools" else []
            schema = request.response_format if mode == "json" else None
            try:
                completion = await self.llm.complete(
                    request.messages, tools=tools or None, response_format=schema,
                    max_completion_tokens=max_completion_tokens, budget=budget,
                )
            except LLMRejected as exc:
                if len(self.modes) == 1 or not (tools or schema):
                    raise
                self.modes.pop(0)
                if notes is not None:
                    notes.append(f"{self.name} rejected {mode} mode ({clip(str(exc), 160)}); "
                                 f"switched to {self.mode} mode")
                continue
            return Turn(completion, mode, request)
