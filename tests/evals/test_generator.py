"""The generator: deterministic for a seed; what it writes carries the scenario's fault.

That a real Prometheus serves the output (every alert fires at the end and not before the fault)
is checked for all scenarios by the eval suite, tests/evals/test_eval_suite.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from augur.evals.generator import generate
from augur.evals.scenario import load_scenario

T_END = 1_790_000_000.0  # a fixed step-aligned end, so files can be compared byte for byte


def _bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_files(tmp_path: Path) -> None:
    story = load_scenario("feature-drift-click-duration")
    first = generate(story, tmp_path / "a", t_end=T_END, seed=42)
    second = generate(story, tmp_path / "b", t_end=T_END, seed=42)
    a, b = _bytes(first.out_dir), _bytes(second.out_dir)
    assert {"metrics.om", "logs.jsonl", "drift/feature-pipeline/current.parquet"} <= set(a)
    # catalog.yaml holds absolute paths into each output dir; everything else must match byte for byte.
    a.pop("catalog.yaml"), b.pop("catalog.yaml")
    assert a == b
    other = generate(story, tmp_path / "c", t_end=T_END, seed=43)
    assert other.openmetrics.read_bytes() != first.openmetrics.read_bytes()


def test_story_telemetry_carries_the_fault(tmp_path: Path) -> None:
    gen = generate(load_scenario("feature-drift-click-duration"), tmp_path, t_end=T_END)
    ref, cur = gen.drift["feature-pipeline"]
    ref_clicks = pq.read_table(ref).column("click_duration").to_pylist()
    cur_clicks = pq.read_table(cur).column("click_duration").to_pylist()
    assert min(ref_clicks) >= 10 and max(ref_clicks) <= 60
    assert min(cur_clicks) >= 0 and max(cur_clicks) <= 5
    lines = [json.loads(x) for x in gen.logs.read_text().splitlines()]
    assert lines == sorted(lines, key=lambda r: r["timestamp"])
    slow = [r for r in lines if r["message"].startswith("slow rank request")]
    assert slow and min(r["timestamp"] for r in slow) >= _iso(T_END - 75 * 60)
    assert gen.onsets == {"click-duration-drift": T_END - 100 * 60}
    text = gen.openmetrics.read_text()
    assert text.endswith("# EOF\n") and "# TYPE http_requests counter" in text


def _iso(ts: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def test_the_truth_is_written_outside_the_data_the_tools_read(tmp_path: Path) -> None:
    gen = generate(load_scenario("bad-deploy-5xx"), tmp_path / "case" / "data", t_end=T_END)
    assert gen.truth.is_file() and not gen.truth.is_relative_to(gen.out_dir)
    assert json.loads(gen.truth.read_text())["truth"]["root_cause"] == "ranker-serving"
    texts = [p.read_text(errors="ignore") for p in gen.files() if p.suffix in (".json", ".yaml", ".yml")]
    assert texts and not any("root_cause" in text for text in texts)
    inside = tmp_path / "case" / "data" / "truth"
    with pytest.raises(ValueError, match="inside out_dir"):
        generate(load_scenario("bad-deploy-5xx"), tmp_path / "case" / "data", t_end=T_END, truth_dir=inside)
