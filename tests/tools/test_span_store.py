"""The embedded span store on a real SQLite file: every input format, idempotent re-ingest, refused
records with their reasons, whole traces and call edges; `augur traces ingest` run as a user runs it.

The fixtures are written here: a tiny CSV in the shape of Nezha's trace files (``TraceID, SpanID,
ParentID ("root"), PodName, OperationName, StartTimeUnixNano, EndTimeUnixNano, Duration`` in µs),
a Jaeger ``/api/traces`` answer, an OTLP JSON export and JSON lines. ``test_a_real_nezha_trace_file``
reads one real Nezha trace CSV from ``../shared/datasets`` (extracted into a tmp dir) when present.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

from augur.tools.base import Unavailable
from augur.tools.span_files import SpanFormatError, service_of_pod
from augur.tools.span_store import SqliteSpanStore
from tests.fixtures.jaeger import request_trace

AUGUR = str(Path(sys.executable).with_name("augur"))
T0_NS = 1_661_151_797_000_000_000  # 2022-08-22 07:03:17 UTC
NEZHA = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets" / "nezha-online-boutique"

HEADER = "TraceID,SpanID,ParentID,PodName,OperationName,StartTimeUnixNano,EndTimeUnixNano,Duration\n"


def _nezha_rows(trace: str, t_ns: int, catalog_us: int) -> list[str]:
    """frontend Recv -> (client span) GetProduct -> productcatalogservice GetProduct -> sql query;
    frontend -> (client span) GetCart -> cartservice GetCart. Durations in µs as Nezha writes them."""

    def row(span: str, parent: str, pod: str, op: str, start_us: int, dur_us: int) -> str:
        start = t_ns + start_us * 1000
        return f"{trace},{span},{parent},{pod},{op},{start},{start + dur_us * 1000 + 7},{dur_us}\n"

    fe, pc, cart = (
        "frontend-579b9bff58-t2dbm",
        "productcatalogservice-668d5f85fb-wckp8",
        "cartservice-579f59597d-wc2lz",
    )
    return [
        row(f"{trace}a", "root", fe, "hipstershop.Frontend/Recv.", 0, catalog_us + 3000),
        row(
            f"{trace}b",
            f"{trace}a",
            fe,
            "hipstershop.ProductCatalogService/GetProduct",
            100,
            catalog_us + 400,
        ),
        row(f"{trace}c", f"{trace}b", pc, "hipstershop.ProductCatalogService/GetProduct", 300, catalog_us),
        row(f"{trace}d", f"{trace}c", pc, "sql.conn.query", 400, 200),
        row(f"{trace}e", f"{trace}a", fe, "hipstershop.CartService/GetCart", catalog_us + 600, 1500),
        row(f"{trace}f", f"{trace}e", cart, "hipstershop.CartService/GetCart", catalog_us + 700, 1200),
    ]


def write_nezha_csv(path: Path, traces: int = 4) -> Path:
    """``traces`` requests one second apart; the catalog's own GetProduct takes 1, 2, 3... ms."""
    lines = [HEADER]
    for i in range(traces):
        lines += _nezha_rows(f"{i:031x}", T0_NS + i * 1_000_000_000, 1000 * (i + 1))
    path.write_text("".join(lines))
    return path


@pytest.fixture
def store(tmp_path: Path) -> SqliteSpanStore:
    return SqliteSpanStore(tmp_path / "traces.db")


def test_a_nezha_shaped_csv_becomes_services_pods_traces_and_edges(
    tmp_path: Path, store: SqliteSpanStore
) -> None:
    result = store.ingest_file(write_nezha_csv(tmp_path / "07_03_trace.csv"))
    assert (result.format, result.stored, result.duplicates, result.refused_total) == ("csv", 24, 0, 0)
    assert store.services() == ["cartservice", "frontend", "productcatalogservice"]
    root, *_ = store.trace("0" * 31)
    assert root.parent_id is None and root.service == "frontend" and root.pod == "frontend-579b9bff58-t2dbm"
    # Start and end in ns: the duration is end - start (the 7 ns rounding away), not the Duration column.
    assert root.start_us == T0_NS // 1000 and root.duration_us == 4000
    edges = {(e.parent, e.child): e for e in store.call_edges()}
    assert set(edges) == {("frontend", "productcatalogservice"), ("frontend", "cartservice")}
    catalog = edges[("frontend", "productcatalogservice")]
    # The child spans the frontend waited on: 1, 2, 3, 4 ms.
    assert catalog.calls == 4 and catalog.errors == 0
    assert catalog.p50_ms == pytest.approx(2.5) and catalog.max_ms == pytest.approx(4.0)
    assert catalog.operations == ("hipstershop.ProductCatalogService/GetProduct",)
    # A time range: only the last two requests.
    late = {(e.parent, e.child): e.calls for e in store.call_edges(start=T0_NS / 1e9 + 1.5)}
    assert late == {("frontend", "productcatalogservice"): 2, ("frontend", "cartservice"): 2}
    internal = {(e.parent, e.child) for e in store.call_edges(include_internal=True)}
    assert ("productcatalogservice", "productcatalogservice") in internal


def test_whole_traces_newest_first_by_service_operation_and_time(
    tmp_path: Path, store: SqliteSpanStore
) -> None:
    store.ingest_file(write_nezha_csv(tmp_path / "t.csv", traces=6))
    t0 = T0_NS / 1e9
    traces = store.traces("cartservice", t0, t0 + 10, limit=3)
    assert [t[0].trace_id for t in traces] == [f"{i:031x}" for i in (5, 4, 3)]
    assert all(len(t) == 6 for t in traces)  # every span of the trace, not only cartservice's
    slow = store.trace_ids(
        "productcatalogservice",
        t0,
        t0 + 10,
        operation="hipstershop.ProductCatalogService/GetProduct",
        min_duration_us=4500,
    )
    assert slow == [f"{i:031x}" for i in (5, 4)]
    assert len(store.spans(service="frontend", start=t0 + 1.5, end=t0 + 3.5)) == 2 * 3
    assert store.operations("cartservice") == ["hipstershop.CartService/GetCart"]


def test_re_ingest_is_idempotent(tmp_path: Path, store: SqliteSpanStore) -> None:
    file = write_nezha_csv(tmp_path / "t.csv")
    store.ingest_file(file)
    again = store.ingest_file(file)
    assert (again.stored, again.duplicates) == (0, 24) and store.count() == 24
    more = write_nezha_csv(tmp_path / "more.csv", traces=5)  # four known traces and one new
    third = store.ingest_file(more)
    assert (third.stored, third.duplicates) == (6, 24) and store.count() == 30


def test_malformed_rows_are_refused_with_reasons_and_the_rest_stored(
    tmp_path: Path, store: SqliteSpanStore
) -> None:
    good = _nezha_rows("1" * 32, T0_NS, 1000)
    bad = [
        ",x1,root,frontend-579b9bff58-t2dbm,op,1661151797000000000,1661151797000100000,100\n",
        "t2,x2,root,frontend-579b9bff58-t2dbm,op,yesterday,1661151797000100000,100\n",
        "t3,x3,root,frontend-579b9bff58-t2dbm,op,1661151797000100000,1661151797000000000,100\n",
        "t4,x4,root,frontend-579b9bff58-t2dbm,op,1661151797000000000,1661151797000100000,100,extra\n",
        "t5,x5,root,,op,1661151797000000000,1661151797000100000,100\n",
    ]
    file = tmp_path / "mixed.csv"
    file.write_text(HEADER + good[0] + "".join(bad) + "".join(good[1:]))
    result = store.ingest_file(file)
    assert result.stored == 6 and result.refused_total == 5
    assert result.refused == {
        "no trace id": 1,
        "start time is not a time": 1,
        "end time is before the start": 1,
        "9 cells, the header has 8": 1,
        "no service or pod": 1,
    }
    assert [r.where for r in result.examples] == [f"{file}:{n}" for n in range(3, 8)]
    assert "'yesterday'" in result.examples[1].reason


def test_a_file_that_is_not_spans_stores_nothing(tmp_path: Path, store: SqliteSpanStore) -> None:
    notes = tmp_path / "notes.csv"
    notes.write_text("when,what\n2022-08-22,deploy\n")
    with pytest.raises(SpanFormatError, match="no column for trace id, span id"):
        store.ingest_file(notes)
    broken = tmp_path / "broken.json"
    broken.write_text('{"data": [\n{"traceID": ')
    with pytest.raises(SpanFormatError, match="not valid JSON"):
        store.ingest_file(broken)
    assert store.count() == 0


def test_no_store_is_unavailable_with_the_command_that_fills_it(tmp_path: Path) -> None:
    with pytest.raises(Unavailable, match="augur traces ingest FILE"):
        SqliteSpanStore(tmp_path / "none.db").services()


def test_jaeger_json_as_the_api_and_the_ui_export_give_it(tmp_path: Path, store: SqliteSpanStore) -> None:
    traces = [request_trace(f"{i:016x}", 1_790_000_000 + i, 50.0 + i, error=i == 1) for i in range(3)]
    api = tmp_path / "api.json"
    api.write_text(
        json.dumps({"data": traces, "total": 3, "limit": 0, "offset": 0, "errors": None}, indent=2)
    )
    result = store.ingest_file(api)
    assert (result.format, result.stored, result.refused_total) == ("jaeger-json", 9, 0)
    assert store.services() == ["feature-store", "gateway", "inference"]
    spans = {s.operation: s for s in store.trace(f"{1:016x}")}
    assert spans["POST /rank"].error and spans["POST /rank"].attributes["http.status_code"] == 503
    assert spans["get_features"].parent_id == f"{1:016x}-gw" and spans["get_features"].duration_us == 51_000
    single = tmp_path / "one-trace.json"  # one trace object, as a UI export of a single trace
    single.write_text(json.dumps(request_trace("abc", 1_790_000_100, 10.0)))
    assert store.ingest_file(single).stored == 3
    assert [(e.parent, e.child, e.calls) for e in store.call_edges()] == [
        ("gateway", "feature-store", 4),
        ("gateway", "inference", 4),
    ]


def _otlp(service: str, spans: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [
                        {"key": "service.name", "value": {"stringValue": service}},
                        {"key": "k8s.pod.name", "value": {"stringValue": f"{service}-7d9f8b6c5d-x2x9q"}},
                    ]
                },
                "scopeSpans": [{"scope": {"name": "io.opentelemetry.grpc"}, "spans": spans}],
            }
        ]
    }


def test_otlp_json_with_hex_and_base64_ids(tmp_path: Path, store: SqliteSpanStore) -> None:
    trace = "5b8efff798038103d269b633813fc60c"
    b64 = base64.b64encode(bytes.fromhex(trace)).decode()
    start = 1_790_000_000_000_000_000
    server = {
        "traceId": trace,
        "spanId": "eee19b7ec3c1b174",
        "parentSpanId": "",
        "name": "GET /checkout",
        "kind": 2,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(start + 250_000_000),
        "attributes": [{"key": "http.response.status_code", "value": {"intValue": "200"}}],
        "status": {},
    }
    child = {
        "traceId": b64,
        "spanId": base64.b64encode(bytes.fromhex("0102030405060708")).decode(),
        "parentSpanId": "eee19b7ec3c1b174",
        "name": "charge",
        "kind": "SPAN_KIND_SERVER",
        "startTimeUnixNano": str(start + 10_000_000),
        "endTimeUnixNano": str(start + 200_000_000),
        "status": {"code": "STATUS_CODE_ERROR", "message": "card declined"},
    }
    file = tmp_path / "otlp.jsonl"  # the collector's file exporter: one request per line
    file.write_text(
        json.dumps(_otlp("checkout", [server])) + "\n" + json.dumps(_otlp("payment", [child])) + "\n"
    )
    result = store.ingest_file(file)
    assert (result.format, result.stored, result.refused_total) == ("otlp-json", 2, 0)
    spans = {s.service: s for s in store.trace(trace)}
    assert spans["payment"].span_id == "0102030405060708" and spans["payment"].parent_id == "eee19b7ec3c1b174"
    assert spans["payment"].error and not spans["checkout"].error
    assert spans["checkout"].duration_us == 250_000 and spans["checkout"].pod == "checkout-7d9f8b6c5d-x2x9q"
    edge = store.call_edges()[0]
    assert (edge.parent, edge.child, edge.calls, edge.errors, edge.p50_ms) == (
        "checkout",
        "payment",
        1,
        1,
        190.0,
    )
    pretty = tmp_path / "otlp.json"  # one request over many lines
    pretty.write_text(json.dumps(_otlp("checkout", [server | {"spanId": "aaaaaaaaaaaaaaaa"}]), indent=2))
    assert store.ingest_file(pretty).stored == 1


def test_json_lines_of_flat_spans_with_other_column_names(tmp_path: Path, store: SqliteSpanStore) -> None:
    rows = [
        {
            "trace_id": "T1",
            "span_id": "S1",
            "parent_span_id": None,
            "resource": {"service.name": "gateway"},
            "name": "POST /rank",
            "start_time": "2026-11-24T02:10:00Z",
            "duration_ms": 120.5,
            "status_code": 503,
        },
        {
            "trace_id": "T1",
            "span_id": "S2",
            "parent_span_id": "S1",
            "resource": {"service.name": "ranker"},
            "name": "rank",
            "start_time": "2026-11-24T02:10:00.010Z",
            "duration_ms": 100,
        },
        {
            "trace_id": "T1",
            "span_id": "S3",
            "parent_span_id": "S1",
            "name": "no service here",
            "start_time": "2026-11-24T02:10:00.010Z",
            "duration_ms": 1,
        },
    ]
    file = tmp_path / "spans.jsonl"
    file.write_text("\n".join(json.dumps(r) for r in rows) + "\nnot json\n")
    result = store.ingest_file(file)
    assert (result.format, result.stored) == ("jsonl", 2)
    assert result.refused == {"a span needs service or pod": 1, "not JSON": 1}
    gateway, ranker = store.trace("T1")
    assert gateway.parent_id is None and gateway.error and gateway.duration_us == 120_500
    assert ranker.start_us == 1_795_486_200_010_000 and ranker.duration_us == 100_000


@pytest.mark.parametrize(
    ("pod", "service"),
    [
        ("frontend-579b9bff58-t2dbm", "frontend"),
        ("productcatalogservice-668d5f85fb-wckp8", "productcatalogservice"),
        ("redis-cart-7b5d4c8f9-zx8vq", "redis-cart"),
        ("node-exporter-x7k2p", "node-exporter"),
        ("kafka-2", "kafka"),
        ("frontend-proxy-cache", "frontend-proxy-cache"),  # words, not generated suffixes
        ("ranker", "ranker"),
    ],
)
def test_pod_names_map_to_their_service(pod: str, service: str) -> None:
    assert service_of_pod(pod) == service


def _augur(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AUGUR_")}
    return subprocess.run(
        [AUGUR, "traces", "ingest", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**clean, "AUGUR_DATA_DIR": str(tmp_path / "data"), **(env or {})},
        check=False,
    )


def test_the_ingest_command_counts_and_exits_as_a_user_expects(tmp_path: Path) -> None:
    csv_file = write_nezha_csv(tmp_path / "07_03_trace.csv")
    notes = tmp_path / "notes.txt"
    notes.write_text("not spans\n")
    first = _augur(tmp_path, str(csv_file), str(notes))
    assert first.returncode == 0, first.stderr  # one file was read
    assert f"{csv_file} (csv): 24 spans stored, 0 duplicates, 0 refused" in first.stdout
    assert f"error: {notes}: the header not spans has no column for trace id" in first.stderr
    again = _augur(tmp_path, str(csv_file))
    assert again.returncode == 0 and "0 spans stored, 24 duplicates" in again.stdout
    assert SqliteSpanStore(tmp_path / "data" / "traces.db").count() == 24
    nothing = _augur(tmp_path, str(notes), str(tmp_path / "missing.csv"))
    assert nothing.returncode == 1 and "no span could be read" in nothing.stderr
    assert "missing.csv: No such file or directory" in nothing.stderr and "Traceback" not in nothing.stderr
    elsewhere = tmp_path / "elsewhere.db"
    moved = _augur(tmp_path, str(csv_file), env={"AUGUR_TRACE_DB": str(elsewhere)})
    assert moved.returncode == 0 and SqliteSpanStore(elsewhere).count() == 24


def _first_trace_csv(target: Path) -> Path:
    archive = NEZHA / "nezha-ob-rca_data.tar.xz"
    if not archive.is_file():
        pytest.skip(f"the Nezha dataset is not at {NEZHA} (see ../shared/datasets/README.md)")
    with tarfile.open(archive, "r:xz") as tar:
        for member in tar:
            if member.isfile() and "/trace/" in member.name and member.name.endswith("_trace.csv"):
                out = target / Path(member.name).name
                source = tar.extractfile(member)
                assert source is not None
                out.write_bytes(source.read())
                return out
    pytest.skip("no trace CSV in the Nezha archive")


@pytest.mark.slow
def test_a_real_nezha_trace_file(tmp_path: Path, store: SqliteSpanStore) -> None:
    """One real trace CSV of Nezha's Online Boutique, extracted into a tmp dir (never the repo)."""
    file = _first_trace_csv(tmp_path)
    rows = sum(1 for _ in file.open()) - 1
    result = store.ingest_file(file)
    assert result.stored == rows and result.refused_total == 0, result.refused
    assert {"frontend", "productcatalogservice", "cartservice", "currencyservice"} <= set(store.services())
    edges = {(e.parent, e.child) for e in store.call_edges()}
    assert ("frontend", "productcatalogservice") in edges and ("checkoutservice", "paymentservice") in edges
    assert all(not s.endswith(tuple("0123456789")) for s in store.services())  # pod suffixes stripped


def test_spread_takes_traces_evenly_over_the_range(tmp_path: Path, store: SqliteSpanStore) -> None:
    store.ingest_file(write_nezha_csv(tmp_path / "t.csv", traces=6))
    t0 = T0_NS / 1e9
    assert store.trace_ids("frontend", t0, t0 + 10, limit=2) == [f"{i:031x}" for i in (5, 4)]
    assert store.trace_ids("frontend", t0, t0 + 10, limit=2, spread=True) == [f"{i:031x}" for i in (5, 2)]
