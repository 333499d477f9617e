"""Socket Mode: the Slack app for teams that cannot expose an HTTP endpoint (an ``xapp-`` token).

Slack pushes the same payloads over a WebSocket; :func:`socket_listener` hands each one to the
:class:`~augur.server.slack.handlers.SlackHandlers` the HTTP endpoints use, acknowledges it with the
same body, then runs the slow work in a thread. Requests on the socket are authenticated by the
app-level token, so there is no signature to check. ``augur slack socket`` runs it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from slack_sdk.socket_mode.client import BaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from augur.server.errors import ApiError
from augur.server.slack.handlers import Ack, SlackHandlers, run_safely

__all__ = ["Listener", "socket_client", "socket_listener"]

log = logging.getLogger(__name__)

#: A Socket Mode request listener, as ``SocketModeClient.socket_mode_request_listeners`` holds them.
Listener = Callable[[BaseSocketModeClient, SocketModeRequest], None]


def socket_listener(handlers: SlackHandlers, *, background: bool = True) -> Listener:
    """A listener that acks each request with the handlers' answer and then does the work."""

    def listen(client: BaseSocketModeClient, request: SocketModeRequest) -> None:
        payload: Any = request.payload
        if request.type == "events_api":
            ack = handlers.on_event(payload)
        elif request.type == "slash_commands":
            ack = handlers.on_command({str(k): str(v) for k, v in payload.items()})
        elif request.type == "interactive":
            try:
                ack = handlers.on_interactive(payload)
            except ApiError as exc:  # a malformed button value: acknowledged, and nothing done
                log.warning("Slack interactive payload refused: %s", exc.reason)
                ack = Ack()
        else:
            ack = Ack()
        response = SocketModeResponse(envelope_id=request.envelope_id, payload=ack.body)
        client.send_socket_mode_response(response)
        if ack.work is not None:
            if background:
                threading.Thread(target=run_safely, args=(ack.work,), daemon=True,
                                 name="augur-slack-work").start()
            else:
                run_safely(ack.work)

    return listen


def socket_client(app_token: str, handlers: SlackHandlers) -> BaseSocketModeClient:
    """A connected-on-demand Socket Mode client wired to ``handlers`` (call ``.connect()``)."""
    if not app_token.startswith("xapp-"):
        raise ValueError("AUGUR_SLACK_APP_TOKEN must be an app-level token (xapp-...) with connections:write")
    from slack_sdk.socket_mode import SocketModeClient

    client = SocketModeClient(app_token=app_token, web_client=handlers.client)
    client.socket_mode_request_listeners.append(socket_listener(handlers))
    return client
