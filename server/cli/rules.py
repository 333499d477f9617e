"""`augur rules review`: list, show, approve and reject rule proposals from the terminal.

- ``augur rules review`` lists pending proposals (``--state all`` for every one);
- ``augur rules review ID`` shows one: the rule, the rationale, the backtest, the history;
- ``augur rules review ID --approve --as NAME --token TOKEN [--comment TEXT]`` (or ``--reject``)
  decides, exactly as the API and the review page do (same allowlist, same idempotency; an
  approval applies the rule when a rules directory is configured). Without ``--token`` the token
  is prompted for, hidden, on a terminal; without one, the command exits 2 saying to pass it.

Exit status: 0 done (or nothing to change), 1 refused (unknown reviewer, wrong state, unknown
id), 2 a usage or configuration error.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import typer

from augur.server.cli.common import token_or_exit

if TYPE_CHECKING:
    from augur.rules.proposal import Proposal
    from augur.server.review import ProposalService

app = typer.Typer(name="rules", help="Rule proposals: review, approve, reject.", no_args_is_help=True)


def _service() -> ProposalService:
    from augur.server.review import service_from_settings
    from augur.server.settings import ConfigError, load_settings
    from augur.server.store.database import StoreUnavailable
    from augur.server.store.proposals import SqlProposalStore
    from augur.server.web.app import open_store

    try:
        settings = load_settings()
        store = open_store(settings)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except StoreUnavailable as exc:
        typer.echo(f"error: {exc}: check AUGUR_DATABASE_URL", err=True)
        raise typer.Exit(2) from None
    return service_from_settings(settings, SqlProposalStore(store), store)


def _summary(proposal: Proposal) -> str:
    bt = proposal.backtest
    if bt is None:
        return "-"
    lead = "" if bt.lead_minutes is None else f", {bt.lead_minutes:+.0f} min vs first alert"
    return f"{bt.episodes} fires in {bt.days:.1f} d{lead}"


def _show(service: ProposalService, proposal: Proposal) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.syntax import Syntax

    console = Console(soft_wrap=True)
    console.print(f"[bold]{escape(proposal.title)}[/bold]  ({proposal.id}, {proposal.state.value})")
    console.print(f"backtest: {_summary(proposal)}")
    console.print(f"rationale: {proposal.rationale}", markup=False, highlight=False, soft_wrap=True)
    if console.is_terminal:
        width = max(map(len, proposal.rule_yaml.splitlines()), default=0)
        console.print(Syntax(proposal.rule_yaml, "yaml", theme="ansi_dark", background_color="default",
                             word_wrap=False, code_width=width), soft_wrap=True)
    else:  # piped: the YAML exactly as stored, never cut to a width (the reviewer copies it)
        sys.stdout.write(proposal.rule_yaml.rstrip("\n") + "\n")
    console.print(f"{proposal.validation.tool}: {'passed' if proposal.validation.ok else 'FAILED'}")
    for event in service.repo.events(proposal.id):
        console.print(f"  {event.at:%Y-%m-%d %H:%M:%S} {event.actor}: "
                      f"{event.from_state.value if event.from_state else '-'} -> {event.to_state.value}"
                      f"{'  ' + event.comment if event.comment else ''}")


@app.command()
def review(
    proposal_id: str | None = typer.Argument(None, help="Proposal id (pr-...); omit to list."),
    approve: bool = typer.Option(False, "--approve", help="Approve (and apply, if configured)."),
    reject: bool = typer.Option(False, "--reject", help="Reject."),
    reviewer: str | None = typer.Option(None, "--as", help="Your reviewer name (checked against the token)."),
    token: str | None = typer.Option(None, "--token", help="Your reviewer token (prompted if omitted)."),
    comment: str = typer.Option("", "--comment", help="Why; recorded with the decision."),
    state: str = typer.Option("pending", "--state", help="With no id: pending, approved, rejected, "
                              "applied, failed or all."),
    incident: int | None = typer.Option(None, "--incident", help="With no id: only the proposals of "
                                        "this incident's investigation."),
) -> None:
    """List pending proposals, show one, or approve/reject it."""
    from augur.rules.proposal import ProposalState
    from augur.rules.review import ReviewError

    if approve and reject:
        typer.echo("error: choose one of --approve and --reject", err=True)
        raise typer.Exit(2)
    secret = None
    if proposal_id is not None and (approve or reject):
        secret = token_or_exit(token, prompt="reviewer token",
                               how="pass --token TOKEN: your reviewer token of AUGUR_REVIEWER_TOKENS "
                                   "(or of AUGUR_API_TOKENS with the `review` scope)")
    service = _service()
    if proposal_id is None:
        if approve or reject:
            typer.echo("error: say which proposal: augur rules review ID --approve", err=True)
            raise typer.Exit(2)
        try:
            wanted = None if state == "all" else ProposalState(state)
        except ValueError:
            typer.echo(f"error: --state {state!r}: use pending, approved, rejected, applied, failed or all",
                       err=True)
            raise typer.Exit(2) from None
        proposals = service.repo.find(wanted)
        if incident is not None:
            proposals = [p for p in proposals if p.incident_id == incident]
        if not proposals:
            scope = f" for incident {incident}" if incident is not None else ""
            typer.echo(f"no {state} proposals{scope}")
        for p in proposals:
            typer.echo(f"{p.id}  {p.state.value:<8}  {p.kind.value:<14}  {p.title}  [{_summary(p)}]")
        return
    proposal = service.repo.get(proposal_id)
    if proposal is None:
        typer.echo(f"error: no proposal {proposal_id!r}: `augur rules review --state all` lists them",
                   err=True)
        raise typer.Exit(1)
    if secret is None:
        _show(service, proposal)
        return
    try:
        name = service.reviewers.authenticate(secret)
        if reviewer is not None and reviewer != name:
            typer.echo(f"error: that token belongs to {name}, not {reviewer}", err=True)
            raise typer.Exit(1)
        outcome = service.decide(proposal_id, "approve" if approve else "reject", secret, comment)
    except ReviewError as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(1) from None
    note = "" if outcome.changed else " (no change: already decided)"
    typer.echo(f"{proposal_id} is {outcome.proposal.state.value}{note}")
    if outcome.proposal.state is ProposalState.FAILED:
        events = service.repo.events(proposal_id)
        typer.echo(f"reason: {events[-1].comment if events else '?'}", err=True)
        raise typer.Exit(1)
