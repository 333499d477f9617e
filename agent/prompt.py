"""Prompt material: compact, redacted digests of an investigation, and parsing of model answers.

The budget is small on purpose (a whole investigation should cost fewer tokens than one
HolmesGPT step, about 8,000), so the LLM never sees raw tool output: it sees one line per
evidence record (id, tool, status, a clipped summary), one line per anomalous signal (onset,
direction, strength, before → after) and a single line naming the signals that were normal.

Telemetry is untrusted. Everything built here is redacted (:mod:`augur.agent.redact`) and wrapped
by :func:`data_block` in ``<data>`` … ``</data>`` with any look-alike tags inside neutralised, so
a log line cannot close the block and speak as the operator. The system prompts (written by the
planner and the narrator) say that text inside the block is data, never instructions.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from augur.agent.redact import Redactor
from augur.agent.state import InvestigationState
from augur.tools.base import Tool
from augur.tools.timeparse import TIME_HELP

__all__ = [
    "clip",
    "compact_tool_schema",
    "data_block",
    "extract_json",
    "iso",
    "state_digest",
    "tool_signature",
]

_TAG = re.compile(r"</?\s*data\s*>", re.I)
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S)


def iso(ts: float | None) -> str:
    """Unix seconds as RFC 3339 UTC to the second (what the tools accept), or ``?``."""
    if ts is None:
        return "?"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def clip(text: str, limit: int) -> str:
    """``text`` on one line, at most ``limit`` characters (an ellipsis marks a cut)."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: max(0, limit - 3)].rstrip() + "..."


def data_block(text: str, redactor: Redactor) -> str:
    """Redacted ``text`` inside ``<data>`` tags; tags inside the text are defused."""
    body = _TAG.sub("[tag]", redactor.redact(text))
    return f"<data>\n{body}\n</data>"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def state_digest(
    state: InvestigationState, *, redactor: Redactor | None = None, max_evidence: int = 24,
    summary_chars: int = 150,
) -> str:
    """The investigation so far in a few hundred tokens, every text redacted before it is clipped.

    Signals the observe step analysed are one line each when anomalous (with the query, so the
    model can ask for related series) and one name + id each when normal; other evidence (logs,
    failed calls first) gets a line each, up to ``max_evidence``, and the number left out is stated.
    """
    redactor = redactor or Redactor()

    def cut(text: Any, limit: int) -> str:  # redact first: a clipped secret no longer looks like one
        return clip(redactor.redact(str(text)), limit)

    lines: list[str] = []
    alert = state.get("alert") or {}
    if alert:
        safe_labels = redactor.redact_value(dict(alert.get("labels") or {}))
        labels = ",".join(f"{k}={v}" for k, v in sorted(safe_labels.items()))
        since = iso(alert.get("starts_at"))
        lines.append(f"alert: {alert.get('name', '?')} {{{cut(labels, 200)}}} since {since}")
        if alert.get("expr"):
            lines.append(f"alert expr: {cut(str(alert['expr']), 200)}")
    if state.get("question"):
        lines.append(f"question: {cut(str(state['question']), 300)}")
    window = state.get("window")
    if window:
        lines.append(f"window: {iso(window['start'])} .. {iso(window['end'])} step {window['step']:g}s")
    if state.get("focus"):
        lines.append(f"focus component: {state['focus']}")

    # Anomalous signals in onset order (the chain reads top to bottom), at most max_evidence.
    findings = sorted(state.get("findings") or [], key=lambda f: (not f.get("anomalous"),
                                                                  f.get("onset") or float("inf")))
    covered: set[str] = set()
    anomalous: list[str] = []
    normal: list[str] = []
    for f in findings:
        ids = list(f.get("evidence_ids") or [])
        covered.update(ids)
        if f.get("anomalous") and len(anomalous) >= max_evidence:
            normal.append(f"{f.get('signal')} (changed, not shown) {' '.join(ids)}".strip())
        elif f.get("anomalous"):
            change = ""
            if f.get("before") is not None and f.get("after") is not None:
                unit = f" {f['unit']}" if f.get("unit") else ""
                change = f" {_fmt(f['before'])}->{_fmt(f['after'])}{unit}"
            onset = iso(f.get("onset"))[11:16] if f.get("onset") else "?"
            query = f" q={cut(str(f['query']), 120)}" if f.get("query") else ""
            anomalous.append(
                f"- {' '.join(ids) or '-'} {f.get('signal')} [{f.get('layer') or '?'}] "
                f"{f.get('direction') or '?'} z={_fmt(float(f.get('magnitude', 0.0)))} "
                f"onset {onset}{change}{query}"
            )
        else:
            normal.append(f"{f.get('signal')} {' '.join(ids)}".strip())
    if anomalous:
        lines.append("anomalous signals (id signal [layer] direction strength onset UTC before->after):")
        lines.extend(anomalous)
    if normal:
        lines.append(f"normal signals: {cut(', '.join(normal), 900)}")

    # Evidence that no finding covers (logs, traces, failed calls...), failures first.
    evidence = [ev for ev in (state.get("evidence") or {}).values() if ev.get("id") not in covered]
    evidence.sort(key=lambda ev: ev.get("status") not in ("error", "unavailable"))
    if evidence:
        lines.append("other evidence:")
    for ev in evidence[:max_evidence]:
        summary = str(ev.get("summary", ""))
        asked = (ev.get("args") or {}).get("query")
        extra = f" q={cut(str(asked), 100)}" if asked and str(asked) not in summary else ""
        failed = ev.get("reason") and ev.get("status") != "ok"
        reason = f" reason: {cut(str(ev['reason']), 100)}" if failed else ""
        head = f"- {ev.get('id')} {ev.get('tool')} {ev.get('status')}"
        lines.append(f"{head}: {cut(summary, summary_chars)}{extra}{reason}")
    if len(evidence) > max_evidence:
        lines.append(f"(+{len(evidence) - max_evidence} more evidence records not shown)")

    refused = state.get("refused") or []
    if refused:
        lines.append("refused earlier (do not repeat):")
        for r in refused[-5:]:
            lines.append(f"- {r.get('tool')}: {cut(str(r.get('reason', '')), 120)}")
    if state.get("open_questions"):
        lines.append("open questions: " + "; ".join(cut(q, 120) for q in state["open_questions"][:5]))
    return "\n".join(lines)


#: Schema keys an LLM does not need to pick a call: titles, and bounds the tool validates anyway
#: (a call outside them is refused with the tool's own message).
_DROPPED_KEYS = frozenset({"title", "maxItems", "minItems", "maxLength", "minLength", "maximum", "minimum"})


def _compact(node: Any, description_chars: int) -> Any:
    if isinstance(node, dict):
        node = dict(node)
        options = node.get("anyOf")
        if isinstance(options, list) and {"type": "null"} in options:
            # Optional fields: "X or null, default null" says no more than "X, not required".
            rest = [o for o in options if o != {"type": "null"}]
            del node["anyOf"]
            if len(rest) == 1:
                node = {**rest[0], **node}
            else:
                node["anyOf"] = rest
            if node.get("default", 0) is None:
                del node["default"]
        if node.get("anyOf") == [{"type": "string"}, {"type": "number"}]:
            # Times (and steps) take a string or Unix seconds; a string always works.
            del node["anyOf"]
            node["type"] = "string"
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in _DROPPED_KEYS:
                continue
            if key == "description" and isinstance(value, str):
                # The system prompt says how to write times once; no need to repeat it per field.
                out[key] = clip(value.replace(TIME_HELP, "time"), description_chars)
            elif key == "properties" and isinstance(value, dict):
                out[key] = {name: _compact(prop, description_chars) for name, prop in value.items()}
            else:
                out[key] = _compact(value, description_chars)
        return out
    if isinstance(node, list):
        return [_compact(item, description_chars) for item in node]
    return node


def compact_tool_schema(tool: Tool, *, description_chars: int = 60) -> dict[str, Any]:
    """The tool's OpenAI function schema, lean: no pydantic titles or null options, short descriptions."""
    schema = tool.schema()
    function = schema["function"]
    parameters = _compact(function["parameters"], description_chars)
    parameters.pop("description", None)
    return {"type": "function", "function": {
        "name": function["name"], "description": clip(function["description"], 160), "parameters": parameters,
    }}


def _type_name(prop: dict[str, Any]) -> str:
    if "anyOf" in prop:
        return "|".join(_type_name(p) for p in prop["anyOf"] if p.get("type") != "null") or "any"
    if "enum" in prop:
        return "|".join(json.dumps(v) for v in prop["enum"])
    kind = prop.get("type", "any")
    if kind == "array":
        return f"[{_type_name(prop.get('items', {}))}]"
    return str(kind)


def tool_signature(tool: Tool) -> str:
    """One line for a tool in JSON-schema mode: ``name(arg: type=default, ...) - description``."""
    params = tool.Args.model_json_schema()
    required = set(params.get("required", []))
    parts = []
    for name, prop in params.get("properties", {}).items():
        piece = f"{name}: {_type_name(prop)}"
        if name not in required:
            piece += f"={json.dumps(prop.get('default'))}" if "default" in prop else "?"
        parts.append(piece)
    first_sentence = tool.description.split(". ")[0].rstrip(".")
    return f"{tool.name}({', '.join(parts)}) - {clip(first_sentence, 160)}"


def extract_json(text: str) -> Any:
    """The JSON value in a model's text answer: the whole text, a fenced block, or the outermost
    ``{...}``/``[...]``. Raises ``ValueError`` when there is none."""
    candidates = [text.strip()]
    candidates += [m.strip() for m in _FENCE.findall(text)]
    for open_, close in (("{", "}"), ("[", "]")):
        start, end = text.find(open_), text.rfind(close)
        if 0 <= start < end:
            candidates.append(text[start : end + 1])
    for candidate in candidates:
        if not candidate:
            continue
        try:
            return json.loads(candidate)
        except ValueError:
            continue
    raise ValueError(f"no JSON found in the answer: {clip(text, 120)!r}")
