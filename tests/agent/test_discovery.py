"""`augur catalog discover` on a real Prometheus holding DCGM, vLLM and HTTP-server series.

The history is written here as OpenMetrics and backfilled with promtool: a GPU node whose DCGM
series name the vLLM pod using it (Kubernetes pod name with its replica suffixes), the vLLM
deployment's latency histogram, queue gauge and request counter, two HTTP services with a latency
histogram and status-coded request counters, a StatefulSet (``redis-0``, ``redis-1``) with a gauge
no rule knows, a bare pod with a summary, Istio's request counter (a call it sees), cAdvisor CPU
series, Triton's counters, node exporter CPU and memory, KServe's predict histogram, a family
labelled only by ``job``, an unknown counter and a Go runtime gauge (left out). Call edges come from
spans loaded into the embedded span store with `augur traces ingest` (with a cycle, as real call
graphs have), or from an edge table. Every request discovery makes passes through a loopback
proxy that records its path, so the test also proves discovery stays bounded: no series listing.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from typer.testing import CliRunner

from augur.agent.catalog import Signal, load_catalog, parse_catalog
from augur.agent.discovery import EdgeError, EdgeTable, JaegerDependencies, workload_of
from augur.agent.discovery.inventory import BATCH
from augur.evals.servers import PrometheusServer, Sample, write_openmetrics
from augur.server.cli.main import app
from tests.fixtures.loopback import serving

STEP = 60
HOURS = 2
POD = "llm-serving-7c9d8f6b5d-x2x4k"
TRITON = "triton-6b7c8d9f5b-q2w4x"
NODE = "10.0.0.7:9100"
LE = ("0.1", "0.5", "1", "2.5", "+Inf")
EDGES = ("Source,Target,Weight\nfrontend,checkout,12\ncheckout,llm-serving,3\nfrontend,redis,40\n"
         "checkout,frontend,1\n")


def _history(t_end: float) -> list[Sample]:
    samples: list[Sample] = []
    gpu = {"Hostname": "gpu-node-1", "gpu": "0", "pod": POD, "namespace": "serving", "container": "vllm"}
    vllm = {"model_name": "llama-3-8b", "pod": POD, "namespace": "serving"}
    n = HOURS * 3600 // STEP
    totals: dict[tuple[str, str], float] = {}

    def count(key: tuple[str, str], inc: float) -> float:
        totals[key] = totals.get(key, 0.0) + inc
        return totals[key]

    for i in range(n + 1):
        t = t_end - (n - i) * STEP
        wave = math.sin(i / 9)
        samples += [Sample("DCGM_FI_DEV_GPU_UTIL", gpu, 70 + 10 * wave, t),
                    Sample("DCGM_FI_DEV_FB_USED", gpu, 30000 + 200 * wave, t),
                    Sample("vllm:num_requests_waiting", vllm, 3 + 2 * wave, t),
                    Sample("vllm:request_success_total", {**vllm, "finished_reason": "stop"},
                           count(("vllm", "ok"), 50), t),
                    Sample("redis_connected_clients", {"pod": "redis-0", "namespace": "data"}, 40 + wave, t),
                    Sample("redis_connected_clients", {"pod": "redis-1", "namespace": "data"}, 41 + wave, t),
                    Sample("queue_depth", {"pod": "batcher", "namespace": "data"}, 5 + wave, t),
                    *[Sample("queue_wait_seconds", {"pod": "batcher", "quantile": q}, v * (1.2 + wave), t)
                      for q, v in (("0.5", 0.01), ("0.99", 0.2))],
                    Sample("istio_requests_total",
                           {"reporter": "source", "source_workload": "checkout",
                            "destination_workload": "batcher", "response_code": "200"},
                           count(("istio", ""), 30), t),
                    # cAdvisor series: one names its service (Nezha's export does), one only its pod
                    # (kube-prometheus labels them all service="kubelet": that is not their service).
                    Sample("container_cpu_usage_seconds_total",
                           {"service": "frontend", "pod": "frontend-6d4cf56db6-kq8zx", "container": "server"},
                           count(("cpu", "f"), 30), t),
                    Sample("container_cpu_usage_seconds_total",
                           {"service": "kubelet", "pod": "redis-0", "container": "redis"},
                           count(("cpu", "r"), 12), t),
                    # Triton (counters without _total), node exporter, KServe, a job-only family.
                    *[Sample(f"nv_inference_{kind}", {"model": "resnet50", "version": "1", "pod": TRITON},
                             count(("triton", kind), inc), t)
                      for kind, inc in (("request_success", 40), ("request_failure", 1),
                                        ("request_duration_us", 41 * 8000))],
                    *[Sample("node_cpu_seconds_total", {"instance": NODE, "cpu": "0", "mode": mode},
                             count(("node", mode), inc), t) for mode, inc in (("idle", 40), ("user", 20))],
                    Sample("node_memory_MemAvailable_bytes", {"instance": NODE}, 6e9 + 1e8 * wave, t),
                    Sample("node_memory_MemTotal_bytes", {"instance": NODE}, 16e9, t),
                    Sample("etl_rows_processed_total", {"job": "nightly-etl"}, count(("etl", ""), 900), t),
                    Sample("frontend_cache_misses_total", {"service": "frontend"}, count(("miss", ""), 7), t),
                    Sample("go_goroutines", {"service": "frontend"}, 80, t)]
        for j, le in enumerate(LE):
            share = (0.5, 0.8, 0.95, 0.99, 1.0)[j]
            samples.append(Sample("vllm:e2e_request_latency_seconds_bucket", {**vllm, "le": le},
                                  count(("vllm-le", le), 50 * share), t))
        samples.append(Sample("vllm:e2e_request_latency_seconds_count", vllm, count(("vllm", "n"), 50), t))
        for j, le in enumerate(LE):
            samples.append(Sample("request_predict_seconds_bucket",
                                  {"service": "sklearn-iris", "model_name": "iris", "le": le},
                                  count(("kserve", le), 20 * (0.6, 0.9, 0.99, 1.0, 1.0)[j]), t))
        samples.append(Sample("request_predict_seconds_count",
                              {"service": "sklearn-iris", "model_name": "iris"},
                              count(("kserve", "n"), 20), t))
        for service in ("frontend", "checkout"):
            for j, le in enumerate(LE):
                share = (0.7, 0.9, 0.97, 0.995, 1.0)[j]
                samples.append(Sample("http_request_duration_seconds_bucket", {"service": service, "le": le},
                                      count((service, le), 100 * share), t))
            samples.append(Sample("http_request_duration_seconds_count", {"service": service},
                                  count((service, "n"), 100), t))
            for code, rate in (("200", 98.0), ("500", 2.0)):
                samples.append(Sample("http_requests_total", {"service": service, "code": code},
                                      count((service, code), rate), t))
    return samples


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PrometheusServer, float]]:
    tmp = tmp_path_factory.mktemp("discover")
    t_end = float(int(time.time()) // STEP * STEP - 2 * STEP)
    types = {"vllm:request_success_total": "counter", "frontend_cache_misses_total": "counter",
             "http_requests_total": "counter", "istio_requests_total": "counter",
             "container_cpu_usage_seconds_total": "counter", "node_cpu_seconds_total": "counter",
             "etl_rows_processed_total": "counter"}
    write_openmetrics(_history(t_end), tmp / "history.om", types)
    server = PrometheusServer.start(tmp / "prom", openmetrics=tmp / "history.om")
    try:
        yield server, t_end
    finally:
        server.stop()


class _Recorder(ThreadingHTTPServer):
    """A loopback proxy to the real Prometheus that records each request's path."""

    def __init__(self, upstream: str, refuse: Callable[[str], bool] = lambda query: False) -> None:
        super().__init__(("127.0.0.1", 0), _Forward)
        self.upstream = upstream
        self.refuse = refuse  # queries answered as Prometheus answers one that timed out
        self.paths: list[str] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Forward(BaseHTTPRequestHandler):
    server: _Recorder

    def do_GET(self) -> None:
        with self.server.lock:
            self.server.paths.append(self.path.split("?", 1)[0])
        query = parse_qs(urlsplit(self.path).query).get("query", [""])[0]
        if self.server.refuse(query):
            body = b'{"status":"error","errorType":"timeout","error":"query timed out"}'
            self.send_response(503)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        answer = httpx.get(self.server.upstream + self.path, timeout=30)
        self.send_response(answer.status_code)
        self.send_header("Content-Type", answer.headers.get("content-type", "application/json"))
        self.send_header("Content-Length", str(len(answer.content)))
        self.end_headers()
        self.wfile.write(answer.content)

    def log_message(self, *args: object) -> None:
        pass


def test_pod_names_lose_their_replica_suffixes() -> None:
    assert workload_of("frontend-579b9bff58-t2dbm") == "frontend"
    assert workload_of("node-exporter-x7k2p") == "node-exporter"  # DaemonSet
    assert workload_of("redis-0") == "redis"  # StatefulSet
    assert workload_of("envoy-proxy") == "envoy-proxy"  # a word, not a hash (it has vowels)
    assert workload_of("checkoutservice") == "checkoutservice"


def _spans(t_end: float) -> str:
    """JSON lines of 20 traces: frontend -> checkout -> (llm-serving, payment), frontend -> redis,
    and checkout calling the frontend back (a cycle, as real call graphs have)."""
    lines = []
    calls = (("f", "", "frontend"), ("c", "f", "checkout"), ("l", "c", "llm-serving"), ("p", "c", "payment"),
             ("r", "f", "redis"), ("b", "c", "frontend"))
    for i in range(20):
        t0 = t_end - 1800 + 60 * i
        for span, parent, service in calls:
            lines.append(json.dumps({"trace_id": f"trace{i:04d}", "span_id": f"{span}{i:04d}",
                                     "parent": f"{parent}{i:04d}" if parent else "", "service": service,
                                     "operation": f"{service} call", "start": t0, "end": t0 + 0.05}))
    return "\n".join(lines) + "\n"


def test_discover_writes_the_components_layers_signals_and_edges(
        platform: tuple[PrometheusServer, float], tmp_path: Path) -> None:
    server, t_end = platform
    spans = tmp_path / "spans.jsonl"
    spans.write_text(_spans(t_end))
    env = {"AUGUR_TRACE_DB": str(tmp_path / "traces.db"), "AUGUR_JAEGER_URL": None}
    ingest = CliRunner().invoke(app, ["traces", "ingest", str(spans)], env=env)
    assert ingest.exit_code == 0, ingest.output
    out = tmp_path / "catalog.yaml"
    with serving(_Recorder(server.url)) as proxy:
        result = CliRunner().invoke(app, ["catalog", "discover", "--prometheus-url", proxy.url, "--traces",
                                          "--out", str(out), "--at", str(t_end)], env=env)
    assert result.exit_code == 0, result.output
    assert "discover: " in result.stderr and "families in" in result.stderr  # progress on stderr
    assert "call edges from spans in" in result.stderr
    catalog = load_catalog(out)
    layers = {c.name: c.layer.value for c in catalog.components}
    assert layers == {"gpu-node-1": "resource", "llm-serving": "service", "frontend": "service",
                      "checkout": "service", "redis": "service", "batcher": "service", "payment": "service",
                      "redis-pods": "resource", "triton": "service", "node-10.0.0.7": "resource",
                      "sklearn-iris": "service", "nightly-etl": "service"}
    signals = {c.name: sorted(s.name for s in c.signals) for c in catalog.components}
    assert signals["gpu-node-1"] == ["fb_used", "gpu_util"]
    assert signals["llm-serving"] == ["p99_latency", "qps", "requests_waiting", "traces"]
    assert signals["frontend"] == ["cpu", "error_ratio", "frontend_cache_misses_rate", "p99_latency", "qps",
                                   "traces"]  # its containers' CPU: the series name the service
    assert signals["checkout"] == ["error_ratio", "p99_latency", "qps", "traces"]
    assert signals["redis"] == ["redis_connected_clients", "traces"]  # redis-0 and redis-1: one StatefulSet
    # A bare pod name is its own workload; a summary's top quantile; the mesh's view of its callers.
    assert signals["batcher"] == ["inbound_error_ratio", "inbound_qps", "queue_depth",
                                  "queue_wait_seconds_p99"]
    assert signals["redis-pods"] == ["cpu"]
    assert signals["triton"] == ["avg_latency", "error_ratio", "qps"]
    assert signals["node-10.0.0.7"] == ["cpu_busy", "memory_used"]
    assert signals["sklearn-iris"] == ["p99_latency"]  # KServe's predict histogram
    assert signals["nightly-etl"] == ["etl_rows_processed_rate"]
    assert catalog.component("nightly-etl").match == {"job": "nightly-etl"}
    assert signals["payment"] == ["traces"]  # seen only in the traces
    assert catalog.component("payment").signal("traces").trace_service == "payment"
    deps = {c.name: sorted(c.depends_on) for c in catalog.components}
    node = ["node-10.0.0.7"]  # a node nothing is known to run on: assumed under what has no resource
    assert deps == {"gpu-node-1": [], "redis": ["redis-pods"], "batcher": node, "payment": node,
                    "redis-pods": [], "node-10.0.0.7": [], "triton": node, "sklearn-iris": node,
                    "nightly-etl": node,
                    "llm-serving": ["gpu-node-1"],  # DCGM names its pod
                    "frontend": ["checkout", "node-10.0.0.7", "redis"],
                    # batcher: the service mesh saw checkout call it
                    "checkout": ["batcher", "frontend", "llm-serving", "node-10.0.0.7", "payment"]}
    assert catalog.find_cycle() is not None  # checkout calls the frontend back: kept
    assert catalog.component("frontend").match == {"service": "frontend"}
    assert catalog.component("gpu-node-1").match == {"Hostname": "gpu-node-1"}
    if "fault_type" in Signal.model_fields:  # the schema lets a signal say what its change means
        fault = {(c.name, s.name): s.fault_type for c in catalog.components for s in c.signals}
        assert fault[("gpu-node-1", "fb_used")] == "gpu_oom"
        assert fault[("checkout", "error_ratio")] == "error_rate"
        assert fault[("llm-serving", "p99_latency")] == "latency_regression"
        assert fault[("frontend", "qps")] is None  # a traffic change's type depends on its direction
    p99 = catalog.component("llm-serving").signal("p99_latency")
    assert p99.bad == "up" and p99.unit == "s" and "vllm:e2e_request_latency_seconds_bucket" in str(p99.query)
    text = out.read_text()
    assert "go_goroutines" not in text and "1 runtime or self-monitoring families" in text
    assert "- checkout  # calls it (20 calls, spans in" in text and "DCGM reports its pod on this GPU" in text
    assert '- batcher  # service mesh metrics: source_workload="checkout" calls' in text
    # Every metric query it wrote selects the series it was discovered from.
    for comp in catalog.components:
        for sig in comp.signals:
            if sig.kind == "trace":
                continue
            params = {"query": str(sig.query), "time": str(t_end)}
            answer = httpx.get(f"{server.url}/api/v1/query", params=params).json()
            assert answer["status"] == "success" and answer["data"]["result"], (comp.name, sig.query)
    # Bounded: names, metadata and one grouped range query per batch of families; no series listing.
    assert set(proxy.paths) == {"/api/v1/label/__name__/values", "/api/v1/metadata", "/api/v1/query_range"}
    assert len(proxy.paths) == 2 + 1 + math.ceil(16 / BATCH)  # 5 DCGM/node families + 16 others
    assert "- node-10.0.0.7  # serving runs on resources; assumed from layers" in text
    check = CliRunner().invoke(app, ["catalog", "check", str(out)])
    assert check.exit_code == 0, check.output


def test_an_edge_table_gives_depends_on_and_layers_can_be_left_out(
        platform: tuple[PrometheusServer, float], tmp_path: Path) -> None:
    server, t_end = platform
    edges = tmp_path / "edges.csv"
    edges.write_text(EDGES)
    result = CliRunner().invoke(app, ["catalog", "discover", "--prometheus-url", server.url,
                                      "--edges", str(edges), "--at", str(t_end), "--no-layer-edges", "-q"])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    catalog = parse_catalog(result.stdout)
    deps = {c.name: sorted(c.depends_on) for c in catalog.components}
    assert deps == {"gpu-node-1": [], "redis": ["redis-pods"], "batcher": [], "redis-pods": [],
                    "llm-serving": ["gpu-node-1"], "frontend": ["checkout", "redis"],
                    "checkout": ["batcher", "frontend", "llm-serving"], "triton": [], "node-10.0.0.7": [],
                    "sklearn-iris": [], "nightly-etl": []}
    assert "- checkout  # calls it (weight 12, edge table" in result.stdout
    assert not any(s.kind == "trace" for c in catalog.components for s in c.signals)  # a table has no traces


def test_a_batch_prometheus_cannot_answer_is_asked_family_by_family(
        platform: tuple[PrometheusServer, float]) -> None:
    """The real Prometheus behind a proxy that answers some queries as timed out (HTTP 503)."""
    server, t_end = platform

    def refuse(query: str) -> bool:  # every batch of several families, and queue_depth alone
        names = query.partition('__name__=~"')[2].partition('"')[0]
        return "|" in names or names == "queue_depth"

    with serving(_Recorder(server.url, refuse)) as proxy:
        result = CliRunner().invoke(app, ["catalog", "discover", "--prometheus-url", proxy.url,
                                          "--at", str(t_end)])
    assert result.exit_code == 0, result.output
    assert "failed" in result.stderr and "asking one by one" in result.stderr
    catalog = parse_catalog(result.stdout)
    assert "queue_depth" not in {s.name for c in catalog.components for s in c.signals}
    assert "p99_latency" in {s.name for s in catalog.component("llm-serving").signals}
    assert "# Left out: 1 too slow or refused to group (queue_depth) families" in result.stdout


def test_bad_input_exits_2_with_the_fix(platform: tuple[PrometheusServer, float], tmp_path: Path) -> None:
    server, _ = platform
    bad = tmp_path / "bad.csv"
    bad.write_text("from_service;to_service\na;b\n")
    result = CliRunner().invoke(app, ["catalog", "discover", "--prometheus-url", server.url,
                                      "--edges", str(bad)])
    assert result.exit_code == 2 and f"{bad}:1:" in result.stderr and "Source,Target" in result.stderr
    down = CliRunner().invoke(app, ["catalog", "discover", "--prometheus-url", "http://127.0.0.1:9"])
    assert down.exit_code == 2 and "cannot reach Prometheus" in down.stderr
    no_spans = {"AUGUR_TRACE_DB": str(tmp_path / "none.db"), "AUGUR_JAEGER_URL": None}
    nothing = CliRunner().invoke(app, ["catalog", "discover", "--prometheus-url", server.url, "--traces"],
                                 env=no_spans)
    assert nothing.exit_code == 2 and "augur traces ingest" in nothing.stderr
    empty = CliRunner().invoke(app, ["catalog", "discover", "--prometheus-url", server.url, "--at", "100000"])
    assert empty.exit_code == 0 and "warning: " in empty.stderr and "--at" in empty.stderr
    assert parse_catalog(empty.stdout).components == []  # still a valid catalog
    with pytest.raises(EdgeError, match=":3: expected Source,Target"):
        (tmp_path / "short.csv").write_text("Source,Target,Weight\na,b,1\nc,d,heavy\n")
        EdgeTable(tmp_path / "short.csv").edges()


def test_jaeger_dependencies_become_call_edges() -> None:
    """Jaeger cannot run here: a scripted answer in the shape of its /api/dependencies."""
    seen: list[httpx.URL] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        return httpx.Response(200, json={"data": [{"parent": "frontend", "child": "cart", "callCount": 41}],
                                         "errors": None})

    client = httpx.Client(transport=httpx.MockTransport(handler))
    source = JaegerDependencies("http://jaeger:16686", client=client)
    (edge,) = source.edges(1_800_000_000.0 - 3600, 1_800_000_000.0)
    assert (edge.caller, edge.callee, edge.weight) == ("frontend", "cart", 41.0)
    assert seen[0].params["endTs"] == "1800000000000" and seen[0].params["lookback"] == "3600000"
    broken = JaegerDependencies("http://jaeger:16686", client=httpx.Client(
        transport=httpx.MockTransport(lambda r: httpx.Response(200, text="<html>login</html>"))))
    with pytest.raises(EdgeError, match="did not answer like Jaeger"):
        broken.edges(0, 3600)
