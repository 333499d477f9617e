"""The Slack app over HTTP: ``POST /slack/events``, ``/slack/commands`` and ``/slack/interactive``.

Every request's signature is verified on the raw body before it is parsed (401 otherwise, with
nothing written); the answer goes back at once and the slow work runs as a background task
after the response is sent. Point the Slack app's Event Subscriptions, Slash Commands and
Interactivity request URLs at these paths.
"""

from __future__ import annotations

import hashlib
import json
from functools import partial
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, BackgroundTasks, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from augur.server.errors import ApiError
from augur.server.jobs.questions import chat_llm_for
from augur.server.review import service_from_settings
from augur.server.settings import Settings
from augur.server.slack.approvals import SlackApprovals
from augur.server.slack.handlers import Ack, SlackHandlers, run_safely
from augur.server.slack.notifier import web_client
from augur.server.slack.signature import SignatureError, verify
from augur.server.state import AppState, app_state
from augur.server.store.database import Store
from augur.server.store.proposals import SqlProposalStore
from augur.server.validation import reject_nul
from augur.server.web.auth import slack_signed

__all__ = ["handlers_for", "router"]

#: Every route is authenticated by Slack's signature (checked in :func:`_verified`), not by a token.
router = APIRouter(prefix="/slack", tags=["slack"], dependencies=[Depends(slack_signed())])


def handlers_for(settings: Settings, store: Store) -> SlackHandlers:
    """The Slack handlers for these settings (HTTP and Socket Mode share them)."""
    client = web_client(settings)
    service = service_from_settings(settings, SqlProposalStore(store), store)
    return SlackHandlers(store, client, SlackApprovals(service, client, settings.slack_reviewers),
                         chat=partial(chat_llm_for, settings))


def _handlers(request: Request, state: AppState = Depends(app_state)) -> SlackHandlers:
    cached: SlackHandlers | None = getattr(request.app.state, "augur_slack", None)
    if cached is None:
        cached = handlers_for(state.settings, state.store)
        request.app.state.augur_slack = cached
    return cached


async def _verified(request: Request, state: AppState) -> bytes:
    secret = state.settings.slack_signing_secret
    if secret is None:
        raise ApiError(503, "slack_not_configured",
                       "Slack is not set up here: set AUGUR_SLACK_SIGNING_SECRET and AUGUR_SLACK_BOT_TOKEN")
    body = await request.body()
    try:
        verify(secret.get_secret_value(), request.headers, body)
    except SignatureError as exc:
        raise ApiError(401, "invalid_signature", str(exc)) from None
    return body


def _form(body: bytes) -> dict[str, str]:
    try:
        form = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
    except UnicodeDecodeError:
        raise ApiError(400, "invalid_body", "the body is not UTF-8 form data") from None
    reject_nul(form)
    return form


def _json(text: str | bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        raise ApiError(400, "invalid_json", f"{what} is not JSON") from None
    if not isinstance(value, dict):
        raise ApiError(400, "invalid_json", f"{what} must be a JSON object")
    reject_nul(value)
    return value


def _answer(ack: Ack, tasks: BackgroundTasks) -> Response:
    if ack.work is not None:
        tasks.add_task(run_safely, ack.work)
    if ack.body is None:
        return Response(status_code=200)
    return JSONResponse(ack.body)


@router.post("/events", summary="Slack Events API (app mentions)")
async def events(request: Request, tasks: BackgroundTasks, state: AppState = Depends(app_state),
                 handlers: SlackHandlers = Depends(_handlers)) -> Response:
    """Answer ``url_verification``; handle each ``event_id`` once; answer mentions in their thread."""
    body = await _verified(request, state)
    payload = _json(body, "the event body")
    return _answer(await run_in_threadpool(handlers.on_event, payload), tasks)


@router.post("/commands", summary="Slack slash command (/augur)")
async def commands(request: Request, tasks: BackgroundTasks, state: AppState = Depends(app_state),
                   handlers: SlackHandlers = Depends(_handlers)) -> Response:
    """``/augur why|status|ask ...``: acknowledged now, answered through ``response_url``."""
    body = await _verified(request, state)
    # A signature covers the timestamp and the body: a replay within the 5-minute window repeats it.
    signature = hashlib.sha256(request.headers.get("x-slack-signature", "").encode()).hexdigest()
    return _answer(await run_in_threadpool(handlers.on_command, _form(body), replay_key=signature), tasks)


@router.post("/interactive", summary="Slack interactivity (proposal buttons)")
async def interactive(request: Request, tasks: BackgroundTasks, state: AppState = Depends(app_state),
                      handlers: SlackHandlers = Depends(_handlers)) -> Response:
    """Approve / Reject clicks: acknowledged now, decided and the message updated after."""
    body = await _verified(request, state)
    payload = _form(body).get("payload")
    if payload is None:
        raise ApiError(400, "invalid_body", "interactive requests carry a `payload` form field")
    return _answer(handlers.on_interactive(_json(payload, "`payload`")), tasks)
