"""Verdicts on the incident page, in Debian's headless Chromium against the app on a loopback uvicorn.

A reader signs in, sees the verdict form disabled with the reason, and a post of it anyway is
refused (403) with nothing stored. A reviewer signs in on the same page, says "Wrong" without
naming the cause (refused, with the reason, nothing stored), then "Wrong, it was ranker-serving",
then "Right": the page shows the latest verdict, who gave it and the history; the incidents page
shows the verdict and the live precision; ``/metrics`` agrees.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from augur.agent.report import Report
from augur.server.settings import Settings
from augur.server.store.database import Store
from augur.server.store.models import VerdictRow
from augur.server.web.app import create_app
from tests.fixtures.incidents import ranker_report, seed_incident
from tests.fixtures.serving import serving
from tests.rules.browser import Browser

__all__ = ["ranker_report"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("chromium") is None,
                       reason="Debian's chromium not installed: run make setup"),
]


@pytest.fixture
def served(tmp_path: Path, ranker_report: Report) -> Iterator[tuple[str, int, Store]]:
    store = Store.open(f"sqlite:///{tmp_path / 'augur.db'}")
    incident_id = seed_incident(store, ranker_report)
    settings = Settings(data_dir=tmp_path, worker_in_process=False, reviewer_tokens={"alice": "tok-alice"},
                        api_tokens={"reader": {"token": "tok-reader-0123456", "scopes": ["read"]}})  # type: ignore[arg-type]
    with serving(create_app(settings, store=store)) as url:
        yield url, incident_id, store
        store.dispose()


def _submit(browser: Browser, form: str, button: str, **fields: str) -> None:
    browser.js(
        f"(() => {{ const f = document.querySelector({json.dumps(form)});"
        f" for (const [k, v] of Object.entries({json.dumps(fields)}))"
        " f.querySelector(`[name=${k}]`).value = v;"
        f" f.querySelector({json.dumps(button)}).click(); }})()"
    )


def _sign_in(browser: Browser, url: str, token: str) -> None:
    browser.open(url)
    browser.wait_for("document.querySelector('form#login')")
    _submit(browser, "form#login", "button[type=submit]", token=token)
    browser.wait_for("document.querySelector('#judgement')")


def _count(store: Store) -> int:
    with store.read_session() as session:
        return int(session.scalar(select(func.count()).select_from(VerdictRow)) or 0)


def _text(browser: Browser, selector: str) -> str:
    value: str = browser.js(f"document.querySelector({json.dumps(selector)}).textContent")
    return value


def test_verdicts_on_the_page_as_the_signed_in_person_and_the_precision_they_make(
        served: tuple[str, int, Store], tmp_path: Path) -> None:
    base, incident, store = served
    page = f"{base}/incidents/{incident}"
    with Browser() as reader:
        _sign_in(reader, page, "tok-reader-0123456")
        assert reader.js("document.querySelector('#verdict-form fieldset').disabled") is True
        assert "verdict scope" in _text(reader, "#why-not")
        # Posting the form anyway (the fieldset re-enabled by hand) is refused, and stores nothing.
        reader.js("document.querySelector('#verdict-form fieldset').disabled = false")
        _submit(reader, "#verdict-form", "button.right")
        reader.wait_for("document.querySelector('form#login') && document.querySelector('#message')")
        assert "'verdict' scope" in _text(reader, "#message")
    assert _count(store) == 0

    with Browser() as alice:
        _sign_in(alice, page, "tok-alice")
        assert _text(alice, "#current-verdict").startswith("No verdict yet")
        assert _text(alice, "#judge") == "alice"
        _submit(alice, "#verdict-form", "button.wrong")
        alice.wait_for("document.querySelector('#message.flash.error')")
        assert "real_cause" in _text(alice, "#message") and _count(store) == 0

        _submit(alice, "#verdict-form", "button.wrong", real_cause="ranker-serving", fix="rolled back to v41")
        alice.wait_for("document.querySelector('#message') && !document.querySelector('#message.error')")
        assert "Verdict recorded: Wrong, it was ranker-serving" in _text(alice, "#message")
        current = _text(alice, "#current-verdict")
        assert current.startswith("Wrong — it was ranker-serving") and "by alice" in current
        assert "rolled back to v41" in current

        alice.open(f"{base}/")
        alice.wait_for("document.querySelector('#precision')")
        assert _text(alice, "#precision").startswith(
            "Root causes confirmed by people: 0% (0 right of 1 judged)")
        row = f"#incidents tr[data-id='{incident}'] td.judged"
        assert _text(alice, row) == "Wrong: ranker-serving"

        alice.open(page)
        _submit(alice, "#verdict-form", "button.right")
        alice.wait_for("document.querySelector('#message') && "
                       "document.querySelector('#message').textContent.includes('Right')")
        assert alice.js("document.querySelector('#current-verdict').dataset.verdict") == "confirmed"
        history = alice.js(
            "[...document.querySelectorAll('#verdict-history li')].map(li => li.textContent)")
        assert len(history) == 2 and "alice via page: Wrong" in history[0] and "Right" in history[1]
        alice.screenshot(tmp_path / "verdict.png")
        alice.open(f"{base}/")
        alice.wait_for("document.querySelector('#precision')")
        assert "100% (1 right of 1 judged)" in _text(alice, "#precision")
    assert _count(store) == 2

    reader_auth = {"Authorization": "Bearer tok-reader-0123456"}
    metrics = httpx.get(f"{base}/metrics", headers=reader_auth, timeout=10).text
    assert 'augur_verdicts{verdict="confirmed"} 1.0' in metrics
    assert 'augur_verdicts{verdict="wrong"} 0.0' in metrics
    assert "augur_root_cause_precision 1.0" in metrics
