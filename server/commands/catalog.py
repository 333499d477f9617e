"""`augur catalog check FILE`: validate a platform catalog and print line-precise errors."""

from __future__ import annotations

from pathlib import Path

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
