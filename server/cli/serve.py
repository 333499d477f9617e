"""``augur serve`` (the HTTP API, plus one in-process worker by default) and ``augur worker`` (workers alone).

Both open the store named by the settings and migrate it to the latest schema first, so the
first start on a fresh machine needs nothing else. Heavy imports stay inside the commands:
``augur --help`` and ``augur config`` stay fast.
"""

from __future__ import annotations

import errno
import gc
import logging
import signal
import socket
import threading
from types import FrameType

import typer

from augur.server.cli.common import settings_or_exit, store_or_exit

__all__ = ["register"]

log = logging.getLogger("augur")


def _logging(level: str) -> None:
    from augur.agent.redact import RedactingFilter

    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:  # every line the server logs passes the redaction
        handler.addFilter(RedactingFilter())
    if level.lower() != "debug":
        # Alembic's "setup plugin alembic.autogenerate..." lines buried "augur serving on" at start-up.
        logging.getLogger("alembic").setLevel(logging.WARNING)


def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8080, min=1, max=65535, help="TCP port to listen on (1-65535)."),
    worker: bool = typer.Option(True, "--worker/--no-worker", help="Also run one worker in this process."),
    log_level: str = typer.Option("info", help="debug, info, warning or error."),
    access_log: bool = typer.Option(False, help="Log every HTTP request."),
) -> None:
    """Run the HTTP API (webhook, incidents, /metrics) and, unless --no-worker, an in-process worker."""
    settings = settings_or_exit(**({} if worker else {"worker_in_process": False}))
    _logging(log_level)
    # Bind before anything else: a busy port fails here, before "serving on" is ever printed.
    sock = _listen(host, port)
    import uvicorn

    from augur.server.web.app import create_app

    store = store_or_exit(settings)
    app = create_app(settings, store=store)
    log.info("augur serving on http://%s:%d (store %s)", host, port, store.safe_url)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level=log_level.lower(),
                                           access_log=access_log))
    # What start-up made (modules, the app, the schema) lives as long as the process: kept out of
    # the garbage collector, whose full collections over it took ~150 ms and stalled every request
    # in flight during an alert storm.
    gc.freeze()
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        store.dispose()


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``; when it cannot be had, say why and exit 1."""
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.create_server((host, port), family=family, backlog=2048)
    except OSError as exc:
        why = exc.strerror or str(exc)
        if exc.errno == errno.EADDRINUSE:
            hint = "another process listens there: stop it or pick another --port"
        else:
            hint = "check --host (an address of this machine, e.g. 127.0.0.1 or 0.0.0.0)"
        typer.echo(f"error: cannot listen on {host}:{port}: {why}; {hint}", err=True)
        raise typer.Exit(code=1) from None
    sock.set_inheritable(True)
    return sock


def worker(
    threads: int = typer.Option(1, min=1, max=64, help="Worker loops in this process."),
    log_level: str = typer.Option("info", help="debug, info, warning or error."),
) -> None:
    """Run workers alone: claim jobs from the store's queue until SIGTERM or Ctrl-C."""
    settings = settings_or_exit()
    _logging(log_level)
    from augur.server.jobs.worker import run_workers
    from augur.server.state import default_handlers

    store = store_or_exit(settings)
    stop = threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: finishing the current jobs, then stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    run_workers(store, default_handlers(settings), stop, threads=threads,
                lease_seconds=settings.worker_lease_seconds, poll_seconds=settings.worker_poll_seconds,
                backoff_base_seconds=settings.worker_backoff_seconds)
    store.dispose()


def migrate() -> None:
    """Create or upgrade the store's schema (and, on PostgreSQL, the checkpoint tables), then exit.

    ``augur serve`` and ``augur worker`` do this at start-up too; run it first to keep schema
    changes out of the start of many replicas. Safe to run from several places at once (locked).
    """
    settings = settings_or_exit()
    store = store_or_exit(settings)
    typer.echo(f"store {store.safe_url} at schema {store.current_revision()}")
    store.dispose()


def register(app: typer.Typer) -> None:
    """Add ``serve``, ``worker`` and ``migrate`` to the ``augur`` command."""
    app.command()(serve)
    app.command()(worker)
    app.command()(migrate)
