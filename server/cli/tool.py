"""`augur tool`: list the agent's tools and run one by hand, to reproduce what the agent saw.

``augur tool list`` prints one tool a line (name and the first line of its description);
``augur tool run NAME --args JSON`` prints the evidence as JSON — the same record the agent
gets. Exit 2 when the command itself is wrong (unknown tool, arguments that are not a JSON
object or that the tool rejects, invalid configuration); exit 1 when the tool's evidence is
``error`` or ``unavailable`` (the evidence is still printed, and stderr says why, naming the
backend's URL).
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import typer

from augur.server.cli.common import settings_or_exit

if TYPE_CHECKING:
    from augur.server.settings import Settings
    from augur.tools.base import ToolRegistry

app = typer.Typer(help="List augur's tools and run one by hand.", no_args_is_help=True)

_USAGE_EXIT = 2
_BACKEND_EXIT = 1


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=_USAGE_EXIT)


def _settings(prometheus_url: str | None) -> Settings:
    return settings_or_exit(**({"prometheus_url": prometheus_url} if prometheus_url else {}))


def _registry(settings: Settings) -> ToolRegistry:
    from augur.server.toolbox import build_registry

    return build_registry(settings)


@app.command("list")
def list_tools() -> None:
    """Print every tool, one a line: its name and the first sentence of its description."""
    registry = _registry(_settings(None))
    width = max((len(name) for name in registry.names()), default=0)
    for tool in registry:
        typer.echo(f"{tool.name.ljust(width)}  {_first_sentence(tool.description)}")


def _first_sentence(text: str) -> str:
    """The description's first line, cut after its first sentence."""
    lines = text.strip().splitlines()
    first = lines[0].strip() if lines else ""
    end = first.find(". ")
    return first[: end + 1] if end >= 0 else first


@app.command("run")
def run_tool(
    name: str = typer.Argument(..., help="Tool name, as `augur tool list` prints it."),
    args: str = typer.Option("{}", "--args", help="Arguments as a JSON object, e.g. '{\"query\": \"up\"}'."),
    prometheus_url: str | None = typer.Option(
        None, "--prometheus-url", help="Prometheus base URL for this run (overrides AUGUR_PROMETHEUS_URL)."
    ),
) -> None:
    """Run one tool and print its evidence as JSON (id, tool, status, summary, data, ...)."""
    import asyncio

    example = "e.g. --args '{\"query\": \"up\"}'"
    try:
        parsed = json.loads(args)
    except json.JSONDecodeError as exc:
        raise _fail(f"--args is not valid JSON ({exc}): pass a JSON object, {example}") from None
    if not isinstance(parsed, dict):
        raise _fail(f"--args must be a JSON object, got {type(parsed).__name__}: {example}")
    registry = _registry(_settings(prometheus_url))
    if name not in registry:
        raise _fail(f"no tool {name!r}; known tools: {', '.join(registry.names())} (see `augur tool list`)")
    evidence = asyncio.run(registry.call(name, parsed))
    sys.stdout.write(evidence.model_dump_json(indent=2))
    sys.stdout.write("\n")
    if evidence.status.value in ("error", "unavailable"):
        # The evidence is printed (it is what the agent would see), and the shell learns it failed.
        typer.echo(f"error: {name} {evidence.status.value}: {evidence.reason or evidence.summary}", err=True)
        usage = evidence.summary == f"{name}: invalid arguments"  # the arguments, not the backend
        raise typer.Exit(code=_USAGE_EXIT if usage else _BACKEND_EXIT)
