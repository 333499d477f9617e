"""gpu_probe and the probe endpoint.

This machine has no NVIDIA GPU or driver. The no-driver path runs against the real ``pynvml``
(its library load fails here). The NVML *reading code* is driven by :mod:`tests.fixtures.nvml`, a
fake module with ``pynvml``'s API built from its real ctypes structures and error classes;
``read_local_gpus`` takes the module as a parameter, so on a GPU host the same reader runs against
the real ``pynvml`` (``test_real_nvml_reads_every_gpu`` does that when a driver is present).
Remote nodes are the real probe router served by uvicorn on a loopback port.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pynvml
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from augur.server.web.probe import create_probe_app, probe_router
from augur.tools.evidence import EvidenceStatus
from augur.tools.gpu import NO_DRIVER, GpuProbeTool, NvmlUnavailable, read_local_gpus
from tests.fixtures.nvml import Fail, FakeGpu, fake_nvml


def _has_driver() -> bool:
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return False
    pynvml.nvmlShutdown()
    return True


def a10g() -> FakeGpu:
    """An Ampere card without ECC, GPM or retired-page support, whose temperature read is refused."""
    return FakeGpu(
        name="NVIDIA A10G", uuid="GPU-0b7e", utilization=(12, 3), memory=(24 * 1024**3, 2 * 1024**3),
        temperature=Fail(pynvml.NVML_ERROR_NO_PERMISSION), power_mw=61_250, throttle_mask=0x1,
        ecc=Fail(), retired=Fail(), retired_pending=Fail(), processes=[(77, None)], gpm=None,
        errors={"nvmlDeviceGetCurrentClocksEventReasons": pynvml.NVML_ERROR_FUNCTION_NOT_FOUND},
    )


# ------------------------------------------------------------------------------------ reader


def test_no_driver_on_this_host_is_unavailable_not_a_traceback() -> None:
    if _has_driver():
        pytest.skip("this host has an NVIDIA driver")
    with pytest.raises(NvmlUnavailable, match=NO_DRIVER):
        read_local_gpus()
    evidence = asyncio.run(GpuProbeTool(local=True, probe_urls=[]).run({}))
    assert evidence.status is EvidenceStatus.UNAVAILABLE
    assert NO_DRIVER in (evidence.reason or "") and NO_DRIVER in evidence.summary
    assert evidence.data["nodes"][0]["status"] == "unavailable"


def test_reader_decodes_every_field_of_a_hopper_gpu() -> None:
    nvml = fake_nvml([FakeGpu()])
    (gpu,) = read_local_gpus(nvml, gpm_interval_s=0.01)
    assert gpu.name == "NVIDIA H100 80GB HBM3" and gpu.uuid.startswith("GPU-")
    assert (gpu.utilization_gpu_pct, gpu.utilization_memory_pct) == (97.0, 61.0)
    assert (gpu.memory_used_mib, gpu.memory_total_mib) == (79 * 1024.0, 80 * 1024.0)
    assert (gpu.sm_clock_mhz, gpu.memory_clock_mhz, gpu.temperature_c) == (1755.0, 2619.0, 71.0)
    assert (gpu.power_w, gpu.power_limit_w) == (612.5, 700.0)  # mW -> W
    assert gpu.throttle_reasons == ["sw_power_cap", "sw_thermal_slowdown"]
    assert gpu.ecc_errors == {"volatile_corrected": 3, "volatile_uncorrected": 0,
                              "aggregate_corrected": 41, "aggregate_uncorrected": 2}
    assert gpu.retired_pages == {"single_bit_ecc": 1, "double_bit_ecc": 2, "pending": 0}
    processes = [(p.pid, p.used_memory_mib) for p in gpu.processes or []]
    assert processes == [(4242, 70 * 1024.0), (4243, 8 * 1024.0)]
    # GPM: SM activity, occupancy and DRAM bandwidth; the tensor metric is not supported on this part.
    assert gpu.gpm == {"sm_activity_pct": 38.5, "sm_occupancy_pct": 22.0, "dram_bandwidth_pct": 87.25}
    assert gpu.unsupported == [] and gpu.field_errors == {}
    assert nvml.state["init"] == 0 and nvml.state["samples"] == {}  # shut down, samples freed


def test_unsupported_fields_are_omitted_and_other_errors_are_named() -> None:
    (h100, a10) = read_local_gpus(fake_nvml([FakeGpu(), a10g()]), gpm_interval_s=0.01)
    assert h100.gpm is not None
    assert a10.ecc_errors is None and a10.retired_pages is None and a10.gpm is None
    assert set(a10.unsupported) == {
        "ecc_volatile_corrected", "ecc_volatile_uncorrected", "ecc_aggregate_corrected",
        "ecc_aggregate_uncorrected", "retired_pages_single_bit_ecc", "retired_pages_double_bit_ecc",
        "retired_pages_pending", "gpm", "throttle_reasons"}
    assert a10.temperature_c is None and "Insufficient Permissions" in a10.field_errors["temperature"]
    # A driver older than the clocks-event call: the field is unsupported there, not an error.
    assert a10.power_w == 61.25 and a10.throttle_reasons is None and "throttle_reasons" in a10.unsupported
    assert a10.processes is not None and a10.processes[0].used_memory_mib is None  # not attributable


def test_processes_can_be_left_out() -> None:
    nvml = fake_nvml([FakeGpu()])
    (gpu,) = read_local_gpus(nvml, include_processes=False, gpm_interval_s=0.01)
    assert gpu.processes is None and "nvmlDeviceGetComputeRunningProcesses" not in nvml.state["calls"]


def test_local_tool_summary_names_the_bottleneck() -> None:
    tool = GpuProbeTool(local=True, probe_urls=[], nvml=fake_nvml([FakeGpu()]))
    evidence = asyncio.run(tool.run({}))
    assert evidence.status is EvidenceStatus.OK
    assert "util 97%" in evidence.summary and "mem 79.0/80.0 GiB" in evidence.summary
    assert "throttled: sw_power_cap+sw_thermal_slowdown" in evidence.summary
    assert "DRAM bw 87%" in evidence.summary
    assert evidence.data["nodes"][0]["driver_version"] == "550.54.15"


def test_driver_that_fails_to_load_is_unavailable() -> None:
    nvml = fake_nvml([], init_error=pynvml.NVML_ERROR_DRIVER_NOT_LOADED)
    evidence = asyncio.run(GpuProbeTool(local=True, probe_urls=[], nvml=nvml).run({}))
    assert evidence.status is EvidenceStatus.UNAVAILABLE and "Driver Not Loaded" in (evidence.reason or "")


@pytest.mark.skipif(
    not _has_driver(), reason="no NVIDIA driver on this host: the real-NVML read runs on a GPU node"
)
def test_real_nvml_reads_every_gpu() -> None:
    readings = read_local_gpus()
    assert readings and all(g.memory_total_mib and g.name for g in readings)
    assert all(g.power_w is None or 0 < g.power_w < 2000 for g in readings)


# ------------------------------------------------------------------------------------ remote probes


def _slow() -> dict[str, Any]:
    time.sleep(2.0)
    return {}


@pytest.fixture(scope="module")
def probe_server() -> Iterator[str]:
    """Loopback uvicorn: /node-a (fake H100 + A10G), /node-b (this host's real NVML), /junk, /slow."""
    app = FastAPI()
    app.include_router(probe_router(fake_nvml([FakeGpu(), a10g()])), prefix="/node-a")
    app.include_router(probe_router(), prefix="/node-b")
    app.add_api_route("/junk/v1/probe/gpu", lambda: HTMLResponse("<html>login</html>"))
    app.add_api_route("/shape/v1/probe/gpu", lambda: {"gpus": "many"})
    app.add_api_route("/slow/v1/probe/gpu", _slow)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=5)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_remote_nodes_each_get_a_status(probe_server: str) -> None:
    urls = [f"{probe_server}/node-a", f"{probe_server}/node-b", f"http://127.0.0.1:{_closed_port()}",
            f"{probe_server}/junk", f"{probe_server}/shape", f"{probe_server}/slow/v1/probe/gpu"]

    async def go() -> Any:
        async with httpx.AsyncClient() as http:
            return await GpuProbeTool(local=False, probe_urls=urls, http=http, request_timeout_s=0.5).run({})

    evidence = asyncio.run(go())
    assert evidence.status is EvidenceStatus.OK  # one node answered: the call succeeds
    nodes = {n["node"]: n for n in evidence.data["nodes"]}
    a = nodes[urls[0]]
    assert a["status"] == "ok" and [g["name"] for g in a["gpus"]] == ["NVIDIA H100 80GB HBM3", "NVIDIA A10G"]
    assert a["gpus"][0]["power_w"] == 612.5 and a["gpus"][0]["gpm"]["dram_bandwidth_pct"] == 87.25
    if not _has_driver():
        assert nodes[urls[1]]["status"] == "unavailable" and NO_DRIVER in nodes[urls[1]]["reason"]
    assert nodes[urls[2]]["status"] == "unavailable" and "augur probe" in nodes[urls[2]]["reason"]
    assert nodes[urls[3]]["status"] == "error" and "not an augur probe reading" in nodes[urls[3]]["reason"]
    assert nodes[urls[4]]["status"] == "error" and "not an augur probe reading" in nodes[urls[4]]["reason"]
    assert nodes[urls[5]]["status"] == "error" and "did not answer within 0.5 s" in nodes[urls[5]]["reason"]
    assert "2 GPUs on 1 of 6 nodes" in evidence.summary


def test_all_nodes_down_is_unavailable_with_each_reason() -> None:
    urls = [f"http://127.0.0.1:{_closed_port()}", f"http://127.0.0.1:{_closed_port()}"]
    evidence = asyncio.run(GpuProbeTool(local=False, probe_urls=urls).run({}))
    assert evidence.status is EvidenceStatus.UNAVAILABLE
    assert all(url in (evidence.reason or "") for url in urls)


def test_unknown_node_and_nothing_configured_say_what_to_set() -> None:
    nothing = asyncio.run(GpuProbeTool(local=False, probe_urls=[]).run({}))
    assert nothing.status is EvidenceStatus.UNAVAILABLE and "AUGUR_GPU_PROBE_URLS" in (nothing.reason or "")
    unknown = asyncio.run(GpuProbeTool(local=True, probe_urls=[]).run({"nodes": ["http://gpu-9:9402"]}))
    assert unknown.status is EvidenceStatus.UNAVAILABLE and "http://gpu-9:9402" in (unknown.reason or "")


def test_probe_app_answers_503_with_the_reason_without_a_driver() -> None:
    if _has_driver():
        pytest.skip("this host has an NVIDIA driver")

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_probe_app())
        async with httpx.AsyncClient(transport=transport, base_url="http://probe") as http:
            return await http.get("/v1/probe/gpu")

    response = asyncio.run(go())
    assert response.status_code == 503
    assert response.json()["error"] == "nvml_unavailable" and NO_DRIVER in response.json()["reason"]


def test_probe_endpoint_serves_readings_and_can_skip_processes() -> None:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_probe_app(fake_nvml([FakeGpu()])))
        async with httpx.AsyncClient(transport=transport, base_url="http://probe") as http:
            return await http.get("/v1/probe/gpu", params={"processes": "false"})

    body = asyncio.run(go()).json()
    assert body["driver_version"] == "550.54.15" and body["gpus"][0]["processes"] is None
    assert body["gpus"][0]["memory_total_mib"] == 80 * 1024.0
