"""Group commit for the webhook intake: notifications that arrive together are stored in one transaction.

In an alert storm Alertmanager flushes many groups at once. Each notification must be durable
before it is acknowledged, and what a transaction costs beyond its rows — taking the intake lock,
``BEGIN``, the commit's fsync — is paid per transaction. :class:`GroupCommitter` keeps one write
in flight per process: notifications that arrive while it runs wait and are then written together
(up to ``max_batch``), and each is acknowledged only after that commit. A lone notification is
written at once, so nothing waits when there is no storm.

If a batch fails, its notifications are retried one by one, so that one notification the store
refuses cannot fail the others.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from fastapi.concurrency import run_in_threadpool

from augur.server.intake.grouping import GroupingPolicy
from augur.server.intake.ingest import IngestResult, ingest_many
from augur.server.store.database import Store

if TYPE_CHECKING:
    from augur.server.intake.intake_process import IntakeProcess
    from augur.server.intake.webhook import WebhookPayload
    from augur.server.metrics import Metrics

__all__ = ["GroupCommitter"]

log = logging.getLogger(__name__)


class GroupCommitter:
    """Writes notifications to the store, batching those that arrive while a write is in flight."""

    def __init__(
        self,
        store: Store,
        policy: GroupingPolicy,
        *,
        max_attempts: int = 5,
        max_batch: int = 32,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        metrics: Metrics | None = None,
        helper: IntakeProcess | None = None,
    ) -> None:
        self.store = store
        #: Where notifications of :data:`~augur.server.intake.intake_process.LARGE_BODY_BYTES` or more
        #: are parsed and stored instead (``None``: here, like the others).
        self.helper = helper
        self.policy = policy
        self.max_attempts = max_attempts
        self.max_batch = max_batch
        self.clock = clock
        self.metrics = metrics
        self._pending: list[tuple[WebhookPayload, asyncio.Future[IngestResult]]] = []
        self._writing = False
        #: Sizes of the batches written so far (for tests and the benchmark).
        self.batches: list[int] = []

    async def submit(self, payload: WebhookPayload) -> IngestResult:
        """Store ``payload`` (durably, with whatever else is pending); raises what the store raised."""
        future: asyncio.Future[IngestResult] = asyncio.get_running_loop().create_future()
        self._pending.append((payload, future))
        if not self._writing:
            self._writing = True
            asyncio.get_running_loop().create_task(self._drain())
        return await future

    def close(self) -> None:
        """Stop the helper process, if there is one."""
        if self.helper is not None:
            self.helper.close()

    def _write(self, payloads: list[WebhookPayload]) -> list[IngestResult]:
        return ingest_many(self.store, payloads, self.policy, self.clock(), self.max_attempts)

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch = self._pending[: self.max_batch]
                del self._pending[: self.max_batch]
                self.batches.append(len(batch))
                if self.metrics is not None:
                    self.metrics.intake_batch_size.observe(len(batch))
                try:
                    results = await run_in_threadpool(self._write, [p for p, _ in batch])
                except Exception as exc:
                    if len(batch) == 1:
                        _settle(batch[0][1], exc)
                        continue
                    log.warning(
                        "batch of %d notifications failed (%s); writing them one by one", len(batch), exc
                    )
                    for payload, future in batch:
                        try:
                            (result,) = await run_in_threadpool(self._write, [payload])
                        except Exception as single_exc:
                            _settle(future, single_exc)
                        else:
                            _settle(future, result)
                    continue
                for (_, future), result in zip(batch, results, strict=True):
                    _settle(future, result)
        finally:
            self._writing = False


def _settle(future: asyncio.Future[IngestResult], outcome: IngestResult | BaseException) -> None:
    if future.done():  # the client went away; what was written stays written
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
