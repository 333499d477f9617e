"""The incident pages in Debian's headless Chromium, against ``augur serve``'s app on loopback.

A real report (the ranker's p99 alert investigated against the real Prometheus history fixture)
is stored as an incident; the browser opens ``/``, follows the incident's link to its page (chain
chart, candidates, evidence), follows the postmortem link, then an evidence row's link to the
Prometheus graph of its query — and every request the browser made stayed on loopback.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from augur.agent.report import Report
from augur.server.settings import Settings
from augur.server.store.database import Store
from augur.server.web.app import create_app
from tests.fixtures.incidents import ranker_report, seed_incident
from tests.fixtures.prometheus import PromHistory
from tests.fixtures.serving import serving
from tests.rules.browser import Browser

__all__ = ["ranker_report"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("chromium") is None,
                       reason="Debian's chromium not installed: run make setup"),
]


class RecordingBrowser(Browser):
    """A :class:`Browser` that keeps the URL of every request the page makes (DevTools Network events)."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        super().__init__()
        self.send("Network.enable")

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        call_id = next(self._ids)
        self.ws.send(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv(timeout=30))
            if message.get("method") == "Network.requestWillBeSent":
                self.requests.append(message["params"]["request"]["url"])
            if message.get("id") == call_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result


@pytest.fixture
def served(tmp_path: Path, ranker_report: Report, prom_history: PromHistory) -> Iterator[tuple[str, int]]:
    store = Store.open(f"sqlite:///{tmp_path / 'augur.db'}")
    incident_id = seed_incident(store, ranker_report)
    settings = Settings(data_dir=tmp_path, worker_in_process=False, dev_mode=True,
                        prometheus_url=prom_history.url)
    with serving(create_app(settings, store=store)) as url:
        yield url, incident_id
        store.dispose()


def test_incident_pages_link_to_the_report_postmortem_and_prometheus(
        served: tuple[str, int], ranker_report: Report, prom_history: PromHistory, tmp_path: Path) -> None:
    base, incident_id = served
    with RecordingBrowser() as browser:
        browser.open(f"{base}/")
        row = f"#incidents tr[data-id='{incident_id}']"
        assert browser.js(f'document.querySelector("{row} .root-cause").textContent').startswith(
            str(ranker_report.root_cause.component))
        assert browser.js(f'document.querySelector("{row} .confidence").textContent') == (
            f"{ranker_report.root_cause.confidence:.2f}")
        age = browser.js(f'document.querySelector("{row} .age").textContent')
        assert age.split()[-1] in ("s", "min", "h", "d")

        href = browser.js(f'document.querySelector("{row} a.incident").href')
        browser.open(href)
        assert browser.js("document.querySelector('#verdict').textContent").startswith("Root cause:")
        chart = browser.js("""(() => { const svg = document.querySelector('svg.chain-chart');
            const box = svg.getBoundingClientRect();
            return {links: svg.querySelectorAll('rect.link').length, width: box.width,
                    alert: !!svg.querySelector('line.alert')}; })()""")
        assert chart["links"] == len(ranker_report.chain) and chart["width"] > 500 and chart["alert"]
        changes = browser.js("[...document.querySelectorAll('#chain td.change')].map(td => td.textContent)")
        assert changes == [link.change for link in ranker_report.chain]  # the report's figures, as written
        rows = browser.js("document.querySelectorAll('#candidates tr').length")
        assert rows == len(ranker_report.candidates) + 1
        first = browser.js("document.querySelector('#narrative p').textContent")
        assert "changed first" in first  # the cause sentence leads "What happened"
        graph = browser.js("""(() => { const a = [...document.querySelectorAll('#evidence a.source')]
            .find(a => a.textContent === 'Prometheus graph'); return a ? a.href : null; })()""")
        assert graph is not None and graph.startswith(f"{prom_history.url}/graph?")
        browser.screenshot(tmp_path / "incident.png")

        browser.open(browser.js("document.querySelector('#postmortem-link').href"))
        browser.wait_for("document.querySelector('#facts')")
        facts = browser.js("document.querySelector('#facts').textContent")
        assert "time to detect" in facts and "severity" in facts
        assert browser.js("document.querySelectorAll('#actions td.owner').length") > 0
        pm_changes = browser.js("[...document.querySelectorAll('#chain td.change')].map(t => t.textContent)")
        assert pm_changes == changes  # the postmortem's chain reads the same
        assert browser.js("document.querySelector('#incident-link').getAttribute('href')") == (
            f"/incidents/{incident_id}")

        # The evidence link: Prometheus's own graph page for the query (Debian's redirects to /classic).
        browser.send("Page.navigate", url=graph)
        browser.wait_for(f"document.URL.startsWith({json.dumps(prom_history.url)}) && "
                         "document.title.includes('Prometheus')", timeout_s=20)
        assert "http_request_duration_seconds_bucket" in browser.js("decodeURIComponent(document.URL)")

        browser.open(f"{base}/review")
        assert browser.js("document.querySelector('header a[href=\"/\"]') !== null")

    hosts = {urlsplit(url).hostname for url in browser.requests if urlsplit(url).scheme in ("http", "https")}
    assert hosts == {"127.0.0.1"}, sorted(set(browser.requests))
    schemes = {urlsplit(url).scheme for url in browser.requests}
    assert schemes <= {"http", "data", "about", "blob"}, schemes
