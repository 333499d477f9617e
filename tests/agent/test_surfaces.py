"""The investigation's surfaces: POST /v1/investigations, the report endpoints, the job handler, the CLI.

Real store (SQLite), real Prometheus fixture, the real worker loop run in-process, and the
`augur investigate` command as a subprocess.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from augur.server.jobs.worker import Worker
from augur.server.scopes import Scope
from augur.server.settings import Settings
from augur.server.state import default_handlers
from augur.server.store.database import Store
from augur.server.store.models import Incident, IncidentEvent, Job
from augur.server.web.app import create_app
from tests.agent.investigation_support import PLATFORM, latency_alert, write_platform_logs
from tests.fixtures.prometheus import PromHistory
from tests.server.conftest import ADMIN_TOKEN

AUGUR = str(Path(sys.executable).with_name("augur"))


@pytest.fixture
def setup(prom_history: PromHistory, tmp_path: Path) -> tuple[TestClient, Store, Settings]:
    """An app on a fresh SQLite store, configured for the Prometheus fixture and its catalog."""
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'augur.db'}", data_dir=tmp_path,
                        prometheus_url=prom_history.url, catalog_file=PLATFORM, worker_in_process=False,
                        api_tokens={"tester": {"token": ADMIN_TOKEN, "scopes": [s.value for s in Scope]}})
    store = Store.open(settings.effective_database_url)
    write_platform_logs(tmp_path, prom_history.t_end, prom_history.onsets)
    return (TestClient(create_app(settings, store=store, handlers={}),
                       headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}), store, settings)


def _count(store: Store, model: type) -> int:
    with store.read_session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.mark.parametrize("body, reason", [
    ({}, "exactly one of"),
    ({"alert": {"labels": {"alertname": "X"}, "startsAt": "2026-11-24T02:00:00Z"}, "question": "why?"},
     "exactly one of"),
    ({"alert": {"startsAt": "2026-11-24T02:00:00Z"}}, "needs `labels`"),
    ({"alert": {"labels": {"alertname": "X"}}}, "needs `startsAt`"),
    ({"alert": {"labels": {"alertname": "X"}, "startsAt": "yesterday"}}, "RFC 3339"),
    ({"alert": {"alerts": []}}, "non-empty list"),
    ({"question": "why?", "start": "2026-11-24T03:00:00Z", "end": "2026-11-24T02:00:00Z"}, "after `start`"),
])
def test_bad_requests_get_a_4xx_with_the_reason_and_write_nothing(
    setup: tuple[TestClient, Store, Settings], body: dict[str, object], reason: str,
) -> None:
    client, store, _ = setup
    answer = client.post("/v1/investigations", json=body)
    assert answer.status_code == 422, answer.text
    assert reason in answer.text
    assert _count(store, Incident) == 0 and _count(store, Job) == 0


def test_unknown_incident_report_is_404_with_what_to_do(setup: tuple[TestClient, Store, Settings]) -> None:
    client, _, _ = setup
    answer = client.get("/v1/incidents/4242/report.md")
    assert answer.status_code == 404
    assert answer.json()["error"] == "incident_not_found" and "/v1/incidents" in answer.json()["reason"]


def test_alert_and_question_are_investigated_by_the_queue_worker(
    setup: tuple[TestClient, Store, Settings], prom_history: PromHistory,
) -> None:
    client, store, settings = setup
    alert = latency_alert(prom_history.t_end - 5 * 60, prom_history.url)
    by_alert = client.post("/v1/investigations", json={"alert": alert["alerts"][0]})
    end = datetime.fromtimestamp(prom_history.t_end, UTC)
    start = datetime.fromtimestamp(prom_history.t_end - 4 * 3600, UTC)
    by_question = client.post("/v1/investigations", json={
        "question": "why did the home page CTR drop?", "start": start.isoformat(), "end": end.isoformat(),
        "labels": {"surface": "home"}})
    assert by_alert.status_code == by_question.status_code == 202
    assert by_alert.headers["location"] == by_alert.json()["report_url"]
    worker = Worker(store, default_handlers(settings), lease_seconds=30, poll_seconds=0.1)
    assert worker.run_once() and worker.run_once()
    for accepted in (by_alert.json(), by_question.json()):
        report = client.get(accepted["report_url"])
        assert report.status_code == 200, report.text
        data = report.json()
        assert data["root_cause"]["component"] == "feature-pipeline"
        assert data["root_cause"]["fault_type"] == "data_drift"
        markdown = client.get(accepted["report_markdown_url"])
        assert markdown.status_code == 200 and "## Chain (ordered by onset)" in markdown.text
        assert client.get(accepted["report_url"] + ".json").json() == data
    assert client.get(by_question.json()["report_url"]).json()["alert"]["question"].startswith("why did")
    with store.read_session() as session:
        events = session.scalars(select(IncidentEvent).where(IncidentEvent.kind == "report_ready")).all()
    assert len(events) == 2 and {e.detail["root_cause"] for e in events} == {"feature-pipeline"}


def test_cli_prints_json_report_and_progress(prom_history: PromHistory, tmp_path: Path) -> None:
    alert_file = tmp_path / "alert.json"
    alert_file.write_text(json.dumps(latency_alert(prom_history.t_end - 5 * 60, prom_history.url)))
    started = time.monotonic()
    command = [AUGUR, "investigate", str(alert_file), "--catalog", str(PLATFORM),
               "--prometheus-url", prom_history.url, "--json"]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["root_cause"]["component"] == "feature-pipeline"
    assert "chain:" in result.stderr and "onset:" in result.stderr  # rich progress on stderr
    assert time.monotonic() - started < 60


def test_cli_rejects_a_file_that_is_not_an_alert(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    result = subprocess.run([AUGUR, "investigate", str(bad)], capture_output=True, text=True, timeout=60,
                            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert result.returncode == 2
    assert "must hold a JSON object" in result.stderr
    missing = subprocess.run([AUGUR, "investigate", str(tmp_path / "none.json")], capture_output=True,
                             text=True, timeout=60, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert missing.returncode == 2 and "cannot read" in missing.stderr
