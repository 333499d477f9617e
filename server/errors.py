"""HTTP errors of augur's API: one JSON shape, ``{"error": code, "reason": text}``, for every 4xx/5xx.

Routers raise :class:`ApiError` with a stable machine-readable ``code`` and a ``reason`` that
tells the caller what to change; :func:`install_error_handlers` renders it, and turns FastAPI's
request-validation errors, any other augur error (by its kind: bad input 422, backend
unavailable 503, bug 500; see :mod:`augur.tools.errors`) and unexpected exceptions into the same shape.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from augur.agent.redact import redact
from augur.tools.errors import AugurError, ErrorKind

__all__ = ["ApiError", "install_error_handlers"]

log = logging.getLogger(__name__)


class ApiError(AugurError):
    """An HTTP error answer: status, a stable code (``invalid_json``, ``unauthorized``...) and the reason."""

    def __init__(
        self, status: int, code: str, reason: str, *, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {reason}")
        self.kind = (ErrorKind.BAD_INPUT if status < 500
                     else ErrorKind.UNAVAILABLE if status in (502, 503, 504) else ErrorKind.BUG)
        self.status = status
        self.code = code
        self.reason = reason
        self.headers = dict(headers or {})

    def response(self) -> JSONResponse:
        """The JSON response for this error."""
        return JSONResponse({"error": self.code, "reason": redact(self.reason)}, self.status,
                            headers=self.headers)


def install_error_handlers(app: FastAPI) -> None:
    """Render :class:`ApiError`, validation errors, HTTP exceptions and crashes as ``{"error", "reason"}``."""

    async def _api_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return exc.response()

    async def _validation(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5]]
        return JSONResponse({"error": "invalid_request", "reason": redact("; ".join(parts))}, 422)

    async def _http(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = {404: "not_found", 405: "method_not_allowed", 408: "body_timeout", 413: "body_too_large"}.get(
            exc.status_code, "http_error")
        return JSONResponse(
            {"error": code, "reason": redact(str(exc.detail))}, exc.status_code,
            headers=dict(exc.headers or {}),
        )

    async def _augur_error(_request: Request, exc: Exception) -> JSONResponse:
        """An augur exception no route turned into an ApiError: its kind decides the status."""
        assert isinstance(exc, AugurError)
        if exc.kind is ErrorKind.BAD_INPUT:
            return JSONResponse({"error": "bad_input", "reason": redact(str(exc))}, 422)
        if exc.kind is ErrorKind.UNAVAILABLE:
            return JSONResponse({"error": "backend_unavailable", "reason": redact(str(exc))}, 503,
                                headers={"Retry-After": "5"})
        return await _unexpected(_request, exc)

    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        reason = f"unexpected {exc.__class__.__name__}; the server log has the traceback"
        return JSONResponse({"error": "internal_error", "reason": reason}, 500)

    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(AugurError, _augur_error)
    app.add_exception_handler(Exception, _unexpected)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
