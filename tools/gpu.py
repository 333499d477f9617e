"""``gpu_probe``: live NVML readings from this host and from the probe endpoints of GPU nodes.

:func:`read_local_gpus` reads every GPU through NVIDIA's binding (``nvidia-ml-py``, imported as
``pynvml``): utilization (GPU, memory), memory used/total, SM and memory clocks, temperature,
power (mW -> W) and its limit, clock throttle reasons decoded, ECC error counts and retired pages
where supported, running compute processes with their memory, and on Hopper (where supported)
GPM SM activity, SM occupancy, tensor activity and DRAM bandwidth over a short interval. Each
optional field is read on its own: ``NotSupported`` omits it (listed in ``unsupported``), any
other NVML error omits it with the reason in ``field_errors``; neither fails the reading.

The reader takes the NVML module as a parameter, so tests drive it with a fake module on hosts
without a GPU and the same code runs on a real one. :class:`GpuProbeTool` reads the local GPUs
and/or asks remote nodes' ``GET /v1/probe/gpu`` (see :mod:`augur.server.web.probe`) through the
``httpx.AsyncClient`` passed in; a node that is down or answers garbage becomes a per-node status
in the evidence, not a failure of the call. Where Prometheus already holds DCGM exporter metrics
the planner reads those first; the probe is for live detail they lack.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from types import ModuleType
from typing import Any, ClassVar, Literal

import httpx
from pydantic import BaseModel, Field, ValidationError

from augur.tools.base import Tool, Unavailable
from augur.tools.errors import BackendUnavailable
from augur.tools.evidence import Evidence, EvidenceStatus, Meaning
from augur.tools.results import GpuStateResult

__all__ = [
    "NO_DRIVER",
    "GpuProbeArgs",
    "GpuProbeTool",
    "GpuProcess",
    "GpuReading",
    "NodeReading",
    "NvmlUnavailable",
    "ProbeAnswer",
    "read_local_gpus",
]

#: The reason given on a host without a usable NVIDIA driver.
NO_DRIVER = "no NVIDIA driver/NVML on this host"
_MIB = 1024 * 1024
#: Clock event ("throttle") reason bits, as NVML defines them.
THROTTLE_BITS = {
    0x1: "gpu_idle", 0x2: "applications_clocks_setting", 0x4: "sw_power_cap", 0x8: "hw_slowdown",
    0x10: "sync_boost", 0x20: "sw_thermal_slowdown", 0x40: "hw_thermal_slowdown",
    0x80: "hw_power_brake_slowdown", 0x100: "display_clock_setting",
}
#: GPM metrics read on Hopper and later: NVML metric id -> field name (all in percent).
GPM_METRICS = {
    2: "sm_activity_pct", 3: "sm_occupancy_pct", 5: "tensor_activity_pct", 10: "dram_bandwidth_pct",
}
# NVML's ABI constants (nvml.h), fixed across driver versions.
#: NVML_ERROR_NOT_SUPPORTED, and NVML_ERROR_FUNCTION_NOT_FOUND (a driver older than the call).
_UNSUPPORTED_CODES = (3, 13)
_CLOCK_SM, _CLOCK_MEM, _TEMPERATURE_GPU = 1, 2, 0
#: (error type, counter type) -> name, for nvmlDeviceGetTotalEccErrors.
_ECC_COUNTERS = {
    (0, 0): "volatile_corrected", (1, 0): "volatile_uncorrected",
    (0, 1): "aggregate_corrected", (1, 1): "aggregate_uncorrected",
}
#: Page retirement cause -> name, for nvmlDeviceGetRetiredPages.
_RETIREMENT_CAUSES = {0: "single_bit_ecc", 1: "double_bit_ecc"}


class NvmlUnavailable(BackendUnavailable):
    """NVML cannot be used on this host (no driver, no library, no permission); str() says why."""


class GpuProcess(BaseModel):
    """A compute process on a GPU."""

    pid: int
    used_memory_mib: float | None = None


class GpuReading(BaseModel):
    """One GPU at one instant. ``None`` fields were not supported or could not be read."""

    index: int
    name: str = ""
    uuid: str = ""
    utilization_gpu_pct: float | None = None
    utilization_memory_pct: float | None = None
    memory_used_mib: float | None = None
    memory_total_mib: float | None = None
    sm_clock_mhz: float | None = None
    memory_clock_mhz: float | None = None
    temperature_c: float | None = None
    power_w: float | None = None
    power_limit_w: float | None = None
    throttle_reasons: list[str] | None = None
    ecc_errors: dict[str, int] | None = None
    retired_pages: dict[str, int] | None = None
    processes: list[GpuProcess] | None = None
    gpm: dict[str, float] | None = None
    unsupported: list[str] = Field(default_factory=list, description="Fields this GPU does not support.")
    field_errors: dict[str, str] = Field(default_factory=dict, description="Fields NVML failed to read.")


class ProbeAnswer(BaseModel):
    """The body of ``GET /v1/probe/gpu``."""

    host: str
    driver_version: str | None = None
    gpus: list[GpuReading]


class NodeReading(BaseModel):
    """One node's part of the evidence: its GPUs, or why there are none."""

    node: str
    status: Literal["ok", "unavailable", "error"]
    reason: str | None = None
    driver_version: str | None = None
    gpus: list[GpuReading] = Field(default_factory=list)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class _Reader:
    """Reads one GPU's fields, each guarded on its own."""

    def __init__(self, nvml: ModuleType, handle: Any, reading: GpuReading) -> None:
        self.nvml, self.handle, self.reading = nvml, handle, reading

    def field(self, name: str, call: Any, *args: Any) -> Any:
        try:
            return call(self.handle, *args)
        except self.nvml.NVMLError as exc:
            if getattr(exc, "value", None) in _UNSUPPORTED_CODES:
                self.reading.unsupported.append(name)
            else:
                self.reading.field_errors[name] = str(exc) or type(exc).__name__
            return None


def _read_one(nvml: ModuleType, index: int, include_processes: bool) -> tuple[GpuReading, Any]:
    handle = nvml.nvmlDeviceGetHandleByIndex(index)
    g = GpuReading(index=index)
    r = _Reader(nvml, handle, g)
    name = r.field("name", nvml.nvmlDeviceGetName)
    g.name = _text(name) if name is not None else ""
    uuid = r.field("uuid", nvml.nvmlDeviceGetUUID)
    g.uuid = _text(uuid) if uuid is not None else ""
    util = r.field("utilization", nvml.nvmlDeviceGetUtilizationRates)
    if util is not None:
        g.utilization_gpu_pct, g.utilization_memory_pct = float(util.gpu), float(util.memory)
    mem = r.field("memory", nvml.nvmlDeviceGetMemoryInfo)
    if mem is not None:
        g.memory_used_mib, g.memory_total_mib = mem.used / _MIB, mem.total / _MIB
    sm = r.field("sm_clock", nvml.nvmlDeviceGetClockInfo, _CLOCK_SM)
    g.sm_clock_mhz = None if sm is None else float(sm)
    memclk = r.field("memory_clock", nvml.nvmlDeviceGetClockInfo, _CLOCK_MEM)
    g.memory_clock_mhz = None if memclk is None else float(memclk)
    temp = r.field("temperature", nvml.nvmlDeviceGetTemperature, _TEMPERATURE_GPU)
    g.temperature_c = None if temp is None else float(temp)
    power = r.field("power", nvml.nvmlDeviceGetPowerUsage)
    g.power_w = None if power is None else power / 1000.0
    limit = r.field("power_limit", nvml.nvmlDeviceGetEnforcedPowerLimit)
    g.power_limit_w = None if limit is None else limit / 1000.0
    # Renamed from "throttle reasons" to "clocks event reasons" in NVML 12.2; older bindings lack it.
    reasons_fn = getattr(nvml, "nvmlDeviceGetCurrentClocksEventReasons", None)
    mask = r.field("throttle_reasons", reasons_fn or nvml.nvmlDeviceGetCurrentClocksThrottleReasons)
    if mask is not None:
        g.throttle_reasons = [label for bit, label in THROTTLE_BITS.items() if int(mask) & bit]
    ecc: dict[str, int] = {}
    for (kind, counter), label in _ECC_COUNTERS.items():
        value = r.field(f"ecc_{label}", nvml.nvmlDeviceGetTotalEccErrors, kind, counter)
        if value is not None:
            ecc[label] = int(value)
    g.ecc_errors = ecc or None
    pages: dict[str, int] = {}
    for cause, label in _RETIREMENT_CAUSES.items():
        retired = r.field(f"retired_pages_{label}", nvml.nvmlDeviceGetRetiredPages, cause)
        if retired is not None:
            pages[label] = len(retired)
    pending = r.field("retired_pages_pending", nvml.nvmlDeviceGetRetiredPagesPendingStatus)
    if pending is not None:
        pages["pending"] = int(pending)
    g.retired_pages = pages or None
    if include_processes:
        procs = r.field("processes", nvml.nvmlDeviceGetComputeRunningProcesses)
        if procs is not None:
            g.processes = [
                GpuProcess(pid=int(p.pid), used_memory_mib=_process_memory(p.usedGpuMemory)) for p in procs
            ]
    return g, handle


def _process_memory(value: Any) -> float | None:
    # NVML reports NVML_VALUE_NOT_AVAILABLE (2**64 - 1) or None when it cannot attribute memory.
    if value is None or int(value) >= 2**63:
        return None
    return int(value) / _MIB


def _gpm_start(nvml: ModuleType, reading: GpuReading, handle: Any) -> Any | None:
    """Take GPM's first sample when the GPU supports GPM (Hopper+); None otherwise."""
    if not hasattr(nvml, "nvmlGpmQueryDeviceSupport"):
        reading.unsupported.append("gpm")
        return None
    r = _Reader(nvml, handle, reading)
    support = r.field("gpm", nvml.nvmlGpmQueryDeviceSupport)
    if support is None:
        return None
    if not support.isSupportedDevice:
        reading.unsupported.append("gpm")
        return None
    sample = r.field("gpm", lambda h: nvml.nvmlGpmSampleGet(h, nvml.nvmlGpmSampleAlloc()))
    return sample


def _gpm_finish(nvml: ModuleType, reading: GpuReading, handle: Any, first: Any) -> None:
    r = _Reader(nvml, handle, reading)
    second = r.field("gpm", lambda h: nvml.nvmlGpmSampleGet(h, nvml.nvmlGpmSampleAlloc()))
    try:
        if second is None:
            return
        request = nvml.c_nvmlGpmMetricsGet_t()
        request.version = nvml.NVML_GPM_METRICS_GET_VERSION
        request.numMetrics = len(GPM_METRICS)
        request.sample1, request.sample2 = first, second
        for i, metric_id in enumerate(GPM_METRICS):
            request.metrics[i].metricId = metric_id
        answer = r.field("gpm", lambda _h: nvml.nvmlGpmMetricsGet(request))
        if answer is None:
            return
        values: dict[str, float] = {}
        for i, metric_id in enumerate(GPM_METRICS):
            metric = answer.metrics[i]
            if int(metric.nvmlReturn) == 0:
                values[GPM_METRICS[metric_id]] = round(float(metric.value), 2)
        reading.gpm = values or None
    finally:
        for sample in (first, second):
            if sample is not None:
                with contextlib.suppress(nvml.NVMLError):
                    nvml.nvmlGpmSampleFree(sample)


def load_nvml(nvml: ModuleType | None = None) -> ModuleType:
    """The NVML module to use: ``nvml`` if given, else ``pynvml`` (from ``nvidia-ml-py``)."""
    if nvml is not None:
        return nvml
    import pynvml

    module: ModuleType = pynvml
    return module


def read_local_gpus(
    nvml: ModuleType | None = None, *, include_processes: bool = True, gpm_interval_s: float = 0.1
) -> list[GpuReading]:
    """Every GPU of this host, read through ``nvml`` (default: the real ``pynvml``).

    Raises :class:`NvmlUnavailable` with :data:`NO_DRIVER` (and NVML's own words) when NVML
    cannot start: no driver, no ``libnvidia-ml``, or no permission.
    """
    nvml = load_nvml(nvml)
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as exc:
        raise NvmlUnavailable(f"{NO_DRIVER} ({exc}): run the probe on a GPU node with the NVIDIA driver "
                              "installed, or read DCGM exporter metrics from Prometheus") from None
    try:
        readings: list[tuple[GpuReading, Any, Any]] = []
        for index in range(int(nvml.nvmlDeviceGetCount())):
            reading, handle = _read_one(nvml, index, include_processes)
            readings.append((reading, handle, _gpm_start(nvml, reading, handle)))
        if any(first is not None for _, _, first in readings):
            time.sleep(gpm_interval_s)  # GPM metrics are rates between two samples
        for reading, handle, first in readings:
            if first is not None:
                _gpm_finish(nvml, reading, handle, first)
        return [reading for reading, _, _ in readings]
    finally:
        with contextlib.suppress(nvml.NVMLError):
            nvml.nvmlShutdown()


def driver_version(nvml: ModuleType | None = None) -> str | None:
    """The driver version string, or None when NVML cannot tell."""
    nvml = load_nvml(nvml)
    try:
        nvml.nvmlInit()
        try:
            return _text(nvml.nvmlSystemGetDriverVersion())
        finally:
            nvml.nvmlShutdown()
    except nvml.NVMLError:
        return None


# --------------------------------------------------------------------------- the tool


class GpuProbeArgs(BaseModel):
    """Arguments of ``gpu_probe``."""

    nodes: list[str] | None = Field(
        default=None, description="Only these nodes: 'local' and/or probe URLs as configured; default all.",
    )
    processes: bool = Field(default=True, description="Include running compute processes and their memory.")


def probe_endpoint(url: str) -> str:
    """The probe URL to GET for a configured node URL (``http://gpu-1:9402`` -> ``.../v1/probe/gpu``)."""
    url = url.rstrip("/")
    return url if url.endswith("/v1/probe/gpu") else f"{url}/v1/probe/gpu"


class GpuProbeTool(Tool):
    """Live GPU state from NVML on this host and from remote probe endpoints."""

    name: ClassVar[str] = "gpu_probe"
    meaning: ClassVar[Meaning] = Meaning.GPU_STATE
    Result: ClassVar[type[BaseModel]] = GpuStateResult
    description: ClassVar[str] = (
        "Read live GPU state through NVML on this host and on remote GPU nodes' probe endpoints: per GPU "
        "utilization (GPU, memory), memory used/total, SM and memory clocks, temperature, power and limit, "
        "throttle reasons, ECC errors and retired pages, running processes with their memory, and on "
        "Hopper SM activity and DRAM bandwidth. Use it for live detail that DCGM metrics in Prometheus "
        "lack (which process holds the memory, why clocks are throttled); a node that is down is reported "
        "per node."
    )
    Args: ClassVar[type[BaseModel]] = GpuProbeArgs
    timeout_s = 20.0
    #: Most processes listed per GPU; most GPUs described in the summary.
    max_processes = 20
    max_summary_gpus = 8

    def __init__(
        self, local: bool, probe_urls: list[str], http: httpx.AsyncClient | None = None,
        *, nvml: ModuleType | None = None, request_timeout_s: float = 5.0,
    ) -> None:
        self.local = local
        self.probe_urls = list(probe_urls)
        self.http = http
        self.nvml = nvml
        self.request_timeout_s = request_timeout_s

    async def _run(self, args: GpuProbeArgs) -> Evidence:
        canonical = args.model_dump(mode="json")
        wanted = set(args.nodes) if args.nodes else None
        targets: list[str] = (["local"] if self.local else []) + self.probe_urls
        if wanted is not None:
            unknown = wanted - set(targets)
            if unknown:
                raise Unavailable(
                    f"no probe configured for {', '.join(sorted(unknown))}: configured nodes are "
                    f"{', '.join(targets) or 'none'} (AUGUR_GPU_PROBE_URLS)"
                )
            targets = [t for t in targets if t in wanted]
        if not targets:
            raise Unavailable("no GPU probe is configured: set AUGUR_GPU_PROBE_URLS to the nodes' "
                              "`augur probe` URLs, or run augur on a GPU node")
        nodes = await asyncio.gather(*(self._node(t, args.processes) for t in targets))
        truncated: list[str] = []
        for node in nodes:
            for gpu in node.gpus:
                if gpu.processes is not None and len(gpu.processes) > self.max_processes:
                    truncated.append(f"{node.node} GPU {gpu.index} processes: {len(gpu.processes)} -> "
                                     f"{self.max_processes} (largest memory first)")
                    gpu.processes = sorted(gpu.processes, key=lambda p: -(p.used_memory_mib or 0))[
                        : self.max_processes]
        data = {"nodes": [n.model_dump(mode="json") for n in nodes]}
        summary = _summary(nodes, self.max_summary_gpus)
        ok = [n for n in nodes if n.status == "ok"]
        if ok:
            return Evidence.make(
                self.name, canonical, EvidenceStatus.OK, summary, data=data, truncated=truncated
            )
        reasons = "; ".join(f"{n.node}: {n.reason}" for n in nodes)
        status = (EvidenceStatus.UNAVAILABLE if all(n.status == "unavailable" for n in nodes)
                  else EvidenceStatus.ERROR)
        return Evidence.make(self.name, canonical, status, summary, data=data, reason=reasons)

    async def _node(self, target: str, processes: bool) -> NodeReading:
        if target == "local":
            try:
                gpus = await asyncio.to_thread(read_local_gpus, self.nvml, include_processes=processes)
            except NvmlUnavailable as exc:
                return NodeReading(node="local", status="unavailable", reason=str(exc))
            return NodeReading(node="local", status="ok", gpus=gpus,
                               driver_version=await asyncio.to_thread(driver_version, self.nvml))
        return await self._remote(target)

    async def _remote(self, url: str) -> NodeReading:
        endpoint = probe_endpoint(url)
        client = self.http or httpx.AsyncClient()
        try:
            response = await client.get(endpoint, timeout=self.request_timeout_s)
        except httpx.TimeoutException:
            return NodeReading(node=url, status="error", reason=(
                f"the probe at {endpoint} did not answer within {self.request_timeout_s:g} s: check the "
                "node's load and network"))
        except httpx.TransportError as exc:
            return NodeReading(node=url, status="unavailable", reason=(
                f"cannot reach the probe at {endpoint} ({type(exc).__name__}: {exc}): is `augur probe` "
                "running on that node?"))
        finally:
            if self.http is None:
                await client.aclose()
        if response.status_code == 503:
            return NodeReading(node=url, status="unavailable", reason=_detail(response))
        if response.status_code != 200:
            return NodeReading(node=url, status="error", reason=(
                f"the probe at {endpoint} answered HTTP {response.status_code}: {_detail(response)}: "
                "check that the URL is an augur probe"))
        try:
            answer = ProbeAnswer.model_validate_json(response.content)
        except ValidationError as exc:
            snippet = " ".join(response.text.split())[:120]
            return NodeReading(node=url, status="error", reason=(
                f"the answer from {endpoint} is not an augur probe reading ({exc.error_count()} problems; "
                f"starts {snippet!r}): check the URL"))
        return NodeReading(node=url, status="ok", driver_version=answer.driver_version, gpus=answer.gpus)


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return " ".join(response.text.split())[:200]
    if isinstance(body, dict):
        for key in ("reason", "detail"):  # augur's error shape, FastAPI's default
            if isinstance(body.get(key), str):
                return str(body[key])
    return str(body)[:200]


def _gpu_line(node: str, g: GpuReading) -> str:
    parts = [f"{node} GPU{g.index} {g.name}".strip()]
    if g.utilization_gpu_pct is not None:
        parts.append(f"util {g.utilization_gpu_pct:.0f}%")
    if g.memory_used_mib is not None and g.memory_total_mib:
        parts.append(f"mem {g.memory_used_mib / 1024:.1f}/{g.memory_total_mib / 1024:.1f} GiB")
    if g.temperature_c is not None:
        parts.append(f"{g.temperature_c:.0f} C")
    if g.power_w is not None:
        parts.append(f"{g.power_w:.0f} W" + (f"/{g.power_limit_w:.0f} W" if g.power_limit_w else ""))
    if g.gpm and "sm_activity_pct" in g.gpm:
        parts.append(f"SM active {g.gpm['sm_activity_pct']:.0f}%")
    if g.gpm and "dram_bandwidth_pct" in g.gpm:
        parts.append(f"DRAM bw {g.gpm['dram_bandwidth_pct']:.0f}%")
    throttled = [t for t in (g.throttle_reasons or []) if t != "gpu_idle"]
    if throttled:
        parts.append("throttled: " + "+".join(throttled))
    if g.ecc_errors and g.ecc_errors.get("volatile_uncorrected"):
        parts.append(f"{g.ecc_errors['volatile_uncorrected']} uncorrected ECC errors")
    return ", ".join(parts)


def _summary(nodes: list[NodeReading], max_gpus: int) -> str:
    ok = [n for n in nodes if n.status == "ok"]
    gpus = [(n.node, g) for n in ok for g in n.gpus]
    head = f"{len(gpus)} GPUs on {len(ok)} of {len(nodes)} nodes"
    down = [f"{n.node} {n.status} ({n.reason})" for n in nodes if n.status != "ok"]
    lines = [_gpu_line(node, g) for node, g in gpus[:max_gpus]]
    if len(gpus) > max_gpus:
        lines.append(f"... {len(gpus) - max_gpus} more in data")
    return "; ".join([head, *down, *lines]) + "."
