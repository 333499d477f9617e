"""``augur ask "why did ranker-serving alert?"``: the chat's answer on the terminal, no LLM needed.

With an LLM configured the sentences are the LLM's, grounded in evidence (see
:mod:`augur.agent.chat_llm`); without one, or when it fails, the deterministic answer.

Reads the store named by the settings (incidents and their reports) and prints the answer with
its evidence citations; ``--json`` prints the structured :class:`~augur.agent.chat.Answer`.
Exit 1 when no incident matches (with the next step on stderr: where incidents come from, the
demo's own store, what answers without an incident), 2 on a configuration error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from augur.server.cli.common import log_search_example, log_span, rfc3339, settings_or_exit, store_or_exit

if TYPE_CHECKING:
    from augur.server.settings import Settings

__all__ = ["register"]


def ask(
    question: list[str] = typer.Argument(..., help='The question, e.g. "why did ranker-serving alert?"'),
    as_json: bool = typer.Option(False, "--json", help="Print the structured answer as JSON."),
) -> None:
    """Answer a question about incidents (``why X``, ``status``, or free text) from the store."""
    from augur.server.jobs.questions import ask as ask_store
    from augur.server.jobs.questions import chat_llm_for, load_briefs

    settings = settings_or_exit()
    store = store_or_exit(settings)
    try:
        result = ask_store(store, " ".join(question), chat=chat_llm_for(settings))
        unmatched = result.intent.kind in ("why", "ask") and result.incident_id is None
        empty = unmatched and not load_briefs(store, limit=1)
    finally:
        store.dispose()
    typer.echo(result.model_dump_json(indent=2) if as_json else result.as_text())
    if unmatched:
        typer.echo(_next_steps(settings, empty=empty), err=True)
        raise typer.Exit(code=1)


def _next_steps(settings: Settings, *, empty: bool) -> str:
    """What to do when no incident matched: where incidents come from, and what else answers."""
    import os

    from augur.agent.redact import redact

    if not empty:
        return ("hint: name the incident's id, alert or service as `augur ask status` lists them, "
                "e.g. augur ask why 3")
    lines = [f"hint: `augur ask` answers from the incidents in the store "
             f"({redact(settings.effective_database_url)}), and it has no incidents yet: they come from "
             "Alertmanager's webhook to `augur serve` (or `augur pull`)."]
    demo = settings.data_dir / "demo" / "augur.yaml"
    if demo.is_file() and not os.environ.get("AUGUR_CONFIG_FILE"):
        lines.append(f"  the demo's incident is in its own store: export AUGUR_CONFIG_FILE={demo}")
    span = log_span(settings)
    at = rfc3339(span.last) if span else "2026-06-14T15:30:00Z"
    lines.append(f'  to investigate without an incident: augur investigate ALERT.json, or augur investigate '
                 f'--question "..." --at {at}')
    if span:
        lines.append(f"  the logs loaded with `augur logs ingest` ({span.lines:,} lines, "
                     f"{rfc3339(span.first)} – {rfc3339(span.last)}): {log_search_example(span)}")
    else:
        lines.append(f"  to search logs loaded with `augur logs ingest`: {log_search_example(None)}")
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    """Add ``augur ask`` to the CLI."""
    app.command("ask")(ask)
