"""Operations endpoints: ``/healthz`` (the process answers), ``/readyz`` (the store answers), ``/metrics``."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from augur.server.errors import ApiError
from augur.server.state import AppState, app_state
from augur.server.store import StoreUnavailable

__all__ = ["router"]

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness")
async def healthz() -> dict[str, str]:
    """The process is up (says nothing about the store)."""
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness")
async def readyz(state: AppState = Depends(app_state)) -> dict[str, str]:
    """The store answers; 503 with the reason when it does not."""
    try:
        await run_in_threadpool(state.store.ping)
    except StoreUnavailable as exc:
        raise ApiError(503, "store_unavailable", str(exc)) from None
    return {"status": "ready", "store": state.store.dialect}


@router.get("/metrics", summary="Prometheus metrics")
async def metrics(state: AppState = Depends(app_state)) -> Response:
    """Counters, queue depth and request latency in the Prometheus text format."""
    body = await run_in_threadpool(generate_latest, state.metrics.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
