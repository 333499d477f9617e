"""The tool-to-agent contract: a declared meaning, a typed result, and old rows still readable."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import BaseModel

from augur.tools.base import Tool, ToolRegistry
from augur.tools.evidence import Evidence, EvidenceStatus, Meaning, meaning_of
from augur.tools.results import CONTRACTS, ContextResult, DriftResult, LevelsResult, result_of


class _NoArgs(BaseModel):
    pass


def _drift_tool(data: dict[str, Any], result: type[Any] = DriftResult) -> Tool:
    class EmbeddingDrift(Tool):
        name = "embedding_drift"
        description = "Drift of an embedding's distribution."
        Args = _NoArgs
        meaning = Meaning.DRIFT
        Result = result

        async def _run(self, args: _NoArgs) -> Evidence:
            return Evidence.make(self.name, {}, EvidenceStatus.OK, "drifted", data=data)

    return EmbeddingDrift()


def test_evidence_carries_the_meaning_its_tool_declares() -> None:
    class MmdResult(DriftResult):
        kernel: str

    tool = _drift_tool({"method": "mmd", "value": 0.31, "drifted": True, "kernel": "rbf"}, MmdResult)
    ev = asyncio.run(ToolRegistry([tool]).call("embedding_drift", {}))
    assert ev.status is EvidenceStatus.OK and ev.meaning is Meaning.DRIFT
    stored = ev.model_dump(mode="json")
    assert stored["meaning"] == "drift"
    read = result_of(stored)
    assert isinstance(read, DriftResult) and read.value == 0.31 and read.drifted is True
    assert read.model_extra == {"kernel": "rbf"}  # fields the contract does not type are kept


def test_a_result_that_breaks_its_model_is_error_evidence_naming_the_field() -> None:
    ev = asyncio.run(_drift_tool({"value": "high"}).run({}))
    assert ev.status is EvidenceStatus.ERROR and ev.meaning is Meaning.DRIFT
    assert "DriftResult" in (ev.reason or "") and "value" in (ev.reason or "")


def test_the_registry_refuses_a_result_that_is_not_its_meanings_contract() -> None:
    with pytest.raises(ValueError, match="means 'drift' but its Result LevelsResult is not DriftResult"):
        ToolRegistry([_drift_tool({}, LevelsResult)])
    assert ToolRegistry([_drift_tool({})]).meaning("embedding_drift") is Meaning.DRIFT
    assert ToolRegistry().meaning("nothing") is Meaning.CONTEXT


def test_rows_stored_before_meanings_load_with_their_tools_meaning() -> None:
    old = {"id": "ev-0123456789ab", "tool": "onset", "args": {"query": "up"}, "status": "ok",
           "summary": "up went down", "data": {"series": [{"found": True, "onset": 1.0e9}]}}
    assert Evidence.model_validate(old).meaning is Meaning.ONSET
    assert meaning_of(old) is Meaning.ONSET
    assert meaning_of({**old, "tool": "promql_range"}) is Meaning.LEVELS
    assert meaning_of({**old, "tool": "prom_rules"}) is Meaning.CONTEXT
    # A stored meaning wins over the legacy table.
    assert Evidence.model_validate({**old, "meaning": "drift"}).meaning is Meaning.DRIFT


def test_data_that_does_not_fit_its_meaning_reads_as_context_not_as_a_crash() -> None:
    read = result_of({"tool": "drift", "status": "ok", "data": {"value": [1, 2]}})
    assert type(read) is ContextResult
    assert set(CONTRACTS) == set(Meaning)
