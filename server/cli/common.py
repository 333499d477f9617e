"""What the `augur` commands share; one module per command group, registered by `server/cli/main.py`.

Keep imports of heavy libraries inside the command functions so that `augur --help` and
`augur serve` start fast. The two start-up steps most commands share live here:
:func:`settings_or_exit` and :func:`store_or_exit`; and :func:`token_or_exit`, the token of a
command that acts as someone (a verdict, a review decision).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from augur.server.settings import Settings
    from augur.server.store.database import Store

__all__ = ["settings_or_exit", "store_or_exit", "token_or_exit"]


def settings_or_exit(**overrides: object) -> Settings:
    """The settings (with ``overrides``); on a configuration error, say why and exit 2."""
    from augur.server.settings import ConfigError, load_settings

    try:
        return load_settings(**overrides)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None


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
