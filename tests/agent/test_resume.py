"""Acceptance: a worker killed mid-investigation is resumed from its checkpoint by another worker.

Real processes end to end: ``POST /v1/investigations`` queues the job, ``augur worker`` runs it
against the real Prometheus fixture through a loopback proxy that stalls the investigation's
second round of queries, the test kills that worker by PID (SIGKILL), and a second ``augur
worker`` reclaims the job once the lease expires. It must resume from the LangGraph checkpoint
(SQLite file next to a SQLite store, or the PostgreSQL store's database), not start over: the
queries of the first round are not sent again, and the report says it resumed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from augur.server.settings import Settings
from augur.server.store.database import Store
from augur.server.store.models import Report as ReportRow
from augur.server.web.app import create_app
from tests.agent.investigation_support import PLATFORM, latency_alert, write_platform_logs
from tests.fixtures.prometheus import PromHistory

AUGUR = str(Path(sys.executable).with_name("augur"))
pytestmark = pytest.mark.slow


class StallingProxy:
    """Forwards HTTP GETs to Prometheus; after ``pass_first`` requests it holds new ones."""

    def __init__(self, upstream: str, pass_first: int) -> None:
        self.upstream = upstream.rstrip("/")
        self.pass_first = pass_first
        self.count = 0
        self.sent_at: list[float] = []  # when each request arrived
        self.lock = threading.Lock()
        self.holding = threading.Event()
        self.release = threading.Event()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with proxy.lock:
                    proxy.count += 1
                    proxy.sent_at.append(time.time())
                    hold = proxy.count > proxy.pass_first and not proxy.release.is_set()
                if hold:
                    proxy.holding.set()
                    proxy.release.wait(60)
                    return  # the worker that sent it is dead by now: answer nothing
                upstream = httpx.get(proxy.upstream + self.path, timeout=10)
                self.send_response(upstream.status_code)
                self.send_header("Content-Type", upstream.headers.get("content-type", "application/json"))
                self.send_header("Content-Length", str(len(upstream.content)))
                self.end_headers()
                self.wfile.write(upstream.content)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()


def test_killed_worker_resumes_from_checkpoint_on_another_worker(
    prom_history: PromHistory, store: Store, store_url: str, tmp_path: Path,
    processes: list[subprocess.Popen[bytes]],
) -> None:
    write_platform_logs(tmp_path, prom_history.t_end, prom_history.onsets)
    # Round 1 sends 4 Prometheus queries (the alert's and ranker-serving's range + onset); the
    # proxy passes those and one more, then stalls round 2.
    proxy = StallingProxy(prom_history.url, pass_first=5)
    try:
        settings = Settings(database_url=store_url, data_dir=tmp_path, worker_in_process=False, dev_mode=True)
        client = TestClient(create_app(settings, store=store, handlers={}), client=("127.0.0.1", 5000))
        alert = latency_alert(prom_history.t_end - 5 * 60, prom_history.url)
        accepted = client.post("/v1/investigations", json={"alert": alert})
        assert accepted.status_code == 202, accepted.text
        incident_id = accepted.json()["incident_id"]
        assert client.get(f"/v1/incidents/{incident_id}/report").json()["error"] == "report_not_ready"

        env = {k: v for k, v in os.environ.items() if not k.startswith("AUGUR_")}
        env.update(AUGUR_DATABASE_URL=store_url, AUGUR_DATA_DIR=str(tmp_path),
                   AUGUR_PROMETHEUS_URL=proxy.url, AUGUR_CATALOG_FILE=str(PLATFORM),
                   AUGUR_WORKER_LEASE_SECONDS="2", AUGUR_WORKER_POLL_SECONDS="0.2")
        logs = [open(tmp_path / f"worker-{n}.log", "wb") for n in (1, 2)]  # noqa: SIM115
        first = subprocess.Popen([AUGUR, "worker"], env=env, stderr=logs[0])
        processes.append(first)
        assert proxy.holding.wait(60), "the first worker never reached the second round"
        time.sleep(0.5)  # let the stalled round's other calls arrive too
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
        sent_before_kill = proxy.count
        proxy.release.set()

        second = subprocess.Popen([AUGUR, "worker"], env=env, stderr=logs[1])
        processes.append(second)
        deadline = time.monotonic() + 90
        answer = client.get(f"/v1/incidents/{incident_id}/report")
        while answer.status_code == 404 and time.monotonic() < deadline:
            time.sleep(0.3)
            answer = client.get(f"/v1/incidents/{incident_id}/report")
        for log in logs:
            log.close()
        assert answer.status_code == 200, (answer.text, (tmp_path / "worker-2.log").read_text()[-3000:])
        second.send_signal(signal.SIGTERM)
        second.wait(15)
    finally:
        proxy.close()
    report = answer.json()
    assert report["root_cause"]["component"] == "feature-pipeline"
    assert [link["component"] for link in report["chain"]] == [
        "feature-pipeline", "ranker-model", "ranker-serving", "ctr"]
    assert any("resumed from a checkpoint" in note for note in report["stats"]["notes"])
    prometheus_calls = sum(1 for row in report["evidence"] if row["tool"] in ("promql_range", "onset"))
    # Only the investigation's queries: after the report is stored, the rule proposals query too.
    with store.read_session() as session:
        stored = session.scalars(select(ReportRow.created_at)).one()
    stored_at = (stored if stored.tzinfo else stored.replace(tzinfo=UTC)).timestamp()
    sent_after = sum(1 for t in proxy.sent_at[sent_before_kill:] if t <= stored_at)
    # The first round's 4 queries were not repeated: the second worker sent only what was left.
    assert sent_after <= prometheus_calls - 4, (sent_before_kill, sent_after, prometheus_calls)
    markdown = client.get(f"/v1/incidents/{incident_id}/report.md")
    assert markdown.status_code == 200 and markdown.headers["content-type"].startswith("text/markdown")
    assert "feature-pipeline" in markdown.text.splitlines()[0]
