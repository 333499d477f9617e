"""`augur logs ingest FILE...`: index log files into the embedded SQLite log store.

The store is the file ``AUGUR_LOG_DB`` names, else ``<data_dir>/logs.db``; ``log_search`` reads
the same file when no ``AUGUR_ELASTICSEARCH_URL`` is set. Each file is JSON lines or plain lines
with a leading time; a file that is not, or cannot be read, is reported and nothing of it is
stored; the exit status is 1 when any file failed.
"""

from __future__ import annotations

from pathlib import Path

import typer

from augur.server.commands import settings_or_exit

app = typer.Typer(help="Index log files for `log_search` (the embedded SQLite store).", no_args_is_help=True)


@app.command("ingest")
def ingest(
    files: list[Path] = typer.Argument(..., help="JSON-lines or plain log files."),
    service: str | None = typer.Option(None, "--service", help="Service name for lines without one "
                                       "(default: each file's name without extension)."),
    year: int | None = typer.Option(None, "--year", help="Year for `INFO 11-24 02:10:03` style lines "
                                    "(default: this year)."),
    db: Path | None = typer.Option(None, "--db", help="Store file (overrides AUGUR_LOG_DB)."),
) -> None:
    """Index FILES into the log store; a file ingested before (same content) is skipped."""
    from augur.tools.logs import LineError, SqliteLogStore

    settings = settings_or_exit()
    path = db or settings.log_db or settings.data_dir / "logs.db"
    store = SqliteLogStore(path)
    failed = 0
    for file in files:
        try:
            result = store.ingest_file(file, service=service, year=year)
        except (LineError, OSError, UnicodeError) as exc:
            failed += 1
            typer.echo(f"error: {file}: {exc}", err=True)
            continue
        if result.skipped:
            typer.echo(f"{file}: already ingested (same content), skipped")
        else:
            typer.echo(f"{file}: {result.lines} lines -> {path}")
    if failed:
        raise typer.Exit(code=1)
