"""A headless Debian Chromium driven over the DevTools protocol (websockets), for page tests.

No Selenium: Chromium's own remote-debugging endpoint is enough to navigate, run DOM queries,
submit forms and take screenshots. The browser gets a fresh profile and is stopped by its PID.
"""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx
from websockets.sync.client import ClientConnection, connect

from augur.evals.servers import stop_process

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--remote-allow-origins=*", "--window-size=1100,1400"]


class Browser:
    """One Chromium with one page."""

    def __init__(self, binary: str = "/usr/bin/chromium") -> None:
        self.profile = Path(tempfile.mkdtemp(prefix="augur-chromium-"))
        self.proc = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={self.profile}", "--remote-debugging-port=0", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
        )
        port_file = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.close()
                raise RuntimeError("chromium did not open its DevTools port: is Debian's chromium installed?")
            time.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=5).json()
        page = next(t for t in targets if t["type"] == "page")
        opening = connect(page["webSocketDebuggerUrl"], max_size=64 * 1024 * 1024)
        self.ws: ClientConnection = opening.__enter__()
        self._ids = itertools.count(1)

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Call a DevTools method and return its result (events in between are ignored)."""
        call_id = next(self._ids)
        self.ws.send(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv(timeout=30))
            if message.get("id") == call_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result

    def js(self, expression: str) -> Any:
        """Evaluate JavaScript in the page and return its (JSON) value."""
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, condition: str, timeout_s: float = 10.0) -> None:
        """Wait until the JavaScript ``condition`` is true (after a navigation or a form post)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if self.js(f"document.readyState === 'complete' && !!({condition})"):
                    return
            except RuntimeError:
                pass  # the page is between documents
            time.sleep(0.05)
        raise TimeoutError(f"{condition} not true after {timeout_s} s; page: {self.js('document.URL')}")

    def open(self, url: str) -> None:
        """Navigate and wait for the load."""
        self.send("Page.navigate", url=url)
        self.wait_for(f"document.URL === {json.dumps(url)}")

    def screenshot(self, path: Path) -> Path:
        """The whole page as a PNG."""
        data = self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        """Stop our browser (by PID) and delete its profile."""
        if getattr(self, "ws", None) is not None:
            self.ws.close()
        stop_process(self.proc)
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
