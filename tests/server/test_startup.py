"""Workers starting together on an empty PostgreSQL database: the schema is made once, no job fails.

Each ``augur worker`` migrates the store at start-up (Alembic under one advisory lock, LangGraph's
checkpoint tables under another); before, every investigation ran the checkpointer's ``setup()``
and workers starting together failed with ``UniqueViolation``/``DeadlockDetected``.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from augur.server.intake.grouping import GroupingPolicy
from augur.server.intake.ingest import ingest
from augur.server.intake.webhook import WebhookPayload
from augur.server.store.database import Store
from augur.server.store.models import Job, Report, utcnow
from tests.fixtures.alerts import alert, notification
from tests.fixtures.store import _admin_url

AUGUR = str(Path(sys.executable).with_name("augur"))

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


@pytest.fixture
def empty_postgres() -> Iterator[str]:
    """A new, empty (not migrated) PostgreSQL database, dropped afterwards."""
    admin = make_url(_admin_url()).set(drivername="postgresql+psycopg")
    engine = create_engine(admin, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    name = f"augur_empty_{secrets.token_hex(4)}"
    try:
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        engine.dispose()
        pytest.skip(f"PostgreSQL not reachable ({exc.__class__.__name__}): start it or set "
                    "AUGUR_TEST_POSTGRES_URL")
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


def test_three_workers_starting_together_on_an_empty_database_fail_no_job(
    empty_postgres: str, tmp_path: Path, processes: list[subprocess.Popen[bytes]],
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUGUR_")}
    env.update(AUGUR_DATABASE_URL=empty_postgres, AUGUR_DATA_DIR=str(tmp_path),
               AUGUR_WORKER_POLL_SECONDS="0.1", AUGUR_GPU_PROBE_LOCAL="false")
    logs = [(tmp_path / f"worker-{i}.log").open("wb") for i in range(3)]
    workers = [subprocess.Popen([AUGUR, "worker"], env=env, stderr=log) for log in logs]
    processes.extend(workers)
    store = Store.open(empty_postgres, migrate=False)
    deadline = time.monotonic() + 60
    while True:  # the workers migrate; then jobs arrive, several at once
        try:
            if store.current_revision() is not None:
                break
        except Exception:
            pass
        assert time.monotonic() < deadline, "no worker migrated the store"
        time.sleep(0.05)
    time.sleep(0.5)
    for n in range(3):
        body = notification([alert("Down", service=f"svc-{n}")], group_key=f"g{n}")
        ingest(store, WebhookPayload.model_validate(body), GroupingPolicy(), utcnow())
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with store.read_session() as session:
            jobs = list(session.execute(select(Job.status, Job.attempts, Job.last_error)))
        if all(status == "done" for status, _, _ in jobs):
            break
        time.sleep(0.2)
    for worker, log in zip(workers, logs, strict=True):
        assert worker.poll() is None, "a worker died at start-up"
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)
        log.close()
    errors = "\n".join((tmp_path / f"worker-{i}.log").read_text() for i in range(3))
    assert [(s, a, e) for s, a, e in jobs] == [("done", 1, None)] * 3, errors[-3000:]
    assert "UniqueViolation" not in errors and "DeadlockDetected" not in errors
    with store.read_session() as session:
        assert len(session.scalars(select(Report.id)).all()) == 3
    store.dispose()
