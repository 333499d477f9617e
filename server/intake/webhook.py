"""Alertmanager's version-4 webhook body: the payload models and :func:`parse_payload`.

The route that receives it is :mod:`augur.server.web.webhook`. The payload models accept what
Alertmanager 0.25–0.34 sends, including fields they do not name (``routeLabels``,
``notification_reason``, ...); a firing alert's ``endsAt`` of ``0001-01-01T00:00:00Z`` means
"not ended" and becomes ``None``. A body that does not
validate raises :class:`~augur.server.errors.ApiError` (422) saying which field and why.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from augur.server.errors import ApiError
from augur.server.validation import (
    MAX_ANNOTATION_VALUE,
    MAX_LABELS,
    check_alert_times,
    check_labels,
    reject_nul,
)

__all__ = ["WebhookAlert", "WebhookPayload", "parse_payload"]




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
