"""Incident memory fed from the store: a second incident of the same kind, investigated by the real
worker, cites the first one — its confirmed cause and the fix a person recorded — and past verdicts
move its ranking with the reason shown; a "wrong, it was X" verdict on it reaches the third.

Real store (SQLite and PostgreSQL), the real Prometheus history fixture, the real worker and
investigation handler; the first incident's report is a real one too (:mod:`tests.fixtures.incidents`).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from augur.agent.report import Report
from augur.server.jobs.worker import Worker
from augur.server.state import default_handlers
from augur.server.store.database import Store
from augur.server.store.models import Incident
from augur.server.web.app import create_app
from tests.agent.investigation_support import PLATFORM, latency_alert, write_platform_logs
from tests.fixtures.incidents import ranker_report, seed_incident
from tests.fixtures.prometheus import PromHistory
from tests.server.conftest import ADMIN_TOKEN, settings_for

__all__ = ["ranker_report"]

pytestmark = pytest.mark.slow
FIX = "rolled the feature pipeline back to yesterday's build"


def _resolve(store: Store, incident_id: int) -> None:
    with store.transaction() as session:
        session.execute(update(Incident).where(Incident.id == incident_id).values(status="resolved"))


def _investigate(client: TestClient, store: Store, handlers: dict[str, object], starts_at: float,
                 prom: PromHistory) -> tuple[int, Report, str]:
    alert = latency_alert(starts_at, prom.url)
    assert client.post("/v1/alertmanager", json=alert).status_code < 300
    incident_id = client.get("/v1/incidents", params={"status": "open"}).json()["incidents"][0]["id"]
    assert Worker(store, handlers, lease_seconds=60).run_once()  # type: ignore[arg-type]
    report = Report.model_validate(client.get(f"/v1/incidents/{incident_id}/report").json())
    markdown = client.get(f"/v1/incidents/{incident_id}/report.md").text
    return incident_id, report, markdown


def test_a_second_similar_incident_cites_the_first_and_its_fix_and_a_wrong_verdict_reaches_the_third(
    store: Store, store_url: str, prom_history: PromHistory, tmp_path: Path, ranker_report: Report,
) -> None:
    settings = settings_for(store_url, data_dir=tmp_path, prometheus_url=prom_history.url,
                            catalog_file=PLATFORM)
    write_platform_logs(tmp_path, prom_history.t_end, prom_history.onsets)
    first = seed_incident(store, ranker_report, status="resolved")
    handlers = default_handlers(settings)
    with TestClient(create_app(settings, store=store), client=("127.0.0.1", 5000),
                    headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as client:
        judged = client.post(f"/v1/incidents/{first}/verdict", json={"verdict": "confirmed", "fix": FIX})
        assert judged.status_code == 201, judged.text

        second, report, markdown = _investigate(client, store, handlers, prom_history.t_end - 5 * 60,
                                                prom_history)
        assert second != first
        cited = {s.id: s for s in report.similar_incidents}
        assert f"#{first}" in cited, [s.id for s in report.similar_incidents]
        past = cited[f"#{first}"]
        assert (past.verdict, past.cause, past.fix) == ("confirmed", "feature-pipeline", FIX)
        assert past.similarity >= 0.3 and past.why
        assert f"#{first}" in markdown and FIX in markdown
        top = report.candidates[0]
        assert top.component == "feature-pipeline"
        assert any("past verdicts" in r and f"confirmed in #{first}" in r for r in top.reasons), top.reasons

        # The second is judged wrong: it was the ranker itself. The third hears of it.
        wrong = client.post(f"/v1/incidents/{second}/verdict",
                            json={"verdict": "wrong", "real_cause": "ranker-serving"})
        assert wrong.status_code == 201, wrong.text
        _resolve(store, second)
        third, report3, _ = _investigate(client, store, handlers, prom_history.t_end - 4 * 60, prom_history)
    assert third not in (first, second)
    listed = {s.id: s for s in report3.similar_incidents}
    assert listed[f"#{second}"].verdict == "wrong" and listed[f"#{second}"].cause == "ranker-serving"
    reasons = [r for c in report3.candidates for r in c.reasons if "past verdicts" in r]
    assert any(f"judged wrong, it was ranker-serving in #{second}" in r for r in reasons), reasons
