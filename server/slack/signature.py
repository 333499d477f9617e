"""Slack request signatures: v0 HMAC-SHA256 over ``v0:{timestamp}:{raw body}``, 5-minute window.

Checked on the raw body before anything is parsed, with
:class:`slack_sdk.signature.SignatureVerifier` (constant-time compare). A refusal says which
part was wrong, so an operator can tell a clock skew from a wrong signing secret.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from slack_sdk.signature import SignatureVerifier

from augur.tools.errors import BadInput

__all__ = ["MAX_AGE_S", "SignatureError", "verify"]

#: Slack's replay window: requests older (or newer) than this are refused.
MAX_AGE_S = 300


class SignatureError(BadInput):
    """The request is not signed by Slack with our signing secret; the message says why."""


def verify(secret: str, headers: Mapping[str, str], body: bytes, *, now: float | None = None) -> None:
    """Raise :class:`SignatureError` unless ``body`` carries a valid, fresh Slack signature."""
    timestamp = headers.get("x-slack-request-timestamp")
    signature = headers.get("x-slack-signature")
    if not timestamp or not signature:
        raise SignatureError("missing X-Slack-Signature or X-Slack-Request-Timestamp: "
                             "only Slack, signing with the app's signing secret, may call this endpoint")
    try:
        age = abs((now if now is not None else time.time()) - int(timestamp))
    except ValueError:
        raise SignatureError(f"X-Slack-Request-Timestamp {timestamp[:20]!r} is not a Unix time") from None
    if age > MAX_AGE_S:
        raise SignatureError(f"request timestamp is {age:.0f} s away from now (limit {MAX_AGE_S} s): "
                             "a replay, or this server's clock is wrong")
    if not SignatureVerifier(secret).is_valid(body, timestamp, signature):
        raise SignatureError("X-Slack-Signature does not match: check AUGUR_SLACK_SIGNING_SECRET "
                             "against the app's Basic Information page")
