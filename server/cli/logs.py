"""`augur logs ingest FILE...`: index log files into the embedded SQLite log store.

The store is the file ``AUGUR_LOG_DB`` names, else ``<data_dir>/logs.db``; ``log_search`` reads
the same file when no ``AUGUR_ELASTICSEARCH_URL`` is set. Each file's layout is detected (JSON
lines, logfmt, syslog, log4j, Apache, logcat, HDFS, BGL... see :mod:`augur.tools.logs.formats`) or
given with ``--format``. For each file the command prints how many lines were stored, merged into
the record before (no time of their own: stack traces) and refused, with why, and the year it gave
year-less times. A file of which no line could be read stores nothing and is reported; the exit
status is 1 when any file was such a file, 2 when ``--format`` cannot be used.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from augur.server.cli.common import log_search_example, log_span, rfc3339, settings_or_exit

if TYPE_CHECKING:
    from augur.tools.logs.lines import ReadStats

app = typer.Typer(help="Index log files for `log_search` (the embedded SQLite store).", no_args_is_help=True)


def _report(file: Path, lines: int, db: Path, stats: ReadStats) -> list[str]:
    """The lines printed for one ingested file."""
    layouts = ", ".join(f"{name} {n}" for name, n in stats.formats.most_common())
    refused = sum(stats.refused.values())
    out = [f"{file}: {lines} lines stored -> {db} ({stats.merged} merged, {refused} refused; "
           f"layout: {layouts or 'none'})"]
    if stats.merged:
        out.append(f"  {stats.merged} lines without a time of their own were appended to the record before "
                   "them (stack traces, wrapped messages)")
    for reason, n in stats.refused.most_common():
        number, text = stats.first_refused[reason]
        out.append(f"  refused {n} lines: {reason} (first: line {number}: {text!r})")
    if stats.year is not None:
        source = "--year" if stats.year_given else "the file's modification time (set it with --year)"
        out.append(f"  times without a year took {stats.year} from {source}")
    return out


@app.command("ingest")
def ingest(
    files: list[Path] = typer.Argument(..., help="Log files: JSON lines, logfmt, syslog, log4j, Apache... "
                                       "(detected from the first lines; else --format)."),
    service: str | None = typer.Option(None, "--service", help="Service name for lines without one "
                                       "(default: each file's name without extension)."),
    year: int | None = typer.Option(None, "--year", help="Year for times written without one "
                                    "(syslog `Jun 14 15:16:01`, logcat, glog; default: the file's "
                                    "modification year)."),
    fmt: str | None = typer.Option(
        None, "--format", help="The lines' layout when detection gets it wrong: a built-in name (e.g. "
        "log4j, syslog), a logparser template ('<Date> <Time> <Level> <Component>: <Content>') or a regex "
        "with named groups (time, level, host, content, any other field)."),
    db: Path | None = typer.Option(None, "--db", help="Store file (overrides AUGUR_LOG_DB)."),
) -> None:
    """Index FILES into the log store; a file ingested before (same content) is skipped."""
    from augur.tools.logs import LineError, SqliteLogStore
    from augur.tools.logs.formats import FormatError, user_format

    layout = None
    if fmt is not None:
        try:
            layout = user_format(fmt)
        except FormatError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(code=2) from None
    settings = settings_or_exit()
    path = db or settings.log_db or settings.data_dir / "logs.db"
    store = SqliteLogStore(path)
    failed = 0
    for file in files:
        try:
            result = store.ingest_file(file, service=service, year=year, fmt=layout)
        except OSError as exc:
            failed += 1
            typer.echo(f"error: cannot read {file}: {exc.strerror or exc}", err=True)
            continue
        except (LineError, UnicodeError) as exc:
            failed += 1
            typer.echo(f"error: {file}: {exc}" if not str(exc).startswith(str(file)) else f"error: {exc}",
                       err=True)
            continue
        if result.skipped or result.stats is None:
            typer.echo(f"{file}: already ingested (same content), skipped")
            continue
        for line in _report(file, result.lines, path, result.stats):
            typer.echo(line)
    span = log_span(settings, path)
    if span is not None:
        # log_search looks at the last hour unless told otherwise; a newcomer's file rarely is.
        where = "" if db is None else f" (with AUGUR_LOG_DB={path})"
        typer.echo(f"the store holds {span.lines:,} lines, {rfc3339(span.first)} – {rfc3339(span.last)}; "
                   f"search them{where}: {log_search_example(span)}")
    if failed:
        raise typer.Exit(code=1)
