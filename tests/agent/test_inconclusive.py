"""Acceptance: missing evidence and unrelated alerts give ``inconclusive``, not a confident cause.

Against the real Prometheus history fixture (6 h of data) and the embedded log store:

- a look-back that reaches before the data starts leaves every metric without a baseline, so
  every onset fails; an ERROR line in the window must not become the "identified" root cause;
- an alert that matches no catalog component and whose own signal does not change must not be
  answered with whatever else is changing (the fixture's drift chain), and must leave no rule
  proposals behind.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import quote

import pytest

from augur.agent.investigation import investigate
from augur.agent.report import Report
from augur.server.jobs.proposer import SKIPPED, propose_for_report
from augur.server.settings import Settings
from augur.server.store.database import Store
from augur.tools.logs import LogRecord, SqliteLogStore
from tests.agent.investigation_support import latency_alert, platform_catalog, registry_for
from tests.fixtures.incidents import seed_incident
from tests.fixtures.prometheus import PromHistory


def test_a_lookback_before_the_data_starts_is_inconclusive_not_the_first_error_line(
    prom_history: PromHistory, tmp_path: Path,
) -> None:
    alert_at = prom_history.t_start + 2 * 3600
    records = [LogRecord(ts=t, level="info", service="ranker-serving", host="rs-1",
                         message=f"served request for model ranker in {20 + i % 30} ms")
               for i, t in enumerate(range(int(prom_history.t_start), int(alert_at), 60))]
    records.append(LogRecord(ts=alert_at - 20 * 60, level="error", service="ranker-serving", host="rs-1",
                             message="upstream connection reset by peer"))
    SqliteLogStore(tmp_path / "logs.db").ingest(records)
    report = asyncio.run(investigate(
        latency_alert(alert_at, prom_history.url), registry=registry_for(prom_history.url, tmp_path),
        catalog=platform_catalog(), lookback_s=6 * 3600))
    assert report.root_cause.verdict == "inconclusive", report.root_cause.summary
    assert report.root_cause.component is None and report.root_cause.confidence < 0.35
    assert "onset evidence" in report.root_cause.summary and "failed" in report.root_cause.summary


def _unrelated_alert(prom_history: PromHistory) -> dict[str, object]:
    expr = 'node_filesystem_avail_bytes{instance="db-7:9100"} / node_filesystem_size_bytes < 0.1'
    return {"status": "firing", "labels": {"alertname": "DiskAlmostFull", "instance": "db-7:9100"},
            "annotations": {"summary": "db-7 disk almost full"}, "startsAt": prom_history.t_end - 5 * 60,
            "generatorURL": f"{prom_history.url}/graph?g0.expr={quote(expr)}&g0.tab=1",
            "fingerprint": "0f0f0f0f0f0f0f0f"}


@pytest.fixture(scope="module")
def unrelated(prom_history: PromHistory, tmp_path_factory: pytest.TempPathFactory) -> Report:
    registry = registry_for(prom_history.url, tmp_path_factory.mktemp("unrelated"))
    return asyncio.run(investigate(_unrelated_alert(prom_history), registry=registry,
                                   catalog=platform_catalog()))


def test_an_alert_matching_nothing_is_inconclusive(unrelated: Report) -> None:
    # The fixture's drift chain is changing in the same window; nothing ties it to a disk alert.
    assert unrelated.root_cause.verdict == "inconclusive", unrelated.root_cause.summary
    assert unrelated.root_cause.component is None and unrelated.root_cause.confidence < 0.35
    assert "matches no catalog component" in unrelated.root_cause.summary
    assert unrelated.candidates and unrelated.candidates[0].component == "feature-pipeline"


def test_an_inconclusive_unmatched_alert_gets_no_rule_proposals(
    unrelated: Report, prom_history: PromHistory, store: Store,
) -> None:
    incident_id = seed_incident(store, unrelated, title="DiskAlmostFull on db-7", component="db-7")
    outcome = propose_for_report(Settings(prometheus_url=prom_history.url), store, incident_id, unrelated)
    assert outcome.kind == SKIPPED and "inconclusive" in str(outcome.detail["reason"])


def test_an_alert_on_a_service_the_catalog_does_not_know_is_inconclusive(
    prom_history: PromHistory, tmp_path: Path,
) -> None:
    """A newcomer's own alert reads a metric the catalog also reads, for another service.

    ``http_request_duration_seconds_bucket{service="checkout"}`` shares its metric name with
    ranker-serving's p99 signal but not its service: the alert is not about ranker-serving, and
    the fixture's drift chain must not be named as its cause (it was, at confidence 0.95).
    """
    expr = ('histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket'
            '{service="checkout"}[5m]))) > 0.5')
    alert = {"status": "firing", "labels": {"alertname": "CheckoutP99High", "service": "checkout"},
             "annotations": {}, "startsAt": prom_history.t_end - 5 * 60,
             "generatorURL": f"{prom_history.url}/graph?g0.expr={quote(expr)}&g0.tab=1"}
    report = asyncio.run(investigate(alert, registry=registry_for(prom_history.url, tmp_path),
                                     catalog=platform_catalog()))
    assert report.root_cause.verdict == "inconclusive", report.root_cause.summary
    assert report.root_cause.component is None
    assert "CheckoutP99High matches no catalog component" in report.root_cause.summary
    # No series is named as such: "did not change" sent people looking for a flat graph.
    assert "its own expression matched no series" in report.root_cause.summary


def test_the_known_alert_is_still_identified(prom_history: PromHistory, tmp_path: Path) -> None:
    """The rules only bite when evidence is missing or untied: the fixture's own alert keeps its cause."""
    report = asyncio.run(investigate(latency_alert(prom_history.t_end - 5 * 60, prom_history.url),
                                     registry=registry_for(prom_history.url, tmp_path),
                                     catalog=platform_catalog()))
    assert report.root_cause.verdict == "identified" and report.root_cause.component == "feature-pipeline"


def test_missing_series_count_as_missing_evidence_not_as_normal() -> None:
    """Coverage over plain state (no servers): empty and failed onsets are both missing evidence."""
    from augur.agent.state import CallRecord, InvestigationState
    from augur.agent.verdict import evidence_coverage

    def call(signal: str, ev_id: str) -> CallRecord:
        return CallRecord(key=ev_id, tool="onset", args={}, why="", component=signal.split(".")[0],
                          signal=signal, planner="sop", evidence_id=ev_id, status="", started=0.0,
                          duration_s=0.0)

    state = InvestigationState(
        calls=[call("a.x", "ev-1"), call("b.y", "ev-2"), call("c.z", "ev-3"), call("d.w", "ev-4")],
        evidence={"ev-1": {"tool": "onset", "status": "ok"},
                  "ev-2": {"tool": "onset", "status": "empty", "reason": "nothing matched",
                           "data": {"series": []}},
                  "ev-3": {"tool": "onset", "status": "error", "reason": "the reference window has 0 points"},
                  # Empty with series: they were read and did not change, which is evidence.
                  "ev-4": {"tool": "onset", "status": "empty",
                           "data": {"series": [{"series": "w", "found": False}]}}})
    judged, missing, reason = evidence_coverage(state)
    assert (judged, sorted(missing), reason) == (4, ["b.y", "c.z"], "nothing matched")


def test_a_window_with_no_data_says_so_even_when_a_weak_candidate_is_left() -> None:
    """The README's `--question "why is ctr down?" --at 2026-11-24T02:40:00Z` against the demo (whose
    data is from today): every metric matched no series, the drift table still gave a weak candidate,
    and the answer was "the best candidate (feature-pipeline) has confidence 0.24, below 0.35" —
    not that nothing could be read at that time."""
    from augur.agent.diagnose import Diagnosis, ScoredCandidate
    from augur.agent.state import CallRecord, InvestigationState
    from augur.agent.verdict import apply_verdict_rules

    def call(signal: str, ev_id: str, tool: str = "onset") -> CallRecord:
        return CallRecord(key=ev_id, tool=tool, args={}, why="", component=signal.split(".")[0],
                          signal=signal, planner="sop", evidence_id=ev_id, status="", started=0.0,
                          duration_s=0.0)

    unseen = {"tool": "onset", "status": "empty", "reason": "`business_ctr` matched no series in the range",
              "data": {"series": []}}
    state = InvestigationState(
        calls=[call("ctr.ctr", "ev-1"), call("ranker-model.accuracy", "ev-2"),
               call("ranker-serving.p99", "ev-3"), call("feature-pipeline.psi", "ev-4", "drift")],
        evidence={"ev-1": unseen, "ev-2": unseen, "ev-3": unseen, "ev-4": {"tool": "drift", "status": "ok"}})
    weak = ScoredCandidate(component="feature-pipeline", signal="feature-pipeline.psi", layer="data",
                           fault_type="data_drift", onset=None, score=0.57, confidence=0.24)
    below = Diagnosis([weak], "inconclusive", "the best candidate (feature-pipeline) has confidence 0.24, "
                                              "below 0.35")
    out = apply_verdict_rules(below, state, platform_catalog())
    assert out.verdict == "inconclusive"
    assert "the onset evidence of 3 of 4 examined signals failed" in out.why, out.why
    assert "matched no series" in out.why
