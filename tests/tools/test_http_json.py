"""One way to read an HTTP backend's JSON: the failures MLflow and Jaeger adapters report alike.

A real uvicorn on loopback answers slowly, with a proxy's HTML error page, or with a JSON error;
a closed loopback port is a backend that is down.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.responses import HTMLResponse, JSONResponse

from augur.evals.servers import free_port
from augur.tools.base import ToolError, Unavailable
from augur.tools.http_json import JsonAnswer, JsonBackend
from augur.tools.model_registry import ModelRegistryTool
from augur.tools.traces import TraceSearchTool
from tests.fixtures.serving import serving


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/slow")
    async def slow() -> dict[str, str]:
        await asyncio.sleep(2)
        return {}

    @app.get("/proxy")
    async def proxy() -> HTMLResponse:
        return HTMLResponse("<html>\n  <body>502   Bad Gateway</body></html>", status_code=502)

    @app.get("/broken")
    async def broken() -> JSONResponse:
        return JSONResponse({"message": "storage down"}, status_code=500)

    return app


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with serving(_app()) as base:
        yield base


def _backend(base: str) -> JsonBackend:
    return JsonBackend("Thing", base, 0.5, down="is it running?", not_json="check THING_URL",
                       slow="narrow the window")


def _get(backend: JsonBackend, path: str) -> JsonAnswer:
    return asyncio.run(backend.get(None, f"{backend.base_url}{path}", {}))


def test_timeouts_outages_and_answers_that_are_not_json_say_what_to_check(url: str) -> None:
    backend = _backend(url)
    with pytest.raises(ToolError) as late:
        _get(backend, "/slow")
    assert str(late.value) == f"Thing at {url} did not answer within 0.5 s: narrow the window"
    assert late.value.retryable

    with pytest.raises(ToolError) as page:
        _get(backend, "/proxy")
    assert str(page.value) == (f"{url}/proxy answered HTTP 502 with something that is not JSON "
                               "(starts '<html> <body>502 Bad Gateway</body></html>'): check THING_URL")

    dead = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(Unavailable) as down:
        _get(_backend(dead), "/x")
    assert str(down.value).startswith(f"cannot reach Thing at {dead} (ConnectError: ")
    assert str(down.value).endswith("): is it running?") and down.value.retryable


def test_a_json_error_is_returned_for_the_adapter_to_read(url: str) -> None:
    answer = _get(_backend(url), "/broken")
    assert (answer.status, answer.body) == (500, {"message": "storage down"})
    assert str(answer.refused("storage down", "check Thing")) == (
        f"{url}/broken answered HTTP 500: storage down: check Thing")
    assert str(answer.refused("x" * 1000)).endswith(": " + "x" * 300)


def test_mlflow_and_jaeger_report_a_down_backend_the_same_way() -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    runs: list[tuple[str, Any, dict[str, Any]]] = [
        ("MLflow", ModelRegistryTool.mlflow(None, dead), {"model": "ranker"}),
        ("Jaeger", TraceSearchTool.jaeger(None, dead), {"service": "gateway", "start": "now-1h"}),
    ]
    for name, tool, args in runs:
        ev = asyncio.run(tool.run(args))
        # Configured but not answering is an outage: retried later, for Jaeger as for MLflow.
        assert ev.status == "unavailable" and ev.retryable, (name, ev.reason)
        assert (ev.reason or "").startswith(f"cannot reach {name} at {dead}"), ev.reason
