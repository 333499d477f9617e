"""`augur investigate ALERT.json`: run an investigation from the shell and print the report.

Progress (each planned round, tool call and verdict) goes to stderr through rich; the report goes
to stdout as Markdown (rendered when stdout is a terminal) or, with ``--json``, as the JSON report
(see ``agent/report.schema.json``). ``ALERT.json`` is an Alertmanager webhook body or one alert;
``-`` reads standard input. ``--question`` investigates a free-text question instead, anchored at
``--at``, a time written in the question, or the alert time of the stored incident it matches
(see :mod:`augur.server.jobs.question_time`), never at the wall clock.

Exit 1 when every tool call failed or none could be made (no catalog, no Prometheus: the
message says what to give, and how to search the logs loaded with ``augur logs ingest``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

__all__ = ["investigate", "register"]


def investigate(
    alert_file: Path | None = typer.Argument(
        None, help="Alertmanager webhook body or alert (JSON); - for stdin."),
    catalog: Path | None = typer.Option(
        None, "--catalog", help="Platform catalog YAML (else AUGUR_CATALOG_FILE)."),
    prometheus_url: str | None = typer.Option(None, "--prometheus-url", help="Prometheus base URL."),
    as_json: bool = typer.Option(False, "--json", help="Print the JSON report instead of Markdown."),
    question: str | None = typer.Option(
        None, "--question", help="Investigate a question instead of an alert."),
    at: str | None = typer.Option(
        None, "--at", help="With --question: the time it is about (RFC 3339 or Unix seconds); default "
        "a time in the question, else the alert time of the stored incident it matches."),
    lookback: str = typer.Option("4h", help="How far before the alert to look, e.g. 90m, 6h."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress on stderr."),
) -> None:
    """Investigate an alert (or a question) and print the root-cause report."""
    import asyncio

    from rich.console import Console
    from rich.markup import escape

    from augur.agent.catalog import CatalogError
    from augur.agent.investigation import TriageError
    from augur.agent.investigation import investigate as run_investigation
    from augur.agent.markdown import render_markdown
    from augur.server.catalogs import resolve_catalog
    from augur.server.cli.common import warn_unknown_variables
    from augur.server.settings import ConfigError, load_settings
    from augur.server.toolbox import build_registry
    from augur.tools.timeparse import parse_duration

    err = Console(stderr=True, soft_wrap=True)
    if alert_file is None and not question:
        err.print("error: give ALERT.json (or - for stdin) or --question TEXT")
        raise typer.Exit(code=2)
    overrides: dict[str, Any] = {}
    if prometheus_url:
        overrides["prometheus_url"] = prometheus_url
    if catalog:
        overrides["catalog_file"] = catalog
    try:
        settings = load_settings(**overrides)
    except ConfigError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(code=2) from None
    warn_unknown_variables()
    alert: Any = None
    if alert_file is not None:
        try:
            text = sys.stdin.read() if str(alert_file) == "-" else alert_file.read_text()
            alert = json.loads(text)
        except OSError as exc:
            err.print(f"error: cannot read {alert_file}: {exc.strerror}")
            raise typer.Exit(code=2) from None
        except json.JSONDecodeError as exc:
            err.print(f"error: {alert_file} is not JSON ({exc}): pass an Alertmanager webhook body")
            raise typer.Exit(code=2) from None
        if not isinstance(alert, dict):
            err.print(f"error: {alert_file} must hold a JSON object (an Alertmanager webhook body or alert)")
            raise typer.Exit(code=2)
    if not settings.prometheus_url:
        err.print("[yellow]warning[/]: no Prometheus configured (--prometheus-url or AUGUR_PROMETHEUS_URL): "
                  "metric tools will answer 'unavailable'")

    # A backend that is down fails every call the same way: say it once, then count the rest.
    repeated: dict[str, int] = {}

    def progress(kind: str, details: dict[str, Any]) -> None:
        if quiet:
            return
        if kind == "call":
            summary = str(details["summary"]).removeprefix(f"{details['tool']}: ")
            if details["status"] not in ("ok", "empty"):
                if summary in repeated:
                    repeated[summary] += 1
                    return
                repeated[summary] = 0
            mark = {"ok": "[green]✓[/]", "empty": "[dim]·[/]"}.get(details["status"], "[red]✗[/]")
            err.print(f"  {mark} {details['tool']}: {escape(summary[:140])}", highlight=False)
        elif kind == "plan" and (details["calls"] or details["refused"]):
            err.print(f"[bold]plan[/] ({details['planner']}): {details['calls']} calls"
                      + (f", {details['refused']} refused" if details["refused"] else ""))
        elif kind == "triage":
            err.print(f"[bold]triage[/]: component {details['component'] or '(none in the catalog)'}")
        elif kind == "correlate":
            err.print(f"[bold]chain[/]: {details['chain'] or '(none)'}", highlight=False)
        elif kind == "diagnose":
            top = details["top"]
            named = (f"best candidate {top}, not named as the cause"
                     if top and details["verdict"] != "identified" else top or "no candidate")
            err.print(f"[bold]verdict[/]: {details['verdict']} ({escape(str(named))})")

    try:
        lookback_s = parse_duration(lookback)
    except Exception:
        err.print(f"error: --lookback {lookback!r} is not a duration such as 90m or 6h")
        raise typer.Exit(code=2) from None
    anchor = _question_anchor(settings, question, at, err, quiet) if alert is None and question else None
    try:
        resolved = resolve_catalog(settings, at=anchor if anchor is not None else _alert_time(alert),
                                   window_s=lookback_s, on_progress=None if quiet else (
                                       lambda text: err.print(f"[dim]catalog: {text}[/]", highlight=False)))
    except CatalogError as exc:
        err.print(f"error: the catalog is invalid:\n{exc}")
        raise typer.Exit(code=2) from None
    cat = resolved.catalog
    if resolved.note and not quiet:
        err.print(f"[bold]catalog[/]: {resolved.note}", highlight=False)
    try:
        report = asyncio.run(run_investigation(
            alert, registry=build_registry(settings), catalog=cat, question=question, at=anchor,
            lookback_s=lookback_s, on_event=progress,
        ))
    except TriageError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(code=2) from None
    for summary, more in repeated.items():
        if more:
            err.print(f"  [red]✗[/] {more} more call(s) failed the same way: {escape(summary[:140])}",
                      highlight=False)
    if resolved.note:
        report.stats.notes.insert(0, resolved.note)
    if as_json:
        sys.stdout.write(report.model_dump_json(indent=2) + "\n")
    else:
        markdown = render_markdown(report)
        if sys.stdout.isatty():
            from rich.markdown import Markdown

            Console().print(Markdown(markdown))
        else:
            sys.stdout.write(markdown)
    if not report.evidence:
        # Zero tool calls: the report's "no examined signal changed" would read as "all normal".
        err.print(_nothing_examined(settings, cat), highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(code=1)
    failed = [row for row in report.evidence if row.status in ("error", "unavailable")]
    if report.evidence and len(failed) == len(report.evidence):
        # Nothing was observed: the report says so, and the shell must not read it as a success.
        err.print(f"error: all {len(failed)} tool calls failed, e.g. {failed[0].summary}", highlight=False,
                  markup=False, soft_wrap=True)
        raise typer.Exit(code=1)


def _nothing_examined(settings: Any, catalog: Any) -> str:
    """Why an investigation made no tool call, and what to give it (or run instead)."""
    from augur.server.cli.common import log_search_example, log_span, rfc3339

    missing = []
    if catalog is None or not catalog.components:
        missing.append("no platform catalog (--catalog or AUGUR_CATALOG_FILE; `augur catalog discover "
                       "--prometheus-url URL --out platform.yaml` writes one)")
    if not settings.prometheus_url:
        missing.append("no Prometheus (--prometheus-url or AUGUR_PROMETHEUS_URL)")
    lines = ["error: nothing was examined: " + ("; ".join(missing) or "no signal of the catalog fits it")
             + ". An investigation reads the catalog components' signals (metrics, and the logs of "
             "those with a log_query); without them it has nothing to read."]
    span = log_span(settings)
    if span:
        lines.append(f"  the logs loaded with `augur logs ingest` ({span.lines:,} lines, "
                     f"{rfc3339(span.first)} – {rfc3339(span.last)}) can be searched now: "
                     f"{log_search_example(span)}")
    return "\n".join(lines)


def _question_anchor(settings: Any, question: str, at: str | None, err: Any, quiet: bool) -> float:
    """The time the question is about (module docstring); exit 2 with a hint when there is none."""
    from augur.server.jobs.question_time import QuestionTimeError, parse_at, time_in_text

    if at is not None:
        try:
            return parse_at(at)
        except QuestionTimeError as exc:
            err.print(f"error: {exc}")
            raise typer.Exit(code=2) from None
    written = time_in_text(question)
    if written is not None:
        return written
    matched = _stored_incident_time(settings, question)
    if matched is not None:
        incident_id, starts_at = matched
        if not quiet:
            err.print(f"anchored at incident #{incident_id}'s alert time (give --at to choose another)")
        return starts_at
    from augur.server.cli.common import log_span, rfc3339

    span = log_span(settings)
    example = rfc3339(span.last) if span else "2026-11-24T02:40:00Z"
    err.print(f"error: --question needs the time it is about: give --at {example} (the question "
              "names no time and no stored incident matches it); augur never anchors at the wall clock",
              highlight=False, markup=False)
    if span:
        err.print(f"  the logs loaded with `augur logs ingest` span {rfc3339(span.first)} – "
                  f"{rfc3339(span.last)} ({span.lines:,} lines)", highlight=False, markup=False)
    raise typer.Exit(code=2)


def _stored_incident_time(settings: Any, question: str) -> tuple[int, float] | None:
    """The matched incident's alert time, when a store exists (an absent SQLite file is not created)."""
    from augur.server.jobs.question_time import incident_time
    from augur.server.store.database import StoreUnavailable
    from augur.server.web.app import open_store

    url = str(settings.effective_database_url)
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return None
    try:
        store = open_store(settings)
    except StoreUnavailable:
        return None
    try:
        return incident_time(store, question)
    finally:
        store.dispose()


def _alert_time(alert: Any) -> float:
    """The time a catalog is discovered as of: the alert's start (now when it has none to read)."""
    import time

    from augur.agent.triage import TriageError, normalise_alert

    if isinstance(alert, dict):
        try:
            return float(normalise_alert(alert)["starts_at"])
        except TriageError:
            pass  # the investigation itself reports what is wrong with the alert
    return time.time()


def register(app: typer.Typer) -> None:
    """Add `augur investigate` to the CLI."""
    app.command("investigate")(investigate)
