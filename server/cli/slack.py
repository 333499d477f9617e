"""``augur slack socket``: run the Slack app over Socket Mode (no public HTTP endpoint needed).

Needs ``AUGUR_SLACK_APP_TOKEN`` (``xapp-...``, scope ``connections:write``) and
``AUGUR_SLACK_BOT_TOKEN``; answers the same events, ``/augur`` commands and buttons as the HTTP
endpoints, from the same store. Stops on Ctrl-C / SIGTERM.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

import typer

from augur.server.cli.common import settings_or_exit

__all__ = ["app"]

app = typer.Typer(name="slack", help="The Slack app (Socket Mode).", no_args_is_help=True)


@app.command("socket")
def socket() -> None:
    """Connect to Slack over Socket Mode and serve events, commands and buttons until stopped."""
    from augur.server.slack.socket_mode import socket_client
    from augur.server.web.app import open_store
    from augur.server.web.slack_routes import handlers_for

    settings = settings_or_exit()
    if settings.slack_app_token is None or settings.slack_bot_token is None:
        typer.echo("error: Socket Mode needs AUGUR_SLACK_APP_TOKEN (xapp-...) and AUGUR_SLACK_BOT_TOKEN "
                   "(xoxb-...): create them on the Slack app's settings pages", err=True)
        raise typer.Exit(code=2)
    store = open_store(settings)
    try:
        client = socket_client(settings.slack_app_token.get_secret_value(), handlers_for(settings, store))
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    stop = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    client.connect()
    typer.echo("augur slack: connected over Socket Mode; Ctrl-C to stop")
    stop.wait()
    client.close()
    store.dispose()
