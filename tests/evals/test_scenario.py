"""The scenario format: the shipped suite is valid and varied; a broken file says what is wrong."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from augur.evals.scenario import (
    FaultType,
    ScenarioError,
    list_scenarios,
    load_scenario,
    parse_duration,
    parse_scenario,
)
from augur.evals.servers import require_binary


def test_suite_has_fifteen_scenarios_with_different_truths() -> None:
    suite = list_scenarios()
    assert len(suite) >= 15
    truths = [(s.truth.root_cause, s.truth.fault_type) for s in suite]
    assert len(set(truths)) == len(truths), "two scenarios share a truth"
    # Negative and confounded cases are part of the suite.
    assert any(s.truth.root_cause is None for s in suite)
    assert any(f.benign for s in suite for f in s.faults if s.truth.root_cause is not None)
    assert any(len([f for f in s.faults if not f.benign]) == 2 for s in suite)
    assert sum(s.story for s in suite) == 1


def test_every_fault_type_is_covered() -> None:
    covered = {s.truth.fault_type for s in list_scenarios()} | {
        f.type for s in list_scenarios() for f in s.faults
    }
    assert covered >= set(FaultType)


def test_each_scenario_rule_file_passes_promtool(tmp_path: Path) -> None:
    promtool = require_binary("promtool")
    for scenario in list_scenarios():
        path = tmp_path / f"{scenario.name}.yml"
        path.write_text(yaml.safe_dump(scenario.rules))
        result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True)
        assert result.returncode == 0, f"{scenario.name}: {result.stdout}{result.stderr}"


def _story_doc() -> dict[str, object]:
    return yaml.safe_load(load_scenario("feature-drift-click-duration").model_dump_json())  # type: ignore[no-any-return]


def test_durations() -> None:
    assert parse_duration("90m") == 5400
    assert parse_duration("-2h") == -7200
    assert parse_duration(30) == 30
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("ninety minutes")


def test_effect_against_the_dependency_direction_is_rejected() -> None:
    doc = _story_doc()
    # ranker-serving does not feed feature-pipeline: a serving fault cannot move the drift score.
    doc["faults"] = [{"id": "x", "component": "ranker-serving", "type": "bad_deploy", "start": "-10m",
                      "effects": [{"metric": "click-psi", "delta": 0.3}]}]
    with pytest.raises(ScenarioError, match="does not depend on 'ranker-serving'"):
        parse_scenario(yaml.safe_dump(doc), "story.yaml")


def test_problems_name_the_file_and_field() -> None:
    doc = _story_doc()
    doc["alert"] = "NoSuchAlert"
    doc["truth"] = {"root_cause": "nowhere", "fault_type": "data_drift", "chain": ["ranker-model.nosignal"]}
    with pytest.raises(ScenarioError) as err:
        parse_scenario(yaml.safe_dump(doc), "story.yaml")
    text = str(err.value)
    assert text.startswith("story.yaml:")
    assert "NoSuchAlert" in text and "unknown component 'nowhere'" in text and "nosignal" in text


def test_bad_shape_and_unknown_name() -> None:
    doc = _story_doc()
    doc["faults"][0]["shape"] = "spike"  # type: ignore[index]
    doc["faults"][0].pop("duration")  # type: ignore[index]
    with pytest.raises(ScenarioError, match="needs `duration`"):
        parse_scenario(yaml.safe_dump(doc))
    with pytest.raises(ScenarioError, match=r"known: .*feature-drift-click-duration"):
        load_scenario("no-such-scenario")
