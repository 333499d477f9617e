"""The onset and drift tools when Prometheus is slow or answers garbage: error evidence, never a raise.

No misbehaving Prometheus can be had for real, so a small loopback HTTP server stands in for
one (:class:`tests.fixtures.loopback.MisbehavingPrometheus`): it sleeps past the request timeout,
answers an HTML login page, a success envelope of the wrong shape, or HTTP 500. The tools talk to
it through augur's real Prometheus client (httpx) over TCP.
(Down and healthy Prometheus are tested in test_onset.py and test_drift.py.)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from augur.tools.base import Tool
from augur.tools.drift import DriftTool
from augur.tools.evidence import EvidenceStatus
from augur.tools.onset_tool import OnsetTool
from augur.tools.prometheus_api import PromLimits, connect
from tests.fixtures.loopback import MisbehavingPrometheus, misbehaving_prometheus

CALLS: dict[str, dict[str, Any]] = {
    "onset": {"query": "model_accuracy", "start": "now-1h", "end": "now"},
    "drift": {"histogram": "x_bucket", "current_start": "now-1h", "current_end": "now"},
}


@pytest.fixture(scope="module")
def backend() -> Iterator[MisbehavingPrometheus]:
    yield from misbehaving_prometheus(
        {"resultType": "vector", "result": [{"metric": {"le": "1"}, "values": "nope"}]}
    )


def make(name: str, server: MisbehavingPrometheus, timeout_s: float = 5.0) -> Tool:
    prom = connect(server.url, timeout_s=timeout_s)
    limits = PromLimits(request_timeout_s=timeout_s)
    return OnsetTool(prom, limits) if name == "onset" else DriftTool(prom, limits)


@pytest.mark.parametrize("name", ["onset", "drift"])
def test_slow_prometheus_times_out_as_error(backend: MisbehavingPrometheus, name: str) -> None:
    backend.mode = "slow"
    started = time.monotonic()
    evidence = asyncio.run(make(name, backend, timeout_s=0.3).run(CALLS[name]))
    assert time.monotonic() - started < 2.5
    assert evidence.status is EvidenceStatus.ERROR
    assert evidence.reason and "did not answer within the request timeout" in evidence.reason


@pytest.mark.parametrize("mode", ["html", "wrong-shape", "http500"])
@pytest.mark.parametrize("name", ["onset", "drift"])
def test_garbage_answers_are_error_evidence(backend: MisbehavingPrometheus, name: str, mode: str) -> None:
    backend.mode = mode
    evidence = asyncio.run(make(name, backend).run(CALLS[name]))
    assert evidence.status is EvidenceStatus.ERROR, evidence
    assert evidence.reason
    if mode == "http500":
        assert "HTTP 500" in evidence.reason
    else:
        assert "did not answer like the Prometheus HTTP API" in evidence.reason
