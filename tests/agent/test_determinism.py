"""Acceptance: the same alert (or question) investigated a minute later gives the same answer.

Runs against the real Prometheus history fixture. "A minute later" is an injected clock: the
process's ``time.time`` moved 60 s ahead for the second run (the Prometheus server and its data
are the same), so anything in the investigation that read the wall clock for its window would
query another range and show up as a different window, evidence set, ranking or onset. The
product path is used as shipped: no ``now``/``data_end`` is passed, so the window comes from the
alert's ``startsAt`` (or the question's time) alone.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from augur.agent.correlate import TOLERANCE_S
from augur.agent.investigation import TriageError, investigate
from augur.agent.markdown import render_markdown
from augur.agent.report import ChainLink, Report
from augur.server.cli.main import app
from augur.server.settings import Settings
from augur.server.store.database import Store
from tests.agent.investigation_support import (
    PLATFORM,
    latency_alert,
    platform_catalog,
    registry_for,
    write_platform_logs,
)
from tests.fixtures.incidents import seed_incident
from tests.fixtures.prometheus import PromHistory

_REAL_TIME = time.time


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[float], None]:
    """``clock(60)`` moves this process's wall clock 60 s ahead (``time.time`` everywhere)."""

    def shift(seconds: float) -> None:
        monkeypatch.setattr(time, "time", lambda: _REAL_TIME() + seconds)

    return shift


@pytest.fixture(scope="module")
def data_dir(prom_history: PromHistory, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("determinism")
    assert write_platform_logs(path, prom_history.t_end, prom_history.onsets) > 0
    return path


def _answer(report: Report) -> dict[str, Any]:
    """What a user compares between two runs: the verdict, the ranking, the onsets, the window."""
    return {
        "root_cause": (report.root_cause.verdict, report.root_cause.component, report.root_cause.fault_type,
                       report.root_cause.confidence),
        "candidates": [(c.component, c.signal, c.score, c.onset) for c in report.candidates],
        "chain": [(link.signal, link.onset, link.change) for link in report.chain],
        "window": (report.window_start, report.window_end),
        "evidence": sorted(e.id for e in report.evidence),
    }


def test_the_same_alert_a_minute_later_gives_the_same_answer(
    prom_history: PromHistory, data_dir: Path, clock: Callable[[float], None],
) -> None:
    alert = latency_alert(prom_history.t_end - 5 * 60, prom_history.url)
    registry = registry_for(prom_history.url, data_dir)
    first = asyncio.run(investigate(alert, registry=registry, catalog=platform_catalog()))
    clock(60)
    second = asyncio.run(investigate(alert, registry=registry, catalog=platform_catalog()))
    assert first.root_cause.verdict == "identified" and first.root_cause.component == "feature-pipeline"
    assert _answer(second) == _answer(first)
    # The window is the alert's: 4 h before startsAt to 15 min after it, whatever the clock says.
    starts_at = prom_history.t_end - 5 * 60
    assert first.window_start.timestamp() == starts_at - 4 * 3600
    assert first.window_end.timestamp() == starts_at + 15 * 60


@pytest.fixture(scope="module")
def report(prom_history: PromHistory, data_dir: Path) -> Report:
    alert = latency_alert(prom_history.t_end - 5 * 60, prom_history.url)
    return asyncio.run(investigate(alert, registry=registry_for(prom_history.url, data_dir),
                                   catalog=platform_catalog()))


def test_chain_table_is_ordered_by_onset(report: Report) -> None:
    """The report's chain reads in onset order (within the onset estimates' tolerance)."""
    onsets = [link.onset.timestamp() for link in report.chain]
    assert len(onsets) >= 3
    assert all(b >= a - TOLERANCE_S for a, b in itertools.pairwise(onsets)), report.chain_text
    claims_order = "## Chain (ordered by onset)" in render_markdown(report)
    assert claims_order == (onsets == sorted(onsets))


def test_the_chain_heading_claims_onset_order_only_when_it_holds(report: Report) -> None:
    """A chain whose effect's onset estimate lands a minute before its cause's says so."""
    def link(i: int, minute: int) -> ChainLink:
        return ChainLink(component=f"c{i}", signal=f"c{i}.s", layer="service",
                         onset=datetime(2026, 11, 24, 2, minute, tzinfo=UTC), change="×2", before=1.0,
                         after=2.0, strength=4.0, role="cause" if i == 0 else "symptom", evidence_ids=[])

    ordered = report.model_copy(update={"chain": [link(0, 10), link(1, 20)]})
    close = report.model_copy(update={"chain": [link(0, 10), link(1, 9)]})
    assert "## Chain (ordered by onset)" in render_markdown(ordered)
    text = render_markdown(close)
    assert "ordered by onset" not in text and "onsets within 2 min may be out of order" in text


def test_a_question_without_a_time_is_refused_not_anchored_at_now(prom_history: PromHistory) -> None:
    with pytest.raises(TriageError, match="`at`"):
        asyncio.run(investigate(question="why is CTR down?",
                                registry=registry_for(prom_history.url, Path("."))))


@pytest.fixture
def cli_env(prom_history: PromHistory, data_dir: Path, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The CLI's settings: the fixture's Prometheus, its logs, a fresh store directory."""
    for var in ("AUGUR_PROMETHEUS_URL", "AUGUR_CATALOG_FILE", "AUGUR_DATABASE_URL", "AUGUR_LOG_DB",
                "AUGUR_LLM_BASE_URL", "AUGUR_LLM_MODEL", "AUGUR_JAEGER_URL", "AUGUR_ELASTICSEARCH_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AUGUR_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("AUGUR_LOG_DB", str(data_dir / "logs.db"))
    yield tmp_path


def _cli_question(prom_history: PromHistory, *extra: str) -> Any:
    return CliRunner().invoke(app, ["investigate", "--question", "why is ctr down?", "--json", "-q",
                                    "--prometheus-url", prom_history.url, "--catalog", str(PLATFORM), *extra])


def test_the_same_question_a_minute_later_gives_the_same_answer(
    prom_history: PromHistory, cli_env: Path, clock: Callable[[float], None],
) -> None:
    at = datetime.fromtimestamp(prom_history.t_end - 10 * 60, UTC).isoformat().replace("+00:00", "Z")
    first = _cli_question(prom_history, "--at", at)
    clock(60)
    second = _cli_question(prom_history, "--at", at)
    assert first.exit_code == 0, first.output
    one, two = (Report.model_validate(json.loads(out.stdout)) for out in (first, second))
    assert one.candidates, one.root_cause.summary
    assert _answer(two) == _answer(one)
    assert one.alert.starts_at.timestamp() == prom_history.t_end - 10 * 60


def test_a_question_is_anchored_at_the_matched_incidents_alert(
    prom_history: PromHistory, cli_env: Path, clock: Callable[[float], None],
) -> None:
    """No --at: the stored CTR incident's alert time anchors the window, again and a minute later."""
    alert_at = datetime.fromtimestamp(prom_history.t_end - 20 * 60, UTC)
    store = Store.open(Settings(data_dir=cli_env).effective_database_url)
    seed_incident(store, None, title="CTRDropped on ctr", component="ctr", opened_at=alert_at)
    store.dispose()
    first = _cli_question(prom_history)
    clock(60)
    second = _cli_question(prom_history)
    assert first.exit_code == 0, first.output
    one, two = (Report.model_validate(json.loads(out.stdout)) for out in (first, second))
    assert one.alert.starts_at == alert_at
    assert _answer(two) == _answer(one)


def test_a_question_with_no_time_and_no_incident_is_a_usage_error(
    prom_history: PromHistory, cli_env: Path,
) -> None:
    out = _cli_question(prom_history)
    assert out.exit_code == 2
    assert "--at" in out.output and "wall clock" in out.output
    assert not (cli_env / "augur.db").exists()  # looking for an incident created no store
