"""Bounded requests through a real uvicorn: a body that never fully arrives is answered 408 and closed."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from augur.server.store.database import Store
from augur.server.web.app import create_app
from tests.fixtures.serving import serving
from tests.server.conftest import ADMIN_TOKEN, TOKEN, row_counts, settings_for


def _send_partial(base: str, path: str, token: str, declared: int, sent: bytes) -> tuple[bytes, float]:
    host, port = base.removeprefix("http://").split(":")
    started = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        head = (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {declared}\r\n\r\n")
        sock.sendall(head.encode() + sent)
        answer = b""
        while chunk := sock.recv(65536):  # read until the server closes the connection
            answer += chunk
    return answer, time.monotonic() - started


def test_a_body_shorter_than_its_content_length_gets_408_and_the_connection_closes(
    store: Store, store_url: str, tmp_path: Path,
) -> None:
    settings = settings_for(store_url, data_dir=tmp_path, http_body_timeout_seconds=1.0)
    before = row_counts(store)
    with serving(create_app(settings, store=store)) as base:
        for path, token in (("/v1/investigations", ADMIN_TOKEN), ("/v1/alertmanager", TOKEN)):
            answer, took = _send_partial(base, path, token, declared=1000, sent=b"{")
            status_line = answer.split(b"\r\n", 1)[0]
            assert status_line == b"HTTP/1.1 408 Request Timeout", answer[:300]
            assert b'"error":"body_timeout"' in answer and b"AUGUR_HTTP_BODY_TIMEOUT_SECONDS" in answer
            assert took < 5, f"{path}: answered after {took:.1f} s"
    assert row_counts(store) == before
