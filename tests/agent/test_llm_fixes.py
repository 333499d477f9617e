"""Fixes the LLM adds to the playbook's: kept only when they cite the report's evidence and are grounded.

The LLM is the real ``openai`` client against a scripted OpenAI-compatible endpoint on loopback
(no hosted LLM is reachable here; ``tests/fixtures/openai_endpoint.py``); the end-to-end test runs
a whole investigation on the shared real Prometheus history.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest

from augur.agent.citations import report_evidence
from augur.agent.investigation import investigate
from augur.agent.llm import LLMClient
from augur.agent.llm_planner import LLMPlanner
from augur.agent.markdown import render_markdown
from augur.agent.narrate import LLMNarrator, grounded_fixes
from augur.agent.report import Fix, Report
from augur.agent.state import Budget
from tests.agent.investigation_support import (
    latency_alert,
    platform_catalog,
    registry_for,
    write_platform_logs,
)
from tests.fixtures.llm_state import sample_report
from tests.fixtures.openai_endpoint import Reply, ScriptedEndpoint, chat_completion
from tests.fixtures.prometheus import PromHistory

PIN = "Pin the click_duration feature's upstream schema and alert when its PSI passes 0.41"


def _fixes(cause: str) -> list[dict[str, Any]]:
    return [
        {"action": PIN, "why": "the drift started the chain", "evidence_ids": [cause]},
        {"action": "Restart every pod in the cluster", "why": "it usually helps", "evidence_ids": []},
        {"action": "Roll back the CDN", "why": "edge errors", "evidence_ids": ["ev-0123456789ab"]},
        {"action": "Cap click_duration at 17 seconds", "why": "outliers", "evidence_ids": [cause]},
    ]


def test_cited_fix_is_kept_and_uncited_ones_dropped(llm_endpoint: ScriptedEndpoint) -> None:
    report = sample_report()
    cause = report.root_cause.evidence_ids[0]
    llm_endpoint.push(Reply(chat_completion(json.dumps({
        "sentences": [{"text": "Drift came first.", "evidence_ids": [cause]}], "fixes": _fixes(cause)}))))
    narrator = LLMNarrator(LLMClient(base_url=llm_endpoint.url, model="scripted", timeout_s=5.0), max_fixes=4)
    written = asyncio.run(narrator.narrate(report, Budget()))
    assert [s.text for s in written] == ["Drift came first."]
    assert "fixes" in llm_endpoint.requests[0]["response_format"]["json_schema"]["schema"]["properties"]

    kept, dropped = grounded_fixes(written.fixes, report, report_evidence(report))
    assert [(f.action, f.source, f.fault_type, f.evidence_ids) for f in kept] == [
        (PIN, "llm", "data_drift", [cause])]
    reasons = " | ".join(dropped)
    assert "Restart every pod in the cluster (cites no evidence)" in reasons
    assert "Roll back the CDN (cites unknown evidence ['ev-0123456789ab'])" in reasons
    assert "Cap click_duration at 17 seconds (numbers not found in the cited evidence: 17)" in reasons
    # A fix the playbook already lists is not added twice.
    again, why = grounded_fixes([report.fixes[0].model_copy(update={"source": "llm"})], report,
                                report_evidence(report))
    assert again == [] and "repeats a listed fix" in why[0]


class _Model:
    """Plans nothing (DONE), then narrates with the fixes of :func:`_fixes` citing the verdict's evidence."""

    def __call__(self, request: dict[str, Any]) -> Reply:
        fmt = (request.get("response_format") or {}).get("json_schema", {}).get("name")
        if fmt != "augur_narrative":
            return Reply(chat_completion("DONE"))
        cause = re.search(r"^verdict: .*\[(ev-[0-9a-f]+)", request["messages"][1]["content"], re.M)
        assert cause, request["messages"][1]["content"]
        # Cited, uncited, unknown id (the invented-number case is the test above: changes between
        # any two headline numbers of real range evidence cover many values, e.g. 17 % as a relative
        # change, so a made-up number is not reliably absent).
        fixes = [dict(f, action=f["action"].replace(" passes 0.41", "")) for f in _fixes(cause.group(1))[:3]]
        return Reply(chat_completion(json.dumps({
            "sentences": [{"text": "The click_duration drift started the chain.",
                           "evidence_ids": [cause.group(1)]}],
            "fixes": fixes,
        })))


def test_investigation_appends_grounded_llm_fixes_after_the_playbooks(
    prom_history: PromHistory, tmp_path: Path, llm_endpoint: ScriptedEndpoint
) -> None:
    write_platform_logs(tmp_path, prom_history.t_end, prom_history.onsets)
    llm_endpoint.push(*[_Model()] * 4)
    llm = LLMClient(base_url=llm_endpoint.url, model="scripted", timeout_s=10.0)

    def run(writer: LLMNarrator | None, inv_id: str) -> Report:
        return asyncio.run(investigate(
            latency_alert(prom_history.t_end - 5 * 60, prom_history.url),
            registry=registry_for(prom_history.url, tmp_path), catalog=platform_catalog(),
            now=prom_history.t_end, planner=LLMPlanner(llm) if writer else None, writer=writer,
            investigation_id=inv_id,
        ))

    report = run(LLMNarrator(llm, max_fixes=4), "inv-llm-fixes")
    sop = run(None, "inv-sop-fixes")

    rc = report.root_cause
    assert (rc.verdict, rc.component) == ("identified", "feature-pipeline")
    assert report.root_cause == sop.root_cause and report.chain_text == sop.chain_text
    playbook = sop.fixes
    assert playbook and all(f.source == "playbook" for f in playbook)
    assert report.fixes[: len(playbook)] == playbook  # all of the playbook's, first, in its order
    llm_fixes = report.fixes[len(playbook):]
    pin = PIN.replace(" passes 0.41", "")
    assert [(f.action, f.source, f.evidence_ids) for f in llm_fixes] == [(pin, "llm", rc.evidence_ids[:1])]
    assert f"{pin} — _the drift started the chain_ (suggested by the LLM, citing [{rc.evidence_ids[0]}])" in (
        render_markdown(report))
    notes = " | ".join(report.stats.notes)
    assert "LLM fix dropped: Restart every pod" in notes and "LLM fix dropped: Roll back the CDN" in notes


@pytest.mark.parametrize("limit", [1])
def test_at_most_limit_fixes_are_added(limit: int) -> None:
    report = sample_report()
    cause = report.root_cause.evidence_ids[0]
    proposed = [Fix(action=f"Check the {name} dashboard", why="drift", fault_type="x", source="llm",
                    evidence_ids=[cause]) for name in ("feature", "pipeline")]
    kept, dropped = grounded_fixes(proposed, report, report_evidence(report), limit=limit)
    assert [f.action for f in kept] == ["Check the feature dashboard"]
    assert dropped == ["Check the pipeline dashboard (over the limit of 1)"]
