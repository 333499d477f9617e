"""The job queue: rows in the ``jobs`` table, claimed by workers under a renewable lease.

A worker claims the oldest due job (``queued`` and ``run_after`` passed, or ``running`` with an
expired lease — its worker died) with ``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL, so any
number of workers share the queue without blocking one another; on SQLite the claim runs in a
``BEGIN IMMEDIATE`` transaction, the database's single writer. Each claim counts an attempt. A
failed job is retried after an exponential back-off; after ``max_attempts`` it is ``parked`` for
a human to look at, with the last error kept.

Fencing: every claim counts an attempt, and ``(lease_owner, attempts)`` is the lease's token —
the *epoch* of that claim. A worker writes a job's results only through :func:`hold_lease`, in the
same transaction as the results: it checks that the job is still ``running`` under this very
claim (and extends the lease), or raises :class:`LeaseLost`. A worker that was paused past its
lease (SIGSTOP, a long GC, a frozen VM) and whose job another worker reclaimed therefore writes
nothing when it wakes up: its work is discarded, and the job has exactly one result.

:func:`enqueue` takes the caller's session, so a job is created in the same transaction as the
rows that call for it (an incident and its investigation are stored together or not at all).
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from augur.server.store.database import Store
from augur.server.store.models import Job, utcnow
from augur.tools.errors import BackendUnavailable

__all__ = ["ACTION_CHECK", "ClaimedJob", "JobQueue", "LeaseLost", "enqueue", "hold_lease", "worker_identity"]

#: The job that checks, some minutes after an approved action ran, whether the incident recovered
#: (queued by :mod:`augur.server.review`, run by :mod:`augur.server.jobs.action_check`).
ACTION_CHECK = "action_check"


class LeaseLost(BackendUnavailable, RuntimeError):
    """This worker no longer holds the job's lease (another worker reclaimed it): discard the work."""


@dataclass(frozen=True)
class ClaimedJob:
    """A job a worker holds the lease on: what a job handler receives.

    ``attempts`` is also the lease's epoch: the claim that made it is the only one whose
    results :func:`hold_lease` lets through.
    """

    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int
    lease_owner: str
    lease_expires_at: datetime
    lease_seconds: float = 60.0


def _own(job_id: int, worker_id: str, attempts: int | None) -> Any:
    cond = and_(Job.id == job_id, Job.lease_owner == worker_id, Job.status == "running")
    return cond if attempts is None else and_(cond, Job.attempts == attempts)


def hold_lease(session: Session, job: ClaimedJob, *, now: datetime | None = None) -> None:
    """Check, inside the caller's write transaction, that ``job``'s lease is still this claim's.

    Extends the lease by its length (so no other worker can reclaim the job between this check
    and the commit: on PostgreSQL the update also row-locks the job until then). Raises
    :class:`LeaseLost` when the job was reclaimed, finished or parked since this claim; the
    caller's transaction then rolls back, writing nothing.
    """
    now = now or utcnow()
    result = session.execute(
        update(Job)
        .where(_own(job.id, job.lease_owner, job.attempts))
        .values(lease_expires_at=now + timedelta(seconds=job.lease_seconds), updated_at=now)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        raise LeaseLost(
            f"job {job.id}: worker {job.lease_owner} no longer holds the lease of attempt {job.attempts} "
            "(another worker reclaimed it after it expired); this attempt's results are discarded"
        )


def worker_identity() -> str:
    """A name for this worker unique across hosts and restarts: ``host:pid:random``."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def enqueue(
    session: Session,
    kind: str,
    payload: dict[str, Any],
    *,
    dedupe_key: str | None = None,
    max_attempts: int = 5,
    run_after: datetime | None = None,
    now: datetime | None = None,
) -> int:
    """Add a job in the caller's transaction; with ``dedupe_key``, an existing job of that key is reused."""
    now = now or utcnow()
    if dedupe_key is not None:
        existing = session.scalar(select(Job.id).where(Job.dedupe_key == dedupe_key))
        if existing is not None:
            return existing
    job = Job(
        kind=kind,
        payload=payload,
        status="queued",
        attempts=0,
        max_attempts=max_attempts,
        run_after=run_after or now,
        dedupe_key=dedupe_key,
        created_at=now,
        updated_at=now,
    )
    session.add(job)
    session.flush()
    return job.id


class JobQueue:
    """Claim, renew, complete and fail jobs in ``store`` for one worker."""

    def __init__(
        self,
        store: Store,
        *,
        lease_seconds: float = 60.0,
        backoff_base_seconds: float = 5.0,
        backoff_max_seconds: float = 600.0,
    ) -> None:
        self.store = store
        self.lease = timedelta(seconds=lease_seconds)
        self.backoff_base = backoff_base_seconds
        self.backoff_max = backoff_max_seconds

    def claim(self, worker_id: str, kinds: list[str] | None = None) -> ClaimedJob | None:
        """Take the lease on the oldest due job (or one whose lease expired); ``None`` if none is due."""
        while True:
            with self.store.transaction() as session:
                now = utcnow()
                due = or_(
                    and_(Job.status == "queued", Job.run_after <= now),
                    and_(Job.status == "running", Job.lease_expires_at < now),
                )
                stmt = select(Job).where(due).order_by(Job.run_after, Job.id).limit(1)
                if kinds is not None:
                    stmt = stmt.where(Job.kind.in_(kinds))
                if self.store.dialect == "postgresql":
                    stmt = stmt.with_for_update(skip_locked=True)
                job = session.scalars(stmt).first()
                if job is None:
                    return None
                if job.status == "running" and job.attempts >= job.max_attempts:
                    # Its worker died on every attempt: stop handing it out.
                    job.status, job.lease_owner, job.lease_expires_at = "parked", None, None
                    job.last_error = f"lease expired on attempt {job.attempts} (worker died); parked"
                    job.updated_at = now
                    continue
                return self._take(job, worker_id, now)

    def claim_job(self, job_id: int, worker_id: str) -> ClaimedJob | None:
        """Take the lease on one queued job now, due or not: for the process that queued it to run
        it at once (the queue runs it if that process dies first). ``None`` if it is not queued."""
        with self.store.transaction() as session:
            stmt = select(Job).where(Job.id == job_id, Job.status == "queued")
            if self.store.dialect == "postgresql":
                stmt = stmt.with_for_update(skip_locked=True)
            job = session.scalars(stmt).first()
            return None if job is None else self._take(job, worker_id, utcnow())

    def _take(self, job: Job, worker_id: str, now: datetime) -> ClaimedJob:
        job.status = "running"
        job.attempts += 1
        job.lease_owner = worker_id
        job.lease_expires_at = now + self.lease
        job.updated_at = now
        return ClaimedJob(
            id=job.id,
            kind=job.kind,
            payload=dict(job.payload),
            attempts=job.attempts,
            max_attempts=job.max_attempts,
            lease_owner=worker_id,
            lease_expires_at=job.lease_expires_at,
            lease_seconds=self.lease.total_seconds(),
        )

    def _update_own(self, job_id: int, worker_id: str, attempts: int | None = None, **values: Any) -> bool:
        with self.store.transaction() as session:
            result = session.execute(
                update(Job).where(_own(job_id, worker_id, attempts)).values(updated_at=utcnow(), **values)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def renew(self, job_id: int, worker_id: str, attempts: int | None = None) -> bool:
        """Extend the lease; ``False`` if this worker no longer holds it (another reclaimed the job).

        With ``attempts`` (the claim's epoch) only that claim's lease is extended.
        """
        return self._update_own(job_id, worker_id, attempts, lease_expires_at=utcnow() + self.lease)

    def complete(self, job_id: int, worker_id: str, attempts: int | None = None) -> bool:
        """Mark the job done; ``False`` if this worker had lost the lease."""
        return self._update_own(
            job_id, worker_id, attempts, status="done", lease_expires_at=None, last_error=None
        )

    def retry_later(self, job: ClaimedJob, reason: str, delay_seconds: float) -> bool:
        """Put the job back in the queue to run again after ``delay_seconds``, keeping its attempt count.

        For work that could not be done *yet* (a backend it needs was unavailable) rather than
        work that failed: the job gets one more allowed attempt, so waiting for a backend never
        parks it (``attempts`` itself only grows: it is the lease's epoch). ``False`` if this
        worker no longer held the lease.
        """
        return self._update_own(
            job.id,
            job.lease_owner,
            job.attempts,
            status="queued",
            lease_expires_at=None,
            lease_owner=None,
            last_error=reason[-4000:],
            max_attempts=Job.max_attempts + 1,
            run_after=utcnow() + timedelta(seconds=delay_seconds),
        )

    def fail(self, job: ClaimedJob, error: str, *, final: bool = False) -> str:
        """Record a failure: back to ``queued`` after a back-off, or ``parked`` after the last attempt
        (or at once when ``final``: the job's input is wrong, and another attempt would fail the same way).

        Returns the job's new status (``lost`` if this worker no longer held the lease).
        """
        error = error[-4000:]
        if final or job.attempts >= job.max_attempts:
            ok = self._update_own(
                job.id,
                job.lease_owner,
                job.attempts,
                status="parked",
                lease_expires_at=None,
                lease_owner=None,
                last_error=error,
            )
            return "parked" if ok else "lost"
        delay = min(self.backoff_max, self.backoff_base * 2 ** (job.attempts - 1))
        ok = self._update_own(
            job.id,
            job.lease_owner,
            job.attempts,
            status="queued",
            lease_expires_at=None,
            lease_owner=None,
            last_error=error,
            run_after=utcnow() + timedelta(seconds=delay),
        )
        return "queued" if ok else "lost"

    def depth(self) -> dict[str, int]:
        """How many jobs are in each status."""
        with self.store.read_session() as session:
            rows = session.execute(select(Job.status, func.count()).group_by(Job.status)).all()
        return {status: int(count) for status, count in rows}

    def get(self, job_id: int) -> Job | None:
        """The job row (detached), for inspection."""
        with self.store.read_session() as session:
            return session.get(Job, job_id)
