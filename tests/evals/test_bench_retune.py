"""The retune benchmark: the suite replayed as one sequence in a real Prometheus, the simulated
reviewer's verdicts, retunes applied through promtool and a reload, and the figures it prints."""

from __future__ import annotations

import pytest

from augur.evals.bench_retune import Episode, incidents_of, main, rule_set, run
from augur.evals.scenario import list_scenarios


def test_the_rule_set_is_the_union_of_the_scenarios_alerting_rules() -> None:
    rules = rule_set(list_scenarios())
    names = [r["alert"] for r in rules]
    assert len(names) == len(set(names))
    exprs = {(r["alert"].split("_")[0], " ".join(str(r["expr"]).split())) for r in rules}
    assert len(exprs) == len(rules), "one rule per (name, expression)"
    assert "RankerAccuracyLow" in names and "RankerAccuracyLow_2" in names  # same name, two expressions


def test_firings_close_together_are_one_incident_per_rule() -> None:
    a = [Episode("A", 0, 60, True), Episode("A", 600, 660, False), Episode("A", 5000, 5060, False)]
    b = [Episode("B", 100, 160, False)]
    grouped = incidents_of(a + b)
    assert [[(e.rule, e.start) for e in i] for i in grouped] == [
        [("A", 0), ("A", 600)], [("B", 100)], [("A", 5000)]]


@pytest.mark.slow
def test_retunes_applied_cut_false_alarms_and_keep_every_real_incident() -> None:
    out = run(wrong_every=0, min_verdicts=2)
    before, after = out["before"], out["after"]
    assert before["incidents"] == after["incidents"] == 15
    assert before["caught"] == after["caught"] == 15
    applied = [r for r in out["retunes"] if r["applied"]]
    assert applied, out["retunes"]
    assert after["false_alarms"] < before["false_alarms"]
    assert after["false_alarm_rate"] < before["false_alarm_rate"]
    for r in applied:  # the retuned rule is what Prometheus evaluated afterwards
        assert after["per_rule"][r["rule"]]["false"] < before["per_rule"][r["rule"]]["false"]


@pytest.mark.slow
def test_the_command_prints_both_figures(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("before ") and lines[2].startswith("after ")
    assert "false-alarm rate" in lines[1] and "false-alarm rate" in lines[2]
    assert "every 5th verdict wrong on purpose" in lines[0]
