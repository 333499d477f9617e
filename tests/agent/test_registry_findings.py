"""Registry findings: which model_registry answers make a `bad_model_version` finding.

Pure functions over the tool's evidence data (the tool itself runs against a real MLflow server in
tests/tools/test_model_registry.py; the whole path in tests/evals/test_model_registry_scenario.py).
"""

from __future__ import annotations

from typing import Any

from augur.agent.catalog import Component
from augur.agent.registry_findings import read_registry, registry_calls, registry_reasons
from augur.agent.state import Finding, Window

ALERT_AT = 1_800_000_000.0
WINDOW = Window(start=ALERT_AT - 6 * 3600, end=ALERT_AT, alert_at=ALERT_AT, step=30.0)


def _data(changed_at: str, *, changed_since: bool, previous: bool = True) -> dict[str, Any]:
    return {
        "model": "home-ranker", "changed_at": changed_at, "changed_at_source": "deployed_at tag",
        "changed_since": changed_since,
        "live": {"version": "2", "selected_by": "alias champion"},
        "previous": {"version": "1"} if previous else None,
        "metrics": [{"key": "accuracy", "kind": "quality", "live": 0.805, "previous": 0.81, "delta": -0.005}],
    }


def _read(data: dict[str, Any]) -> Finding:
    finding = Finding(component="feed-ranker", signal="feed-ranker.model_version", evidence_ids=["ev-1"])
    assert read_registry(finding, data, "ev-1", WINDOW)
    return finding


def test_a_version_that_went_live_inside_the_window_is_a_bad_model_version_change() -> None:
    f = _read(_data("2027-01-15T06:25:00Z", changed_since=True))
    assert f["anomalous"] and f["fault_type"] == "bad_model_version" and f["kind"] == "registry"
    assert (f["before"], f["after"], f["onset"]) == (1.0, 2.0, ALERT_AT - 95 * 60)
    assert f["magnitude"] > 0 and f["source_id"] == "ev-1"
    live = Finding(signal="feed-ranker.accuracy", kind="metric", bad="down", before=0.8, after=0.72)
    assert registry_reasons([f, live]) == [
        "the model registry: home-ranker v2 went live at 2027-01-15T06:25:00Z (deployed_at tag), alias "
        "champion, after v1; accuracy: offline 0.81 (v1) → 0.805 (v2, live); live signal "
        "feed-ranker.accuracy 0.8 → 0.72"]


def test_an_old_version_a_first_version_or_one_deployed_after_the_alert_is_no_change() -> None:
    assert not _read(_data("2027-01-10T00:00:00Z", changed_since=False))["anomalous"]
    assert not _read(_data("2027-01-15T06:25:00Z", changed_since=True, previous=False))["anomalous"]
    assert not _read(_data("2027-01-15T09:00:00Z", changed_since=True))["anomalous"]  # 40 min after


def test_components_naming_a_registered_model_get_one_call_with_their_alias() -> None:
    comps = [Component(name="feed-ranker", layer="model", registered_model="home-ranker@champion"),
             Component(name="plain", layer="model"),
             Component(name="legacy", layer="model", registered_model="old-ranker")]
    calls = registry_calls(comps, WINDOW, "SOP 1/6: ")
    assert [(c["component"], c["signal"], c["args"]) for c in calls] == [
        ("feed-ranker", "feed-ranker.model_version",
         {"model": "home-ranker", "since": WINDOW["start"], "alias": "champion"}),
        ("legacy", "legacy.model_version", {"model": "old-ranker", "since": WINDOW["start"]}),
    ]
