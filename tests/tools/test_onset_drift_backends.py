"""The onset and drift tools when Prometheus is slow or answers garbage: error evidence, never a raise.

No misbehaving Prometheus can be had for real, so a small loopback HTTP server stands in for
one: it sleeps past the request timeout, answers an HTML login page, a success envelope of the
wrong shape, or HTTP 500. The tools talk to it through the real prometheus-api-client.
(Down and healthy Prometheus are tested in test_onset.py and test_drift.py.)
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from augur.tools.base import Tool
from augur.tools.drift import DriftTool
from augur.tools.evidence import EvidenceStatus
from augur.tools.onset_tool import OnsetTool
from augur.tools.prometheus_api import PromLimits, connect

CALLS: dict[str, dict[str, Any]] = {
    "onset": {"query": "model_accuracy", "start": "now-1h", "end": "now"},
    "drift": {"histogram": "x_bucket", "current_start": "now-1h", "current_end": "now"},
}


class _Backend(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        mode = self.server.mode
        if mode == "slow":
            time.sleep(3.0)
            body, status, kind = b'{"status":"success","data":{"result":[]}}', 200, "json"
        elif mode == "html":
            body, status, kind = b"<html><body>Please log in</body></html>", 200, "html"
        elif mode == "wrong-shape":
            data = {"resultType": "vector", "result": [{"metric": {"le": "1"}, "values": "nope"}]}
            body, status, kind = json.dumps({"status": "success", "data": data}).encode(), 200, "json"
        else:
            body, status, kind = b"upstream connect error", 500, "plain"
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json" if kind == "json" else f"text/{kind}")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (the timeout case)

    do_POST = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    mode = "html"


@pytest.fixture(scope="module")
def backend() -> Iterator[_Server]:
    server = _Server(("127.0.0.1", 0), _Backend)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def make(name: str, server: _Server, timeout_s: float = 5.0) -> Tool:
    prom = connect(f"http://127.0.0.1:{server.server_address[1]}", timeout_s=timeout_s)
    limits = PromLimits(request_timeout_s=timeout_s)
    return OnsetTool(prom, limits) if name == "onset" else DriftTool(prom, limits)


@pytest.mark.parametrize("name", ["onset", "drift"])
def test_slow_prometheus_times_out_as_error(backend: _Server, name: str) -> None:
    backend.mode = "slow"
    started = time.monotonic()
    evidence = asyncio.run(make(name, backend, timeout_s=0.3).run(CALLS[name]))
    assert time.monotonic() - started < 2.5
    assert evidence.status is EvidenceStatus.ERROR
    assert evidence.reason and "did not answer within the request timeout" in evidence.reason


@pytest.mark.parametrize("mode", ["html", "wrong-shape", "http500"])
@pytest.mark.parametrize("name", ["onset", "drift"])
def test_garbage_answers_are_error_evidence(backend: _Server, name: str, mode: str) -> None:
    backend.mode = mode
    evidence = asyncio.run(make(name, backend).run(CALLS[name]))
    assert evidence.status is EvidenceStatus.ERROR, evidence
    assert evidence.reason
    if mode == "http500":
        assert "HTTP 500" in evidence.reason
    else:
        assert "did not answer like the Prometheus HTTP API" in evidence.reason
