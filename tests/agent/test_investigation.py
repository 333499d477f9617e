"""Acceptance: the deterministic path (no LLM) on the real Prometheus history fixture.

The fixture holds a known chain in a real Prometheus (logs in the embedded SQLite log store):
drift of ``click_duration`` (T-90m) → ranker accuracy down (T-75m) → ranker-serving p99 up
(T-60m) → CTR down (T-45m), and a noisy GPU utilisation that never changes (the red herring).
An alert on the p99 must be traced back to the drift.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from augur.agent.investigation import investigate
from augur.agent.markdown import render_markdown
from augur.agent.report import SCHEMA_PATH, Report, report_schema
from tests.agent.investigation_support import (
    latency_alert,
    platform_catalog,
    registry_for,
    write_platform_logs,
)
from tests.fixtures.prometheus import PromHistory

CHAIN = ["feature-pipeline", "ranker-model", "ranker-serving", "ctr"]
TRUE_ONSET = {"feature-pipeline": "model_drift_score", "ranker-model": "model_accuracy",
              "ranker-serving": "http_request_duration_seconds", "ctr": "business_ctr"}


@pytest.fixture(scope="module")
def report(prom_history: PromHistory, tmp_path_factory: pytest.TempPathFactory) -> Report:
    data_dir = tmp_path_factory.mktemp("data")
    assert write_platform_logs(data_dir, prom_history.t_end, prom_history.onsets) > 0
    registry = registry_for(prom_history.url, data_dir)
    alert = latency_alert(prom_history.t_end - 5 * 60, prom_history.url)
    return asyncio.run(investigate(alert, registry=registry, catalog=platform_catalog(),
                                   now=prom_history.t_end))


def test_names_the_drift_as_root_cause_without_an_llm(report: Report) -> None:
    assert report.root_cause.verdict == "identified"
    assert report.root_cause.component == "feature-pipeline"
    assert report.root_cause.fault_type == "data_drift"
    assert report.candidates[0].component == "feature-pipeline"
    assert report.root_cause.confidence >= 0.6
    assert not report.stats.llm_used and report.stats.llm_failed is None
    assert "Restore the feature pipeline" in report.fixes[0].action


def test_chain_is_in_onset_order_near_the_true_onsets(report: Report, prom_history: PromHistory) -> None:
    assert [link.component for link in report.chain] == CHAIN
    assert [link.role for link in report.chain] == ["cause", "symptom", "symptom", "symptom"]
    for link in report.chain:
        truth = prom_history.onsets[TRUE_ONSET[str(link.component)]]
        assert abs(link.onset.timestamp() - truth) <= 3 * 60, (link.signal, link.onset)
    assert report.chain_text.startswith("feature-pipeline.click_duration_psi PSI 0.4")
    assert "ranker-model.accuracy −6.0 pts" in report.chain_text
    assert "→ ctr −30 %" in report.chain_text  # ctr.ctr is shown as ctr
    assert set(report.symptoms) >= {"ranker-model.accuracy", "ranker-serving.p99_latency", "ctr.ctr"}


def test_gpu_red_herring_is_checked_and_normal(report: Report) -> None:
    assert [n.signal for n in report.checked_normal] == ["gpu-pool-a.gpu_util"]
    assert all(c.component != "gpu-pool-a" for c in report.candidates)
    assert all(link.component != "gpu-pool-a" for link in report.chain)


def test_every_narrative_sentence_cites_evidence_in_the_table(report: Report) -> None:
    ids = report.evidence_ids()
    assert report.narrative, "the report has a narrative"
    for sentence in report.narrative:
        assert sentence.evidence_ids and set(sentence.evidence_ids) <= ids, sentence
    assert report.dropped_sentences == []  # the code's own narrative is grounded
    # Every metric signal got both a range query and an onset analysis.
    tools = [row.tool for row in report.evidence]
    assert tools.count("promql_range") == tools.count("onset") >= 6
    prometheus_rows = [row for row in report.evidence if row.tool in ("promql_range", "onset")]
    assert all(row.link and row.link.startswith("http://127.0.0.1") for row in prometheus_rows)


def test_logs_from_the_embedded_store_corroborate_the_cause(report: Report) -> None:
    logs = [row for row in report.evidence if row.tool == "log_search"]
    assert len(logs) == 2 and all(row.status == "ok" for row in logs)
    assert any("outside expected range" in row.summary for row in logs)
    assert "its logs changed too" in report.candidates[0].reasons


def test_markdown_and_json_carry_the_verdict(report: Report) -> None:
    md = render_markdown(report)
    assert "# RankerP99High: feature-pipeline: data drift" in md
    assert report.chain_text in md
    assert "## Checked and normal" in md and "gpu-pool-a.gpu_util" in md
    data = json.loads(report.model_dump_json())
    for key in ("root_cause", "candidates", "chain", "evidence", "narrative", "fixes"):
        assert data[key], key
    assert set(data["root_cause"]) >= {"component", "fault_type", "confidence"}
    assert Report.model_validate(data) == report


def test_published_schema_is_current() -> None:
    assert json.loads(Path(SCHEMA_PATH).read_text()) == report_schema(), (
        "agent/report.schema.json is stale: run `python -m augur.agent.report`")


def test_report_feeds_the_rule_proposal_engine(report: Report, prom_history: PromHistory) -> None:
    """The report, adapted to the engine's Findings, yields an early drift rule and an inhibition."""
    from augur.rules.proposal import ProposalKind
    from augur.rules.propose import propose
    from augur.server.jobs.findings import report_findings
    from augur.tools.prometheus_api import PrometheusClient

    findings = report_findings(report, incident_id=7)
    assert findings is not None
    assert findings.root_cause.query == 'model_drift_score{feature="click_duration",model="ranker"}'
    assert findings.root_cause.direction == "up"
    assert abs(findings.root_cause.onset - prom_history.onsets["model_drift_score"]) <= 180
    assert [s.direction for s in findings.chain] == ["down", "up", "down"]
    assert findings.symptoms[0].alertname == "RankerP99High" and findings.symptoms[0].layer == "service"
    with PrometheusClient(prom_history.url) as prom:
        result = propose(findings, prom, existing=[], now=prom_history.t_end + 60)
    kinds = {p.kind for p in result.proposals}
    assert ProposalKind.INHIBITION in kinds
    assert any(findings.root_cause.query in str(p.rule.get("expr", "")) for p in result.proposals)
