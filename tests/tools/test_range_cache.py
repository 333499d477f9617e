"""Range queries shared within an investigation, against the real Prometheus history fixture.

``promql_range`` and ``onset`` on the same query, window and step fetch the samples once inside
:func:`shared_ranges` and still make exactly the evidence they make alone. (That an investigation
sends Prometheus one range query per signal is counted in its query log by
``tests/agent/test_range_queries.py``.)
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from augur.tools.onset_tool import OnsetTool
from augur.tools.prometheus import PromLimits, PromQLRangeTool, connect
from augur.tools.range_cache import RangeCache, shared_ranges
from tests.fixtures.prometheus import PromHistory

DRIFT = 'model_drift_score{feature="click_duration"}'


def window(history: PromHistory) -> dict[str, Any]:
    """Two hours around the drift onset at the SOP's step, the baseline ending before it."""
    onset = history.onsets["model_drift_score"]
    return {"query": DRIFT, "start": onset - 3600, "end": onset + 3600, "step": "15s"}


async def both(history: PromHistory, url: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """``promql_range`` and ``onset`` on the same range, run concurrently as the SOP's round does.

    Their evidence comes back without ``started_at`` and ``duration_ms``, which differ every run.
    """
    prom = connect(url or history.url, timeout_s=5)
    common = window(history)
    ref_end = history.onsets["model_drift_score"] - 600
    summary, onset = await asyncio.gather(
        PromQLRangeTool(prom, PromLimits()).run({**common, "baseline_end": ref_end}),
        OnsetTool(prom, PromLimits()).run({**common, "reference_end": ref_end}),
    )
    timing = {"started_at", "duration_ms"}
    return summary.model_dump(mode="json", exclude=timing), onset.model_dump(mode="json", exclude=timing)


def test_summary_and_onset_share_one_fetch_and_make_the_same_evidence(prom_history: PromHistory) -> None:
    alone = asyncio.run(both(prom_history))

    async def shared() -> tuple[RangeCache, tuple[dict[str, Any], dict[str, Any]]]:
        with shared_ranges() as cache:
            return cache, await both(prom_history)

    cache, together = asyncio.run(shared())
    assert (cache.fetched, cache.shared) == (1, 1)
    assert together == alone
    assert alone[0]["status"] == alone[1]["status"] == "ok"
    assert alone[1]["data"]["series"][0]["found"] is True  # the onset was read from the shared samples


def test_other_windows_and_steps_are_fetched_on_their_own(prom_history: PromHistory) -> None:
    prom = connect(prom_history.url, timeout_s=5)
    common = window(prom_history)

    async def go() -> RangeCache:
        with shared_ranges() as cache:
            tool = PromQLRangeTool(prom, PromLimits())
            await tool.run(common)
            await tool.run({**common, "step": "30s"})
            await tool.run({**common, "end": common["end"] + 60})
            await tool.run(common)  # the first answer again
            return cache

    cache = asyncio.run(go())
    assert (cache.fetched, cache.shared) == (3, 1)


def test_a_failed_fetch_is_not_kept() -> None:
    prom = connect("http://127.0.0.1:9", timeout_s=1)  # nothing listens on port 9
    args = {"query": "up", "start": 1.7e9, "end": 1.7e9 + 3600, "step": "15s"}

    async def go() -> tuple[RangeCache, list[str]]:
        with shared_ranges() as cache:
            first = await PromQLRangeTool(prom, PromLimits()).run(args)
            second = await PromQLRangeTool(prom, PromLimits()).run(args)
            return cache, [first.status.value, second.status.value]

    cache, statuses = asyncio.run(go())
    assert statuses == ["unavailable", "unavailable"]
    assert cache.fetched == 2  # the second call asked Prometheus again


def test_a_cancelled_caller_leaves_the_fetch_to_the_others(prom_history: PromHistory) -> None:
    prom = connect(prom_history.url, timeout_s=5)
    w = window(prom_history)

    async def go() -> tuple[RangeCache, int]:
        cache = RangeCache()
        first = asyncio.ensure_future(cache.fetch(prom, DRIFT, w["start"], w["end"], 15.0))
        second = asyncio.ensure_future(cache.fetch(prom, DRIFT, w["start"], w["end"], 15.0))
        await asyncio.sleep(0)  # both wait on the one fetch
        first.cancel()
        series = await second
        with pytest.raises(asyncio.CancelledError):
            await first
        return cache, len(series[0])

    cache, points = asyncio.run(go())
    assert (cache.fetched, cache.shared) == (1, 1)
    assert points == 2 * 3600 // 15 + 1


def test_shared_samples_are_read_only_and_old_ones_make_room(prom_history: PromHistory) -> None:
    prom = connect(prom_history.url, timeout_s=5)
    w = window(prom_history)

    async def go() -> RangeCache:
        cache = RangeCache(max_points=600)  # room for one of these 481-point answers
        series = await cache.fetch(prom, DRIFT, w["start"], w["end"], 15.0)
        with pytest.raises(ValueError, match="read-only"):
            series[0].values[0] = 0.0
        await cache.fetch(prom, "model_accuracy", w["start"], w["end"], 15.0)
        await cache.fetch(prom, DRIFT, w["start"], w["end"], 15.0)  # dropped to make room: again
        await cache.fetch(prom, DRIFT, w["start"], w["end"], 15.0)  # kept this time
        return cache

    cache = asyncio.run(go())
    assert (cache.fetched, cache.shared) == (3, 1)
