"""The proposal engine on real Prometheus history: a drift-led incident, seasonality, de-duplication."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from augur.evals.servers import PrometheusServer, Sample, write_openmetrics
from augur.rules.incident import Findings, Signal, SymptomAlert
from augur.rules.proposal import ProposalKind, ProposalState, normalise_expr
from augur.rules.propose import (
    EngineConfig,
    ExistingRule,
    fetch_existing_rules,
    propose,
    propose_and_record,
    rules_in_files,
)
from augur.server.store.database import Store
from augur.server.store.proposals import SqlProposalStore
from augur.tools.prometheus_api import PrometheusClient
from tests.fixtures.prometheus import PromHistory

PACKS = Path(__file__).resolve().parents[2] / "rules" / "packs"
DRIFT = 'model_drift_score{feature="click_duration",model="ranker"}'


def _findings(h: PromHistory) -> Findings:
    """What the investigation of the fixture's incident found (the graph adapts its report to this)."""
    return Findings(
        first_alert_at=h.onsets["http_request_duration_seconds"] + 300,  # the p99 page, 5 min after onset
        root_cause=Signal(query=DRIFT, direction="up", onset=h.onsets["model_drift_score"],
                          evidence_ids=["ev-d01f7a000001"], name="ranker click_duration drift",
                          layer="model", labels={"model": "ranker"}),
        chain=[Signal(query='model_accuracy{model="ranker",model_version="v7"}', direction="down",
                      onset=h.onsets["model_accuracy"], evidence_ids=["ev-acc000000002"],
                      name="ranker accuracy", layer="model", labels={"model": "ranker"})],
        symptoms=[SymptomAlert(alertname="ServingLatencyP99High", labels={"service": "ranker-serving"},
                               layer="service"),
                  SymptomAlert(alertname="CTRDropped", layer="business")],
    )


def _pack_rules() -> list[ExistingRule]:
    return rules_in_files(p for p in PACKS.glob("*.yml") if p.name != "alertmanager-inhibit.yml")


@pytest.fixture
def history(prom_history: PromHistory) -> Iterator[PrometheusClient]:
    with PrometheusClient(prom_history.url) as prom:
        yield prom


def test_drift_led_incident_gets_an_early_drift_rule_and_an_inhibition(
        prom_history: PromHistory, history: PrometheusClient) -> None:
    existing = fetch_existing_rules(history) + _pack_rules()
    assert "ModelDriftHigh" in {r.name for r in existing}
    findings = _findings(prom_history)
    result = propose(findings, history, existing=existing, now=prom_history.t_end + 60)
    by_kind = {p.kind: p for p in result.proposals}

    drift = by_kind[ProposalKind.THRESHOLD]  # ModelDriftHigh watches the metric, so not "missing"
    assert DRIFT in drift.rule["expr"] and "offset 1w" in drift.rule["expr"]
    assert drift.validation.ok and "SUCCESS" in drift.validation.output
    bt = drift.backtest
    assert bt is not None and bt.episodes == 1  # no false page in the 4.5 h before the drift
    assert bt.lead_minutes is not None and bt.lead_minutes > 0  # fired before the incident's first alert
    assert bt.first_fire_at is not None
    assert 0 <= bt.first_fire_at - prom_history.onsets["model_drift_score"] <= 10 * 60
    assert "[ev-d01f7a000001]" in drift.rationale and drift.evidence_ids == ["ev-d01f7a000001"]

    inhibition = by_kind[ProposalKind.INHIBITION]
    assert inhibition.validation.ok and inhibition.validation.tool == "amtool check-config"
    assert 'alertname=~"ServingLatencyP99High"' in inhibition.rule["target_matchers"]
    assert not any("CTRDropped" in m for m in inhibition.rule["target_matchers"])  # business stays visible
    assert drift.rule["alert"] in inhibition.rule["source_matchers"][0]

    assert {ProposalKind.TREND, ProposalKind.COMPOSITE} <= set(by_kind)
    composite = by_kind[ProposalKind.COMPOSITE]
    assert "and on(model)" in composite.rule["expr"] and composite.backtest is not None
    assert composite.backtest.lead_minutes is not None and composite.backtest.lead_minutes > 0

    loaded = {normalise_expr(r.query) for r in existing}
    for proposal in result.proposals:
        if not proposal.is_alertmanager:
            assert normalise_expr(proposal.rule["expr"]) not in loaded
            assert proposal.rule["alert"] not in {r.name for r in existing}


def test_missing_signal_when_nothing_watched_the_first_link(
        prom_history: PromHistory, history: PrometheusClient) -> None:
    result = propose(_findings(prom_history), history, existing=[], now=prom_history.t_end + 60)
    kinds = [p.kind for p in result.proposals]
    assert ProposalKind.MISSING_SIGNAL in kinds and ProposalKind.THRESHOLD not in kinds
    missing = next(p for p in result.proposals if p.kind is ProposalKind.MISSING_SIGNAL)
    assert "had no alert" in missing.rationale


def test_duplicates_of_loaded_rules_and_stored_proposals_are_not_proposed(
        prom_history: PromHistory, history: PrometheusClient) -> None:
    first = propose(_findings(prom_history), history, existing=[], now=prom_history.t_end + 60)
    again = propose(_findings(prom_history), history, existing=[], now=prom_history.t_end + 60,
                    known_fingerprints={p.fingerprint for p in first.proposals})
    assert again.proposals == [] and len(again.skipped) == len(first.proposals)
    assert all("already proposed" in s for s in again.skipped)

    trend = next(p for p in first.proposals if p.kind is ProposalKind.TREND)
    respelled = trend.rule["expr"].replace(",", ", ").replace(">", " >  ")  # same rule, other spelling
    loaded = [ExistingRule("TeamDriftTrend", "alerting", respelled, "team-rules")]
    third = propose(_findings(prom_history), history, existing=loaded, now=prom_history.t_end + 60)
    assert ProposalKind.TREND not in {p.kind for p in third.proposals}
    assert any("same expression as the loaded rule TeamDriftTrend" in s for s in third.skipped)


@pytest.fixture(scope="module")
def seasonal_prom(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[PrometheusServer, float, float]]:
    """8 days of a drift score at 5-minute steps with a 30-minute surge at the same time every week
    (a recurring event, e.g. a weekly promotion) and one novel surge 3 hours before the end."""
    workdir = tmp_path_factory.mktemp("seasonal")
    end = float(int(time.time()) // 300 * 300 - 300)
    step, start = 300, end - 8 * 86400
    weekly_at = end - 6 * 3600  # surges at end-6h and end-6h-1w
    novel_at = end - 3 * 3600
    samples = []
    for i in range(int((end - start) // step) + 1):
        t = start + i * step
        weekly = any(0 <= t - (weekly_at - k * 7 * 86400) < 1800 for k in range(2))
        value = 0.45 if weekly or 0 <= t - novel_at < 1800 else 0.05 + 0.005 * math.sin(i / 5)
        samples.append(Sample("model_drift_score", {"feature": "basket_size", "model": "recs"}, value, t))
    write_openmetrics(samples, workdir / "h.om")
    with PrometheusServer.start(workdir / "server", openmetrics=workdir / "h.om") as server:
        yield server, weekly_at, novel_at


@pytest.mark.slow
def test_a_recurring_weekly_surge_does_not_page(seasonal_prom: tuple[PrometheusServer, float, float]) -> None:
    server, weekly_at, novel_at = seasonal_prom
    query = 'model_drift_score{feature="basket_size",model="recs"}'
    findings = Findings(first_alert_at=novel_at + 1800,
                        root_cause=Signal(query=query, direction="up", onset=novel_at, layer="model",
                                          evidence_ids=["ev-5ea5011a1000"], labels={"model": "recs"}))
    with PrometheusClient(server.url) as prom:
        result = propose(findings, prom, existing=[],
                         config=EngineConfig(history_days=7), now=novel_at + 3 * 3600)
    rule = next(p for p in result.proposals if p.kind is ProposalKind.MISSING_SIGNAL)
    assert rule.backtest is not None
    fired = [start for start, _ in rule.backtest.spans]
    assert len(fired) == 1 and novel_at <= fired[0] <= novel_at + 600, fired  # the weekly twin is suppressed
    threshold = rule.backtest.threshold
    assert threshold is not None
    surged = [v for t, v in rule.backtest.value_series if weekly_at <= t < weekly_at + 1800]
    assert surged and max(surged) > threshold  # the recurring surge was there, above the threshold
    assert rule.backtest.lead_minutes is not None and rule.backtest.lead_minutes >= 20


def test_recorded_proposals_wait_for_review_once(
        prom_history: PromHistory, history: PrometheusClient, store: Store) -> None:
    repo = SqlProposalStore(store)
    now = prom_history.t_end + 60
    first = propose_and_record(_findings(prom_history), history, repo, existing=[], now=now)
    pending = repo.find(ProposalState.PENDING)
    assert {p.id for p in pending} == {p.id for p in first.proposals} and len(pending) == 4
    again = propose_and_record(_findings(prom_history), history, repo, existing=[], now=now)
    assert again.proposals == [] and len(repo.find()) == 4


def test_latency_root_cause_and_too_little_history(
        prom_history: PromHistory, history: PrometheusClient) -> None:
    """A root cause that is an expression, not a selector, gets valid rules (subqueries for the
    offsets and the trend); a root cause with no history before its onset gets an explanation."""
    p99 = ('histogram_quantile(0.99, sum by (le) '
           '(rate(http_request_duration_seconds_bucket{service="ranker-serving"}[5m])))')
    onset = prom_history.onsets["http_request_duration_seconds"]
    latency = Findings(first_alert_at=onset + 900,
                       root_cause=Signal(query=p99, direction="up", onset=onset, layer="service",
                                         evidence_ids=["ev-9999aaaa0001"]))
    result = propose(latency, history, existing=[], now=prom_history.t_end + 60)
    threshold = next(p for p in result.proposals if p.kind is ProposalKind.MISSING_SIGNAL)
    assert "[5m:1m] offset 1d" in threshold.rule["expr"] and threshold.validation.ok
    assert threshold.backtest is not None and threshold.backtest.lead_minutes is not None
    assert threshold.backtest.lead_minutes > 0
    trend = next(p for p in result.proposals if p.kind is ProposalKind.TREND)
    assert "[30m:1m]" in trend.rule["expr"] and trend.validation.ok

    early = Findings(first_alert_at=prom_history.t_start + 600, symptoms=[
        SymptomAlert(alertname="ServingLatencyP99High", labels={"service": "ranker-serving"})],
        root_cause=Signal(query=DRIFT, direction="up", onset=prom_history.t_start + 60,
                          labels={"model": "ranker"}))
    sparse = propose(early, history, existing=[], now=prom_history.t_end + 60)
    assert [p.kind for p in sparse.proposals] == [ProposalKind.INHIBITION]
    assert any("too little history before the onset" in s for s in sparse.skipped)
