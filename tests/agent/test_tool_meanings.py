"""The agent reads evidence by what it means, never by which tool made it.

Two guarantees: no agent module compares a tool's name (read from the source with ``ast``), and
a tool the agent has never heard of, declaring an existing meaning, drives an investigation with
no change to agent code. The new tool here computes real onsets (the onset detector's library
function) from series passed inline, so the test needs no backend.
"""

from __future__ import annotations

import ast
import asyncio
import importlib
import pkgutil
from pathlib import Path
from typing import Any

from pydantic import BaseModel

import augur.agent
import augur.tools
from augur.agent.investigation import investigate
from augur.agent.report import EvidenceRow
from augur.agent.state import Budget, InvestigationState, ToolCall
from augur.server.settings import Settings
from augur.server.toolbox import build_registry
from augur.tools.base import Tool, ToolRegistry
from augur.tools.evidence import Evidence, EvidenceStatus, Meaning
from augur.tools.onset import detect_onset
from augur.tools.results import OnsetData, SeriesOnset
from tests.agent.investigation_support import latency_alert, platform_catalog

AGENT = Path(augur.agent.__file__).parent


def _tool_names() -> set[str]:
    """Names of every tool class augur ships."""
    for info in pkgutil.walk_packages(augur.tools.__path__, "augur.tools."):
        importlib.import_module(info.name)
    names: set[str] = set()
    todo = list(Tool.__subclasses__())
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        if isinstance(cls.__dict__.get("name"), str):
            names.add(cls.__dict__["name"])
    return names


def _reads_tool(node: ast.AST) -> bool:
    """``x["tool"]``, ``x.get("tool")``, ``x.tool`` or a variable called ``tool``."""
    if isinstance(node, ast.Subscript):
        return isinstance(node.slice, ast.Constant) and node.slice.value == "tool"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get":
        return bool(node.args) and isinstance(node.args[0], ast.Constant) and node.args[0].value == "tool"
    if isinstance(node, ast.Attribute):
        return node.attr == "tool"
    return isinstance(node, ast.Name) and node.id in ("tool", "tool_name")


def _strings(node: ast.AST, constants: dict[str, ast.AST]) -> list[str]:
    """The string literals ``node`` is (a literal, a literal tuple/list/set, or a module constant)."""
    if isinstance(node, ast.Name) and node.id in constants:
        return _strings(constants[node.id], {})
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return [s for elt in node.elts for s in _strings(elt, constants)]
    return []


def tool_name_comparisons(source: str, tool_names: set[str]) -> list[str]:
    """Every place in ``source`` that decides by a tool's name: ``line: code``."""
    tree = ast.parse(source)
    constants = {t.id: node.value for node in tree.body if isinstance(node, ast.Assign | ast.AnnAssign)
                 for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
                 if isinstance(t, ast.Name) and node.value is not None}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            by_tool = any(_reads_tool(o) for o in operands) and any(_strings(o, constants) for o in operands)
            by_name = any(s in tool_names for o in operands for s in _strings(o, constants)) and any(
                isinstance(o, ast.Attribute | ast.Subscript) and _reads_name(o) for o in operands)
            if by_tool or by_name:
                found.append(f"{node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.Match) and _reads_tool(node.subject):
            found.append(f"{node.lineno}: match {ast.unparse(node.subject)}")
    return sorted(found, key=lambda hit: int(hit.split(":")[0]))


def _reads_name(node: ast.AST) -> bool:
    """``tool.name`` or ``x["name"]`` (a tool schema's name)."""
    if isinstance(node, ast.Attribute):
        return node.attr == "name" and "tool" in ast.unparse(node.value).lower()
    return (isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant)
            and node.slice.value == "name")


def test_no_agent_module_decides_by_a_tool_name() -> None:
    names = _tool_names()
    assert {"onset", "promql_range", "drift", "log_search", "trace_search"} <= names
    offenders = {str(path.relative_to(AGENT)): hits for path in sorted(AGENT.rglob("*.py"))
                 if (hits := tool_name_comparisons(path.read_text(), names))}
    assert offenders == {}, ("agent code decides by tool name; dispatch on the evidence's meaning "
                             "(augur.tools.evidence.Meaning) or its result type (augur.tools.results)")


def test_the_guard_catches_each_way_of_deciding_by_name() -> None:
    names = {"onset", "drift"}
    source = '''
JUDGING = ("onset", "drift")
def f(call, ev, tool, registry, t):
    if call["tool"] == "onset": pass
    if ev.get("tool") in ("drift", "onset"): pass
    if call["tool"] not in JUDGING: pass
    if tool == "whatever": pass
    if t.tool_name == 1 or tool.name == "drift": pass
    match call["tool"]:
        case "onset": pass
    if call["tool"] not in registry: pass
    if f.get("onset") is not None and kind == "drift": pass
'''
    hits = [h.split(":")[0] for h in tool_name_comparisons(source, names)]
    assert hits == ["4", "5", "6", "7", "8", "9"]  # the registry lookup and the finding's keys pass


class _InlineSeries(BaseModel):
    series: str
    timestamps: list[float]
    values: list[float]
    reference_end: float


class ReplayedOnsetTool(Tool):
    """A tool the agent has never heard of: onsets of series given inline (a replayed recording)."""

    name = "replayed_onset"
    description = "When each inline series left its baseline."
    Args = _InlineSeries
    meaning = Meaning.ONSET
    Result = OnsetData

    async def _run(self, args: _InlineSeries) -> Evidence:
        found = detect_onset(args.timestamps, args.values, args.reference_end)
        data = OnsetData(series=[SeriesOnset(series=args.series, **found.as_dict())])
        return Evidence.make(self.name, args.model_dump(mode="json"), EvidenceStatus.OK,
                             f"{args.series}: onset {found.onset}", data=data.model_dump(mode="json"))


class ReplayPlanner:
    """Plans one replayed_onset call per recorded signal, once."""

    name = "replay"

    def __init__(self, recordings: dict[str, dict[str, Any]]) -> None:
        self.recordings = recordings
        self.asked = 0

    async def plan(self, state: InvestigationState, tools: ToolRegistry, budget: Budget) -> list[ToolCall]:
        self.asked += 1
        if self.asked > 1:
            return []
        return [ToolCall(tool="replayed_onset", args={"series": signal, **rec}, why="replay",
                         component=signal.partition(".")[0], signal=signal, planner="replay")
                for signal, rec in self.recordings.items()]


def _step(t0: float, onset: float, before: float, after: float) -> dict[str, Any]:
    """Six hours a minute apart, ``before`` until ``onset`` and ``after`` from it (a little noise)."""
    ts = [t0 + 60.0 * i for i in range(360)]
    vals = [(after if t >= onset else before) * (1 + 0.01 * ((i * 7) % 5 - 2)) for i, t in enumerate(ts)]
    return {"timestamps": ts, "values": vals, "reference_end": t0 + 60.0 * 240}


def test_a_new_tool_declaring_an_existing_meaning_drives_the_investigation(tmp_path: Path) -> None:
    t0 = 1_750_000_000.0
    cause, effect = t0 + 60.0 * 290, t0 + 60.0 * 320
    recordings = {"feature-pipeline.click_duration_psi": _step(t0, cause, 0.02, 0.4),
                  "ranker-model.accuracy": _step(t0, cause + 600, 0.9, 0.7),
                  "gpu-pool-a.gpu_util": _step(t0, t0, 60.0, 60.0),
                  "ranker-serving.p99_latency": _step(t0, effect, 0.2, 0.9),
                  "ctr.ctr": _step(t0, effect + 120, 0.08, 0.05)}
    # No Prometheus: the SOP's own metric tools answer `unavailable`, so every finding comes from
    # the new tool, which the replay planner calls once the procedure has run out of calls.
    registry = build_registry(Settings(data_dir=tmp_path))
    registry.register(ReplayedOnsetTool())
    alert = latency_alert(effect + 300)
    del alert["alerts"][0]["generatorURL"]
    report = asyncio.run(investigate(alert, registry=registry, catalog=platform_catalog(),
                                     planner=ReplayPlanner(recordings), now=t0 + 60.0 * 359))
    assert report.root_cause.verdict == "identified", report.root_cause.summary
    assert report.root_cause.component == "feature-pipeline"
    assert [(link.signal, link.onset.timestamp()) for link in report.chain][:2] == [
        ("feature-pipeline.click_duration_psi", cause), ("ranker-model.accuracy", cause + 600)]
    rows = [r for r in report.evidence if r.meaning is Meaning.ONSET and r.status == "ok"]
    assert {r.tool for r in rows} == {"replayed_onset"}  # the onset tool itself had no Prometheus
    assert len(rows) == 5 and sum(r.value.startswith("onset ") for r in rows) == 4
    assert {r.value for r in rows} - {r.value for r in rows if r.value.startswith("onset ")} == {"no change"}


def test_reports_stored_before_meanings_load_with_their_rows_meaning() -> None:
    row = {"id": "ev-0123456789ab", "tool": "promql_range", "status": "ok", "query": "up",
           "value": "median 1 before, 0 after (-9σ)", "summary": "up went down"}
    assert EvidenceRow.model_validate(row).meaning is Meaning.LEVELS
    assert EvidenceRow.model_validate({**row, "tool": "model_registry"}).meaning is Meaning.MODEL_VERSION
    assert EvidenceRow.model_validate({**row, "meaning": "onset"}).meaning is Meaning.ONSET
