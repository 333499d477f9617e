"""The memory benchmark's simulated person: truthful verdicts, and the ones wrong on purpose."""

from __future__ import annotations

from types import SimpleNamespace

from augur.evals.bench_memory import _verdict


def _report(named: str | None) -> SimpleNamespace:
    rc = SimpleNamespace(verdict="identified" if named else "inconclusive", component=named)
    return SimpleNamespace(root_cause=rc, candidates=[SimpleNamespace(component=c)
                                                      for c in ("ranker-model", "feature-store")])


TRUTH = SimpleNamespace(root_cause="feature-store", fault_type="train_serve_skew")


def test_truthful_verdicts_confirm_a_right_answer_and_name_the_real_cause_of_a_wrong_one() -> None:
    assert _verdict(_report("feature-store"), TRUTH, on_purpose=False)["verdict"] == "confirmed"
    assert _verdict(_report("ranker-model"), TRUTH, on_purpose=False) == {
        "verdict": "wrong", "real_cause": "feature-store", "real_fault_type": "train_serve_skew"}
    assert _verdict(_report(None), TRUTH, on_purpose=False)["real_cause"] == "feature-store"


def test_verdicts_wrong_on_purpose_mislead_both_ways() -> None:
    assert _verdict(_report("ranker-model"), TRUTH, on_purpose=True)["verdict"] == "confirmed"
    assert _verdict(_report("feature-store"), TRUTH, on_purpose=True) == {
        "verdict": "wrong", "real_cause": "ranker-model"}


def test_a_benign_scenario_is_judged_not_actionable() -> None:
    benign = SimpleNamespace(root_cause=None, fault_type=None)
    assert _verdict(_report("ranker-model"), benign, on_purpose=True) == {"verdict": "not_actionable"}
