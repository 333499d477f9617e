"""Bounded requests: a body-size limit and a body-read deadline for every route, as ASGI middleware.

Without them ``POST /v1/investigations`` took a body of any size (a 50 MiB label value grew the
checkpoint database by 525 MB), and a client that sent headers and then one byte — or declared a
``Content-Length`` larger than what it sent — held its connection open for ever.

:class:`RequestLimits` answers, before the route sees anything:

- **413** ``body_too_large`` when ``Content-Length`` (or the bytes actually received) exceed the
  route's limit: ``webhook_max_bytes`` for the Alertmanager webhook (large notifications are
  legitimate there), ``http_max_body_bytes`` for every other route;
- **408** ``body_timeout`` when the whole body has not arrived within ``http_body_timeout_seconds``
  of the request's start (a slow or stalled sender), and the connection is closed.

Both answers use the API's error shape ``{"error": code, "reason": text}`` (raised inside the
app, they are rendered by :mod:`augur.server.errors`' HTTP-exception handler).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.exceptions import HTTPException

from augur.tools.errors import BadInput

__all__ = ["RequestLimits"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class _Refused(HTTPException, BadInput):
    """Raised from the body stream; an HTTPException so FastAPI's body parsing passes it through."""

    def __init__(self, status: int, code: str, reason: str) -> None:
        super().__init__(status, reason, headers={"Connection": "close"})
        self.status, self.code, self.reason = status, code, reason


class RequestLimits:
    """ASGI middleware: refuse bodies over the limit (413) and bodies that take too long (408)."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, timeout_s: float,
                 route_limits: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.timeout_s = timeout_s
        self.route_limits = dict(route_limits or {})

    def _limit(self, path: str) -> tuple[int, str]:
        if path in self.route_limits:
            return self.route_limits[path], "AUGUR_WEBHOOK_MAX_BYTES"
        return self.max_body_bytes, "AUGUR_HTTP_MAX_BODY_BYTES"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, setting = self._limit(str(scope.get("path", "")))
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            reason = f"body of {declared} bytes exceeds the {limit}-byte limit ({setting})"
            await _answer(send, _Refused(413, "body_too_large", reason))
            return
        deadline = time.monotonic() + self.timeout_s
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            remaining = deadline - time.monotonic()
            try:
                message = await asyncio.wait_for(receive(), timeout=max(remaining, 0.001))
            except TimeoutError:
                raise _Refused(408, "body_timeout", f"the request body did not arrive within "
                                                    f"{self.timeout_s:g} s (AUGUR_HTTP_BODY_TIMEOUT_SECONDS)"
                               ) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _Refused(413, "body_too_large", f"body exceeds the {limit}-byte limit ({setting})")
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _Refused as refused:
            if started:
                raise
            await _answer(send, refused)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _answer(send: Send, refused: _Refused) -> None:
    body = json.dumps({"error": refused.code, "reason": refused.reason}).encode()
    await send({"type": "http.response.start", "status": refused.status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()), (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
