"""The Nezha importer on another system in the same layout: Train Ticket-style names, no
``dependency.csv``, an SLI file whose ``ServiceName`` is no service's.

Nezha's second half (Train Ticket, ~40 services, days 2023-01-29/30) is not beside the repository,
so this test writes a small archive of that shape itself: three services
(``ts-ui-dashboard -> ts-order-service -> ts-price-service``), two hours of one-minute rows, one
CPU fault on ts-price-service whose latency reaches its callers and the user-facing SLI, the
spans of a few requests, and two minutes of container logs (a quiet one before the fault, one with
the price service's exceptions during it), as Nezha ships them. Everything else is the real path:
``NezhaData`` reads the days from the archive, the day is converted and backfilled into a real
Prometheus with promtool, the SLI rule fires from the data, the call graph comes from the spans,
and the fault is investigated.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import shutil
import tarfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from augur.evals.nezha.bench import run_nezha
from augur.evals.nezha.dataset import NezhaData

DAY = "2023-01-29"
START = datetime(2023, 1, 29, 8, 0, tzinfo=UTC).timestamp()
FAULT_MIN = 90  # the fault starts at 09:30 and lasts 5 minutes
PODS = {"ts-ui-dashboard": "ts-ui-dashboard-5477b965f-2chkr",
        "ts-order-service": "ts-order-service-5b67c48447-mv5hb",
        "ts-price-service": "ts-price-service-76846864d9-g465z"}
COLUMNS = ["Time", "TimeStamp", "PodName", "CpuUsage(m)", "CpuUsageRate(%)", "MemoryUsage(Mi)",
           "MemoryUsageRate(%)", "SyscallRead", "SyscallWrite", "NetworkReceiveBytes",
           "NetworkTransmitBytes", "PodClientLatencyP90(s)", "PodServerLatencyP90(s)",
           "PodClientLatencyP95(s)", "PodServerLatencyP95(s)",
           "PodClientLatencyP99(s)", "PodServerLatencyP99(s)", "PodWorkload(Ops)", "PodSuccessRate(%)",
           "NodeCpuUsageRate(%)", "NodeMemoryUsageRate(%)", "NodeNetworkReceiveBytes"]


def _time(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S.123456789 +0000 UTC m=+0.1")


def _csv(header: list[str], rows: list[list[object]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def _wiggle(i: int, k: int) -> float:
    return ((i * 7 + k * 3) % 5 - 2) / 100.0  # a deterministic +-2 % wobble


def _archive(path: Path) -> Path:
    files: dict[str, bytes] = {}
    base = f"rca_data/{DAY}"
    fault_t = START + FAULT_MIN * 60 + 9
    files[f"{base}/{DAY}-fault_list.json"] = json.dumps({"09": [{
        "inject_time": datetime.fromtimestamp(fault_t, UTC).strftime("%Y-%m-%d %H:%M:%S"),
        "inject_timestamp": str(int(fault_t)), "inject_pod": PODS["ts-price-service"],
        "inject_type": "cpu_contention"}]}).encode()
    depth = {"ts-ui-dashboard": 2, "ts-order-service": 1, "ts-price-service": 0}
    front: list[list[object]] = []
    for k, (svc, pod) in enumerate(PODS.items()):
        rows: list[list[object]] = []
        for i in range(120):
            t = START + i * 60 + 19
            hot = FAULT_MIN < i <= FAULT_MIN + 5
            w = 1 + _wiggle(i, k)
            cpu = (80.0 if hot and svc == "ts-price-service" else 5.0) * w
            server = (0.02 + 0.01 * depth[svc]) * w + (0.4 if hot else 0.0)
            waits = (0.02 + 0.01 * (depth[svc] - 1)) * w + (0.4 if hot else 0.0)
            client = 0.0 if svc == "ts-price-service" else waits
            rows.append([_time(t), int(t), pod, cpu, cpu / 2, 300 * w, 10, 0, 0, 2e4 * w, 2e4 * w,
                         client, server, client, server, client, server, 10 * w, 0, 30, 40, 1e5])
        files[f"{base}/metric/{pod}_metric.csv"] = _csv(COLUMNS, rows)
    for i in range(120):
        t = START + i * 60 + 28
        hot = FAULT_MIN < i <= FAULT_MIN + 5
        p50 = 0.1 * (1 + _wiggle(i, 9)) * (4 if hot else 1)
        front.append([_time(t), int(t), "Frontend", 0, p50, p50 * 2, p50 * 3, p50 * 4])
    files[f"{base}/metric/front_service.csv"] = _csv(
        ["Time", "TimeStamp", "ServiceName", "SuccessRate(%)", "LatencyP50(s)", "LatencyP90(s)",
         "LatencyP95(s)", "LatencyP99(s)"], front)
    spans: list[list[object]] = []
    for n in range(20):  # a few requests around the fault: ui -> order -> price
        t0 = int((START + (FAULT_MIN - 1) * 60 + n * 15) * 1e9)
        slow = n >= 6
        price_ns = int((420 if slow else 20) * 1e6)
        ids = [f"{n:04x}a", f"{n:04x}b", f"{n:04x}c"]
        chain = [("ts-ui-dashboard", "root", price_ns + 40_000_000),
                 ("ts-order-service", ids[0], price_ns + 20_000_000),
                 ("ts-price-service", ids[1], price_ns)]
        for (svc, parent, dur), span_id in zip(chain, ids, strict=True):
            spans.append([f"trace{n:04d}", span_id, parent, PODS[svc], f"{svc}/call", t0, t0 + dur,
                          dur // 1000])
    files[f"{base}/trace/09_29_trace.csv"] = _csv(
        ["TraceID", "SpanID", "ParentID", "PodName", "OperationName", "StartTimeUnixNano",
         "EndTimeUnixNano", "Duration"], spans)
    logs: dict[str, list[list[object]]] = {"09_20": [], "09_31": []}
    for minute, rows in logs.items():  # one quiet minute before the fault, one during it
        t_min = START + (int(minute[:2]) * 60 + int(minute[3:]) - 8 * 60) * 60
        for n in range(30):
            svc = list(PODS)[n % 3]
            t = t_min + n * 2
            if minute == "09_31" and svc == "ts-price-service":
                text = (f"{_time(t)[:23]} ERROR 1 --- [nio-16579-exec-{n}] price.service.PriceServiceImpl : "
                        f"query failed: java.lang.RuntimeException: price of route {n} unavailable")
            else:
                text = f"{_time(t)[:23]}  INFO 1 --- [nio-8080-exec-{n}] {svc}.Controller : request {n} ok"
            wrapped = json.dumps({"log": text + "\n", "stream": "stdout", "time": _time(t)})
            rows.append([datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z"), int(t * 1e9),
                         "10.0.0.1", PODS[svc], svc, f"trace{n:04d}", f"{n:04x}a", wrapped])
        files[f"{base}/log/{minute}_log.csv"] = _csv(
            ["Timestamp", "TimeUnixNano", "Node", "PodName", "Container", "TraceID", "SpanID", "Log"], rows)
    with tarfile.open(path, "w:xz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_days_come_from_the_archive(tmp_path: Path) -> None:
    data = NezhaData(_archive(tmp_path / "nezha-tt-rca_data.tar.xz"), tmp_path / "cache")
    assert data.days() == (DAY,)
    assert [f.service for f in data.faults()] == ["ts-price-service"]
    # Asking for a day the archive does not have names the ones it has.
    with pytest.raises(ValueError, match=DAY):
        data.ensure(["2022-08-22"])


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("promtool") is None or shutil.which("prometheus") is None,
                    reason="needs Debian's prometheus package (make setup installs it)")
def test_a_train_ticket_shaped_day_without_dependency_csv_is_investigated(tmp_path: Path) -> None:
    data = NezhaData(_archive(tmp_path / "nezha-tt-rca_data.tar.xz"), tmp_path / "cache")
    result = asyncio.run(run_nezha(data, workdir=tmp_path / "work", traces=True))
    notes = "\n".join(result.notes)
    assert "no metric/dependency.csv" in notes
    assert "2 call edges from the spans" in notes
    assert "catalogued as 'frontend'" in notes  # ServiceName "Frontend" is no service's
    catalog = (tmp_path / "work" / DAY / "catalog.yaml").read_text()
    assert "name: frontend" in catalog and "- ts-ui-dashboard" in catalog
    [case] = result.cases
    assert case.fired, "the SLI rule should fire from the data"
    assert case.error is None, case.error
    assert case.ranked, "the report should rank the changed services"
    assert case.ranked[0] == "ts-price-service", case.ranked
    assert case.verdict == "identified"
    # Every service with container logs gets an error-lines signal; the price service's new
    # RuntimeException lines corroborate it (the quiet 09:20 minute is the baseline).
    assert catalog.count("kind: log") == 3
    assert "its logs changed too" in case.top_reasons
