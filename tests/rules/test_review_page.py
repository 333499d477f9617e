"""The review page in Debian's headless Chromium against the app on a loopback uvicorn: signed out
it shows only the sign-in form; signed in it lists a pending proposal with its backtest chart, an
unlisted reviewer is refused, a form posted from another origin with the reviewer's session is
refused (CSRF), and approving on the page itself changes the proposal's state."""

from __future__ import annotations

import http.server
import json
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import httpx
import pytest

from augur.evals.servers import free_port
from augur.server.settings import Settings
from augur.server.store.database import Store
from augur.server.store.proposals import SqlProposalStore
from augur.server.web.app import create_app
from tests.fixtures.serving import serving
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
    with serving(create_app(settings, store=store)) as url:
        yield url, SqlProposalStore(store)
        store.dispose()


def _submit(browser: Browser, form_selector: str, button: str, **fields: str) -> None:
    """Fill a form's fields and click one of its buttons, as a person would."""
    browser.js(
        f"(() => {{ const f = document.querySelector({json.dumps(form_selector)});"
        f" const values = {json.dumps(fields)};"
        " for (const [k, v] of Object.entries(values)) f.querySelector(`[name=${k}]`).value = v;"
        f" f.querySelector({json.dumps(button)}).click(); }})()"
    )


@contextmanager
def _foreign_site(tmp_path: Path, html_page: str) -> Iterator[str]:
    """Another origin (a second loopback port) serving one page: the attacker's site."""
    root = tmp_path / "evil"
    root.mkdir()
    (root / "index.html").write_text(html_page)
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/index.html"
    finally:
        server.shutdown()
        thread.join(5)


def _sign_in(browser: Browser, base: str, token: str) -> None:
    browser.open(f"{base}/review")
    browser.wait_for("document.querySelector('form#login')")
    _submit(browser, "form#login", "button[type=submit]", token=token)
    browser.wait_for("document.querySelector('#reviewer')")


def test_review_page_lists_charts_refuses_and_approves(
        served: tuple[str, SqlProposalStore], tmp_path: Path) -> None:
    base, repo = served
    proposal, _ = repo.add(drift_proposal())
    card = f"section.proposal[id='{proposal.id}']"
    with Browser() as browser:
        # Signed out, the page shows only the sign-in form: no proposal, no rule.
        browser.open(f"{base}/review")
        browser.wait_for("document.querySelector('form#login')")
        assert browser.js(f"document.querySelector(\"{card}\")") is None

        # eve has a reviewer token but is not on the allowlist: she sees the page, is refused.
        _sign_in(browser, base, "tok-eve")
        assert browser.js("document.querySelector('#reviewer').textContent") == "eve"
        # The session cookie is HttpOnly (scripts cannot read it) and holds no token.
        assert "augur_session" not in browser.js("document.cookie")
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
        _submit(browser, f"{card} form.actions", "button.approve", comment="let me")
        browser.wait_for("document.querySelector('#message.flash.error')")
        assert "not on the reviewer allowlist" in browser.js("document.querySelector('#message').textContent")
        assert repo.get(proposal.id).state.value == "pending"  # type: ignore[union-attr]
        _submit(browser, "header form", "button[type=submit]")
        browser.wait_for("document.querySelector('form#login')")

        # alice signs in once. A page of another origin posting a reject form with her cookie is
        # refused (Origin and CSRF token checked), and changes nothing.
        _sign_in(browser, base, "tok-alice")
        assert browser.js("document.querySelector('#reviewer').textContent") == "alice"
        evil = (f'<form id="f" method="post" action="{base}/review/{proposal.id}/reject">'
                '<input name="comment" value="rejected by alice (not)"></form>'
                "<script>document.getElementById('f').submit()</script>")
        with _foreign_site(tmp_path, evil) as evil_url:
            browser.send("Page.navigate", url=evil_url)  # it submits itself at once
            browser.wait_for(f"document.URL.startsWith({json.dumps(base)})")
            browser.wait_for("document.querySelector('#message')")
            assert "another site" in browser.js("document.querySelector('#message').textContent")
        assert repo.get(proposal.id).state.value == "pending"  # type: ignore[union-attr]
        assert len(repo.events(proposal.id)) == 1

        # The same-origin form works.
        browser.open(f"{base}/review")
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
