"""The fault drill: an alert storm with redeliveries, workers paused and killed, the store briefly down.

Real processes on SQLite and PostgreSQL: ``augur serve --no-worker`` takes the storm (posted by
this process over loopback, 4 at a time, each notification retried on a non-2xx answer as
Alertmanager does), three ``augur worker`` processes investigate with a 2 s lease. During the
storm worker A is paused (SIGSTOP) while it runs a job, for longer than its lease; worker B is
killed (SIGKILL) while it runs one; the store is unavailable for ~1.5 s (PostgreSQL: this test's
database refuses connections and its sessions are terminated; SQLite: another process holds the
database's exclusive lock). Then A is resumed. Afterwards every acknowledged alert is stored
exactly once, each incident has exactly one report (and one ``report_ready``), A's late work
was discarded, and no job is left queued, running or parked.

Bounded for CI: 60 notifications x 20 alerts (+30 % redeliveries), ~30-60 s per store.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from augur.evals.servers import free_port
from augur.server.store.database import Store
from augur.server.store.models import AlertEpisode, IncidentEvent, Job, Report
from tests.fixtures.alerts import alert, notification
from tests.fixtures.store import _admin_url

AUGUR = str(Path(sys.executable).with_name("augur"))
TOKEN = "drill-webhook-token"
SERVICES = 12
NOTIFICATIONS = 60
ALERTS = 20

pytestmark = pytest.mark.slow


def _env(store_url: str, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUGUR_")}
    env.update(AUGUR_DATABASE_URL=store_url, AUGUR_DATA_DIR=str(data_dir), AUGUR_WEBHOOK_TOKEN=TOKEN,
               AUGUR_WORKER_LEASE_SECONDS="2", AUGUR_WORKER_POLL_SECONDS="0.1",
               AUGUR_WORKER_BACKOFF_SECONDS="0.2", AUGUR_GPU_PROBE_LOCAL="false")
    return env


def _storm(seed: int = 14) -> list[dict[str, Any]]:
    """Notifications for 12 services (5 each, 20 alerts), 30 % of them delivered twice, shuffled."""
    rng = random.Random(seed)
    bodies = []
    for n in range(NOTIFICATIONS):
        service = f"svc-{n % SERVICES}"
        alerts = [alert(f"Alert{n // SERVICES}", service=service, instance=f"i-{i}",
                        starts_at=f"2026-12-01T10:{n // SERVICES:02d}:00Z") for i in range(ALERTS)]
        bodies.append(notification(alerts, group_key=f'{{}}:{{service="{service}"}}'))
    bodies += [rng.choice(bodies) for _ in range(int(0.3 * NOTIFICATIONS))]
    rng.shuffle(bodies)
    return bodies


def _post_until_acked(client: httpx.Client, url: str, body: dict[str, Any], deadline: float) -> int:
    """Deliver like Alertmanager: retry on 5xx or a connection error; returns how many tries it took."""
    tries = 0
    while time.monotonic() < deadline:
        tries += 1
        try:
            answer = client.post(url, json=body, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
        except httpx.HTTPError:
            time.sleep(0.2)
            continue
        if answer.status_code == 200:
            return tries
        assert answer.status_code >= 500, answer.text  # a 4xx would be dropped by Alertmanager
        time.sleep(0.2)
    raise AssertionError("a notification was never acknowledged")


def _running(store: Store, pid: int) -> int | None:
    with store.read_session() as session:
        return session.scalar(select(Job.id).where(Job.status == "running",
                                                   Job.lease_owner.like(f"%:{pid}:%")).limit(1))


def _wait_running(store: Store, pid: int, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            job_id = _running(store, pid)
        except Exception:
            job_id = None
        if job_id is not None:
            return job_id
        time.sleep(0.01)
    raise AssertionError(f"worker {pid} never ran a job")


def _outage(store_url: str, seconds: float) -> None:
    """Make the store unavailable for ``seconds``."""
    url = make_url(store_url)
    if url.get_backend_name() == "sqlite":
        conn = sqlite3.connect(str(url.database), timeout=30, isolation_level=None)
        conn.execute("BEGIN EXCLUSIVE")
        time.sleep(seconds)
        conn.execute("ROLLBACK")
        conn.close()
        return
    admin = make_url(_admin_url())
    engine = create_engine(admin.set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    name = url.database
    with engine.connect() as conn:
        conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
        conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": name})
        time.sleep(seconds)
        conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
    engine.dispose()


def test_storm_with_paused_and_killed_workers_and_a_store_outage(
    store: Store, store_url: str, tmp_path: Path, processes: list[subprocess.Popen[bytes]],
) -> None:
    env = _env(store_url, tmp_path)
    port = free_port()
    serve = subprocess.Popen([AUGUR, "serve", "--no-worker", "--port", str(port), "--log-level", "warning"],
                             env=env, stderr=subprocess.DEVNULL)
    processes.append(serve)
    logs = {name: (tmp_path / f"worker-{name}.log").open("wb") for name in "ABC"}
    workers = {name: subprocess.Popen([AUGUR, "worker"], env=env, stderr=logs[name]) for name in "ABC"}
    processes.extend(workers.values())
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "augur serve did not start"
        time.sleep(0.1)

    bodies = _storm()
    acked: set[tuple[str, str]] = set()
    lock = threading.Lock()
    faults: dict[str, Any] = {}

    tries: list[int] = []

    def deliver(body: dict[str, Any]) -> None:
        with httpx.Client() as client:
            tried = _post_until_acked(client, f"{base}/v1/alertmanager", body, time.monotonic() + 120)
        with lock:
            tries.append(tried)
            acked.update((a["fingerprint"], a["startsAt"]) for a in body["alerts"])

    def inject() -> None:
        faults["paused_job"] = _wait_running(store, workers["A"].pid)
        os.kill(workers["A"].pid, signal.SIGSTOP)
        faults["killed_job"] = _wait_running(store, workers["B"].pid)
        os.kill(workers["B"].pid, signal.SIGKILL)
        _outage(store_url, 1.5)

    injector = threading.Thread(target=inject)
    with ThreadPoolExecutor(4) as pool:
        injector.start()
        list(pool.map(deliver, bodies))
    injector.join(120)
    assert "paused_job" in faults and "killed_job" in faults, faults

    # A stays paused until its job was taken over and finished by another worker, then wakes up.
    store.dispose()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        with store.read_session() as session:
            job = session.get(Job, faults["paused_job"])
        if job is not None and job.status == "done":
            break
        time.sleep(0.2)
    os.kill(workers["A"].pid, signal.SIGCONT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with store.read_session() as session:
            pending = session.scalar(select(func.count()).select_from(Job)
                                     .where(Job.status.in_(["queued", "running"]))) or 0
        if not pending:
            break
        time.sleep(0.3)
    time.sleep(3)  # A finishes what it was doing when it woke up (and must discard it)
    for name in "AC":
        workers[name].send_signal(signal.SIGTERM)
        workers[name].wait(30)
        logs[name].close()

    with store.read_session() as session:
        episodes = session.execute(select(AlertEpisode.fingerprint, AlertEpisode.starts_at)).all()
        jobs = Counter(session.scalars(select(Job.status)))
        reports = Counter(session.scalars(select(Report.incident_id)))
        ready = Counter(session.scalars(select(IncidentEvent.incident_id)
                                        .where(IncidentEvent.kind == "report_ready")))
        proposer = Counter(session.scalars(select(IncidentEvent.incident_id)
                                           .where(IncidentEvent.kind.like("proposals_%"))))
        paused = session.get(Job, faults["paused_job"])
        killed = session.get(Job, faults["killed_job"])
    stored = Counter((fp, at.strftime("%Y-%m-%dT%H:%M:%SZ")) for fp, at in episodes)
    assert set(stored) == acked, "every acknowledged alert is stored, and nothing else"
    assert max(stored.values()) == 1
    assert len(acked) == NOTIFICATIONS * ALERTS
    assert jobs == Counter({"done": SERVICES}), jobs
    assert len(reports) == SERVICES and set(reports.values()) == {1}, reports
    assert set(ready.values()) == {1} and set(proposer.values()) == {1}, (ready, proposer)
    assert paused is not None and paused.attempts >= 2 and paused.lease_owner is not None
    assert f":{workers['A'].pid}:" not in paused.lease_owner, "another worker finished A's job"
    assert killed is not None and killed.attempts >= 2
    log_a = (tmp_path / "worker-A.log").read_text()
    assert f"discards its work on job {faults['paused_job']}" in log_a, log_a[-3000:]
    print(f"drill {store.dialect}: {len(bodies)} notifications ({len(bodies) - NOTIFICATIONS} redeliveries), "
          f"{len(acked)} alerts acked, {len(stored)} stored, "
          f"{sum(stored.values()) - len(stored)} duplicated; "
          f"{len(reports)} incidents, reports per incident {sorted(set(reports.values()))}; "
          f"jobs {dict(jobs)}; "
          f"deliveries retried after a 5xx/connection error: {sum(t > 1 for t in tries)}")
