"""`augur traces ingest FILE...`: load span files into the embedded SQLite span store.

The store is the file ``AUGUR_TRACE_DB`` names, else ``<data_dir>/traces.db``; ``trace_search``
reads the same file when no ``AUGUR_JAEGER_URL`` is set. Each file may be Jaeger JSON (an
``/api/traces`` answer or a Jaeger UI export), OTLP JSON, or CSV / JSON lines with trace id, span
id, parent, service (or pod), operation, start and end (or duration) columns — see
:mod:`augur.tools.span_files`. Ingest is idempotent on (trace id, span id): ingesting a file again
stores nothing twice. Per file it prints spans stored, duplicates and refused (with the reasons and
where); the exit status is 1 only when no span could be read from any file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import typer

from augur.server.cli.common import settings_or_exit

app = typer.Typer(
    help="Load span files for `trace_search` (the embedded SQLite span store).", no_args_is_help=True
)

#: Files at least this big report progress on stderr.
PROGRESS_FROM_BYTES = 4 << 20


def _progress(file: Path) -> Callable[[int, int], None]:
    """A progress callback printing each further 10 % of ``file`` read, on stderr."""
    shown = [0]

    def report(done: int, total: int) -> None:
        step = int(done * 10 / total) if total else 10
        if step > shown[0] and step < 10:
            shown[0] = step
            typer.echo(f"{file}: {step * 10} % read", err=True)

    return report


@app.command("ingest")
def ingest(
    files: list[Path] = typer.Argument(..., help="Jaeger JSON, OTLP JSON, CSV or JSON-lines span files."),
    db: Path | None = typer.Option(None, "--db", help="Store file (overrides AUGUR_TRACE_DB)."),
) -> None:
    """Load FILES into the span store; spans stored before (same trace and span id) are duplicates."""
    from augur.server.toolbox import trace_db_path
    from augur.tools.span_files import SpanFormatError
    from augur.tools.span_store import SqliteSpanStore

    settings = settings_or_exit()
    path = db or trace_db_path(settings)
    store = SqliteSpanStore(path)
    read = stored = duplicates = refused = failed = 0
    for file in files:
        try:
            big = file.stat().st_size >= PROGRESS_FROM_BYTES
            result = store.ingest_file(file, progress=_progress(file) if big else None)
        except SpanFormatError as exc:
            failed += 1
            typer.echo(f"error: {exc}", err=True)
            continue
        except (OSError, UnicodeError) as exc:
            failed += 1
            typer.echo(f"error: {file}: {getattr(exc, 'strerror', None) or exc}", err=True)
            continue
        read += result.read
        stored += result.stored
        duplicates += result.duplicates
        refused += result.refused_total
        typer.echo(
            f"{file} ({result.format}): {result.stored} spans stored, {result.duplicates} "
            f"duplicates, {result.refused_total} refused -> {path}"
        )
        for reason, n in result.refused.most_common():
            example = next((r for r in result.examples if r.reason.split(" (", 1)[0] == reason), None)
            where = f" (e.g. {example.where}: {example.reason})" if example else ""
            typer.echo(f"  refused {n}: {reason}{where}")
    if len(files) > 1:
        typer.echo(
            f"total: {stored} stored, {duplicates} duplicates, {refused} refused, {failed} files unreadable"
        )
    if read == 0:
        typer.echo(
            "error: no span could be read from "
            + ("these files" if len(files) > 1 else str(files[0]))
            + ": see the reasons above",
            err=True,
        )
        raise typer.Exit(code=1)
