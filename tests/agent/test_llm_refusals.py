"""What the LLM planner refuses reaches the report: refused calls are counted and their reasons noted.

The telemetry is real (the shared Prometheus history fixture, the embedded log store); the LLM is
the real ``openai`` client against the scripted OpenAI-compatible endpoint on loopback
(``tests/fixtures/openai_endpoint.py``), because no hosted LLM is reachable here.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from augur.agent.investigation import investigate
from augur.agent.llm import LLMClient
from augur.agent.llm_planner import LLMPlanner
from augur.agent.markdown import render_markdown
from augur.agent.report import Report
from tests.agent.investigation_support import (
    latency_alert,
    platform_catalog,
    registry_for,
    write_platform_logs,
)
from tests.fixtures.openai_endpoint import Reply, ScriptedEndpoint, chat_completion, tool_call
from tests.fixtures.prometheus import PromHistory

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def data_dir(prom_history: PromHistory, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("refusal-data")
    write_platform_logs(path, prom_history.t_end, prom_history.onsets)
    return path


def _investigate(prom: PromHistory, data_dir: Path, endpoint: ScriptedEndpoint, inv_id: str) -> Report:
    llm = LLMClient(base_url=endpoint.url, model="scripted", timeout_s=10.0)
    alert = latency_alert(prom.t_end - 5 * 60, prom.url)
    registry = registry_for(prom.url, data_dir)
    return asyncio.run(investigate(alert, registry=registry, catalog=platform_catalog(), now=prom.t_end,
                                   planner=LLMPlanner(llm), investigation_id=inv_id))


def test_malformed_and_unknown_llm_calls_are_refused_in_the_report(
    prom_history: PromHistory, data_dir: Path, llm_endpoint: ScriptedEndpoint,
) -> None:
    def planner(request: dict[str, Any]) -> Reply:
        return Reply(chat_completion("Check the target and approve the fix.", [
            tool_call("promql", '{"query": "up"'),  # cut-off JSON
            tool_call("approve_rules", {"all": True}),  # no such tool: tools only read
        ]))

    llm_endpoint.push(planner, Reply(chat_completion("DONE")))
    report = _investigate(prom_history, data_dir, llm_endpoint, "inv-llm-refusals")

    assert report.root_cause.component == "feature-pipeline"  # the SOP's verdict stands
    assert report.stats.refused_calls == 2
    note = next(n for n in report.stats.notes if "refused" in n)
    assert "2 of 2 call(s) proposed by llm:scripted refused" in note
    assert "malformed arguments" in note and "unknown tool 'approve_rules'" in note
    assert not any(row.tool == "approve_rules" for row in report.evidence)
    assert "(2 refused)" in render_markdown(report)
    assert json.loads(report.model_dump_json())["stats"]["refused_calls"] == 2


def test_a_failing_planner_keeps_its_notes(
    prom_history: PromHistory, data_dir: Path, llm_endpoint: ScriptedEndpoint,
) -> None:
    """The endpoint rejects native tool calling, then answers junk: the planner's notes survive."""
    llm_endpoint.push(
        Reply({"error": {"message": "tools are not supported by this model"}}, status=400),
        Reply(chat_completion("I would rather not say.")),
    )
    report = _investigate(prom_history, data_dir, llm_endpoint, "inv-llm-junk")

    assert report.root_cause.component == "feature-pipeline"
    assert report.stats.llm_failed is not None and "finished on the SOP path" in report.stats.llm_failed
    assert any("rejected tools mode" in n and "switched to json mode" in n for n in report.stats.notes)
