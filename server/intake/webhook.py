"""``POST /v1/alertmanager``: Alertmanager's version-4 webhook, authenticated, validated and persisted.

The payload models accept what Alertmanager 0.25–0.34 sends, including fields they do not
name (``routeLabels``, ``notification_reason``, ...); a firing alert's ``endsAt`` of
``0001-01-01T00:00:00Z`` means "not ended" and becomes ``None``. The response is 2xx only after
the transaction that stores the alerts has committed; a store failure answers 503 so that
Alertmanager retries (it never retries a 4xx). Every rejection says why in a JSON body
``{"error": code, "reason": text}`` and writes nothing.

Authentication: a token with the ``alerts:write`` scope (``AUGUR_WEBHOOK_TOKEN``, or one in
``AUGUR_API_TOKENS``) as ``Authorization: Bearer <token>`` (what Alertmanager's
``http_config.authorization`` sends); see :mod:`augur.server.auth`. The body must be declared
``application/json`` (415 otherwise), so a web page cannot post alerts with a form.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy.exc import SQLAlchemyError

from augur.server.auth import require
from augur.server.errors import ApiError
from augur.server.intake import IngestResult, ingest
from augur.server.scopes import Scope
from augur.server.state import AppState, app_state
from augur.server.validation import (
    MAX_ANNOTATION_VALUE,
    MAX_LABELS,
    check_alert_times,
    check_labels,
    reject_nul,
)

__all__ = ["WebhookAlert", "WebhookPayload", "parse_payload", "router"]

log = logging.getLogger(__name__)

router = APIRouter(tags=["alertmanager"])
#: Bodies up to this size are parsed on the event loop (a thread hop costs more than parsing them).
INLINE_PARSE_BYTES = 64 * 1024


class WebhookAlert(BaseModel):
    """One alert of a notification (Alertmanager ``template.Alert``)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: datetime = Field(alias="startsAt")
    ends_at: datetime | None = Field(default=None, alias="endsAt")
    generator_url: str = Field(default="", alias="generatorURL")
    fingerprint: str = Field(min_length=1, max_length=64)

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value

    @field_validator("ends_at")
    @classmethod
    def _zero_is_none(cls, value: datetime | None) -> datetime | None:
        # Go's zero time: Alertmanager's way of saying "still firing".
        return None if value is not None and value.year <= 1 else value


class WebhookPayload(BaseModel):
    """A whole notification: every alert of one Alertmanager group (``version`` ``"4"``)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    version: Literal["4"]
    group_key: str = Field(alias="groupKey", min_length=1)
    truncated_alerts: int = Field(default=0, alias="truncatedAlerts", ge=0)
    status: Literal["firing", "resolved"]
    receiver: str = ""
    group_labels: dict[str, str] = Field(default_factory=dict, alias="groupLabels")
    common_labels: dict[str, str] = Field(default_factory=dict, alias="commonLabels")
    common_annotations: dict[str, str] = Field(default_factory=dict, alias="commonAnnotations")
    external_url: str = Field(default="", alias="externalURL")
    alerts: list[WebhookAlert] = Field(min_length=1)


def _describe(exc: ValidationError) -> tuple[str, str]:
    """An error code and a one-line reason for a payload that failed validation."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    if first["type"] == "json_invalid":
        return "invalid_json", f"body is not valid JSON: {first.get('ctx', {}).get('error', first['msg'])}"
    if first["type"] == "model_type" and not first["loc"]:
        return "invalid_payload", "body must be a JSON object (Alertmanager's webhook payload)"
    for err in errors:
        if tuple(err["loc"]) == ("version",):
            if err["type"] == "missing":  # its input is the whole body: never echo that back
                return "unsupported_version", 'version is missing: augur accepts webhook version "4"'
            got = repr(err.get("input"))
            got = got if len(got) <= 40 else got[:37] + "..."
            return "unsupported_version", (
                f'version {got} is not supported: augur accepts Alertmanager\'s webhook version "4"'
            )
    parts = []
    for err in errors[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "body"
        parts.append(f"{where}: {err['msg']}")
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return "invalid_payload", "; ".join(parts) + more


def parse_payload(body: bytes) -> WebhookPayload:
    """Validate a webhook body; raise :class:`ApiError` (400/422) with the reason if it is not one."""
    try:
        payload = WebhookPayload.model_validate_json(body)
    except ValidationError as exc:
        code, reason = _describe(exc)
        raise ApiError(400 if code == "invalid_json" else 422, code, reason) from None
    if b"\\u0000" in body:
        # PostgreSQL text cannot hold NUL; refusing it here keeps both stores' behaviour the same
        # and gives a 4xx (a 5xx would make Alertmanager retry it forever).
        reject_nul(payload.model_dump(by_alias=True), code="invalid_payload")
    for i, alert in enumerate(payload.alerts):
        where = f"alerts.{i}"
        check_labels(alert.labels, f"{where}.labels", code="invalid_payload")
        if len(alert.annotations) > MAX_LABELS or any(len(v) > MAX_ANNOTATION_VALUE
                                                      for v in alert.annotations.values()):
            check_labels(alert.annotations, f"{where}.annotations", code="invalid_payload", required=False,
                         max_value=MAX_ANNOTATION_VALUE)
        check_alert_times(alert.starts_at, alert.ends_at, where, code="invalid_payload")
    return payload


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
        # A large notification takes tens of milliseconds (100,000 alerts: over a second) to parse:
        # off the event loop, so /healthz and the other requests are not stalled behind it.
        payload = parse_payload(body) if len(body) < INLINE_PARSE_BYTES else await run_in_threadpool(
            parse_payload, body)
        try:
            result: IngestResult
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
        except SQLAlchemyError as exc:
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
    metrics.alerts_ingested.inc(len(payload.alerts))
    metrics.episodes_created.inc(result.new_episodes)
    if result.opened_incidents:
        metrics.incidents_opened.inc(len(result.opened_incidents))
    return {"status": "ok", **result.as_dict()}
