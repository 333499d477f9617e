"""Drift values against Evidently 0.7.23 itself, the drift tool's sources, and its failures.

Evidently is a test-only dependency: it is imported here to compute the expected values with
its own registry (``get_stattest``) on the same data, after the same cleaning its
``get_one_column_drift`` applies (infinities -> NaN, NaN dropped), and once through its
``DataDriftPreset`` report end to end. The Prometheus-histogram source runs against the real
Prometheus of the shared ``prom_history`` fixture.
"""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from augur.tools.drift import DriftTool, compare_frames
from augur.tools.evidence import EvidenceStatus
from augur.tools.stattests import METHODS, ColumnKind, Sample, compare
from tests.fixtures.prometheus import PromHistory

evidently_stattests = pytest.importorskip("evidently.legacy.calculations.stattests")
from evidently.legacy.core import ColumnType  # noqa: E402

TOLERANCE = 1e-9
# Evidently's chi-square divides by zero for a category the reference lacks (its p-value is 0).
pytestmark = pytest.mark.filterwarnings("ignore:divide by zero encountered:RuntimeWarning")


def datasets() -> list[tuple[str, str, Any, Any]]:
    """(name, kind, reference, current): numerical and categorical, small and large, empty bins."""
    rng = np.random.default_rng(20261124)
    out: list[tuple[str, str, Any, Any]] = []
    for n, m in ((60, 90), (800, 1000), (5_000, 4_000), (120_000, 100_000)):
        out.append((f"normal shift {n}", "num", rng.normal(0, 1, n), rng.normal(0.2, 1.1, m)))
        out.append((f"same normal {n}", "num", rng.normal(5, 2, n), rng.normal(5, 2, m)))
        # Empty Sturges bins: a far outlier stretches the combined range.
        out.append((f"outlier empty bins {n}", "num", rng.exponential(1, n),
                    np.concatenate([rng.exponential(1.3, m - 1), [1e3]])))
        # <= 20 unique reference values: one bin per value; current has values the reference lacks.
        out.append((f"ints per-value {n}", "num", rng.integers(0, 12, n), rng.integers(3, 18, m)))
        out.append((f"few values {n}", "num", rng.choice([1.0, 2.0, 3.0], n),
                    rng.choice([1.0, 2.0, 3.0, 4.0], m)))
        out.append((f"binary numeric {n}", "num", rng.integers(0, 2, n), rng.integers(0, 2, m)))
        out.append((f"categories new+gone {n}", "cat",
                    rng.choice(list("abcdef"), n, p=[0.4, 0.2, 0.15, 0.1, 0.1, 0.05]),
                    rng.choice(list("abcdeg"), m)))
        out.append((f"binary labels {n}", "cat", rng.choice(["yes", "no"], n, p=[0.3, 0.7]),
                    rng.choice(["yes", "no"], m, p=[0.35, 0.65])))
        with_gaps = rng.normal(10, 3, n)
        with_gaps[rng.integers(0, n, max(1, n // 20))] = np.nan
        with_gaps[0] = np.inf
        out.append((f"missing and inf {n}", "num", with_gaps, rng.lognormal(2.3, 0.3, m)))
    out.append(("many integers", "num", rng.integers(0, 1000, 3000), rng.integers(0, 1100, 2500)))
    out.append(("equal sizes", "num", rng.gamma(2, 2, 50_000), rng.gamma(2.2, 2, 50_000)))
    return out


def evidently_value(method: str, kind: str, reference: Any, current: Any) -> tuple[float, bool, str]:
    column_type = ColumnType.Numerical if kind == "num" else ColumnType.Categorical
    ref = pd.Series(reference).replace([-np.inf, np.inf], np.nan).dropna()
    cur = pd.Series(current).replace([-np.inf, np.inf], np.nan).dropna()
    test = evidently_stattests.get_stattest(ref, cur, column_type, None if method == "auto" else method)
    result = test(ref, cur, column_type, None)
    return float(result.drift_score), bool(result.drifted), test.name


def test_values_equal_evidently_on_generated_datasets() -> None:
    cases = datasets()
    assert len(cases) >= 20
    compared = 0
    for name, kind, reference, current in cases:
        column_kind = ColumnKind.NUMERICAL if kind == "num" else ColumnKind.CATEGORICAL
        ref, cur = Sample(reference, column_kind), Sample(current, column_kind)
        for method in ("auto", *METHODS):
            if method != "auto" and column_kind not in METHODS[method].kinds:
                continue
            expected, drifted, chosen = evidently_value(method, kind, reference, current)
            ours = compare(ref, cur, method)
            assert ours.method == chosen, f"{name}: auto chose {ours.method}, Evidently {chosen}"
            if math.isnan(expected):
                assert math.isnan(ours.value), f"{name} {method}"
            else:
                assert abs(ours.value - expected) <= TOLERANCE * max(1.0, abs(expected)), (
                    f"{name} {method}: augur {ours.value!r} vs Evidently {expected!r}")
            assert ours.drifted == drifted, f"{name} {method}: verdict differs"
            compared += 1
    assert compared >= 100


def test_values_equal_evidently_data_drift_preset_end_to_end() -> None:
    from evidently import Report
    from evidently.presets import DataDriftPreset

    rng = np.random.default_rng(5)
    reference = pd.DataFrame({"a": rng.normal(0, 1, 3000), "b": rng.exponential(2, 3000)})
    current = pd.DataFrame({"a": rng.normal(0.1, 1, 2500), "b": rng.exponential(2.4, 2500)})
    for method in ("psi", "ks", "wasserstein", "jensenshannon"):
        snapshot = Report([DataDriftPreset(method=method)]).run(current, reference).dict()
        expected = {m["config"]["column"]: float(m["value"]) for m in snapshot["metrics"]
                    if m["config"].get("type", "").endswith("ValueDrift")}
        ours = {row["column"]: row["value"] for row in compare_frames(reference, current, method=method)}
        assert set(expected) == {"a", "b"}
        for column, value in expected.items():
            assert abs(ours[column] - value) <= TOLERANCE * max(1.0, abs(value)), (method, column)


def test_psi_p_value_is_calibrated_where_psi_is_not() -> None:
    """At 100 rows a side PSI > 0.2 fires on pure noise; its p-value under no drift does not."""
    rng = np.random.default_rng(11)
    psi_alarms = p_alarms = 0
    trials = 300
    for _ in range(trials):
        result = compare(Sample(rng.normal(0, 1, 100)), Sample(rng.normal(0, 1, 100)), "psi")
        psi_alarms += result.value > 0.2
        p_alarms += result.details["p_value_no_drift"] < 0.05
    print(f"\npure noise, 100 rows a side: PSI > 0.2 in {psi_alarms / trials:.0%}, p < 0.05 in "
          f"{p_alarms / trials:.0%}")
    assert psi_alarms / trials > 0.2
    assert p_alarms / trials < 0.10
    shifted = compare(Sample(rng.normal(0, 1, 2000)), Sample(rng.normal(0.5, 1, 2000)), "psi")
    assert shifted.details["p_value_no_drift"] < 1e-6


# --------------------------------------------------------------------------- the tool


def run(tool: DriftTool, args: dict[str, Any]) -> Any:
    return asyncio.run(tool.run(args))


def test_tool_inline_lists_report_missing_rate_and_low_confidence() -> None:
    rng = np.random.default_rng(2)
    reference = [float(x) for x in rng.normal(0, 1, 300)] + [None] * 3
    current = [float(x) for x in rng.normal(1.0, 1, 300)] + [None] * 30
    evidence = run(DriftTool(), {"reference": reference, "current": current, "method": "psi"})
    assert evidence.status is EvidenceStatus.OK, evidence.reason
    data = evidence.data
    assert data["drifted"] is True and data["method"] == "psi" and data["value"] > 0.2
    assert data["reference_rows"] == 300 and data["current_rows"] == 300
    assert data["low_confidence"] is True and "LOW CONFIDENCE" in evidence.summary
    assert data["missing"]["reference_rate"] == pytest.approx(3 / 303)
    assert data["missing"]["change"] == pytest.approx(30 / 330 - 3 / 303)
    assert data["p_value_no_drift"] < 0.001
    assert evidence.args["reference"].startswith("303 values, sha256 ")  # evidence stays small
    labels = run(DriftTool(), {"reference": ["a", "b"] * 400, "current": ["a"] * 700 + ["b"] * 100})
    assert labels.data["method"] == "z" and labels.data["drifted"] is True
    assert labels.data["kind"] == "categorical"


def test_tool_reads_csv_and_parquet_tables_with_freshness(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    now = pd.Timestamp.now(tz="UTC").floor("s")
    def table(n: int, shift: float, end: pd.Timestamp) -> pd.DataFrame:
        return pd.DataFrame({
            "click_duration": rng.normal(30 - shift, 8, n), "segment": rng.choice(["x", "y", "z"], n),
            "ts": pd.date_range(end=end, periods=n, freq="s"),
        })
    ref, cur = table(4000, 0, now - pd.Timedelta("2d")), table(3000, 25, now - pd.Timedelta("10min"))
    ref.to_csv(tmp_path / "ref.csv", index=False)
    cur.to_parquet(tmp_path / "cur.parquet")
    evidence = run(DriftTool(), {"reference_path": str(tmp_path / "ref.csv"),
                                 "current_path": str(tmp_path / "cur.parquet"),
                                 "columns": ["click_duration", "segment"], "timestamp_column": "ts"})
    assert evidence.status is EvidenceStatus.OK, evidence.reason
    rows = {r["column"]: r for r in evidence.data["columns"]}
    assert rows["click_duration"]["drifted"] and rows["click_duration"]["method"] == "wasserstein"
    assert not rows["segment"]["drifted"] and rows["segment"]["method"] == "jensenshannon"
    ref_column = pd.read_csv(tmp_path / "ref.csv")["click_duration"]
    expected, _, _ = evidently_value("wasserstein", "num", ref_column, cur["click_duration"])
    assert rows["click_duration"]["value"] == pytest.approx(expected, rel=1e-9)
    assert 590 <= evidence.data["freshness"]["age_s"] <= 900
    assert "1 of 2 columns drifted" in evidence.summary
    both = pd.concat([ref, cur], ignore_index=True)
    both.to_parquet(tmp_path / "all.parquet")
    # The catalog's shape: reference/current as paths.
    catalog = run(DriftTool(), {"reference": str(tmp_path / "ref.csv"),
                                "current": str(tmp_path / "cur.parquet"), "column": "click_duration"})
    assert catalog.status is EvidenceStatus.OK and catalog.data["value"] == pytest.approx(expected, rel=1e-9)
    split = run(DriftTool(), {"path": str(tmp_path / "all.parquet"), "timestamp_column": "ts",
                              "split_at": (now - pd.Timedelta("1d")).timestamp(), "column": "click_duration"})
    assert split.status is EvidenceStatus.OK and split.data["value"] == pytest.approx(expected, rel=1e-9)


def test_tool_sketches_windows_larger_than_max_rows(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    ref, cur = rng.normal(0, 1, 60_000), rng.normal(0.6, 1, 50_000)
    pd.DataFrame({"x": ref}).to_parquet(tmp_path / "r.parquet")
    pd.DataFrame({"x": cur}).to_parquet(tmp_path / "c.parquet")
    for method in ("psi", "wasserstein", "ks", "jensenshannon"):
        exact = compare(Sample(ref), Sample(cur), method)
        evidence = run(DriftTool(), {"reference_path": str(tmp_path / "r.parquet"), "current_path":
                                     str(tmp_path / "c.parquet"), "column": "x", "method": method,
                                     "max_rows": 10_000})
        assert evidence.status is EvidenceStatus.OK, evidence.reason
        assert evidence.data["approximate"] is True and evidence.data["reference_rows"] == 60_000
        if method == "ks":
            assert evidence.data["statistic"] == pytest.approx(exact.statistic, abs=0.01)
        else:
            assert evidence.data["value"] == pytest.approx(exact.value, rel=0.05), method
        assert evidence.data["drifted"] == exact.drifted


@pytest.mark.parametrize(("args", "fragment"), [
    ({"reference_path": "/nonexistent/r.csv", "current_path": "/nonexistent/c.csv", "column": "x"},
     "not a readable file"),
    ({"reference": [1.0, 2.0], "current": ["a", "b"], "method": "ks"}, "numbers"),
    ({"reference": ["a", "b", "c"], "current": ["a", "b"], "method": "wasserstein"}, "categorical"),
    ({"reference": [None, None], "current": [1.0, 2.0]}, "no usable values"),
    ({"reference": [1.0, 2.0]}, "both"),
    ({}, "exactly one source"),
])
def test_tool_bad_input_is_error_evidence(args: dict[str, Any], fragment: str) -> None:
    evidence = run(DriftTool(), args)
    assert evidence.status is EvidenceStatus.ERROR
    assert evidence.reason and fragment in evidence.reason


def test_tool_garbage_files_are_error_evidence(tmp_path: Path) -> None:
    (tmp_path / "bad.parquet").write_bytes(b"this is not parquet")
    (tmp_path / "ok.csv").write_text("x,y\n1,2\n3,4\n")
    (tmp_path / "data.xlsx").write_text("x")
    cases = [
        ({"reference_path": str(tmp_path / "bad.parquet"), "current_path": str(tmp_path / "ok.csv"),
          "column": "x"}, "cannot parse"),
        ({"reference_path": str(tmp_path / "ok.csv"), "current_path": str(tmp_path / "ok.csv"),
          "column": "nope"}, "has no column nope; it has: x, y"),
        ({"reference_path": str(tmp_path / "data.xlsx"), "current_path": str(tmp_path / "ok.csv"),
          "column": "x"}, ".csv, .tsv or .parquet"),
    ]
    for args, fragment in cases:
        evidence = run(DriftTool(), args)
        assert evidence.status is EvidenceStatus.ERROR, args
        assert evidence.reason and fragment in evidence.reason, evidence.reason


def _fixture_psi() -> float:
    """PSI between the fixture's two latency distributions (shares per bucket, as generated)."""
    before = np.array([0.30, 0.40, 0.25, 0.04, 0.007, 0.003, 0.0])
    after = np.array([0.20, 0.35, 0.30, 0.12, 0.02, 0.01, 0.0])
    before[before == 0] = after[after == 0] = 1e-4
    return float(np.sum((before - after) * np.log(before / after)))


def test_tool_histogram_drift_on_real_prometheus(prom_history: PromHistory) -> None:
    from augur.tools.prometheus_api import connect

    tool = DriftTool(connect(prom_history.url, timeout_s=5))
    onset = prom_history.onsets["http_request_duration_seconds"]
    selector = 'http_request_duration_seconds_bucket{service="ranker-serving"}'
    evidence = run(tool, {"histogram": selector, "reference_start": onset - 3 * 3600,
                          "reference_end": onset - 60, "current_start": onset + 60,
                          "current_end": prom_history.t_end})
    assert evidence.status is EvidenceStatus.OK, evidence.reason
    assert evidence.data["method"] == "psi" and evidence.data["drifted"] is True
    assert evidence.data["value"] == pytest.approx(_fixture_psi(), rel=1e-3)
    assert evidence.data["p_value_no_drift"] < 1e-6 and evidence.data["current_rows"] > 5000
    assert evidence.source_url and evidence.source_url.startswith(prom_history.url)
    quiet = run(tool, {"histogram": selector, "reference_start": onset - 3 * 3600,
                       "reference_end": onset - 7200, "current_start": onset - 3600,
                       "current_end": onset - 60, "method": "chisquare"})
    assert quiet.status is EvidenceStatus.OK and quiet.data["drifted"] is False
    not_histogram = run(tool, {"histogram": '{__name__="model_accuracy"}', "current_start": onset,
                               "current_end": onset + 600, "reference_start": onset - 600,
                               "reference_end": onset})
    assert not_histogram.status is EvidenceStatus.ERROR
    assert "without an `le` label" in (not_histogram.reason or "")
    # The agent's shape: a histogram by name and one range split at baseline_end.
    by_name = run(tool, {"histogram": "http_request_duration_seconds", "start": onset - 3600,
                         "end": prom_history.t_end, "baseline_end": onset})
    assert by_name.status is EvidenceStatus.OK, by_name.reason
    assert by_name.data["drifted"] is True
    assert by_name.data["value"] == pytest.approx(_fixture_psi(), rel=0.05)
    wrong_method = run(tool, {"histogram": selector, "method": "ks"})
    assert wrong_method.status is EvidenceStatus.ERROR and "bucket counts" in (wrong_method.reason or "")


def test_tool_histogram_without_or_with_a_down_prometheus() -> None:
    from augur.tools.prometheus_api import connect

    selector = "x_bucket"
    assert run(DriftTool(), {"histogram": selector}).status is EvidenceStatus.UNAVAILABLE
    down = run(DriftTool(connect("http://127.0.0.1:9", timeout_s=1)), {"histogram": selector})
    assert down.status is EvidenceStatus.UNAVAILABLE and "cannot reach Prometheus" in (down.reason or "")


def test_large_sample_shortcuts_match_scipy_on_awkward_data() -> None:
    """K-S and Wasserstein on > 100k rows use binned one-pass paths; they must still be Scipy's values."""
    from scipy import stats

    rng = np.random.default_rng(31)
    awkward = [
        (rng.normal(1e6, 1, 150_000), rng.normal(1e6 + 0.002, 1, 120_000)),  # large offset, tiny shift
        (rng.exponential(3, 100_000), np.append(rng.exponential(3, 99_999), 1e4)),  # stretched range
        (np.append(np.zeros(80_000), rng.normal(size=50)), np.append(np.zeros(70_000), rng.normal(size=90))),
        (rng.integers(0, 40, 200_000).astype(float), rng.integers(0, 41, 150_000).astype(float)),  # ties
        (rng.standard_cauchy(120_000), rng.standard_cauchy(130_000)),  # heavy tails, same distribution
    ]
    for reference, current in awkward:
        ref, cur = Sample(reference), Sample(current)
        ks = stats.ks_2samp(reference, current)
        ours_ks = compare(ref, cur, "ks")
        assert ours_ks.statistic == ks.statistic and ours_ks.value == pytest.approx(ks.pvalue, rel=1e-12)
        expected = stats.wasserstein_distance(reference, current) / max(float(np.std(reference)), 0.001)
        assert compare(ref, cur, "wasserstein").value == pytest.approx(expected, rel=1e-9)
