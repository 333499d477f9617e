"""`augur serve` and `augur worker` as real processes: start-up, and a worker killed mid-job.

How fast `augur serve` becomes ready is a benchmark (``python -m augur.evals.bench_startup``), not a
test: on a loaded CI machine importing the stack alone can take longer than the target. The waits
here are deadlines for "it came up at all", generous so that load does not fail them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from augur.evals.servers import free_port
from augur.server.store.database import Store
from augur.server.store.models import Incident, IncidentEvent, utcnow
from augur.server.store.queue import JobQueue, enqueue
from tests.fixtures.alerts import alert, notification
from tests.fixtures.sleepy_worker import SLEEP

AUGUR = str(Path(sys.executable).with_name("augur"))
#: `augur worker` plus a test-only job kind that sleeps (the product has none).
SLEEPY_WORKER = [sys.executable, "-m", "tests.fixtures.sleepy_worker"]
REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def _env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUGUR_")}
    env.update(values)
    return env


def test_augur_serve_starts_on_a_fresh_sqlite_store_and_runs_a_job(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    """Acceptance 5: the README's `augur serve`, a data dir that does not exist yet, nothing else running."""
    port = free_port()
    env = _env(AUGUR_DATA_DIR=str(tmp_path / "data"), AUGUR_DEV_MODE="true")
    start = time.monotonic()
    proc = subprocess.Popen(
        [AUGUR, "serve", "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    processes.append(proc)
    elapsed = None
    while time.monotonic() - start < 90 and proc.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=0.5).status_code == 200:
                elapsed = time.monotonic() - start
                break
        except httpx.HTTPError:
            time.sleep(0.05)
    if elapsed is None:
        proc.kill()  # before reading: a live process's stdout never ends
        output = proc.communicate(timeout=15)[0]
        pytest.fail(f"augur serve did not become ready in 90 s: {output!r}")
    assert (tmp_path / "data" / "augur.db").exists()
    # In development mode it serves the webhook from loopback with no token, and its worker runs the job.
    body = notification([alert("HighLatency", service="ranker")])
    assert httpx.post(f"http://127.0.0.1:{port}/v1/alertmanager", json=body, timeout=5).status_code == 200
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        if 'augur_jobs{status="done"} 1.0' in metrics:
            break
        time.sleep(0.2)
    assert 'augur_jobs{status="done"} 1.0' in metrics
    assert 'augur_job_outcomes_total{kind="investigate",outcome="done"} 1.0' in metrics
    proc.send_signal(signal.SIGTERM)
    # uvicorn shuts down gracefully, then re-raises the signal it caught.
    assert proc.wait(15) in (0, -signal.SIGTERM)
    output = proc.stdout.read().decode() if proc.stdout else ""
    assert "DEVELOPMENT MODE" in output, output  # said at start-up, not hidden
    assert "augur serving on" in output and "alembic" not in output, output  # no migration chatter


def test_augur_serve_with_an_invalid_setting_exits_2_with_the_fix(tmp_path: Path) -> None:
    env = _env(AUGUR_DATA_DIR=str(tmp_path), AUGUR_DATABASE_URL="mysql://nope")
    result = subprocess.run([AUGUR, "serve"], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "AUGUR_DATABASE_URL" in result.stderr and "postgresql" in result.stderr


def _running_owner(store: Store, job_id: int) -> str | None:
    job = JobQueue(store).get(job_id)
    return job.lease_owner if job is not None and job.status == "running" else None


def test_a_worker_killed_mid_job_is_replaced_after_its_lease_expires(
    store: Store, store_url: str, processes: list[subprocess.Popen[bytes]]
) -> None:
    """Acceptance 4 on SQLite and PostgreSQL: SIGKILL the worker running a job; another one finishes it."""
    now = utcnow()
    with store.transaction() as session:
        incident = Incident(status="open", group_key="g", title="t", opened_at=now, updated_at=now)
        session.add(incident)
        session.flush()
        job_id = enqueue(session, SLEEP, {"incident_id": incident.id, "seconds": 2.0})
    env = _env(
        AUGUR_DATABASE_URL=store_url,
        AUGUR_WORKER_LEASE_SECONDS="1",
        AUGUR_WORKER_POLL_SECONDS="0.1",
    )
    first = subprocess.Popen(SLEEPY_WORKER, env=env, cwd=REPO, stderr=subprocess.DEVNULL)
    processes.append(first)
    deadline = time.monotonic() + 90  # start-up (imports) takes seconds on a loaded machine
    while (owner := _running_owner(store, job_id)) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert owner is not None and f":{first.pid}:" in owner, "the first worker should be running the job"
    second = subprocess.Popen(SLEEPY_WORKER, env=env, cwd=REPO, stderr=subprocess.DEVNULL)
    processes.append(second)
    time.sleep(1.5)  # longer than the lease: the live first worker keeps renewing it
    assert _running_owner(store, job_id) == owner
    os.kill(first.pid, signal.SIGKILL)
    first.wait(10)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        job = JobQueue(store).get(job_id)
        if job is not None and job.status == "done":
            break
        time.sleep(0.1)
    job = JobQueue(store).get(job_id)
    assert job is not None and job.status == "done", f"job not completed: {job and job.status}"
    assert job.attempts == 2
    with store.read_session() as session:
        ran = session.scalars(select(IncidentEvent).where(IncidentEvent.kind == "job_ran")).all()
    assert [f":{second.pid}:" in e.detail["worker"] for e in ran] == [True]
    second.send_signal(signal.SIGTERM)
    assert second.wait(15) == 0
