"""The review page in Debian's headless Chromium against the app on a loopback uvicorn: it lists a
pending proposal with its backtest chart, an unlisted reviewer is refused, and approving there
changes the proposal's state."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from augur.evals.servers import free_port
from augur.server.app import create_app
from augur.server.proposal_store import SqlProposalStore
from augur.server.settings import Settings
from augur.server.store import Store
from tests.rules.browser import Browser
from tests.rules.samples import drift_proposal

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("chromium") is None,
                       reason="Debian's chromium not installed: run make setup"),
]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, SqlProposalStore]]:
    store = Store.open(f"sqlite:///{tmp_path / 'augur.db'}")
    settings = Settings(data_dir=tmp_path, worker_in_process=False, reviewers=["alice"],
                        reviewer_tokens={"alice": "tok-alice", "eve": "tok-eve"})
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings, store=store), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", SqlProposalStore(store)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        store.dispose()


def _submit(browser: Browser, form_selector: str, button: str, **fields: str) -> None:
    """Fill a form's fields and click one of its buttons, as a person would."""
    browser.js(
        f"(() => {{ const f = document.querySelector({json.dumps(form_selector)});"
        f" const values = {json.dumps(fields)};"
        " for (const [k, v] of Object.entries(values)) f.querySelector(`[name=${k}]`).value = v;"
        f" f.querySelector({json.dumps(button)}).click(); }})()"
    )


def test_review_page_lists_charts_refuses_and_approves(
        served: tuple[str, SqlProposalStore], tmp_path: Path) -> None:
    base, repo = served
    proposal, _ = repo.add(drift_proposal())
    with Browser() as browser:
        browser.open(f"{base}/review")
        card = f"section.proposal[id='{proposal.id}']"
        assert browser.js(f"document.querySelector(\"{card} h2\").textContent").endswith(
            "RankerClickDurationDrift")
        chart = browser.js(f"""(() => {{
            const svg = document.querySelector("{card} svg.backtest");
            if (!svg) return null;
            const box = svg.getBoundingClientRect();
            const points = svg.querySelector('polyline.series').getAttribute('points');
            return {{points: points.trim().split(' ').length,
                     spans: svg.querySelectorAll('rect.fire-span').length,
                     threshold: !!svg.querySelector('line.threshold'),
                     incident: !!svg.querySelector('line.incident'),
                     width: box.width, height: box.height}};
        }})()""")
        assert chart is not None, "no backtest chart on the page"
        assert chart["points"] == 73 and chart["spans"] == 1 and chart["threshold"] and chart["incident"]
        assert chart["width"] > 600 and chart["height"] > 150  # actually laid out, not hidden
        assert "ev-0123456789ab" in browser.js(f"document.querySelector(\"{card} .rationale\").textContent")
        assert "model_drift_score" in browser.js(f"document.querySelector(\"{card} pre.rule\").textContent")
        browser.screenshot(tmp_path / "review.png")

        # eve has a token but is not on the allowlist: refused, nothing changes.
        _submit(browser, f"{card} form.actions", "button.approve", token="tok-eve", comment="let me")
        browser.wait_for("document.querySelector('#message.flash.error')")
        assert "not on the reviewer allowlist" in browser.js("document.querySelector('#message').textContent")
        assert repo.get(proposal.id).state.value == "pending"  # type: ignore[union-attr]

        # alice signs in once, then approves with a comment.
        browser.open(f"{base}/review")
        _submit(browser, "form#login", "button[type=submit]", token="tok-alice")
        browser.wait_for("document.querySelector('#reviewer')")
        assert browser.js("document.querySelector('#reviewer').textContent") == "alice"
        _submit(browser, f"{card} form.actions", "button.approve", comment="caught 30 min earlier")
        browser.wait_for("document.querySelector('#message') && "
                         "document.querySelector('#message').textContent.includes('approved')")
        assert browser.js(f"document.querySelector(\"{card}\")") is None  # no longer pending
        row = browser.js(f"document.querySelector(\"#decided tr[data-id='{proposal.id}']\").textContent")
        assert "approved" in row and "alice" in row and "caught 30 min earlier" in row

    stored = repo.get(proposal.id)
    assert stored is not None and stored.state.value == "approved"
    assert [(e.actor, e.comment) for e in repo.events(proposal.id)][-1] == ("alice", "caught 30 min earlier")
    # The API agrees, and a replayed approval changes nothing.
    replay = httpx.post(f"{base}/v1/proposals/{proposal.id}/approve",
                        headers={"Authorization": "Bearer tok-alice"}, timeout=10)
    assert replay.status_code == 200 and replay.json()["changed"] is False
