"""trace_search: which hop is slow, against a scripted Jaeger query service on loopback.

No Jaeger server installs here (``apt-cache policy jaeger-query`` finds no candidate and PyPI
ships none), so :class:`~tests.fixtures.jaeger.ScriptedJaeger` replays traces over real HTTP in
the documented shapes of Jaeger's query API (``/api/services``, ``/api/traces`` with times in
microseconds). The tool talks to it through its real ``httpx`` client. ``test_real_jaeger`` runs
against a real query service when ``AUGUR_TEST_JAEGER_URL`` is set.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from augur.server.settings import Settings
from augur.server.toolbox import build_registry
from augur.tools.evidence import Evidence, EvidenceStatus
from augur.tools.traces import TraceLimits, TraceSearchTool
from tests.fixtures.jaeger import ScriptedJaeger, request_trace
from tests.fixtures.loopback import serving

T0 = 1_790_000_000.0  # window start
CUT = T0 + 1800  # baseline end
ONSET = T0 + 2400  # the feature store slows down here
END = T0 + 3600


def _platform_traces() -> list[dict[str, Any]]:
    """One request every 45 s; feature store 50 ms until ONSET, then 400 ms; 2 gateway 503s."""
    traces = []
    for i in range(80):
        ts = T0 + 10 + i * 45
        slow = ts >= ONSET
        feature = 400.0 if slow else 50.0
        traces.append(
            request_trace(f"t{i:03d}", ts, feature, inference_ms=30.0 + i % 2, error=slow and i % 10 == 0)
        )
    return traces


@pytest.fixture
def jaeger() -> Iterator[ScriptedJaeger]:
    with serving(ScriptedJaeger(_platform_traces())) as server:
        yield server


def _search(url: str, limits: TraceLimits | None = None, **args: Any) -> Evidence:
    async def go() -> Evidence:
        async with httpx.AsyncClient() as http:
            tool = TraceSearchTool.jaeger(http, url, limits)
            return await tool.run(
                {"service": "gateway", "start": T0, "end": END, "baseline_end": CUT, **args}
            )

    return asyncio.run(go())


def test_names_the_feature_store_hop_that_grew(jaeger: ScriptedJaeger) -> None:
    ev = _search(jaeger.url)
    assert ev.status is EvidenceStatus.OK, ev.reason
    grown = ev.data["grown"]
    assert (grown["service"], grown["operation"]) == ("feature-store", "get_features")
    assert grown["baseline_p50_ms"] == pytest.approx(50, abs=3) and grown["p50_ms"] == pytest.approx(
        400, abs=3
    )
    assert grown["quantile"] == 50 and grown["ratio"] == pytest.approx(8, rel=0.1)
    assert grown["first_slow"] == pytest.approx(T0 + 10 + 54 * 45)  # the first request at/after ONSET
    assert "feature-store get_features self p50 50 ms → 400 ms (×8.0)" in ev.summary
    hops = {(h["service"], h["operation"]): h for h in ev.data["hops"]}
    # Self time: the gateway's own 10 ms, not its slow child's 400 ms.
    assert hops[("gateway", "POST /rank")]["self_ms"]["p50"] == pytest.approx(10, abs=0.01)
    assert hops[("gateway", "POST /rank")]["duration_ms"]["p50"] > 400
    assert hops[("inference", "predict")]["self_ms"]["p50"] == pytest.approx(30.5, abs=0.6)
    assert hops[("gateway", "POST /rank")]["errors"] == 2 and ev.data["error_spans"] == 2
    assert ev.data["critical_path_slowest"]["service"] == "feature-store"
    assert ev.data["traces"] == {"baseline": 40, "incident": 40}
    # Jaeger takes microseconds: the baseline window ends at CUT.
    starts = sorted(int(q["start"]) for path, q in jaeger.requests if path == "/api/traces")
    assert starts == [int(T0 * 1e6), int(CUT * 1e6)]
    assert ev.source_url and ev.source_url.startswith(f"{jaeger.url}/search?service=gateway")


def test_no_hop_grew_before_the_onset(jaeger: ScriptedJaeger) -> None:
    ev = _search(jaeger.url, end=ONSET - 1, baseline_end=T0 + 900)
    assert ev.status is EvidenceStatus.OK and ev.data["grown"] is None
    assert "no hop's self time grew" in ev.summary


def test_guards_say_what_was_cut(jaeger: ScriptedJaeger) -> None:
    ev = _search(jaeger.url, limit=10)
    assert ev.data["traces"] == {"baseline": 10, "incident": 10}
    assert "incident traces: at the limit of 10 (more may exist; narrow the window)" in ev.truncated
    ev = _search(jaeger.url, TraceLimits(max_spans=60, max_hops=2))
    assert any(t.startswith("spans read: 240 -> 60") for t in ev.truncated)
    assert "hops: 3 -> 2 (most self time first)" in ev.truncated and len(ev.data["hops"]) == 2


def test_unknown_service_is_empty_and_names_the_known_ones(jaeger: ScriptedJaeger) -> None:
    ev = _search(jaeger.url, service="ranker")
    assert ev.status is EvidenceStatus.EMPTY
    assert "no service 'ranker'" in (ev.reason or "") and "feature-store" in (ev.reason or "")


def test_down_is_unavailable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ev = _search(f"http://127.0.0.1:{port}")
    assert ev.status is EvidenceStatus.UNAVAILABLE and "cannot reach Jaeger" in (ev.reason or "")


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("slow", "did not answer within 0.5 s"),
        ("html", "not JSON"),
        ("wrong-shape", "is not Jaeger's trace list"),
        ("error", "HTTP 500: storage backend down"),
    ],
)
def test_misbehaving_jaeger_is_an_error(jaeger: ScriptedJaeger, mode: str, expected: str) -> None:
    jaeger.mode = mode
    ev = _search(jaeger.url, TraceLimits(request_timeout_s=0.5))
    assert ev.status is EvidenceStatus.ERROR
    assert expected in (ev.reason or ""), ev.reason


def test_real_jaeger() -> None:
    """Against a real Jaeger query service (its HTTP port, e.g. http://127.0.0.1:16686)."""
    url = os.environ.get("AUGUR_TEST_JAEGER_URL")
    if not url:
        pytest.skip("set AUGUR_TEST_JAEGER_URL to a Jaeger query service to run this test")
    services = httpx.get(f"{url.rstrip('/')}/api/services", timeout=10).json()["data"] or ["jaeger-query"]

    async def go() -> Evidence:
        tool = TraceSearchTool.jaeger(None, url)
        return await tool.run({"service": services[0], "start": "now-1h", "end": "now"})

    ev = asyncio.run(go())
    assert ev.status in (EvidenceStatus.OK, EvidenceStatus.EMPTY), ev.reason
    if ev.status is EvidenceStatus.OK:
        assert ev.data["hops"] and all(h["self_ms"]["p50"] is not None for h in ev.data["hops"])


def test_toolbox_builds_trace_search_from_settings(jaeger: ScriptedJaeger, tmp_path: Path) -> None:
    unset = build_registry(Settings(data_dir=tmp_path)).call("trace_search", {"service": "gateway"})
    ev = asyncio.run(unset)
    assert ev.status is EvidenceStatus.UNAVAILABLE and "AUGUR_JAEGER_URL" in (ev.reason or "")
    registry = build_registry(Settings(data_dir=tmp_path, jaeger_url=jaeger.url))
    args = {"service": "gateway", "start": T0, "end": END, "baseline_end": CUT}
    for _ in range(2):  # each call in its own event loop, as `augur tool run` does
        ev = asyncio.run(registry.call("trace_search", args))
        assert ev.status is EvidenceStatus.OK and ev.data["grown"]["service"] == "feature-store"


def test_the_embedded_store_answers_like_jaeger(jaeger: ScriptedJaeger, tmp_path: Path) -> None:
    """The same traces ingested as a Jaeger JSON file: trace_search without AUGUR_JAEGER_URL reads the
    span store and gives the same evidence (hops, critical path, the hop that grew), only the backend
    differs."""
    from augur.tools.span_store import SqliteSpanStore

    export = tmp_path / "export.json"
    export.write_text(json.dumps({"data": _platform_traces()}))
    assert SqliteSpanStore(tmp_path / "traces.db").ingest_file(export).stored == 240
    args = {"service": "gateway", "start": T0, "end": END, "baseline_end": CUT}
    stored = asyncio.run(build_registry(Settings(data_dir=tmp_path)).call("trace_search", args))
    served = asyncio.run(
        build_registry(Settings(data_dir=tmp_path, jaeger_url=jaeger.url)).call("trace_search", args)
    )
    assert stored.status is EvidenceStatus.OK, stored.reason
    assert stored.data["backend"] == f"sqlite:{tmp_path / 'traces.db'}" and stored.source_url is None
    assert stored.data["grown"]["service"] == "feature-store" and stored.data["grown"][
        "ratio"
    ] == pytest.approx(8, rel=0.1)
    assert {k: v for k, v in stored.data.items() if k != "backend"} == {
        k: v for k, v in served.data.items() if k != "backend"
    }
    assert stored.summary == served.summary
    unknown = asyncio.run(
        build_registry(Settings(data_dir=tmp_path)).call("trace_search", {**args, "service": "ranker"})
    )
    assert unknown.status is EvidenceStatus.EMPTY and "the span store knows no service 'ranker'" in (
        unknown.reason or ""
    )


def _checkout_spans(n: int = 120, onset_index: int = 60) -> list[Any]:
    """checkout POST /checkout -> client span 'charge' -> payment Charge; from ``onset_index`` on the
    call's wire time grows 2 -> 200 ms (the payment pod's network) and a third of the Charges fail,
    their error passing up through the client span and the root."""
    from augur.tools.span_store import Span

    spans = []
    for i in range(n):
        t0, slow = int((T0 + i * 30) * 1e6), i >= onset_index
        wire, fail = (200_000 if slow else 2_000), slow and i % 3 == 0
        tid = f"{i:032x}"
        spans += [
            Span(tid, f"{i:08x}root", None, "checkout", "POST /checkout", t0, wire + 23_000, error=fail),
            Span(
                tid,
                f"{i:08x}call",
                f"{i:08x}root",
                "checkout",
                "charge",
                t0 + 1_000,
                wire + 20_000,
                error=fail,
            ),
            Span(
                tid,
                f"{i:08x}serv",
                f"{i:08x}call",
                "payment",
                "Charge",
                t0 + 1_000 + wire // 2,
                20_000,
                error=fail,
            ),
        ]
    return spans


def test_a_client_hop_counts_for_its_callee_and_errors_where_they_start(tmp_path: Path) -> None:
    """From the embedded store: the slow call's wire time is payment's, the errors start in payment
    (not in checkout, which only passes them up), and checkout waits on payment."""
    from augur.tools.span_store import SqliteSpanStore

    SqliteSpanStore(tmp_path / "traces.db").ingest(_checkout_spans())
    args = {"service": "checkout", "start": T0, "end": T0 + 3600, "baseline_end": T0 + 60 * 30}
    ev = asyncio.run(build_registry(Settings(data_dir=tmp_path)).call("trace_search", args))
    assert ev.status is EvidenceStatus.OK, ev.reason
    grown = ev.data["grown"]
    assert (grown["service"], grown["operation"], grown["owner"], grown["callee"]) == (
        "checkout",
        "charge",
        "payment",
        "payment",
    )
    changes = {c["service"]: c for c in ev.data["services"]}
    assert set(changes) == {"payment"}  # checkout's own work did not change
    latency, errors = changes["payment"]["latency"], changes["payment"]["errors"]
    assert (
        latency["via"] == "call"
        and latency["before_ms"] == pytest.approx(2)
        and latency["after_ms"] == pytest.approx(200)
    )
    assert (
        errors["before_share"] == 0
        and errors["after_share"] == pytest.approx(20 / 60, abs=1e-4)
        and errors["z"] >= 3
    )
    waits = ev.data["waits_on"]
    assert (waits["service"], waits["via"], waits["caller"], waits["caller_self_grew"]) == (
        "payment",
        "call",
        "checkout",
        False,
    )
    assert [p["operation"] for p in waits["path"]] == ["POST /checkout", "charge"]
    assert (
        "checkout waits on payment: checkout charge p50 22 ms → 220 ms, the call's own time (wire, "
        "queue) grew" in ev.summary
    )
    assert "errors starting in payment (payment Charge): 0% → 33% of its spans" in ev.summary


def test_the_jaeger_case_waits_on_the_feature_store(jaeger: ScriptedJaeger) -> None:
    ev = _search(jaeger.url)
    waits = ev.data["waits_on"]
    assert (waits["service"], waits["via"], waits["caller"]) == ("feature-store", "self", "gateway")
    assert not waits["caller_self_grew"]
    assert [c["service"] for c in ev.data["services"]] == ["feature-store"]
