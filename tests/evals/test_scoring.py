"""Scoring: AC@k, strict fault type, chain order agreement and the summary."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from augur.evals.scenario import load_scenario
from augur.evals.scoring import CaseScore, chain_agreement, score, summarise


def _report(verdict: str, ranked: list[str], fault: str, chain: list[str]) -> Any:
    """The fields of an agent Report that scoring reads."""
    return SimpleNamespace(
        root_cause=SimpleNamespace(verdict=verdict, component=ranked[0] if ranked else None,
                                   fault_type=fault),
        candidates=[SimpleNamespace(rank=i + 1, component=c) for i, c in enumerate(ranked)],
        chain=[SimpleNamespace(component=c, signal=f"{c}.x") for c in chain],
        stats=SimpleNamespace(tool_calls=12, llm_tokens=0),
    )


def test_chain_agreement_counts_ordered_pairs() -> None:
    truth = ["a", "b", "c", "d"]
    assert chain_agreement(truth, truth) == 1.0
    assert chain_agreement(truth, list(reversed(truth))) == 0.0
    assert chain_agreement(truth, ["a", "c", "b", "d"]) == pytest.approx(5 / 6)
    assert chain_agreement(truth, ["a", "b"]) == pytest.approx(1 / 6)
    assert chain_agreement(["a"], ["x", "a"]) == 1.0


def test_story_scored_right_and_wrong() -> None:
    story = load_scenario("feature-drift-click-duration")
    chain = ["feature-pipeline", "ranker-model", "ranker-serving", "ctr"]
    right = score(story, _report("identified", chain, "data_drift", chain), 0.4)
    assert (right.ac1, right.ac3, right.fault_type_ok, right.chain_accuracy) == (True, True, True, 1.0)
    # The loud symptom first: wrong at 1, right at 3, chain order half wrong.
    symptom_first = ["ranker-serving", "ranker-model", "feature-pipeline"]
    wrong = score(story, _report("identified", symptom_first, "latency_regression", symptom_first), 0.4)
    assert (wrong.ac1, wrong.ac3, wrong.fault_type_ok) == (False, True, False)
    assert wrong.chain_accuracy == pytest.approx(0.0)
    # The red herring on top is wrong even at 3.
    herring = score(story, _report("identified", ["gpu-pool-a", "feature-pipeline"], "gpu_saturation", []), 1)
    assert not herring.ac1 and not herring.ac3
    # Inconclusive names no cause.
    unsure = score(story, _report("inconclusive", ["feature-pipeline"], "unknown", []), 1)
    assert not unsure.ac1 and unsure.ac3 and unsure.inconclusive


def test_benign_case_rewards_not_blaming_the_model() -> None:
    holiday = load_scenario("holiday-traffic-surge")
    assert score(holiday, _report("inconclusive", [], "unknown", []), 1).ac1
    assert score(holiday, _report("identified", ["user-traffic"], "traffic_surge", []), 1).ac1
    blamed = score(holiday, _report("identified", ["feature-pipeline"], "data_drift", []), 1)
    assert not blamed.ac1 and blamed.fault_type_ok is None and blamed.chain_accuracy is None


def test_summary_keys_and_errors() -> None:
    story = load_scenario("feature-drift-click-duration")
    chain = ["feature-pipeline", "ranker-model", "ranker-serving", "ctr"]
    ok = score(story, _report("identified", chain, "data_drift", chain), 0.2)
    failed = CaseScore(name="x", truth={}, ranked=[], verdict="error", fault_type=None, chain=[], ac1=False,
                       ac3=False, fault_type_ok=False, chain_accuracy=0.0, seconds=0.0, error="boom")
    s = summarise([ok, failed])
    assert {"scenarios", "ac1", "ac3", "fault_type_accuracy", "chain_accuracy", "median_seconds"} <= set(s)
    assert s["scenarios"] == 2 and s["errors"] == 1 and s["ac1"] == 0.5 and s["median_seconds"] == 0.2


@pytest.mark.parametrize(("scenario", "alias"), [
    ("bad-deploy-5xx", "error_rate"),  # names the classifier once used: no longer accepted
    ("slow-feature-store", "latency_regression"),
    ("gpu-low-sm-tiny-batches", "gpu_saturation"),
    ("data-freshness-lag", "feature_pipeline_stale"),
])
def test_fault_type_is_scored_strictly(scenario: str, alias: str) -> None:
    case = load_scenario(scenario)
    root = str(case.truth.root_cause)
    exact = score(case, _report("identified", [root], str(case.truth.fault_type), [root]), 0.1)
    near = score(case, _report("identified", [root], alias, [root]), 0.1)
    assert exact.fault_type_ok is True and near.fault_type_ok is False
