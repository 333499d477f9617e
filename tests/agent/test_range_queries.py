"""How many range queries the acceptance investigation sends Prometheus, read from its query log.

The SOP examines every metric signal twice: ``promql_range`` summarises each series against its
baseline and ``onset`` finds when it left it. Both read the same samples (same query, start, end
and step), so an investigation fetches each range once and both tools work from that one answer
(:mod:`augur.tools.range_cache`). Counted here on a real Prometheus (Debian's package, the shared
history backfilled) with ``global.query_log_file``, which logs every query the HTTP API answers.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from augur.agent.investigation import investigate
from augur.agent.report import Report
from tests.agent.investigation_support import (
    latency_alert,
    platform_catalog,
    registry_for,
    write_platform_logs,
)
from tests.fixtures.prometheus import PromHistory, start_history

#: Range queries the acceptance investigation sent before promql_range and onset shared their
#: samples (measured with this test at commit 3a2853e: its 6 metric signals were queried twice each).
BEFORE = 12


def range_queries(log: Path) -> list[dict[str, Any]]:
    """The ``/api/v1/query_range`` requests in a Prometheus query log (rule evaluations skipped)."""
    entries = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    return [e["params"] for e in entries
            if str(e.get("httpRequest", {}).get("path", "")).endswith("/api/v1/query_range")]


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PromHistory, Path]]:
    """A Prometheus of its own holding the shared history, logging every query to a file."""
    workdir = Path(tmp_path_factory.mktemp("prom-query-log"))
    log = workdir / "queries.log"
    history = start_history(workdir, query_log_file=log)
    try:
        yield history, log
    finally:
        history.server.stop()


@pytest.fixture(scope="module")
def investigated(logged: tuple[PromHistory, Path],
                 tmp_path_factory: pytest.TempPathFactory) -> tuple[Report, list[dict[str, Any]]]:
    """The acceptance investigation (p99 alert, no LLM) and the range queries it sent."""
    history, log = logged
    data_dir = tmp_path_factory.mktemp("data")
    write_platform_logs(data_dir, history.t_end, history.onsets)
    registry = registry_for(history.url, data_dir)
    alert = latency_alert(history.t_end - 5 * 60, history.url)
    already = len(range_queries(log)) if log.exists() else 0
    report = asyncio.run(investigate(alert, registry=registry, catalog=platform_catalog(),
                                     now=history.t_end))
    return report, range_queries(log)[already:]


def test_each_signal_is_fetched_once_for_its_summary_and_its_onset(
        investigated: tuple[Report, list[dict[str, Any]]]) -> None:
    report, queries = investigated
    assert report.root_cause.component == "feature-pipeline"  # the acceptance scenario's answer
    tools = Counter(row.tool for row in report.evidence)
    assert tools["promql_range"] == tools["onset"] >= 6  # both analyses are still made...
    assert len(queries) == tools["promql_range"]  # ... from one range query per signal
    repeated = Counter((q["query"], q["start"], q["end"], q["step"]) for q in queries)
    assert [key for key, n in repeated.items() if n > 1] == []


def test_range_queries_per_investigation_halved(investigated: tuple[Report, list[dict[str, Any]]]) -> None:
    _, queries = investigated
    assert len(queries) * 2 <= BEFORE, f"{len(queries)} range queries, {BEFORE} before sharing"
