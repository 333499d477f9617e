"""``augur postmortem INCIDENT``: write an incident's postmortem and print it, without touching the server's.

Reads the store, the catalog (action-item owners) and Prometheus (charts, the median after the
resolution) named by the settings. By default nothing is written where the server serves its
postmortems: the files go to ``--out DIR``, or to a temporary directory that is deleted after the
requested format is printed. ``--publish`` writes ``<data_dir>/postmortems/<id>/``, replacing what
``GET /v1/incidents/<id>/postmortem.html`` serves. ``--format md|html|json|path``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import typer

from augur.server.cli.common import settings_or_exit, store_or_exit

__all__ = ["register"]


def postmortem(
    incident: int = typer.Argument(..., help="Incident id (see GET /v1/incidents or `augur ask status`)."),
    out: Path | None = typer.Option(None, "--out", help="Write the files to this directory."),
    publish: bool = typer.Option(
        False, "--publish", help="Write them where the server serves them (replaces the served postmortem)."
    ),
    fmt: str = typer.Option("md", "--format", help="What to print: md, html, json or path."),
) -> None:
    """Write the postmortem of INCIDENT (key facts, impact, timeline, actions, charts) and print it."""
    from augur.server.jobs.postmortems import generate, postmortem_dir

    if fmt not in ("md", "html", "json", "path"):
        typer.echo(f"error: --format {fmt!r}: use md, html, json or path", err=True)
        raise typer.Exit(code=2)
    if out is not None and publish:
        typer.echo("error: choose --out DIR or --publish, not both", err=True)
        raise typer.Exit(code=2)
    if fmt == "path" and out is None and not publish:
        typer.echo("error: --format path needs --out DIR or --publish (otherwise nothing is kept)", err=True)
        raise typer.Exit(code=2)
    if out is not None and out.exists() and not out.is_dir():
        typer.echo(f"error: --out {out} is a file: give a directory (it is created if missing)", err=True)
        raise typer.Exit(code=2)
    settings = settings_or_exit()
    store = store_or_exit(settings)
    scratch = tempfile.TemporaryDirectory(prefix="augur-postmortem-") if out is None and not publish else None
    try:
        if publish:
            target_dir = postmortem_dir(settings, incident)
        else:
            target_dir = out if out is not None else Path(scratch.name) if scratch else Path(".")
        try:
            _, target = generate(settings, store, incident, out_dir=target_dir)
        except LookupError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(code=1) from None
        except OSError as exc:
            typer.echo(f"error: cannot write the postmortem to {target_dir}: {exc.strerror or exc}", err=True)
            raise typer.Exit(code=1) from None
        if fmt == "path":
            typer.echo(str(target))
        else:
            typer.echo((target / f"postmortem.{fmt}").read_text(), nl=False)
    finally:
        store.dispose()
        if scratch is not None:
            scratch.cleanup()


def register(app: typer.Typer) -> None:
    """Add ``augur postmortem`` to the CLI."""
    app.command("postmortem")(postmortem)
