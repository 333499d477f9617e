"""Huge notifications are parsed and stored in a helper process, so that they never hold the server's GIL.

Parsing and storing a notification holds the GIL for ~0.2 ms per alert, in stretches of up to
~170 ms (pydantic-core validates a whole body in one call) and with full garbage collections over
the alerts' objects; a 100,000-alert notification stalled ``/healthz`` and every other request by
up to half a second at a time. A body of at least :data:`LARGE_BODY_BYTES` (~2,500 alerts) is
handed to one helper process instead (spawned on first use, then kept), which runs the same
:func:`~augur.server.intake.webhook.parse_payload` and
:func:`~augur.server.intake.ingest.ingest_many` on its own connection to the same database and
answers with the :class:`~augur.server.intake.ingest.IngestResult` or the refusal. The database
serialises its transaction with this process's writes as it does those of replicas
(``BEGIN IMMEDIATE`` on SQLite, the intake's advisory lock on PostgreSQL), so the exactly-once and
all-or-nothing guarantees are the intake's own. Smaller bodies stay in the server process, where
a process hop would cost more than the parse.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from augur.server.errors import ApiError
from augur.server.intake.grouping import GroupingPolicy
from augur.server.intake.ingest import IngestResult
from augur.server.store.database import Store, StoreUnavailable

__all__ = ["LARGE_BODY_BYTES", "IntakeConfig", "IntakeProcess"]

#: Bodies of at least this many bytes are parsed and stored in the helper process.
LARGE_BODY_BYTES = 1 << 20


@dataclass(frozen=True)
class IntakeConfig:
    """What the helper process needs to store notifications as the server would (picklable)."""

    database_url: str
    policy: GroupingPolicy
    max_attempts: int = 5
    redact_patterns: tuple[str, ...] = ()
    engine_options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Refused:
    """The body is not a notification: the :class:`ApiError` to answer, as plain data."""

    status: int
    code: str
    reason: str


@dataclass(frozen=True)
class _StoreFailed:
    """The store did not take the notification (its exception, named)."""

    error: str


#: The helper process's own state (set by :func:`_start`; the server process never sets it).
_helper: tuple[Store, IntakeConfig] | None = None


def _start(config: IntakeConfig) -> None:
    from augur.agent.redact import add_patterns

    global _helper
    add_patterns(config.redact_patterns)
    _helper = (Store.open(config.database_url, migrate=False, pool_size=1, **config.engine_options), config)


def _ingest_body(body: bytes) -> IngestResult | _Refused | _StoreFailed:
    from sqlalchemy.exc import SQLAlchemyError

    from augur.server.intake.ingest import ingest_many
    from augur.server.intake.webhook import parse_payload

    assert _helper is not None, "the helper process was not started"
    store, config = _helper
    try:
        payload = parse_payload(body)
    except ApiError as exc:
        return _Refused(exc.status, exc.code, exc.reason)
    try:
        return ingest_many(store, [payload], config.policy, datetime.now(UTC), config.max_attempts)[0]
    except SQLAlchemyError as exc:
        return _StoreFailed(f"{exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")


class IntakeProcess:
    """One helper process that parses and stores large notifications; :meth:`close` stops it."""

    def __init__(self, config: IntakeConfig) -> None:
        self.config = config
        self._pool: ProcessPoolExecutor | None = None

    async def ingest(self, body: bytes) -> IngestResult:
        """Parse and store ``body`` in the helper; raises :class:`ApiError` (4xx) for a bad body and
        :class:`StoreUnavailable` when the store (or the helper) failed: nothing was stored then."""
        if self._pool is None:
            self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_start, initargs=(self.config,))
        try:
            outcome = await asyncio.wrap_future(self._pool.submit(_ingest_body, body))
        except BrokenProcessPool as exc:  # the helper died (out of memory?): a new one next time
            self._pool = None
            raise StoreUnavailable(f"the intake helper process stopped: {exc}") from None
        if isinstance(outcome, _Refused):
            raise ApiError(outcome.status, outcome.code, outcome.reason)
        if isinstance(outcome, _StoreFailed):
            raise StoreUnavailable(outcome.error)
        return outcome

    def close(self) -> None:
        """Stop the helper process (what it was storing finishes or rolls back with it)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
