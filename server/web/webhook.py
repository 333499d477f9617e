"""``POST /v1/alertmanager``: Alertmanager's version-4 webhook, authenticated, validated and persisted.

The body is parsed by :func:`augur.server.intake.webhook.parse_payload` and stored by
:mod:`augur.server.intake.ingest` (through the group committer; a body of 1 MiB or more by the
intake's helper process, :mod:`augur.server.intake.intake_process`). The response is 2xx only after
the transaction that stores the alerts has committed; a store failure answers 503 so that
Alertmanager retries (it never retries a 4xx). Every rejection says why in a JSON body
``{"error": code, "reason": text}`` and writes nothing.

Authentication: a token with the ``alerts:write`` scope (``AUGUR_WEBHOOK_TOKEN``, or one in
``AUGUR_API_TOKENS``) as ``Authorization: Bearer <token>`` (what Alertmanager's
``http_config.authorization`` sends); see :mod:`augur.server.web.auth`. The body must be declared
``application/json`` (415 otherwise), so a web page cannot post alerts with a form.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.exc import SQLAlchemyError

from augur.server.errors import ApiError
from augur.server.intake.ingest import IngestResult, ingest
from augur.server.intake.intake_process import LARGE_BODY_BYTES
from augur.server.intake.webhook import parse_payload
from augur.server.scopes import Scope
from augur.server.state import AppState, app_state
from augur.server.store.database import StoreUnavailable
from augur.server.web.auth import require

__all__ = ["router"]

log = logging.getLogger(__name__)

router = APIRouter(tags=["alertmanager"])
#: Bodies up to this size are parsed on the event loop (a thread hop costs more than parsing them).
INLINE_PARSE_BYTES = 64 * 1024


def _require_json(request: Request) -> None:
    """Refuse bodies that are not declared JSON: a browser page can send text/plain or form posts
    to any site without a CORS preflight, never application/json."""
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind != "application/json" and not (kind.startswith("application/") and kind.endswith("+json")):
        raise ApiError(415, "unsupported_media_type",
                       f"Content-Type must be application/json (got {kind or 'none'!r}): Alertmanager "
                       "sends JSON; a form or text body is refused")


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(
            413,
            "body_too_large",
            f"body of {declared} bytes exceeds the {limit}-byte limit "
            "(AUGUR_WEBHOOK_MAX_BYTES); lower max_alerts in Alertmanager's webhook_config",
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(
                413,
                "body_too_large",
                f"body exceeds the {limit}-byte limit "
                "(AUGUR_WEBHOOK_MAX_BYTES); lower max_alerts in Alertmanager's webhook_config",
            )
        chunks.append(chunk)
    return b"".join(chunks)


@router.post("/v1/alertmanager", summary="Receive an Alertmanager v4 webhook",
             dependencies=[Depends(require(Scope.ALERTS_WRITE))])
async def receive_alertmanager(request: Request, state: AppState = Depends(app_state)) -> dict[str, Any]:
    """Persist the notification's alerts as episodes, group them into incidents, enqueue investigations."""
    metrics = state.metrics
    metrics.webhooks_received.inc()
    try:
        _require_json(request)
        body = await _read_body(request, state.settings.webhook_max_bytes)
        helper = state.committer.helper if state.committer is not None else None
        try:
            result: IngestResult
            if helper is not None and len(body) >= LARGE_BODY_BYTES:
                # A huge notification holds the GIL for seconds while it is parsed and stored: in the
                # helper process, so /healthz and the other requests are not stalled behind it.
                result = await helper.ingest(body)
            else:
                # Up to 1 MiB takes up to ~30 ms to parse: off the event loop from 64 KiB on.
                payload = parse_payload(body) if len(body) < INLINE_PARSE_BYTES else await run_in_threadpool(
                    parse_payload, body)
                if state.committer is not None:
                    result = await state.committer.submit(payload)
                else:
                    result = await run_in_threadpool(
                        ingest,
                        state.store,
                        payload,
                        state.grouping,
                        datetime.now(UTC),
                        state.settings.worker_max_attempts,
                    )
        except (SQLAlchemyError, StoreUnavailable) as exc:
            log.error("webhook not stored: %s", exc)
            raise ApiError(
                503,
                "store_unavailable",
                f"the store did not accept the alerts ({exc.__class__.__name__}); Alertmanager will retry",
                headers={"Retry-After": "5"},
            ) from None
    except ApiError as exc:
        metrics.webhooks_rejected.labels(reason=exc.code).inc()
        raise
    metrics.alerts_ingested.inc(result.alerts)
    metrics.episodes_created.inc(result.new_episodes)
    if result.opened_incidents:
        metrics.incidents_opened.inc(len(result.opened_incidents))
    return {"status": "ok", **result.as_dict()}
