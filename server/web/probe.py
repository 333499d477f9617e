"""The GPU probe endpoint: ``GET /v1/probe/gpu`` answers this node's NVML readings.

Run it on each GPU node with ``augur probe`` (a tiny app with only this router), or serve it from
the main app; the central agent's ``gpu_probe`` tool reads it through ``AUGUR_GPU_PROBE_URLS``.
The answer is a :class:`~augur.tools.gpu.ProbeAnswer` (host, driver version, one reading per
GPU); a node without a usable driver answers 503 ``{"error": "nvml_unavailable", "reason": ...}``.
The endpoint only reads; it takes no arguments besides ``processes``.
"""

from __future__ import annotations

import socket
from types import ModuleType
from typing import Any

from fastapi import APIRouter, FastAPI, Query

from augur.server.errors import ApiError
from augur.tools.gpu import NvmlUnavailable, ProbeAnswer, driver_version, read_local_gpus

__all__ = ["create_probe_app", "probe_router", "router"]


def probe_router(nvml: ModuleType | None = None) -> APIRouter:
    """A router serving ``GET /v1/probe/gpu`` read through ``nvml`` (default: the real ``pynvml``)."""
    api = APIRouter(tags=["probe"])

    @api.get(
        "/v1/probe/gpu",
        response_model=ProbeAnswer,
        responses={503: {"description": "No NVIDIA driver/NVML on this node: the reason says what to do."}},
        summary="This node's GPUs, read live through NVML",
    )
    def probe_gpu(
        processes: bool = Query(True, description="Include running compute processes and their memory."),
    ) -> Any:
        try:
            gpus = read_local_gpus(nvml, include_processes=processes)
        except NvmlUnavailable as exc:
            return ApiError(503, "nvml_unavailable", str(exc)).response()
        return ProbeAnswer(host=socket.gethostname(), driver_version=driver_version(nvml), gpus=gpus)

    return api


#: The router the main app and ``augur probe`` serve (real NVML).
router = probe_router()


def create_probe_app(nvml: ModuleType | None = None) -> FastAPI:
    """The stand-alone probe app ``augur probe`` runs: only ``GET /v1/probe/gpu``."""
    app = FastAPI(title="augur probe", version="0.1.0",
                  summary="Live NVML readings of this node's GPUs for augur's gpu_probe tool.")
    app.include_router(probe_router(nvml) if nvml is not None else router)
    return app
