"""The store: a SQLAlchemy engine and sessions over SQLite (default) or PostgreSQL, and its migrations.

SQLite runs in WAL mode with a busy timeout, and every write transaction starts with
``BEGIN IMMEDIATE`` so that concurrent writers queue on the database lock instead of failing
with "database is locked" when a read transaction tries to become a write one. Read-only
sessions (:meth:`Store.read_session`) start a plain deferred transaction and never block writers.

The schema is made by the Alembic migrations in ``server/store/migrations/``; :meth:`Store.migrate`
runs them (under a PostgreSQL advisory lock, so replicas starting together do not race).

Usage::

    store = Store.open(settings.effective_database_url)   # engine + migrations
    with store.transaction() as session:                 # commit on success, rollback on error
        session.add(...)
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from augur.tools.errors import BackendUnavailable

__all__ = ["MIGRATIONS_DIR", "Store", "StoreUnavailable", "make_engine"]

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
#: Key of the PostgreSQL advisory lock held while migrating (any constant unique to augur).
_MIGRATION_LOCK = 0x61756775  # "augu"
_READONLY = "augur_readonly"


def _json_dumps(value: Any) -> str:
    # orjson is several times faster than json for the label sets stored with every alert.
    return orjson.dumps(value).decode()


class StoreUnavailable(BackendUnavailable, RuntimeError):
    """The database cannot be reached or refused the operation; the message says which and why."""


def _sqlite_hooks(engine: Engine, busy_timeout_ms: int, synchronous: str) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event (below) issue BEGIN instead of the driver.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        readonly = conn.get_execution_options().get(_READONLY, False)
        conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


def make_engine(
    url: str,
    *,
    sqlite_busy_timeout_ms: int = 30_000,
    sqlite_synchronous: str = "FULL",
    pool_size: int = 10,
) -> Engine:
    """An engine for ``url`` (``sqlite:///path`` or ``postgresql+psycopg://...``).

    For SQLite the file's directory is created and the connection is set to WAL mode.
    ``sqlite_synchronous`` is ``FULL`` by default: a commit survives power loss, which is what
    acknowledging a webhook promises; ``NORMAL`` survives only a process crash.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        synchronous_value = sqlite_synchronous.upper()
        if synchronous_value not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
            raise ValueError(f"sqlite_synchronous={sqlite_synchronous!r}: use FULL, NORMAL or OFF")
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            parsed,
            connect_args={"check_same_thread": False, "timeout": sqlite_busy_timeout_ms / 1000},
            json_serializer=_json_dumps,
            pool_size=pool_size,
            max_overflow=pool_size,
        )
        _sqlite_hooks(engine, sqlite_busy_timeout_ms, synchronous_value)
        return engine
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return create_engine(
            parsed,
            pool_pre_ping=True,
            pool_size=pool_size,
            max_overflow=pool_size,
            # No server-side prepared statements: psycopg prepares a query after 5 runs, and the
            # generic plan PostgreSQL then keeps was chosen while the tables were small (a
            # sequential scan of alert_episodes that made the intake 10x slower as it grew).
            connect_args={"connect_timeout": 5, "prepare_threshold": None},
            json_serializer=_json_dumps,
        )
    raise ValueError(f"unsupported database URL {url!r}: use sqlite:///PATH or postgresql+psycopg://...")


class Store:
    """The database augur keeps its state in: sessions, transactions, health and migrations."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessions = sessionmaker(bind=engine, expire_on_commit=False)
        # Reentrant: a nested transaction in the same thread then fails as it would without the lock
        # (SQLite busy timeout) instead of deadlocking on it.
        self._write_lock = threading.RLock() if engine.dialect.name == "sqlite" else None
        self._read_sessions = sessionmaker(
            bind=engine.execution_options(**{_READONLY: True}), expire_on_commit=False
        )

    @classmethod
    def open(cls, url: str, *, migrate: bool = True, **engine_options: Any) -> Store:
        """A store for ``url``, migrated to the latest schema unless ``migrate`` is false."""
        store = cls(make_engine(url, **engine_options))
        if migrate:
            store.migrate()
        return store

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session in a write transaction: committed when the block ends, rolled back on error.

        On SQLite, writers in this process queue on a lock first: SQLite's own busy handler
        waits by sleeping in growing steps (up to 100 ms), which would dominate latency under
        concurrent webhooks; other processes still wait on the database lock (``busy_timeout``).
        """
        if self._write_lock is None:
            with self.sessions.begin() as session:
                yield session
            return
        with self._write_lock, self.sessions.begin() as session:
            yield session

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A session for reads only (on SQLite it does not take the write lock)."""
        with self._read_sessions() as session:
            yield session

    def ping(self) -> None:
        """Check the database answers; raise :class:`StoreUnavailable` with the reason if not."""
        try:
            with self.engine.execution_options(**{_READONLY: True}).connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            raise StoreUnavailable(
                f"store {self.safe_url} unreachable: {exc.__class__.__name__}: {str(exc).splitlines()[0]}"
            ) from exc

    @property
    def safe_url(self) -> str:
        """The database URL with any password hidden, for messages."""
        return self.engine.url.render_as_string(hide_password=True)

    def current_revision(self) -> str | None:
        """The schema revision the database is at (``None`` before the first migration)."""
        with self.engine.execution_options(**{_READONLY: True}).connect() as conn:
            if not self.engine.dialect.has_table(conn, "alembic_version"):
                return None
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()

    def migrate(self, revision: str = "head") -> None:
        """Bring the schema to ``revision`` with Alembic (a no-op when it is already there)."""
        from alembic import command
        from alembic.config import Config
        from alembic.script import ScriptDirectory

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.set_main_option("sqlalchemy.url", self.engine.url.render_as_string(hide_password=False))
        if revision == "head":
            head = ScriptDirectory.from_config(config).get_current_head()
            try:
                if self.current_revision() == head:
                    self._checkpoint_schema()
                    return
            except SQLAlchemyError as exc:
                raise StoreUnavailable(f"store {self.safe_url} unreachable: {exc}") from exc
        with self.engine.connect() as conn:
            if self.dialect == "postgresql":
                conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _MIGRATION_LOCK})
                conn.commit()
            try:
                config.attributes["connection"] = conn
                command.upgrade(config, revision)
                conn.commit()
            finally:
                if self.dialect == "postgresql":
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _MIGRATION_LOCK})
                    conn.commit()
        self._checkpoint_schema()
        log.info("store %s migrated to %s", self.safe_url, revision)

    def _checkpoint_schema(self) -> None:
        """The investigation graph's checkpoint tables (PostgreSQL), made once under their own lock."""
        from augur.agent.checkpoints import setup_checkpoint_schema

        try:
            if setup_checkpoint_schema(self.engine.url.render_as_string(hide_password=False)):
                log.info("store %s: checkpoint tables created", self.safe_url)
        except Exception as exc:  # psycopg's OperationalError: the server went away meanwhile
            raise StoreUnavailable(f"store {self.safe_url}: checkpoint schema not created: {exc}") from exc

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
