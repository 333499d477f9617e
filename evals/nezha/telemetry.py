"""A day of Nezha telemetry as a Kubernetes cluster's Prometheus, catalog and log store would hold it.

The dataset's CSVs become OpenMetrics for ``promtool tsdb create-blocks-from openmetrics``, named
and labelled as the usual exporters name them, so nothing downstream needs to know the dataset:

=====================================================  ==========================================
series (labels ``namespace="online-boutique"``,         from
``service``, ``pod``, ``container="server"``)
=====================================================  ==========================================
``container_cpu_usage_seconds_total`` (counter)         ``CpuUsage(m)`` x the row's interval
``container_memory_working_set_bytes``                  ``MemoryUsage(Mi)`` x 2^20
``container_network_receive_bytes_total`` (counter)     ``NetworkReceiveBytes`` (per second) x interval
``container_network_transmit_bytes_total`` (counter)    ``NetworkTransmitBytes`` likewise
``rpc_server_requests_total`` (counter)                 ``PodWorkload(Ops)`` (per second) x interval
``rpc_server_duration_seconds{quantile}``               ``PodServerLatencyP90/95/99(s)`` (summary)
``rpc_client_duration_seconds{quantile}``               ``PodClientLatencyP90/95/99(s)``
``instance:node_cpu_utilisation:ratio{instance}``       ``NodeCpuUsageRate(%)`` / 100, per node
``instance:node_memory_utilisation:ratio{instance}``    ``NodeMemoryUsageRate(%)`` / 100
``workload:istio_request_duration_seconds:p50``         ``source_50.csv`` (``reporter="source"``) and
``{reporter, source_workload, destination_workload}``   ``destination_50.csv`` (``"destination"``)
``service:request_success:ratio{service="frontend"}``   ``front_service.csv`` ``SuccessRate(%)`` / 100
``service:request_duration_seconds{quantile}``          ``front_service.csv`` ``LatencyP50..P99(s)``
=====================================================  ==========================================

The node is the pod's host address from ``dependency.csv`` (``service -> 33.33.33.x`` rows);
``PodSuccessRate(%)`` is 0 in every row of every file (a broken column), ``SyscallRead/Write`` and
the ``*UsageRate(%)`` columns repeat other columns, so none of them is exported. Latency cells are
empty in minutes a pod served nothing: those samples are left out (a gap, as a real scrape has).

Times come from the ``Time`` column (``2022-08-22 03:51:19.57 +0000 UTC m=+0.08``). The
``TimeStamp`` column is checked against it and a skew is reported, not used: in 2022-08-22 the
adservice file's ``TimeStamp`` is 200,000,000 s ahead.

The catalog (:func:`catalog_for`) is what an operator would write from ``dependency.csv``'s
service edges: one ``service`` component per service, ``depends_on`` its callees, and per service
the same signal queries (CPU, memory, server and client latency, request rate, and the latency its
callers measure to it), so the investigation can scan one family across every service at once.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from augur.agent.discovery.draft import ERROR_LOG_QUERY
from augur.evals.nezha.dataset import service_of_pod
from augur.evals.servers import Sample, write_openmetrics

__all__ = [
    "NAMESPACE",
    "DayTelemetry",
    "alert_rules",
    "catalog_for",
    "convert_day",
    "ingest_traces",
    "log_lines",
    "log_services",
    "parse_time",
    "sli_service",
    "span_edges",
    "write_yaml",
]

NAMESPACE = "online-boutique"
_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})(\.\d+)?")
_QUANTILES = (("P90", "0.9"), ("P95", "0.95"), ("P99", "0.99"))
_COUNTERS = {
    "container_cpu_usage_seconds_total": ("CpuUsage(m)", 1e-3),
    "container_network_receive_bytes_total": ("NetworkReceiveBytes", 1.0),
    "container_network_transmit_bytes_total": ("NetworkTransmitBytes", 1.0),
    "rpc_server_requests_total": ("PodWorkload(Ops)", 1.0),
}
_TYPES = {name: "counter" for name in _COUNTERS}
SLI_SUCCESS = "service:request_success:ratio"
SLI_LATENCY = "service:request_duration_seconds"
EDGE_LATENCY = "workload:istio_request_duration_seconds:p50"


def parse_time(text: str) -> float:
    """Unix seconds of a ``Time`` cell (Go's ``time.Time`` text, UTC)."""
    m = _TIME.match(text.strip())
    if not m:
        raise ValueError(f"not a time: {text!r}")
    base = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()
    return base + (float(m.group(2)) if m.group(2) else 0.0)


def _num(cell: str | None) -> float | None:
    if cell is None or cell.strip() == "":
        return None
    try:
        value = float(cell)
    except ValueError:
        return None
    return value if value == value else None  # NaN is a gap


@dataclass
class DayTelemetry:
    """What :func:`convert_day` wrote and found."""

    day: str
    openmetrics: Path
    samples: int
    start: float
    end: float
    services: list[str]
    edges: list[tuple[str, str]]  # (caller, callee)
    nodes: dict[str, str]  # service -> node address
    notes: list[str] = field(default_factory=list)
    #: The ``service`` label of the user-facing SLI series: the service that serves them when it
    #: is known (see :func:`sli_service`), else the SLI file's own ``ServiceName``.
    sli_service: str = "frontend"

    @property
    def entry_points(self) -> list[str]:
        """Services that call others and are called by none: where user requests enter."""
        return _entry_points(self.edges)


def _entry_points(edges: list[tuple[str, str]]) -> list[str]:
    return sorted({a for a, _ in edges} - {b for _, b in edges})


def _rows(path: Path) -> Iterator[dict[str, str]]:
    with path.open(newline="") as fh:
        yield from csv.DictReader(fh)


def _dependencies(metric_dir: Path) -> tuple[list[tuple[str, str]], dict[str, str]]:
    edges: list[tuple[str, str]] = []
    nodes: dict[str, str] = {}
    if not (metric_dir / "dependency.csv").is_file():
        return edges, nodes
    for row in _rows(metric_dir / "dependency.csv"):
        src, dst = row["Source"].strip(), row["Target"].strip()
        if re.fullmatch(r"\d+\.\d+\.\d+\.\d+", dst):
            nodes.setdefault(src, dst)
        elif src != dst:
            edges.append((src, dst))
    return edges, nodes


def _pod_samples(path: Path, nodes: dict[str, str], seen_nodes: set[str],
                 notes: list[str]) -> Iterator[Sample]:
    rows = list(_rows(path))
    if not rows:
        return
    pod = rows[0]["PodName"].strip()
    service = service_of_pod(pod)
    labels = {"namespace": NAMESPACE, "service": service, "pod": pod, "container": "server"}
    skews = sorted(float(r["TimeStamp"]) - parse_time(r["Time"]) for r in rows
                   if _num(r.get("TimeStamp")) is not None)
    skew = skews[len(skews) // 2] if skews else 0.0
    if abs(skew) > 300:
        notes.append(f"{path.name}: TimeStamp is {skew:+.0f} s off its Time column; "
                     "Time used")
    node = nodes.get(service)
    own_node = node is not None and node not in seen_nodes
    if node is not None:
        seen_nodes.add(node)
    totals = dict.fromkeys(_COUNTERS, 0.0)
    prev_t: float | None = None
    for r in rows:
        t = round(parse_time(r["Time"]))
        dt = 60.0 if prev_t is None else max(1.0, t - prev_t)
        prev_t = t
        for name, (col, scale) in _COUNTERS.items():
            v = _num(r.get(col))
            if v is not None:
                totals[name] += max(0.0, v) * scale * dt
            yield Sample(name, labels, round(totals[name], 6), t)
        mem = _num(r.get("MemoryUsage(Mi)"))
        if mem is not None:
            yield Sample("container_memory_working_set_bytes", labels, mem * 1048576.0, t)
        for side in ("Server", "Client"):
            for suffix, q in _QUANTILES:
                v = _num(r.get(f"Pod{side}Latency{suffix}(s)"))
                if v is not None:
                    yield Sample(f"rpc_{side.lower()}_duration_seconds", {**labels, "quantile": q}, v, t)
        if own_node and node is not None:
            for col, name in (("NodeCpuUsageRate(%)", "instance:node_cpu_utilisation:ratio"),
                              ("NodeMemoryUsageRate(%)", "instance:node_memory_utilisation:ratio")):
                v = _num(r.get(col))
                if v is not None:
                    yield Sample(name, {"instance": node}, v / 100.0, t)


def _edge_samples(path: Path, reporter: str) -> Iterator[Sample]:
    if not path.is_file():
        return
    for r in _rows(path):
        t = round(parse_time(r["time"]))
        for col, cell in r.items():
            if col in ("time", "timestamp") or "_" not in col:
                continue
            v = _num(cell)
            if v is None:
                continue
            src, dst = col.split("_", 1)
            yield Sample(EDGE_LATENCY, {"namespace": NAMESPACE, "reporter": reporter,
                                        "source_workload": src, "destination_workload": dst}, v, t)


def sli_service(front_service: Path, services: list[str], edges: list[tuple[str, str]]) -> str:
    """Which service the user-facing SLI file (``front_service.csv``) measures.

    Its ``ServiceName`` when that names a service (``Frontend`` -> ``frontend`` in Online
    Boutique), else the one entry point of the call graph (a service calling others, called by
    none). Otherwise the name the file gives, lower-cased: the SLI then is a component of its own
    in the catalog, depending on the entry points (see :func:`catalog_for`).
    """
    named = next((r.get("ServiceName", "").strip() for r in _rows(front_service)), "") or "frontend"
    wanted = re.sub(r"\s+", "-", named.lower())
    if wanted in services:
        return wanted
    known = set(services)
    roots = _entry_points([(a, b) for a, b in edges if a in known and b in known])
    return roots[0] if len(roots) == 1 else wanted


def _sli_samples(path: Path, service: str) -> Iterator[Sample]:
    labels = {"namespace": NAMESPACE, "service": service}
    for r in _rows(path):
        t = round(parse_time(r["Time"]))
        ok = _num(r.get("SuccessRate(%)"))
        if ok is not None:
            yield Sample(SLI_SUCCESS, labels, ok / 100.0, t)
        for col, q in (("LatencyP50(s)", "0.5"), ("LatencyP90(s)", "0.9"), ("LatencyP95(s)", "0.95"),
                       ("LatencyP99(s)", "0.99")):
            v = _num(r.get(col))
            if v is not None:
                yield Sample(SLI_LATENCY, {**labels, "quantile": q}, v, t)


def convert_day(day_dir: Path, out_dir: Path) -> DayTelemetry:
    """Write ``<out_dir>/<day>.om`` from ``<day_dir>/metric/`` (see the module docstring)."""
    metric = day_dir / "metric"
    if not (metric / "front_service.csv").is_file():
        raise FileNotFoundError(f"{metric}: no front_service.csv (unpack the day's metric group first)")
    edges, nodes = _dependencies(metric)
    notes: list[str] = []
    if not (metric / "dependency.csv").is_file():
        notes.append("no metric/dependency.csv: no call edges from the dataset (with --traces they come "
                     "from the spans)")
    samples: list[Sample] = []
    seen_nodes: set[str] = set()
    services: list[str] = []
    for path in sorted(metric.glob("*_metric.csv")):
        pod_samples = list(_pod_samples(path, nodes, seen_nodes, notes))
        if pod_samples:
            services.append(str(pod_samples[0].labels["service"]))
        samples += pod_samples
    samples += _edge_samples(metric / "source_50.csv", "source")
    samples += _edge_samples(metric / "destination_50.csv", "destination")
    sli = sli_service(metric / "front_service.csv", services, edges)
    if sli not in services:
        notes.append(f"the user-facing SLI (front_service.csv) is no service's: catalogued as {sli!r}, "
                     "depending on the call graph's entry points")
    samples += _sli_samples(metric / "front_service.csv", sli)
    out_dir.mkdir(parents=True, exist_ok=True)
    om = out_dir / f"{day_dir.name}.om"
    count = write_openmetrics(samples, om, types=_TYPES)
    times = [s.timestamp for s in samples]
    known = set(services)
    return DayTelemetry(day_dir.name, om, count, min(times), max(times), sorted(services),
                        [(a, b) for a, b in edges if a in known and b in known], nodes, notes, sli)


def _signal(name: str, query: str, unit: str, bad: str, description: str) -> dict[str, Any]:
    return {"name": name, "kind": "metric", "query": query, "unit": unit, "bad": bad,
            "description": description}


def catalog_for(tel: DayTelemetry, *, traces: bool = False,
                log_services: Collection[str] = ()) -> dict[str, Any]:
    """The catalog an operator would write for the cluster (see the module docstring).

    ``traces``: the frontend, where user requests enter, gets a trace signal (its spans and
    everything they call are in the embedded span store, see :func:`ingest_traces`).
    ``log_services``: the services whose container logs are in the log store get an ``errors``
    log signal (:data:`ERROR_LOG_QUERY` over their lines: error templates new since the baseline).
    """
    callers = {b for _, b in tel.edges}
    sli = tel.sli_service
    components = []
    for svc in tel.services:
        sel = f'namespace="{NAMESPACE}",service="{svc}"'
        signals = [
            _signal("cpu", f"sum by (service) (rate(container_cpu_usage_seconds_total{{{sel}}}[2m]))",
                    "cores", "up", "CPU used by the service's pods"),
            _signal("memory", f"sum by (service) (container_memory_working_set_bytes{{{sel}}})", "bytes",
                    "up",
                    "working-set memory of the service's pods"),
            _signal("server_latency_p90",
                    f'max by (service) (rpc_server_duration_seconds{{{sel},quantile="0.9"}})',
                    "s", "up", "p90 time to serve a call, measured in the service"),
            _signal("client_latency_p90",
                    f'max by (service) (rpc_client_duration_seconds{{{sel},quantile="0.9"}})',
                    "s", "up", "p90 time of the calls the service makes"),
            _signal("requests", f"sum by (service) (rate(rpc_server_requests_total{{{sel}}}[2m]))", "1/s",
                    "any",
                    "calls served per second"),
            _signal("network_transmit",
                    f"sum by (service) (rate(container_network_transmit_bytes_total{{{sel}}}[2m]))", "B/s",
                    "any",
                    "bytes sent per second"),
        ]
        if svc in callers:
            signals.append(_signal(
                "inbound_latency_p50",
                f'max by (destination_workload) ({EDGE_LATENCY}{{namespace="{NAMESPACE}",reporter="source",'
                f'destination_workload="{svc}"}})', "s", "up",
                "median latency of calls to the service as its callers measure it (network included)"))
        if svc in log_services:
            signals.append({"name": "errors", "kind": "log", "log_query": ERROR_LOG_QUERY,
                            "description": "error lines in the service's own logs"})
        if svc == sli:
            signals += _sli_signals(sli, traces)
        components.append({
            "name": svc, "layer": "service", "match": {"service": svc},
            "depends_on": sorted({b for a, b in tel.edges if a == svc}),
            "signals": signals,
        })
    if sli not in tel.services:
        # The SLI measures the system from outside: a component of its own in front of the entry
        # points (every service when the call graph is unknown); traces start at the entry point.
        entries = tel.entry_points or list(tel.services)
        signals = _sli_signals(sli, traces and len(entries) == 1, trace_service=next(iter(entries), None))
        components.append({"name": sli, "layer": "service", "match": {"service": sli},
                           "depends_on": entries, "signals": signals})
    return {"version": 1, "components": components}


def _sli_signals(service: str, traces: bool, trace_service: str | None = None) -> list[dict[str, Any]]:
    sel = f'namespace="{NAMESPACE}",service="{service}"'
    signals = [
        _signal("sli_success", f"{SLI_SUCCESS}{{{sel}}}", "ratio", "down",
                "share of user requests that succeed"),
        _signal("sli_latency_p50", f'{SLI_LATENCY}{{{sel},quantile="0.5"}}', "s", "up",
                "median user request latency"),
    ]
    if traces:
        trace: dict[str, Any] = {"name": "trace", "kind": "trace",
                                 "description": "user requests' traces: which call they wait on"}
        if trace_service and trace_service != service:
            trace["trace_service"] = trace_service
        signals.append(trace)
    return signals


def alert_rules(service: str = "frontend") -> dict[str, Any]:
    """The SLI rules a user would write on the user-facing ``service``: a deviation from the
    preceding hour.

    Latency: the median or the p95 of user requests above 1.5 x its median over the hour before
    (ending a minute ago, so the current sample is not its own yardstick). Success: the success
    ratio more than one point below its median over that hour.
    """
    def latency(q: str) -> str:
        sel = f'{SLI_LATENCY}{{namespace="{NAMESPACE}",service="{service}",quantile="{q}"}}'
        return f"{sel} > 1.5 * quantile_over_time(0.5, {sel}[1h] offset 1m)"

    success = f'{SLI_SUCCESS}{{namespace="{NAMESPACE}",service="{service}"}}'
    rules = [
        {"alert": "FrontendLatencyHigh", "expr": f"{latency('0.5')} or {latency('0.95')}",
         "labels": {"severity": "page"},
         "annotations": {"summary": f"{service} latency (quantile {{{{ $labels.quantile }}}}) "
                                    "{{ $value }} s, 1.5x its last hour"}},
        {"alert": "FrontendErrorsHigh",
         "expr": f"{success} < quantile_over_time(0.5, {success}[1h] offset 1m) - 0.01",
         "labels": {"severity": "page"},
         "annotations": {"summary": f"{service} success ratio {{{{ $value }}}}, below its last hour"}},
    ]
    return {"groups": [{"name": "online-boutique-slo", "interval": "1m", "rules": rules}]}


def ingest_traces(day_dir: Path, db: Path) -> tuple[int, int]:
    """The day's trace CSVs (``trace/*_trace.csv``, as they are) into the span store at ``db``.

    Returns (spans stored, rows refused).
    """
    from augur.tools.span_store import SqliteSpanStore

    store = SqliteSpanStore(db)
    stored = refused = 0
    for path in sorted((day_dir / "trace").glob("*_trace.csv")):
        result = store.ingest_file(path)
        stored += result.stored
        refused += result.refused_total
    return stored, refused


def span_edges(db: Path, services: list[str]) -> list[tuple[str, str]]:
    """The ``(caller, callee)`` service pairs the span store at ``db`` saw, among ``services``."""
    from augur.agent.discovery import SpanEdges
    from augur.tools.span_store import SqliteSpanStore

    known = set(services)
    edges = SpanEdges(SqliteSpanStore(db), str(db)).edges(0.0, 1e12)  # every span
    return sorted({(e.caller, e.callee) for e in edges if e.caller in known and e.callee in known})


def write_yaml(data: dict[str, Any], path: Path) -> Path:
    """Dump ``data`` as YAML at ``path``."""
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def log_services(path: Path) -> set[str]:
    """The services of the JSON lines :func:`log_lines` wrote at ``path``."""
    with path.open() as fh:
        return {str(json.loads(line).get("service") or "") for line in fh} - {""}


def log_lines(day_dir: Path, out: Path) -> int:
    """The day's container logs (``log/*.csv``) as JSON lines for the embedded log store."""
    count = 0
    with out.open("w") as fh:
        for path in sorted((day_dir / "log").glob("*_log.csv")):
            for r in _rows(path):
                raw = r.get("Log") or ""
                message, level = raw, None
                try:
                    inner = json.loads(raw).get("log", raw)
                    message = inner
                    parsed = json.loads(inner) if isinstance(inner, str) and inner.startswith("{") else None
                    if isinstance(parsed, dict):
                        message = str(parsed.get("message", inner))
                        level = parsed.get("severity") or parsed.get("level")
                except (ValueError, AttributeError):
                    pass
                pod = r.get("PodName", "")
                fh.write(json.dumps({"timestamp": r["Timestamp"], "service": service_of_pod(pod), "pod": pod,
                                     "level": level or "info", "message": str(message).strip(),
                                     "trace_id": r.get("TraceID")}) + "\n")
                count += 1
    return count
