"""The retuner on the shared Prometheus history (real Prometheus, real promtool): what it proposes,
and what it refuses to propose and why.

The history's GPU utilisation is noise around 60 % (the red herring of ``tests/fixtures/prometheus.py``),
so ``avg_over_time(DCGM_FI_DEV_GPU_UTIL[5m]) > 70`` flaps: a rule people would judge not actionable.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx
import pytest

from augur.rules.backtest import backtest
from augur.rules.proposal import ProposalKind, ProposalState
from augur.rules.retune import (
    AlertRule,
    VerdictRef,
    comparison_of,
    format_duration,
    loaded_alert_rule,
    retune,
    retune_and_record,
)
from augur.server.store.database import Store
from augur.server.store.proposals import SqlProposalStore
from augur.tools.prometheus_api import PrometheusClient, connect
from tests.fixtures.incidents import seed_incident
from tests.fixtures.prometheus import PromHistory

FLAPPY = "avg_over_time(DCGM_FI_DEV_GPU_UTIL[5m]) > 70"
RULE = AlertRule(name="GPUBusy", group="gpu", file="", expr=FLAPPY, labels={"severity": "page"})


@pytest.fixture
def prom(prom_history: PromHistory) -> PrometheusClient:
    return connect(prom_history.url, http=httpx.Client())


def _verdicts(starts: list[float], first: int = 10, incidents: list[int] | None = None) -> list[VerdictRef]:
    at = datetime(2026, 12, 3, 9, 30, tzinfo=UTC)
    ids = incidents or [90 + first + i for i in range(len(starts))]
    return [VerdictRef(id=first + i, incident_id=ids[i], by="alice", at=at, fired_at=s)
            for i, s in enumerate(starts)]


def _firings(prom: PrometheusClient, now: float) -> list[tuple[float, float]]:
    return backtest(prom, FLAPPY, start=now - 7 * 86400, end=now).spans


@pytest.mark.parametrize(("expr", "parsed"), [
    ("avg_over_time(x[5m]) > 70", ("avg_over_time(x[5m])", ">", 70.0)),
    ('min by (model) (acc{slice=""}) < 0.76', ('min by (model) (acc{slice=""})', "<", 0.76)),
    ("rate(errors[5m]) >= 1e-3", ("rate(errors[5m])", ">=", 0.001)),
    ("avg_over_time(ctr[15m]) < 0.8 * avg_over_time(ctr[1h])", None),
    ("a > 0.5 and b > 1", None),
    ("(a > 0.5) > 2", ("(a > 0.5)", ">", 2.0)),
    ("a > 0.5 > 2", None),
    ('x{le="0.5"} > bool 1', None),
])
def test_only_a_single_comparison_with_a_number_is_a_threshold(expr: str,
                                                               parsed: tuple[str, str, float] | None) -> None:
    assert comparison_of(expr) == parsed


def test_durations_read_as_prometheus_writes_them() -> None:
    assert [format_duration(s) for s in (0, 60, 90, 3600, 5400)] == ["0s", "1m", "1m30s", "1h", "1h30m"]


def test_a_flapping_rule_gets_a_higher_threshold_and_a_longer_for_both_firing_less(
    prom: PrometheusClient, prom_history: PromHistory,
) -> None:
    now = time.time()
    firings = _firings(prom, now)
    assert len(firings) >= 10
    result = retune(RULE, _verdicts([firings[i][0] for i in (2, 5, 8)]), prom, now=now)
    kinds = {("for" in p.rule, p.rule["expr"] != FLAPPY) for p in result.proposals}
    assert kinds == {(True, False), (False, True)}, result.skipped
    for p in result.proposals:
        assert p.kind is ProposalKind.RETUNE and p.state is ProposalState.PENDING
        assert p.validation.ok and p.backtest is not None and p.backtest.before is not None
        assert p.backtest.episodes < p.backtest.before.episodes == len(firings)
        assert p.evidence_ids == ["verdict-10", "verdict-11", "verdict-12"]
        assert "[verdict-11] by alice at 2026-12-03 09:30 UTC on incident #101" in p.rationale
        assert p.rule["labels"] == {"severity": "page"} and p.rule["alert"] == "GPUBusy"


def test_a_retune_that_would_miss_an_incident_judged_real_is_not_proposed(prom: PrometheusClient) -> None:
    now = time.time()
    firings = _firings(prom, now)
    noise = _verdicts([firings[i][0] for i in (2, 5, 8)])
    # The incidents judged real: every firing. Any quieter rule misses one of them.
    result = retune(RULE, noise, prom, mattered=firings, now=now)
    assert result.proposals == []
    assert any("(threshold): would miss" in s and "judged real" in s for s in result.skipped), result.skipped
    assert any("(for): no `for:`" in s for s in result.skipped), result.skipped


def test_what_cannot_be_retuned_says_why(prom: PrometheusClient, prom_history: PromHistory) -> None:
    quiet = AlertRule(name="GPUSaturated", group="augur-fixture", file="",
                      expr="avg_over_time(DCGM_FI_DEV_GPU_UTIL[10m]) > 95")
    verdicts = _verdicts([prom_history.t_end - 3600])
    assert "did not fire" in retune(quiet, verdicts, prom).skipped[0]
    gpu = "DCGM_FI_DEV_GPU_UTIL"
    ratio = AlertRule(name="Ratio", group="g", file="",
                      expr=f"avg_over_time({gpu}[5m]) > 0.9 * avg_over_time({gpu}[1h])")
    skipped = retune(ratio, verdicts, prom).skipped
    assert any("(threshold)" in s and "is not `<signal> > <number>`" in s for s in skipped), skipped
    loaded = loaded_alert_rule(prom, "CTRDropped")
    assert loaded is not None and loaded.for_s == 3600 and loaded.group == "augur-fixture"
    assert loaded_alert_rule(prom, "NoSuchAlert") is None


def test_recorded_once_per_set_of_verdicts(prom: PrometheusClient, store: Store) -> None:
    now = time.time()
    firings = _firings(prom, now)
    repo = SqlProposalStore(store)
    incidents = [seed_incident(store, None, title=f"GPUBusy #{i}") for i in range(4)]
    verdicts = _verdicts([firings[i][0] for i in (2, 5, 8)], incidents=incidents[:3])
    first = retune_and_record(RULE, verdicts, prom, repo, now=now)
    assert len(first.proposals) == 2 and len(repo.find()) == 2
    again = retune_and_record(RULE, verdicts, prom, repo, now=now + 60)
    assert again.proposals == [] and "pending review" in again.skipped[0]
    for p in first.proposals:  # decided: the same verdicts still propose nothing
        assert repo.move(p.id, ProposalState.PENDING, ProposalState.REJECTED, "bob", "no")
    assert retune_and_record(RULE, verdicts, prom, repo, now=now + 120).proposals == []
    # A new verdict on top: a new look, where the rules already proposed are known by fingerprint.
    fourth = _verdicts([firings[10][0]], first=20, incidents=incidents[3:])
    more = retune_and_record(RULE, [*verdicts, *fourth], prom, repo, now=now)
    assert any("(for): already proposed" in s for s in more.skipped), more.skipped
    assert all(p.id not in {q.id for q in first.proposals} for p in more.proposals)
    assert len(repo.find()) == 2 + len(more.proposals)
