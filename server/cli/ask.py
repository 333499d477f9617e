"""``augur ask "why did ranker-serving alert?"``: the chat's answer on the terminal, no LLM needed.

With an LLM configured the sentences are the LLM's, grounded in evidence (see
:mod:`augur.agent.chat_llm`); without one, or when it fails, the deterministic answer.

Reads the store named by the settings (incidents and their reports) and prints the answer with
its evidence citations; ``--json`` prints the structured :class:`~augur.agent.chat.Answer`.
Exit 1 when no incident matches, 2 on a configuration error.
"""

from __future__ import annotations

import typer

from augur.server.cli.common import settings_or_exit, store_or_exit

__all__ = ["register"]


def ask(
    question: list[str] = typer.Argument(..., help='The question, e.g. "why did ranker-serving alert?"'),
    as_json: bool = typer.Option(False, "--json", help="Print the structured answer as JSON."),
) -> None:
    """Answer a question about incidents (``why X``, ``status``, or free text) from the store."""
    from augur.server.jobs.questions import ask as ask_store
    from augur.server.jobs.questions import chat_llm_for

    settings = settings_or_exit()
    store = store_or_exit(settings)
    try:
        result = ask_store(store, " ".join(question), chat=chat_llm_for(settings))
    finally:
        store.dispose()
    typer.echo(result.model_dump_json(indent=2) if as_json else result.as_text())
    if result.intent.kind in ("why", "ask") and result.incident_id is None:
        raise typer.Exit(code=1)


def register(app: typer.Typer) -> None:
    """Add ``augur ask`` to the CLI."""
    app.command("ask")(ask)
