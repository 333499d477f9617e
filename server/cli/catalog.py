"""`augur catalog check FILE` validates a catalog; `augur catalog discover` writes one to review.

``discover`` reads Prometheus (labels, metadata, ``group by`` in batches: never series one by one),
maps known exporter families to components, layers and signals, takes ``depends_on`` from call
edges (``--edges FILE``, ``--traces``), labels and layers, and writes commented YAML; progress goes
to stderr. See :mod:`augur.agent.discovery`.
"""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import typer

app = typer.Typer(name="catalog", help="Work with the platform catalog (components, signals, edges).",
                  no_args_is_help=True)


@app.command("check")
def check(file: Path = typer.Argument(..., help="Catalog YAML file.")) -> None:
    """Validate FILE; print `file:line:col: problem` per error and exit 1, or a summary and exit 0."""
    from augur.agent.catalog import CatalogError, load_catalog

    try:
        catalog = load_catalog(file)
    except CatalogError as exc:
        for line in str(exc).splitlines():
            typer.echo(line, err=True)
        typer.echo("error: the catalog is invalid; fix the lines above and run `augur catalog check` "
                   "again", err=True)
        raise typer.Exit(code=1) from None
    signals = sum(len(c.signals) for c in catalog.components)
    edges = sum(len(c.depends_on) for c in catalog.components)
    typer.echo(f"ok: {file}: {len(catalog.components)} components, {signals} signals, "
               f"{edges} depends_on edges, {len(catalog.business_map)} business links")
    cycle = catalog.find_cycle()
    if cycle:
        typer.echo(f"note: depends_on has a cycle ({' -> '.join(cycle)}): allowed (call graphs have "
                   "them); a fault on it is ordered by onset alone")


@app.command("discover")
def discover_command(
    prometheus_url: str | None = typer.Option(
        None, "--prometheus-url", help="Prometheus base URL (else AUGUR_PROMETHEUS_URL)."),
    traces: bool = typer.Option(
        False, "--traces", help="Call edges from traces: Jaeger's dependency graph at AUGUR_JAEGER_URL, "
        "else the embedded span store (`augur traces ingest`)."),
    edges: list[Path] = typer.Option(
        [], "--edges", help="Call edges CSV (Source,Target[,Weight]); repeat for several files."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write the YAML here (default: stdout)."),
    at: str = typer.Option("now", "--at", help="Discover as of this time: now, now-2h, RFC 3339, Unix s."),
    window: str = typer.Option("1h", "--window", help="Series seen this long before --at count."),
    layer_edges: bool = typer.Option(
        True, "--layer-edges/--no-layer-edges",
        help="Where nothing links two layers, assume faults flow up them (data -> model -> service "
             "-> business; resources -> service). Each such edge is marked for review."),
    max_families: int = typer.Option(2000, "--max-families", min=1, help="Read at most this many families."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress on stderr."),
) -> None:
    """Discover a catalog from Prometheus (and call edges) and write it as YAML to review."""
    from augur.agent.discovery import EdgeError, discover
    from augur.server.catalogs import DISCOVERY_TIMEOUT_S, edge_sources
    from augur.server.settings import ConfigError, load_settings
    from augur.server.toolbox import trace_db_path
    from augur.tools.base import ToolError, Unavailable
    from augur.tools.prometheus_api import connect
    from augur.tools.timeparse import parse_duration, parse_time

    def fail(message: str) -> NoReturn:
        typer.echo(f"error: {message}", err=True)
        raise typer.Exit(code=2)

    try:
        settings = load_settings(**({"prometheus_url": prometheus_url} if prometheus_url else {}))
    except ConfigError as exc:
        fail(str(exc))
    if not settings.prometheus_url:
        fail("no Prometheus: pass --prometheus-url URL or set AUGUR_PROMETHEUS_URL")
    if traces and not settings.jaeger_url and not trace_db_path(settings).is_file():
        fail(f"--traces needs spans: load them with `augur traces ingest FILE...` (into "
             f"{trace_db_path(settings)}, AUGUR_TRACE_DB), or set AUGUR_JAEGER_URL to Jaeger's query "
             "service (e.g. http://jaeger:16686), or pass the call edges with --edges FILE")
    try:
        when = parse_time(at)
        window_s = parse_duration(window)
    except ToolError as exc:
        fail(f"--at/--window: {exc}")
    for path in edges:
        if not path.is_file():
            fail(f"--edges {path}: no such file (a CSV with a header Source,Target[,Weight])")

    def progress(text: str) -> None:
        if not quiet:
            typer.echo(f"discover: {text}", err=True)

    url = str(settings.prometheus_url)
    try:
        found = discover(connect(url, timeout_s=DISCOVERY_TIMEOUT_S), at=when, window_s=window_s,
                         edge_sources=edge_sources(settings, traces=traces, edge_files=edges),
                         layer_edges=layer_edges, max_families=max_families, on_progress=progress)
    except (ToolError, Unavailable, EdgeError) as exc:
        fail(str(exc))
    if not found.catalog.components:
        typer.echo(f"warning: {url} holds no series discovery could place in the window before "
                   f"{at}: try --at with the time of your data, or a longer --window", err=True)
    if out is None:
        typer.echo(found.yaml, nl=False)
    else:
        try:
            out.write_text(found.yaml)
        except OSError as exc:
            fail(f"cannot write {out}: {exc.strerror}")
        progress(f"wrote {out}: check it with `augur catalog check {out}`")
