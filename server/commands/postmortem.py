"""``augur postmortem INCIDENT``: write (or rewrite) an incident's postmortem and print it.

Uses the store and Prometheus named by the settings; the files land in
``<data_dir>/postmortems/<id>/`` (or ``--out DIR``). ``--format md|html|json|path``.
"""

from __future__ import annotations

from pathlib import Path

import typer

__all__ = ["register"]


def postmortem(
    incident: int = typer.Argument(..., help="Incident id (see GET /v1/incidents)."),
    out: Path | None = typer.Option(None, "--out", help="Directory for the files (default in the data dir)."),
    fmt: str = typer.Option("md", "--format", help="What to print: md, html, json or path."),
) -> None:
    """Generate the postmortem of INCIDENT: summary, impact, timeline, root cause, actions, charts."""
    from augur.server.app import open_store
    from augur.server.postmortems import generate
    from augur.server.settings import ConfigError, load_settings
    from augur.server.store import StoreUnavailable

    if fmt not in ("md", "html", "json", "path"):
        typer.echo(f"error: --format {fmt!r}: use md, html, json or path", err=True)
        raise typer.Exit(code=2)
    try:
        settings = load_settings()
        store = open_store(settings)
    except (ConfigError, StoreUnavailable) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    try:
        _, target = generate(settings, store, incident, out_dir=out)
    except LookupError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from None
    finally:
        store.dispose()
    if fmt == "path":
        typer.echo(str(target))
    else:
        typer.echo((target / f"postmortem.{fmt}").read_text(), nl=False)


def register(app: typer.Typer) -> None:
    """Add ``augur postmortem`` to the CLI."""
    app.command("postmortem")(postmortem)
