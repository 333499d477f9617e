"""``augur pull``: read Alertmanager's ``/api/v2/alerts`` once and store it as webhooks would be stored.

Prints what the pull found and changed (alerts, new episodes, incidents opened or updated, and the
suppression recorded: which alert is inhibited by which, which silence holds which). A one-shot
pull never resolves an alert by its absence (that needs two pulls of the same Alertmanager
process, which ``augur serve`` does with ``AUGUR_ALERTMANAGER_PULL_SECONDS``).

Exit status: 0 pulled, 1 Alertmanager or the store could not be reached (nothing written),
2 a configuration error.
"""

from __future__ import annotations

import json
from typing import cast

import typer

from augur.server.cli.common import settings_or_exit, store_or_exit

__all__ = ["register"]


def pull(
    url: str | None = typer.Option(None, "--url", help="Alertmanager URL (default AUGUR_ALERTMANAGER_URL)."),
    receiver: str | None = typer.Option(
        None, "--receiver", help="Only alerts routed to receivers matching this regex "
        "(default AUGUR_ALERTMANAGER_PULL_RECEIVER; unset = all)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Pull every alert Alertmanager holds (inhibited and silenced too) into augur's incidents, once."""
    settings = settings_or_exit()
    target = url or settings.alertmanager_url
    if not target:
        typer.echo("error: no Alertmanager URL: set AUGUR_ALERTMANAGER_URL or pass --url", err=True)
        raise typer.Exit(2)
    from datetime import timedelta

    import httpx
    from sqlalchemy.exc import SQLAlchemyError

    from augur.server.intake.alert_pull import AlertPuller, PullError
    from augur.server.intake.grouping import GroupingPolicy

    store = store_or_exit(settings)
    policy = GroupingPolicy(tuple(settings.group_labels), timedelta(seconds=settings.group_window_seconds))
    try:
        with httpx.Client() as client:
            puller = AlertPuller(store, client, target, policy, settings.worker_max_attempts,
                                 receiver or settings.alertmanager_pull_receiver)
            result = puller.pull()
    except PullError as exc:
        typer.echo(f"error: {exc}\n  nothing was written", err=True)
        raise typer.Exit(1) from None
    except SQLAlchemyError as exc:
        typer.echo(f"error: the store did not accept the alerts ({type(exc).__name__}); nothing was written",
                   err=True)
        raise typer.Exit(1) from None
    finally:
        store.dispose()
    if as_json:
        typer.echo(json.dumps(result.as_dict(), indent=2, default=str))
        return
    ingest = result.ingest
    typer.echo(f"pulled {result.alerts} alert(s) from {target} ({result.suppressed} suppressed): "
               f"{ingest.new_episodes} new episode(s), {ingest.resolved_episodes} resolved; "
               f"incidents opened {ingest.opened_incidents or '-'}, "
               f"updated {ingest.updated_incidents or '-'}")
    if result.unstorable:
        typer.echo(f"  skipped {len(result.unstorable)} alert(s) with a NUL character in a label/annotation "
                   f"(augur does not store NUL): {', '.join(result.unstorable)}")
    for event in result.suppression_events:
        what = event["alertname"] or event["fingerprint"]
        if event["kind"] == "alert_unsuppressed":
            typer.echo(f"  {what} (incident {event['incident_id']}): no longer suppressed")
            continue
        typer.echo(f"  {what} (incident {event['incident_id']}): {_reasons(event)}")
    for held in result.held:
        typer.echo(f"  {held['alertname'] or held['fingerprint']}: stored, no incident opened "
                   f"({_reasons(held)}); it opens one if it fires once unsuppressed")


def _reasons(event: dict[str, object]) -> str:
    """Why an alert is suppressed: its inhibitors and silences (with author and comment)."""
    inhibited = cast(list[dict[str, str]], event["inhibited_by"])
    silenced = cast(list[dict[str, str]], event["silenced_by"])
    reasons = [f"inhibited by {i['alertname'] or i['fingerprint']}" for i in inhibited]
    reasons += [f"silenced by {s['id']}" + (f" ({s.get('created_by')}: {s.get('comment')})"
                                            if s.get("created_by") else "") for s in silenced]
    return "; ".join(reasons)


def register(app: typer.Typer) -> None:
    """Add ``pull`` to the ``augur`` command."""
    app.command()(pull)
