"""The Prometheus tools against a real Prometheus (the shared ``prom_history`` fixture), and against
backends that are down, slow or answer garbage.

The failure cases use a real closed port and real loopback HTTP servers (a sleeping one and one
that answers HTML / wrong-shaped JSON / HTTP 500), reached through augur's real Prometheus client
over TCP: nothing is patched.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from augur.evals.servers import free_port
from augur.tools.base import Tool
from augur.tools.evidence import Evidence, EvidenceStatus
from augur.tools.prometheus import (
    PromAlertsTool,
    PromCardinalityTool,
    PrometheusTool,
    PromLimits,
    PromQLRangeTool,
    PromQLTool,
    PromRulesTool,
    PromSeriesTool,
    connect,
    fetch_range,
)
from tests.fixtures.loopback import MisbehavingPrometheus, misbehaving_prometheus
from tests.fixtures.prometheus import MODEL_VERSIONS, PromHistory

ALL_TOOLS: list[type[PrometheusTool]] = [
    PromQLTool, PromQLRangeTool, PromSeriesTool, PromRulesTool, PromAlertsTool, PromCardinalityTool,
]
# Arguments that make each tool call its endpoint(s).
CALLS: dict[str, dict[str, Any]] = {
    "promql": {"query": "model_drift_score"},
    "promql_range": {"query": "model_drift_score"},
    "prom_series": {"match": "model_drift_score"},
    "prom_rules": {},
    "prom_alerts": {},
    "prom_cardinality": {},
}
DRIFT = 'model_drift_score{feature="click_duration"}'


def run(tool: Tool, args: dict[str, Any]) -> Evidence:
    return asyncio.run(tool.run(args))


def tool(cls: type[PrometheusTool], url: str, **limits: Any) -> PrometheusTool:
    timeout = limits.get("request_timeout_s", 10.0)
    return cls(connect(url, timeout_s=timeout), PromLimits(**limits))


def wait_for(predicate: Any, timeout_s: float = 15.0) -> Evidence:
    """Rules evaluate every second after Prometheus starts; poll until the state shows."""
    deadline = time.monotonic() + timeout_s
    while True:
        evidence = predicate()
        if evidence is not None or time.monotonic() > deadline:
            return evidence  # type: ignore[no-any-return]
        time.sleep(0.3)


# --------------------------------------------------------------------------- instant query


def test_promql_reads_the_latest_value_with_a_graph_link(prom_history: PromHistory) -> None:
    # At the history's end: a query at "now" finds nothing once the suite has run longer than
    # Prometheus's 5-minute look-back past the backfilled history.
    ev = run(tool(PromQLTool, prom_history.url), {"query": DRIFT, "time": prom_history.t_end})
    assert ev.status is EvidenceStatus.OK
    (row,) = ev.data["series"]
    assert row["value"] > 0.3  # after the injected drift step
    assert row["labels"]["model"] == "ranker"
    assert ev.source_url is not None
    assert ev.source_url.startswith(f"{prom_history.url}/graph?g0.expr=model_drift_score")
    assert "0.4" in ev.summary and "model_drift_score" in ev.summary
    again = run(tool(PromQLTool, prom_history.url), {"query": DRIFT, "time": prom_history.t_end})
    assert ev.id == again.id  # stable ids


def test_promql_at_a_past_time_sees_the_baseline(prom_history: PromHistory) -> None:
    before = prom_history.onsets["model_drift_score"] - 600
    ev = run(tool(PromQLTool, prom_history.url), {"query": DRIFT, "time": before})
    assert ev.data["series"][0]["value"] < 0.2
    rfc3339 = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(before))
    assert run(tool(PromQLTool, prom_history.url), {"query": DRIFT, "time": rfc3339}).data == ev.data


def test_promql_sorts_and_cuts_series_and_says_so(prom_history: PromHistory) -> None:
    query = f"http_request_duration_seconds_bucket @ {prom_history.t_end}"
    ev = run(tool(PromQLTool, prom_history.url), {"query": query, "limit": 3})
    assert ev.status is EvidenceStatus.OK
    assert ev.data["series_count"] == 7
    values = [row["value"] for row in ev.data["series"]]
    assert len(values) == 3 and values == sorted(values, reverse=True)
    assert values[0] == ev.data["series"][0]["value"]
    assert ev.truncated == ["series: 7 -> 3"]
    assert "cut by guards: series: 7 -> 3" in ev.summary


def test_promql_scalar(prom_history: PromHistory) -> None:
    ev = run(tool(PromQLTool, prom_history.url), {"query": "scalar(sum(model_loaded_info)) * 2"})
    assert ev.status is EvidenceStatus.OK
    assert ev.data["result_type"] == "scalar"


def test_promql_no_match_is_empty_with_a_next_step(prom_history: PromHistory) -> None:
    ev = run(tool(PromQLTool, prom_history.url), {"query": "no_such_metric_anywhere"})
    assert ev.status is EvidenceStatus.EMPTY
    assert ev.reason is not None and "prom_series" in ev.reason


def test_promql_bad_query_quotes_prometheus_and_says_how_to_fix(prom_history: PromHistory) -> None:
    ev = run(tool(PromQLTool, prom_history.url), {"query": "sum(rate(model_drift_score[5m])"})
    assert ev.status is EvidenceStatus.ERROR
    assert ev.reason is not None
    assert "bad_data" in ev.reason and "parse error" in ev.reason  # Prometheus's own message
    assert "fix the PromQL" in ev.reason


def test_promql_invalid_arguments_are_error_evidence(prom_history: PromHistory) -> None:
    ev = run(tool(PromQLTool, prom_history.url), {"query": "up", "time": "yesterday-ish"})
    assert ev.status is EvidenceStatus.ERROR
    assert ev.reason is not None and "now-30m" in ev.reason


# --------------------------------------------------------------------------- range query


def test_promql_range_ranks_changed_series_above_the_noisy_red_herring(prom_history: PromHistory) -> None:
    query = '{__name__=~"model_drift_score|model_accuracy|business_ctr|DCGM_FI_DEV_GPU_UTIL"}'
    baseline_end = prom_history.onsets["model_drift_score"] - 60
    ev = run(tool(PromQLRangeTool, prom_history.url), {
        "query": query, "start": prom_history.t_end - 4 * 3600, "end": prom_history.t_end,
        "baseline_end": baseline_end, "top_k": 4, "points": 12, "step": "15s",
    })
    assert ev.status is EvidenceStatus.OK, ev.reason
    rows = ev.data["series"]
    names = [row["labels"]["__name__"] for row in rows]
    assert names[-1] == "DCGM_FI_DEV_GPU_UTIL"  # noisy but unchanged: ranked last
    assert rows[-1]["direction"] == "flat"
    by_name = {row["labels"]["__name__"]: row for row in rows}
    drift = by_name["model_drift_score"]
    assert drift["direction"] == "up" and abs(drift["baseline_median"] - 0.05) < 0.01
    assert abs(drift["recent_median"] - 0.45) < 0.01 and drift["max"] >= drift["last"] >= drift["min"]
    assert by_name["business_ctr"]["direction"] == "down"
    assert by_name["model_accuracy"]["direction"] == "down"
    assert all(len(row["sparkline"]) == 12 for row in rows)
    assert drift["points"] == 4 * 3600 // 15 + 1  # every 15 s sample, not the sparkline
    assert ev.source_url is not None and "g0.range_input=14400s" in ev.source_url
    assert "model_drift_score" in ev.summary and "went up" in ev.summary


def test_promql_range_guards_cut_range_step_and_series(prom_history: PromHistory) -> None:
    limited = tool(PromQLRangeTool, prom_history.url, max_range_s=3600, max_points=100, max_series=4)
    ev = run(limited, {"query": "http_request_duration_seconds_bucket", "step": "15s", "top_k": 2,
                       "start": prom_history.t_end - 6 * 3600, "end": prom_history.t_end})
    assert ev.status is EvidenceStatus.OK
    assert ev.data["end"] - ev.data["start"] == 3600
    assert ev.data["step_s"] >= 3600 / 99
    assert ev.data["series"][0]["points"] <= 100
    cut = " | ".join(ev.truncated)
    assert "range: 6h -> 1h" in cut and "step: 15s ->" in cut
    assert "series analysed: 7 -> 4" in cut and "series shown: 4 -> 2" in cut
    assert "cut by guards" in ev.summary
    assert ev.data["guards"]["max_series"] == 4


def test_promql_range_empty_and_reversed_ranges(prom_history: PromHistory) -> None:
    t = tool(PromQLRangeTool, prom_history.url)
    assert run(t, {"query": "no_such_metric"}).status is EvidenceStatus.EMPTY
    reversed_range = run(t, {"query": DRIFT, "start": "now", "end": "now-1h"})
    assert reversed_range.status is EvidenceStatus.ERROR and "start" in (reversed_range.reason or "")


def test_fetch_range_returns_arrays(prom_history: PromHistory) -> None:
    prom = connect(prom_history.url)
    t0 = prom_history.t_end - 2 * 3600
    (series,) = asyncio.run(fetch_range(prom, DRIFT, t0, prom_history.t_end, 15))
    assert series.labels["feature"] == "click_duration"
    assert len(series) == 481 and series.timestamps[0] == t0 and series.timestamps[-1] == prom_history.t_end
    onset = prom_history.onsets["model_drift_score"]
    assert series.values[series.timestamps < onset].max() < 0.2
    assert series.values[series.timestamps >= onset].min() > 0.3


def test_a_long_range_is_fetched_in_chunks_and_joined_into_the_same_series(prom_history: PromHistory) -> None:
    """Rules' week-long backtests go past 11,000 points; the client splits and rejoins them."""
    t0 = prom_history.t_end - 2 * 3600
    with connect(prom_history.url) as prom:
        (whole,) = prom.query_range(DRIFT, t0, prom_history.t_end, 15)
        (joined,) = prom.query_range(DRIFT, t0, prom_history.t_end, 15, max_points=100)  # 5 chunks
    assert joined.labels == whole.labels and len(joined) == len(whole) == 481
    assert joined.timestamps.tolist() == whole.timestamps.tolist()
    assert joined.values.tolist() == whole.values.tolist()


# --------------------------------------------------------------------------- discovery


def test_prom_series_lists_series_labels_and_metric_names(prom_history: PromHistory) -> None:
    t = tool(PromSeriesTool, prom_history.url)
    window = {"start": prom_history.t_end - 7 * 3600}
    ev = run(t, {"match": '{model="ranker"}', **window})
    assert ev.status is EvidenceStatus.OK
    assert {"model_accuracy", "model_drift_score", "model_loaded_info"} <= set(ev.data["metrics"])
    assert ev.data["labels"]["model_version"]["values"] == MODEL_VERSIONS + 1  # v7.0..v7.39 and v7

    values = run(t, {"label": "model_version", "limit": 5, **window})
    assert values.data["values_count"] == MODEL_VERSIONS + 1 and len(values.data["values"]) == 5
    assert values.truncated == [f"values: {MODEL_VERSIONS + 1} -> 5"]

    names = run(t, {"search": "MODEL_", **window})
    assert names.data["metrics"] == ["model_accuracy", "model_drift_score", "model_loaded_info"]
    assert "model_version" in names.data["labels"]

    assert run(t, {"match": "no_such_metric", **window}).status is EvidenceStatus.EMPTY
    bad = run(t, {"match": "model_drift_score{", **window})
    assert bad.status is EvidenceStatus.ERROR and "bad_data" in (bad.reason or "")


# --------------------------------------------------------------------------- rules and alerts


def test_prom_rules_shows_state_health_and_filters(prom_history: PromHistory) -> None:
    t = tool(PromRulesTool, prom_history.url)

    def firing() -> Evidence | None:
        ev = run(t, {})
        return ev if ev.data.get("firing") == 1 else None

    ev = wait_for(firing)
    assert ev is not None, "ModelDriftHigh never fired"
    rules = {r["name"]: r for r in ev.data["rules"]}
    assert rules["ModelDriftHigh"]["state"] == "firing"
    assert rules["CTRDropped"]["state"] == "pending" and rules["CTRDropped"]["for_s"] == 3600
    assert rules["GPUSaturated"]["state"] == "inactive"
    assert rules["service:http_request_duration_seconds:p99_5m"]["type"] == "record"
    assert all(r["health"] == "ok" for r in rules.values())
    assert ev.data["rules"][0]["name"] == "ModelDriftHigh"  # firing first
    assert "1 firing (ModelDriftHigh)" in ev.summary and "1 pending (CTRDropped)" in ev.summary
    assert ev.source_url == f"{prom_history.url}/rules"

    records = run(t, {"type": "record"})
    assert [r["name"] for r in records.data["rules"]] == ["service:http_request_duration_seconds:p99_5m"]
    assert [r["name"] for r in run(t, {"state": "inactive"}).data["rules"]] == ["GPUSaturated"]
    none = run(t, {"name_contains": "nothing-like-this"})
    assert none.status is EvidenceStatus.EMPTY and "loosen" in (none.reason or "")


def test_prom_alerts_lists_firing_and_pending(prom_history: PromHistory) -> None:
    t = tool(PromAlertsTool, prom_history.url)

    def both() -> Evidence | None:
        ev = run(t, {})
        return ev if ev.data.get("firing") == 1 and ev.data.get("pending") == 1 else None

    ev = wait_for(both)
    assert ev is not None, "expected one firing and one pending alert"
    first = ev.data["alerts"][0]
    assert first["alertname"] == "ModelDriftHigh" and first["state"] == "firing"
    assert first["labels"]["feature"] == "click_duration" and first["value"] > 0.3
    assert "drift click_duration" in first["annotations"]["summary"]
    only = run(t, {"labels": {"surface": "home"}})
    assert [a["alertname"] for a in only.data["alerts"]] == ["CTRDropped"]
    assert run(t, {"state": "pending"}).data["alerts"][0]["alertname"] == "CTRDropped"
    assert run(t, {"labels": {"model": "nope"}}).status is EvidenceStatus.EMPTY


# --------------------------------------------------------------------------- cardinality


def test_prom_cardinality_flags_model_version(prom_history: PromHistory) -> None:
    t = tool(PromCardinalityTool, prom_history.url)
    ev = run(t, {"start": prom_history.t_end - 7 * 3600})
    assert ev.status is EvidenceStatus.OK
    (flag,) = ev.data["flagged"]
    assert flag["label"] == "model_version" and flag["values"] == MODEL_VERSIONS + 1
    assert "sum without(model_version)" in flag["hint"]
    assert "model_version has 41 values" in ev.summary
    counts = {row["label"]: row["values"] for row in ev.data["label_values"]}
    assert counts["model_version"] == MODEL_VERSIONS + 1 and counts["le"] == 7
    assert ev.data["head"]["numSeries"] >= 1  # rule outputs (ALERTS...) live in the head block

    relaxed = run(t, {"start": prom_history.t_end - 7 * 3600, "watch_threshold": 100})
    assert relaxed.data["flagged"] == [] and "no label over its threshold" in relaxed.summary
    few = run(t, {"start": prom_history.t_end - 7 * 3600, "scan_labels": 2})
    assert len(few.data["label_values"]) == 2 and few.truncated[0].startswith("labels counted:")
    assert "model_version" in {row["label"] for row in few.data["label_values"]}  # watched first


# --------------------------------------------------------------------------- broken backends


@pytest.mark.parametrize("cls", ALL_TOOLS, ids=lambda c: c.name)
def test_backend_down_is_unavailable_with_what_to_check(cls: type[PrometheusTool]) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    ev = run(tool(cls, url), CALLS[cls.name])
    assert ev.status is EvidenceStatus.UNAVAILABLE
    assert ev.reason is not None and url in ev.reason
    assert "connection refused" in ev.reason and "check that it is running" in ev.reason


@pytest.fixture(scope="module")
def fake_backend() -> Iterator[MisbehavingPrometheus]:
    yield from misbehaving_prometheus({"result": "nope", "groups": "nope", "alerts": 42, "headStats": []})


@pytest.mark.parametrize("cls", ALL_TOOLS, ids=lambda c: c.name)
def test_slow_backend_times_out_as_error(
    fake_backend: MisbehavingPrometheus, cls: type[PrometheusTool]
) -> None:
    fake_backend.mode = "slow"
    started = time.monotonic()
    ev = run(tool(cls, fake_backend.url, request_timeout_s=0.3), CALLS[cls.name])
    assert time.monotonic() - started < 2.5  # the guard cut the 3 s answer short
    assert ev.status is EvidenceStatus.ERROR
    assert ev.reason is not None and "did not answer within the request timeout" in ev.reason
    assert "narrow the time range" in ev.reason


@pytest.mark.parametrize("mode", ["html", "wrong-shape", "http500"])
@pytest.mark.parametrize("cls", ALL_TOOLS, ids=lambda c: c.name)
def test_garbage_answers_are_errors_saying_what_to_check(
    fake_backend: MisbehavingPrometheus, cls: type[PrometheusTool], mode: str
) -> None:
    fake_backend.mode = mode
    url = fake_backend.url
    ev = run(tool(cls, url), CALLS[cls.name])
    assert ev.status is EvidenceStatus.ERROR, ev
    assert ev.reason is not None and url in ev.reason
    if mode == "http500":
        assert "HTTP 500" in ev.reason and "upstream connect error" in ev.reason
    else:
        assert "did not answer like the Prometheus HTTP API" in ev.reason
        assert "check that the URL points at Prometheus" in ev.reason
