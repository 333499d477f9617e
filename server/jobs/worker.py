"""Workers: claim jobs from the queue and run the handler registered for their kind.

A handler is any callable ``handler(job, store)`` — plain or ``async`` — keyed by job kind in a
``dict[str, JobHandler]``. A worker claims only the kinds it has handlers for, renews its lease
in the background while the handler runs, marks the job done when it returns, and records the
failure when it raises (retry with back-off, or park; at once for a
:class:`~augur.tools.errors.BadInput`, which would fail the same way again). If the worker dies,
its lease expires and another worker reclaims the job.

Handlers write their results under the lease (:func:`augur.server.store.queue.hold_lease` in the same
transaction); one that raises :class:`~augur.server.store.queue.LeaseLost` — the worker was paused past
its lease and the job now belongs to another worker — is *discarded*: nothing is recorded for
this attempt, the job is left to its new owner. A handler may also raise :class:`RetryLater`:
the work cannot be done yet (a backend it needs is unavailable), and the job is queued again
after the given delay without using up an attempt.

The handlers of a standard process are put together by the composition root
(:func:`augur.server.state.default_handlers`); this module knows none of them.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
import traceback
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

from augur.server.store.database import Store
from augur.server.store.models import IncidentEvent, utcnow
from augur.server.store.queue import ClaimedJob, JobQueue, LeaseLost, hold_lease, worker_identity
from augur.tools.errors import BackendUnavailable, ErrorKind, kind_of

if TYPE_CHECKING:
    from augur.server.metrics import Metrics

__all__ = ["JobHandler", "RetryLater", "Worker", "record_run", "run_workers"]

log = logging.getLogger(__name__)

#: A job handler: gets the claimed job and the store; may be a coroutine function.
JobHandler = Callable[[ClaimedJob, Store], Awaitable[None] | None]

class RetryLater(BackendUnavailable):
    """Raised by a handler: not done yet (a backend is unavailable); run the job again after a delay."""

    def __init__(self, reason: str, delay_seconds: float) -> None:
        super().__init__(reason)
        self.reason = reason
        self.delay_seconds = delay_seconds


def record_run(job: ClaimedJob, store: Store) -> None:
    """Placeholder handler: write a ``job_ran`` event on the job's incident timeline."""
    incident_id = job.payload.get("incident_id")
    if not isinstance(incident_id, int):
        return
    with store.transaction() as session:
        hold_lease(session, job)
        session.add(
            IncidentEvent(
                incident_id=incident_id,
                at=utcnow(),
                kind="job_ran",
                detail={
                    "job_id": job.id,
                    "kind": job.kind,
                    "attempt": job.attempts,
                    "worker": job.lease_owner,
                },
            )
        )




class Worker:
    """One worker loop: claim a due job, run its handler under a renewed lease, record the outcome."""

    def __init__(
        self,
        store: Store,
        handlers: Mapping[str, JobHandler],
        *,
        worker_id: str | None = None,
        lease_seconds: float = 60.0,
        poll_seconds: float = 1.0,
        backoff_base_seconds: float = 5.0,
        metrics: Metrics | None = None,
    ) -> None:
        self.store = store
        self.handlers = dict(handlers)
        self.worker_id = worker_id or worker_identity()
        self.queue = JobQueue(store, lease_seconds=lease_seconds, backoff_base_seconds=backoff_base_seconds)
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self.metrics = metrics
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _renew_until(self, job: ClaimedJob, done: threading.Event) -> None:
        interval = max(0.05, self.lease_seconds / 3)
        while not done.wait(interval):
            try:
                if not self.queue.renew(job.id, self.worker_id, job.attempts):
                    log.warning("worker %s lost the lease on job %s", self.worker_id, job.id)
                    return
            except Exception as exc:
                log.warning("lease renewal of job %s failed: %s", job.id, exc)

    def _outcome(self, job: ClaimedJob, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.job_outcomes.labels(job.kind, outcome).inc()

    def run_once(self) -> bool:
        """Claim and run one job; ``False`` when no job was due."""
        job = self.queue.claim(self.worker_id, kinds=sorted(self.handlers))
        if job is None:
            return False
        log.info("worker %s runs job %s (%s, attempt %s)", self.worker_id, job.id, job.kind, job.attempts)
        done = threading.Event()
        renewer = threading.Thread(
            target=self._renew_until, args=(job, done), daemon=True, name=f"augur-lease-{job.id}"
        )
        renewer.start()
        try:
            result = self.handlers[job.kind](job, self.store)
            if inspect.isawaitable(result):
                asyncio.run(_await(result))
        except LeaseLost as exc:
            done.set()
            log.warning("worker %s discards its work on job %s: %s", self.worker_id, job.id, exc)
            self._outcome(job, "lost")
            return True
        except RetryLater as exc:
            done.set()
            if self.queue.retry_later(job, exc.reason, exc.delay_seconds):
                log.warning("job %s (%s) will run again in %.0f s: %s", job.id, job.kind, exc.delay_seconds,
                            exc.reason)
                self._outcome(job, "retry_later")
            else:
                self._outcome(job, "lost")
            return True
        except Exception as exc:
            done.set()
            error = "".join(traceback.format_exception_only(exc)).strip()
            # Bad input fails the same way every time: park it now rather than after max_attempts.
            status = self.queue.fail(job, f"{error}\n{traceback.format_exc(limit=8)}",
                                     final=kind_of(exc) is ErrorKind.BAD_INPUT)
            log.warning(
                "job %s (%s) failed on attempt %s: %s -> %s", job.id, job.kind, job.attempts, error, status
            )
            self._outcome(job, "parked" if status == "parked" else "failed")
            return True
        finally:
            done.set()
            renewer.join()
        if self.queue.complete(job.id, self.worker_id, job.attempts):
            self._outcome(job, "done")
        else:
            log.warning("job %s finished after its lease was lost; another worker owns it", job.id)
            self._outcome(job, "lost")
        return True

    def run(self, stop: threading.Event | None = None) -> None:
        """Work until ``stop`` (or :meth:`stop`) is set; a store outage is logged and retried."""
        stop = stop or self._stop
        while not stop.is_set():
            try:
                worked = self.run_once()
            except Exception as exc:
                log.error("worker %s: %s; retrying in %.0f s", self.worker_id, exc, self.poll_seconds * 5)
                stop.wait(self.poll_seconds * 5)
                continue
            if not worked:
                stop.wait(self.poll_seconds)

    def start(self) -> threading.Thread:
        """Run :meth:`run` in a daemon thread (the in-process worker of ``augur serve``)."""
        self._thread = threading.Thread(target=self.run, name=f"augur-worker-{self.worker_id}", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self, timeout: float | None = 10.0) -> None:
        """Ask the loop to end after the current job and wait for its thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)


async def _await(awaitable: Awaitable[None]) -> None:
    await awaitable


def run_workers(store: Store, handlers: Mapping[str, JobHandler], stop: threading.Event, *, threads: int,
                lease_seconds: float, poll_seconds: float, backoff_base_seconds: float) -> None:
    """Run ``threads`` worker loops on ``store`` until ``stop`` is set; return when all have finished."""
    workers = [
        Worker(store, handlers, lease_seconds=lease_seconds, poll_seconds=poll_seconds,
               backoff_base_seconds=backoff_base_seconds)
        for _ in range(threads)
    ]
    loops = [threading.Thread(target=w.run, args=(stop,), name=f"augur-worker-{i}")
             for i, w in enumerate(workers)]
    for loop in loops:
        loop.start()
    log.info("augur worker: %d loop(s) on %s, kinds %s", threads, store.safe_url, ", ".join(sorted(handlers)))
    while any(loop.is_alive() for loop in loops):
        for loop in loops:
            loop.join(timeout=0.5)
