"""`augur demo`: the seed's story on real Prometheus, Alertmanager and augur, from alert to report.

``augur demo`` generates the story scenario, starts everything on loopback (its files under
``<data_dir>/demo``), follows the incident to its report on the terminal and keeps the stack up
until Ctrl-C. ``augur demo --stop`` (what ``make demo-stop`` runs) stops a demo started from
another shell, by the PIDs it recorded.
"""

from __future__ import annotations

import os

import typer

from augur.server.cli.common import settings_or_exit


def demo_command(
    stop: bool = typer.Option(False, "--stop", help="Stop a running demo (by its recorded PIDs)."),
    no_wait: bool = typer.Option(False, "--no-wait", help="Stop everything once the report is shown."),
) -> None:
    """Run the demo: a drifting feature → accuracy → latency → CTR, investigated end to end."""
    from rich.console import Console

    from augur.evals.demo import run_demo, stop_demo
    from augur.evals.servers import ServerError

    settings = settings_or_exit()
    workdir = settings.data_dir / "demo"
    console = Console()
    if stop:
        stopped = stop_demo(workdir)
        console.print("stopped: " + ", ".join(stopped) if stopped else "no demo is running")
        return
    if (workdir / "demo.json").exists():
        stop_demo(workdir)  # a demo left running (or killed) from an earlier session
    try:
        run_demo(workdir, env=dict(os.environ), console=console, wait=not no_wait)
    except KeyboardInterrupt:
        console.print("demo stopped")
    except (ServerError, TimeoutError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from None


def register(app: typer.Typer) -> None:
    """Add ``augur demo`` to the CLI."""
    app.command(name="demo")(demo_command)
