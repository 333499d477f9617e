"""Operations endpoints: ``/healthz`` (the process answers), ``/readyz`` (the store answers), ``/metrics``,
``/openapi.json``."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from augur.server.errors import ApiError
from augur.server.scopes import Scope
from augur.server.state import AppState, app_state
from augur.server.store.database import StoreUnavailable
from augur.server.web.auth import public, require

__all__ = ["router"]

router = APIRouter(tags=["operations"])
log = logging.getLogger(__name__)


@router.get("/healthz", summary="Liveness",
            dependencies=[Depends(public("liveness probes send no credentials"))])
async def healthz() -> dict[str, str]:
    """The process is up (says nothing about the store)."""
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness",
            dependencies=[Depends(public("readiness probes send no credentials; it names no host"))])
async def readyz(state: AppState = Depends(app_state)) -> dict[str, str]:
    """The store answers; 503 with the reason when it does not."""
    try:
        await run_in_threadpool(state.store.ping)
    except StoreUnavailable as exc:
        log.warning("not ready: %s", exc)
        # The reason names no host, user or database: the server log has the details.
        raise ApiError(503, "store_unavailable",
                       f"the {state.store.dialect} store does not answer; the server log says why") from None
    return {"status": "ready", "store": state.store.dialect}


@router.get("/metrics", summary="Prometheus metrics", dependencies=[Depends(require(Scope.READ))])
async def metrics(state: AppState = Depends(app_state)) -> Response:
    """Counters, queue depth and request latency in the Prometheus text format."""
    body = await run_in_threadpool(generate_latest, state.metrics.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


@router.get("/openapi.json", include_in_schema=False, dependencies=[Depends(require(Scope.READ))])
async def openapi(request: Request) -> JSONResponse:
    """The API's OpenAPI schema (it lists every route, so it needs ``read`` like the rest)."""
    return JSONResponse(request.app.openapi())
