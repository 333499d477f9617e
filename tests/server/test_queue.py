"""The job queue and workers on SQLite and PostgreSQL: leases, retries with back-off, parking, reclaiming."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import update

from augur.server.jobs.worker import Worker
from augur.server.store.database import Store
from augur.server.store.models import Job, utcnow
from augur.server.store.queue import ClaimedJob, JobQueue, enqueue


def _add(store: Store, kind: str = "investigate", max_attempts: int = 3, **payload: object) -> int:
    with store.transaction() as session:
        return enqueue(session, kind, dict(payload), max_attempts=max_attempts)


def _job(store: Store, job_id: int) -> Job:
    job = JobQueue(store).get(job_id)
    assert job is not None
    return job


def test_claim_takes_the_oldest_due_job_and_leases_it(store: Store) -> None:
    first, second = _add(store, n=1), _add(store, n=2)
    queue = JobQueue(store, lease_seconds=30)
    claimed = queue.claim("w1")
    assert claimed is not None and claimed.id == first and claimed.attempts == 1
    assert queue.claim("w2") is not None  # the second job
    assert queue.claim("w3") is None  # nothing left: both are leased
    job = _job(store, first)
    assert job.status == "running" and job.lease_owner == "w1"
    assert job.lease_expires_at is not None and job.lease_expires_at > utcnow() + timedelta(seconds=25)
    assert _job(store, second).lease_owner == "w2"


def test_a_worker_claims_only_kinds_it_can_run(store: Store) -> None:
    _add(store, kind="postmortem")
    assert JobQueue(store).claim("w", kinds=["investigate"]) is None
    assert JobQueue(store).claim("w", kinds=["postmortem"]) is not None


def test_an_expired_lease_is_reclaimed_by_another_worker(store: Store) -> None:
    job_id = _add(store)
    queue = JobQueue(store, lease_seconds=0.2)
    assert queue.claim("dead-worker") is not None
    assert queue.claim("w2") is None
    time.sleep(0.3)
    reclaimed = queue.claim("w2")
    assert reclaimed is not None and reclaimed.id == job_id and reclaimed.attempts == 2
    assert not queue.complete(job_id, "dead-worker"), "the dead worker lost its lease"
    assert queue.complete(job_id, "w2")
    assert _job(store, job_id).status == "done"


def test_renewing_keeps_the_lease(store: Store) -> None:
    _add(store)
    queue = JobQueue(store, lease_seconds=0.3)
    job = queue.claim("w1")
    assert job is not None
    for _ in range(4):
        time.sleep(0.15)
        assert queue.renew(job.id, "w1")
        assert queue.claim("w2") is None


def test_failures_back_off_then_park_with_the_last_error(store: Store) -> None:
    job_id = _add(store, max_attempts=2)
    queue = JobQueue(store, backoff_base_seconds=60)
    job = queue.claim("w")
    assert job is not None
    assert queue.fail(job, "boom 1") == "queued"
    row = _job(store, job_id)
    assert row.status == "queued" and row.run_after > utcnow() + timedelta(seconds=50)
    assert queue.claim("w") is None, "not due before its back-off"
    with store.transaction() as session:
        session.execute(update(Job).where(Job.id == job_id).values(run_after=utcnow()))
    job = queue.claim("w")
    assert job is not None and job.attempts == 2
    assert queue.fail(job, "boom 2") == "parked"
    row = _job(store, job_id)
    assert (row.status, row.last_error) == ("parked", "boom 2")
    assert queue.claim("w") is None


def test_a_job_whose_workers_keep_dying_is_parked(store: Store) -> None:
    job_id = _add(store, max_attempts=2)
    queue = JobQueue(store, lease_seconds=0.05)
    assert queue.claim("a") is not None
    time.sleep(0.1)
    assert queue.claim("b") is not None
    time.sleep(0.1)
    assert queue.claim("c") is None
    row = _job(store, job_id)
    assert row.status == "parked" and "worker died" in (row.last_error or "")


def test_enqueue_with_a_dedupe_key_reuses_the_job(store: Store) -> None:
    with store.transaction() as session:
        a = enqueue(session, "investigate", {"incident_id": 1}, dedupe_key="investigate:1")
        b = enqueue(session, "investigate", {"incident_id": 1}, dedupe_key="investigate:1")
    assert a == b
    assert JobQueue(store).depth() == {"queued": 1}


def test_concurrent_workers_never_claim_the_same_job(store: Store) -> None:
    ids = [_add(store, n=i) for i in range(30)]
    claims: list[tuple[str, int]] = []
    lock = threading.Lock()

    def drain(name: str) -> None:
        queue = JobQueue(store, lease_seconds=60)
        while (job := queue.claim(name)) is not None:
            with lock:
                claims.append((name, job.id))
            queue.complete(job.id, name)

    threads = [threading.Thread(target=drain, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(job_id for _, job_id in claims) == ids
    assert JobQueue(store).depth() == {"done": 30}


def test_worker_runs_sync_and_async_handlers_and_retries_failures(store: Store) -> None:
    seen: list[tuple[str, int]] = []

    def sync_handler(job: ClaimedJob, _store: Store) -> None:
        seen.append(("sync", job.id))

    async def async_handler(job: ClaimedJob, _store: Store) -> None:
        await asyncio.sleep(0)
        seen.append(("async", job.id))

    def flaky(job: ClaimedJob, _store: Store) -> None:
        if job.attempts < 2:
            raise RuntimeError("backend not ready")
        seen.append(("flaky", job.id))

    a, b, c = _add(store, kind="sync"), _add(store, kind="async"), _add(store, kind="flaky")
    worker = Worker(
        store,
        {"sync": sync_handler, "async": async_handler, "flaky": flaky},
        backoff_base_seconds=0,
        poll_seconds=0.01,
    )
    while worker.run_once():
        pass
    assert sorted(seen) == sorted([("sync", a), ("async", b), ("flaky", c)])
    flaky_row = _job(store, c)
    assert flaky_row.status == "done" and flaky_row.attempts == 2


@pytest.mark.parametrize("lease", [0.3])
def test_a_long_handler_keeps_its_lease_while_it_runs(store: Store, lease: float) -> None:
    job_id = _add(store, kind="slow")
    started = threading.Event()

    def slow(_job: ClaimedJob, _store: Store) -> None:
        started.set()
        time.sleep(lease * 4)

    worker = Worker(store, {"slow": slow}, lease_seconds=lease)
    thread = threading.Thread(target=worker.run_once)
    thread.start()
    started.wait(5)
    rival = JobQueue(store, lease_seconds=lease)
    for _ in range(5):
        time.sleep(lease / 2)
        assert rival.claim("rival") is None, "the lease was renewed, so nobody may reclaim the job"
    thread.join(10)
    assert _job(store, job_id).status == "done"


def test_a_worker_that_lost_its_lease_writes_nothing_under_it(store: Store) -> None:
    """Fencing: a claim's results pass `hold_lease` only while that very claim holds the job."""
    from augur.server.store.models import Incident, IncidentEvent
    from augur.server.store.queue import LeaseLost, hold_lease

    now = utcnow()
    with store.transaction() as session:
        incident = Incident(status="open", group_key="g", title="t", opened_at=now, updated_at=now)
        session.add(incident)
        session.flush()
        incident_id = incident.id
        enqueue(session, "investigate", {"incident_id": incident_id})
    queue = JobQueue(store, lease_seconds=0.2)
    paused = queue.claim("paused-worker")
    assert paused is not None
    time.sleep(0.3)  # paused past its lease
    reclaimed = queue.claim("w2")
    assert reclaimed is not None and reclaimed.attempts == 2

    def write(job: ClaimedJob, note: str) -> None:
        with store.transaction() as session:
            hold_lease(session, job)
            session.add(IncidentEvent(incident_id=incident_id, at=utcnow(), kind="report_ready",
                                      detail={"by": note}))

    with pytest.raises(LeaseLost, match="no longer holds the lease of attempt 1"):
        write(paused, "paused")
    write(reclaimed, "w2")
    assert queue.complete(reclaimed.id, "w2", reclaimed.attempts)
    with pytest.raises(LeaseLost):  # done: nobody's results pass any more, not even the finisher's
        write(reclaimed, "w2 again")
    # The same worker name on an older claim is not the same lease either.
    assert not queue.renew(paused.id, "paused-worker", paused.attempts)
    with store.read_session() as session:
        details = [e.detail for e in session.query(IncidentEvent).filter_by(kind="report_ready")]
    assert details == [{"by": "w2"}]


def test_holding_the_lease_extends_it_so_nobody_reclaims_before_the_commit(store: Store) -> None:
    from augur.server.store.queue import hold_lease

    _add(store)
    queue = JobQueue(store, lease_seconds=0.3)
    job = queue.claim("w1")
    assert job is not None
    time.sleep(0.2)
    with store.transaction() as session:
        hold_lease(session, job)
    time.sleep(0.2)  # past the original expiry, within the extended one
    assert queue.claim("w2") is None


def test_retry_later_requeues_without_using_up_an_attempt(store: Store) -> None:
    job_id = _add(store, max_attempts=1)
    queue = JobQueue(store)
    job = queue.claim("w")
    assert job is not None
    assert queue.retry_later(job, "prometheus down", 0.0)
    row = _job(store, job_id)
    assert (row.status, row.attempts, row.max_attempts, row.last_error) == ("queued", 1, 2, "prometheus down")
    again = queue.claim("w")
    assert again is not None and again.attempts == 2, "attempts only grow: they are the lease's epoch"
    assert queue.fail(again, "real failure") == "parked"
