"""What the `augur` commands share; one module per command group, registered by `server/cli/main.py`.

Keep imports of heavy libraries inside the command functions so that `augur --help` and
`augur serve` start fast. The two start-up steps most commands share live here:
:func:`settings_or_exit` and :func:`store_or_exit`; and :func:`token_or_exit`, the token of a
command that acts as someone (a verdict, a review decision).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, NamedTuple

import typer

if TYPE_CHECKING:
    from pathlib import Path

    from augur.server.settings import Settings
    from augur.server.store.database import Store

__all__ = [
    "LogSpan", "log_search_example", "log_span", "rfc3339", "settings_or_exit", "store_or_exit",
    "token_or_exit", "warn_unknown_variables",
]


def settings_or_exit(**overrides: object) -> Settings:
    """The settings (with ``overrides``); on a configuration error, say why and exit 2."""
    from augur.server.settings import ConfigError, load_settings

    try:
        settings = load_settings(**overrides)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    warn_unknown_variables()
    return settings


def warn_unknown_variables() -> None:
    """Say on stderr which ``AUGUR_*`` variables are no setting (typos are otherwise ignored)."""
    from augur.server.config_errors import unknown_variables
    from augur.server.settings import Settings

    for line in unknown_variables(Settings):
        typer.echo(f"warning: {line}", err=True)


def store_or_exit(settings: Settings) -> Store:
    """The store the settings name, migrated; when it cannot be opened, say what to check and exit 1."""
    from augur.server.store.database import StoreUnavailable
    from augur.server.web.app import open_store

    try:
        return open_store(settings)
    except StoreUnavailable as exc:
        typer.echo(f"error: {exc}\n  check AUGUR_DATABASE_URL and that the database is running", err=True)
        raise typer.Exit(code=1) from None


def token_or_exit(given: str | None, *, prompt: str, how: str) -> str:
    """``given`` (from ``--token`` or an environment variable), else asked for, hidden, on a terminal.

    With no terminal to ask on (a script, a pipe, CI), a prompt could only end in "Aborted.":
    say instead how to give the token (``how``, e.g. "pass --token or set AUGUR_TOKEN to a token
    with the verdict scope") and exit 2, a usage error.
    """
    if given:
        return given
    if not sys.stdin.isatty():
        typer.echo(f"error: no token, and no terminal to ask for one on: {how}", err=True)
        raise typer.Exit(code=2)
    secret: str = typer.prompt(prompt, hide_input=True)
    return secret


class LogSpan(NamedTuple):
    """What the embedded log store holds: its file, how many lines, the first and last line's time."""

    path: str
    lines: int
    first: float
    last: float


def log_span(settings: Settings, path: Path | None = None) -> LogSpan | None:
    """The embedded log store's lines and time span (``augur logs ingest``), read-only; ``None``
    when logs are searched in Elasticsearch, or no store file or no line exists.

    A newcomer's logs are rarely from the last hour: a hint that names their span (and a
    ``--at`` or a ``log_search`` window inside it) is one they can paste.
    """
    import sqlite3

    if settings.elasticsearch_url and path is None:
        return None
    path = path or settings.log_db or settings.data_dir / "logs.db"
    if not path.is_file():
        return None
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=2) as conn:
            lines, first, last = conn.execute("SELECT count(*), min(ts), max(ts) FROM logs").fetchone()
    except sqlite3.Error:
        return None
    if not lines:
        return None
    return LogSpan(str(path), int(lines), float(first), float(last))


def rfc3339(ts: float) -> str:
    """``ts`` as ``2026-06-14T15:16:01Z``."""
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def log_search_example(span: LogSpan | None) -> str:
    """An ``augur tool run log_search`` line over the logs' own span (else an example window).

    No query: every line of the window, collapsed into templates (add ``"query": "..."`` to filter).
    """
    start, end = ((rfc3339(span.first), rfc3339(span.last + 1)) if span
                  else ("2026-06-14T00:00:00Z", "2026-06-15T00:00:00Z"))
    return f"""augur tool run log_search --args '{{"start": "{start}", "end": "{end}"}}'"""
