"""``augur verdict INCIDENT right|wrong|not-actionable``: judge the root cause augur named.

- ``augur verdict 12 right [--fix TEXT] [--note TEXT]``: the named cause was right;
- ``augur verdict 12 wrong --cause feature-store [--fault-type data_drift] [--fix ...]``: it was
  another one, named with ``--cause``;
- ``augur verdict 12 not-actionable [--note ...]``: the alert should not have paged;
- ``augur verdict 12``: the incident's verdicts, oldest first (the last one counts).

The verdict is recorded as the owner of the token (``--token``, else ``AUGUR_TOKEN``, else
prompted, hidden, on a terminal; with no terminal, exit 2 saying how to give it): a token of
``AUGUR_API_TOKENS`` with the ``verdict`` scope, or a reviewer's token, and on ``AUGUR_REVIEWERS``
when that is set — the same rules as the API and the incident page, in the same store. Exit
status: 0 recorded (or already so), 1 refused (the token, the incident, a verdict the report does
not allow), 2 a usage or configuration error (no token and no terminal to ask on included).
"""

from __future__ import annotations

import os

import typer

from augur.server.cli.common import settings_or_exit, store_or_exit, token_or_exit

__all__ = ["register"]

_WORDS = ("right", "wrong", "not-actionable")


def verdict(
    incident: int = typer.Argument(..., help="Incident id (see GET /v1/incidents or `augur ask status`)."),
    what: str | None = typer.Argument(None, help="right, wrong or not-actionable; omit to list verdicts."),
    cause: str | None = typer.Option(None, "--cause", help="With wrong: the component it really was."),
    fault_type: str | None = typer.Option(None, "--fault-type", help="With wrong: its fault type, if known."),
    fix: str = typer.Option("", "--fix", help="What fixed it (incident memory cites it next time)."),
    note: str = typer.Option("", "--note", help="Anything else worth keeping with the verdict."),
    token: str | None = typer.Option(None, "--token", help="Your token (else AUGUR_TOKEN, else prompted)."),
) -> None:
    """Record your verdict on INCIDENT's root cause, or list its verdicts."""
    from augur.server.errors import ApiError
    from augur.server.store.verdicts import judge_of, record_verdict, verdicts_of
    from augur.server.validation import MAX_ID, check_verdict
    from augur.server.web.auth import Authenticator

    if not 1 <= incident <= MAX_ID:
        typer.echo(f"error: incident {incident}: ids are 1..{MAX_ID}", err=True)
        raise typer.Exit(2)
    if what is not None and what not in _WORDS:
        typer.echo(f"error: {what!r}: say right, wrong (with --cause) or not-actionable", err=True)
        raise typer.Exit(2)
    try:
        judgement = check_verdict(what, cause, fault_type, fix, note) if what is not None else None
    except ApiError as exc:
        reason = exc.reason.replace("real_fault_type", "--fault-type").replace("real_cause", "--cause")
        typer.echo(f"error: {reason}", err=True)
        raise typer.Exit(2) from None
    secret = None
    if judgement is not None:
        secret = token_or_exit(
            token or os.environ.get("AUGUR_TOKEN"), prompt="your token",
            how="pass --token TOKEN or set AUGUR_TOKEN: a token of AUGUR_API_TOKENS with the `verdict` "
                "scope, or a reviewer's token of AUGUR_REVIEWER_TOKENS",
        )
    settings = settings_or_exit()
    store = store_or_exit(settings)
    if judgement is None or secret is None:
        rows = verdicts_of(store, incident)
        if not rows:
            typer.echo(f"incident {incident}: no verdict yet")
        for v in rows:
            real = f" (it was {v.real_cause}{'/' + v.real_fault_type if v.real_fault_type else ''})" \
                if v.real_cause else ""
            extra = "".join(f"  {k}: {t}" for k, t in (("fix", v.fix), ("note", v.note)) if t)
            typer.echo(f"{v.at:%Y-%m-%d %H:%M:%S} {v.by} via {v.via}: {v.verdict}{real}"
                       f" on {v.named_cause or 'no named cause'}{extra}")
        return
    principal = Authenticator.from_settings(settings).principal_for(secret.strip())
    if principal is None:
        typer.echo("refused: unknown token: use your token from AUGUR_API_TOKENS or AUGUR_REVIEWER_TOKENS",
                   err=True)
        raise typer.Exit(1)
    try:
        name = judge_of(principal.name, principal.scopes, settings.reviewers)
        recorded = record_verdict(store, incident, judgement, name, "cli")
    except ApiError as exc:
        typer.echo(f"refused: {exc.reason}", err=True)
        raise typer.Exit(1) from None
    v = recorded.verdict
    real = f", it was {v.real_cause}" if v.real_cause else ""
    again = "" if recorded.changed else " (no change: that is already your verdict)"
    typer.echo(f"incident {incident}: {v.verdict}{real}, by {v.by}{again}")


def register(app: typer.Typer) -> None:
    """Add ``augur verdict`` to the app."""
    app.command(name="verdict")(verdict)
