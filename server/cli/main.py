"""The `augur` command line: one Typer app, with the command groups of `server/cli/` registered."""

from __future__ import annotations

import json
import sys

import typer

from augur.server.cli.common import settings_or_exit
from augur.tools.errors import AugurError, ErrorKind, kind_of

app = typer.Typer(
    name="augur",
    help="augur: an incident agent for AI/ML platforms.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"augur {version('augur-agent')}")
        except PackageNotFoundError:  # run from a checkout that was never installed
            typer.echo("augur (not installed: run make setup)")
        raise typer.Exit()


@app.callback()
def main(
    show_version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print augur's version and exit."
    ),
) -> None:
    """augur: an incident agent for AI/ML platforms."""


@app.command()
def config() -> None:
    """Print the effective configuration (secrets masked); exit 2 with a fix hint if it is invalid."""
    settings = settings_or_exit()
    json.dump(settings.masked(), sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")


# Command groups. Each module exposes `app` (a typer.Typer) or `register(app)`.
# (Add one line per group; keep the module's imports light.)
from augur.server.cli import ask as _ask  # noqa: E402
from augur.server.cli import catalog as _catalog  # noqa: E402
from augur.server.cli import demo as _demo  # noqa: E402
from augur.server.cli import eval as _eval  # noqa: E402
from augur.server.cli import investigate as _investigate  # noqa: E402
from augur.server.cli import logs as _logs  # noqa: E402
from augur.server.cli import postmortem as _postmortem  # noqa: E402
from augur.server.cli import probe as _probe  # noqa: E402
from augur.server.cli import pull as _pull  # noqa: E402
from augur.server.cli import rules as _rules  # noqa: E402
from augur.server.cli import serve as _serve  # noqa: E402
from augur.server.cli import slack as _slack  # noqa: E402
from augur.server.cli import tool as _tool  # noqa: E402
from augur.server.cli import traces as _traces  # noqa: E402
from augur.server.cli import verdict as _verdict  # noqa: E402

app.add_typer(_catalog.app)
app.add_typer(_tool.app, name="tool")
app.add_typer(_logs.app, name="logs")
app.add_typer(_traces.app, name="traces")
app.add_typer(_rules.app, name="rules")
_serve.register(app)
_probe.register(app)
_ask.register(app)
_postmortem.register(app)
app.add_typer(_slack.app, name="slack")
_eval.register(app)
_demo.register(app)
_investigate.register(app)
_pull.register(app)
_verdict.register(app)


#: Exit status of an augur error no command turned into its own message (sysexits.h's values).
EXIT_CODES = {ErrorKind.BAD_INPUT: 2, ErrorKind.UNAVAILABLE: 69, ErrorKind.BUG: 70}
_NEXT_STEP = {
    ErrorKind.BAD_INPUT: "fix the input above and run it again",
    ErrorKind.UNAVAILABLE: "a backend did not answer: check it is up and reachable, then run it again",
    ErrorKind.BUG: "this is augur's fault: please report it with the command you ran",
}


def run() -> None:
    """The ``augur`` entry point: the Typer app, with augur's errors said in one line and an exit
    status by their kind (bad input 2, backend unavailable 69, bug 70) instead of a traceback."""
    try:
        app(prog_name="augur")
    except AugurError as exc:
        kind = kind_of(exc)
        typer.echo(f"error: {exc}\n  {_NEXT_STEP[kind]}", err=True)
        raise SystemExit(EXIT_CODES[kind]) from None


if __name__ == "__main__":
    run()
