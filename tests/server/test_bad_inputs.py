"""Bad input on every write endpoint, on SQLite and PostgreSQL: a 4xx naming the field, nothing written.

One table of cases across the webhook, ``POST /v1/investigations``, the proposal review endpoints,
the Slack routes and the id-taking reads; each runs on both stores (the ``store`` fixture) and must
answer the same status with a reason that names what to fix, and leave every table as it was.
No real Slack is involved: Slack's requests are signed here the way Slack signs them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from augur.server.store.database import Store
from augur.server.web.app import create_app
from tests.fixtures.alerts import GO_ZERO_TIME, alert, notification
from tests.fixtures.slack_api import signed_headers
from tests.server.conftest import ADMIN_TOKEN, TOKEN, row_counts, settings_for

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
HOOK = "/v1/alertmanager"
INV = "/v1/investigations"
VERDICT = "/v1/incidents/1/verdict"


@dataclass
class Case:
    """One bad request and what augur must answer."""

    name: str
    path: str
    body: Any = None
    status: int = 422
    names: str = ""  # a substring of the reason: the field (or limit) it names
    method: str = "POST"
    raw: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    #: Signed as Slack signs, at request time (a signature made at collection is stale past 300 s).
    slack_signed: bool = False


def _hook(**overrides: Any) -> dict[str, Any]:
    one = alert("HighLatency", service="ranker")
    one.update(overrides)
    return notification([one])


def _labels(labels: dict[str, str]) -> dict[str, Any]:
    body = _hook()
    body["alerts"][0]["labels"] = labels
    return body


def _alert(**overrides: Any) -> dict[str, Any]:
    one = alert("HighLatency", service="ranker")
    one.update(overrides)
    return one


def _slack(content_type: str = "application/json") -> dict[str, str]:
    return {"Content-Type": content_type}


SLACK_NUL_EVENT = json.dumps(
    {"type": "event_callback", "event_id": "Ev1\u0000", "event": {"type": "app_mention", "text": "hi"}}
).encode()
SLACK_NUL_COMMAND = b"command=%2Faugur&text=why%00&channel_id=C1&user_id=U1&response_url=https%3A%2F%2Fx"
SLACK_NUL_ACTION = b"payload=" + json.dumps({"type": "block_actions", "user": {"id": "U\u0000"}}).encode()
BIG = "x" * (2 * 1024 * 1024)

CASES = [
    # The webhook.
    Case("webhook: not JSON", HOOK, raw=b"{not json", status=400, names="not valid JSON"),
    Case("webhook: a list", HOOK, body=[1], names="JSON object"),
    Case("webhook: version 3", HOOK, body={**_hook(), "version": "3"}, names="version"),
    Case("webhook: no alerts", HOOK, body={**_hook(), "alerts": []}, names="alerts"),
    Case("webhook: empty groupKey", HOOK, body={**_hook(), "groupKey": ""}, names="groupKey"),
    Case("webhook: empty labels", HOOK, body=_labels({}), names="alerts.0.labels"),
    Case(
        "webhook: empty label name", HOOK, body=_labels({"": "x", "alertname": "A"}), names="alerts.0.labels"
    ),
    Case(
        "webhook: label value not a string",
        HOOK,
        body=_labels({"alertname": 3}),  # type: ignore[dict-item]
        names="alerts.0.labels",
    ),
    Case(
        "webhook: huge label value",
        HOOK,
        body=_labels({"alertname": "A", "pod": "p" * 20_000}),
        names="alerts.0.labels.pod",
    ),
    Case(
        "webhook: 300 labels", HOOK, body=_labels({f"l{i}": "v" for i in range(300)}), names="alerts.0.labels"
    ),
    Case(
        "webhook: NUL in a label value",
        HOOK,
        body=_labels({"alertname": "A\u0000"}),
        names="alerts.0.labels.alertname",
    ),
    Case("webhook: NUL in a label name", HOOK, body=_labels({"alert\u0000name": "A"}), names="NUL"),
    Case(
        "webhook: NUL in an annotation",
        HOOK,
        body=_hook(annotations={"summary": "a\u0000b"}),
        names="alerts.0.annotations.summary",
    ),
    Case("webhook: NUL in groupKey", HOOK, body={**_hook(), "groupKey": "g\u0000"}, names="groupKey"),
    Case("webhook: zero startsAt", HOOK, body=_hook(startsAt=GO_ZERO_TIME), names="alerts.0.startsAt"),
    Case(
        "webhook: endsAt before startsAt",
        HOOK,
        body=_hook(status="resolved", startsAt="2026-11-24T10:00:00Z", endsAt="2026-11-24T09:00:00Z"),
        names="alerts.0.endsAt",
    ),
    Case("webhook: bad status", HOOK, body=_hook(status="burning"), names="alerts.0.status"),
    Case("webhook: startsAt not a time", HOOK, body=_hook(startsAt="yesterday"), names="alerts.0.startsAt"),
    Case("webhook: no fingerprint", HOOK, body=_hook(fingerprint=""), names="alerts.0.fingerprint"),
    Case(
        "webhook: fingerprint too long", HOOK, body=_hook(fingerprint="f" * 65), names="alerts.0.fingerprint"
    ),
    Case(
        "webhook: negative truncatedAlerts",
        HOOK,
        body={**_hook(), "truncatedAlerts": -1},
        names="truncatedAlerts",
    ),
    Case(
        "webhook: Content-Length over the limit",
        HOOK,
        raw=b"{}",
        status=413,
        names="limit",
        headers={"Content-Length": str(11 * 1024 * 1024)},
    ),
    # POST /v1/investigations.
    Case("investigation: neither alert nor question", INV, body={}, names="exactly one"),
    Case("investigation: both", INV, body={"alert": _alert(), "question": "why?"}, names="exactly one"),
    Case("investigation: NUL in the question", INV, body={"question": "why\u0000"}, names="question"),
    Case(
        "investigation: NUL in a label",
        INV,
        body={"question": "why", "labels": {"svc": "a\u0000"}},
        names="labels.svc",
    ),
    Case(
        "investigation: NUL in the alert",
        INV,
        body={"alert": _alert(labels={"alertname": "A\u0000"})},
        names="alert.labels.alertname",
    ),
    Case(
        "investigation: alert with empty labels", INV, body={"alert": _alert(labels={})}, names="alert.labels"
    ),
    Case(
        "investigation: alert with zero startsAt",
        INV,
        body={"alert": _alert(startsAt=GO_ZERO_TIME)},
        names="alert.startsAt",
    ),
    Case(
        "investigation: alert endsAt before startsAt",
        INV,
        body={"alert": _alert(startsAt="2026-11-24T10:00:00Z", endsAt="2026-11-24T09:00:00Z")},
        names="alert.endsAt",
    ),
    Case(
        "investigation: webhook body with an empty-labelled alert",
        INV,
        body={"alert": _labels({})},
        names="alert.alerts.0.labels",
    ),
    Case(
        "investigation: webhook body with no alerts",
        INV,
        body={"alert": {**_hook(), "alerts": []}},
        names="alert.alerts",
    ),
    Case(
        "investigation: huge label value in the alert",
        INV,
        body={"alert": _alert(labels={"alertname": "A", "v": "x" * 20_000})},
        names="alert.labels.v",
    ),
    Case(
        "investigation: end before start",
        INV,
        body={"question": "why", "start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
        names="end",
    ),
    Case(
        "investigation: zero start",
        INV,
        body={"question": "why", "start": "0001-01-01T00:00:00Z"},
        names="start",
    ),
    Case(
        "investigation: naive start",
        INV,
        body={"question": "why", "start": "2026-01-01T00:00:00"},
        names="start",
    ),
    Case("investigation: question too long", INV, body={"question": "q" * 2001}, names="question"),
    Case(
        "investigation: 2 MiB body",
        INV,
        body={"question": "why", "labels": {"big": BIG}},
        status=413,
        names="limit",
    ),
    Case("investigation: not JSON", INV, raw=b"{nope", names="body"),
    # Proposal review.
    Case(
        "approve: NUL in the comment",
        "/v1/proposals/p1/approve",
        body={"comment": "ok\u0000"},
        names="comment",
    ),
    Case(
        "reject: comment too long", "/v1/proposals/p1/reject", body={"comment": "c" * 2001}, names="comment"
    ),
    Case(
        "approve: 2 MiB comment", "/v1/proposals/p1/approve", body={"comment": BIG}, status=413, names="limit"
    ),
    # Slack (signed as Slack signs).
    Case(
        "slack event: NUL",
        "/slack/events",
        raw=SLACK_NUL_EVENT,
        headers=_slack(), slack_signed=True,
        names="event_id",
    ),
    Case(
        "slack command: NUL",
        "/slack/commands",
        raw=SLACK_NUL_COMMAND,
        headers=_slack("application/x-www-form-urlencoded"), slack_signed=True,
        names="text",
    ),
    Case(
        "slack action: NUL",
        "/slack/interactive",
        raw=SLACK_NUL_ACTION,
        headers=_slack("application/x-www-form-urlencoded"), slack_signed=True,
        names="user.id",
    ),
    Case(
        "slack event: not JSON", "/slack/events", raw=b"{x", headers=_slack(), slack_signed=True, status=400,
        names="JSON",
    ),
    # Verdicts (checked before the incident is looked up: incident 1 need not exist).
    Case("verdict: unknown word", VERDICT, body={"verdict": "maybe"}, names="verdict"),
    Case("verdict: missing", VERDICT, body={"note": "x"}, names="verdict"),
    Case("verdict: wrong without the real cause", VERDICT, body={"verdict": "wrong"}, names="real_cause"),
    Case("verdict: wrong with a blank cause", VERDICT, body={"verdict": "wrong", "real_cause": "  "},
         names="real_cause"),
    Case("verdict: a real cause on confirmed", VERDICT, body={"verdict": "confirmed", "real_cause": "x"},
         names="real_cause"),
    Case("verdict: a fault type on not actionable", VERDICT,
         body={"verdict": "not_actionable", "real_fault_type": "data_drift"}, names="real_fault_type"),
    Case("verdict: a fault type that is no key", VERDICT,
         body={"verdict": "wrong", "real_cause": "db", "real_fault_type": "Bad Model!"},
         names="real_fault_type"),
    Case("verdict: a cause over two lines", VERDICT, body={"verdict": "wrong", "real_cause": "db\nx"},
         names="real_cause"),
    Case("verdict: NUL in the note", VERDICT, body={"verdict": "not_actionable", "note": "a\u0000b"},
         names="note"),
    Case("verdict: a note too long", VERDICT, body={"verdict": "not_actionable", "note": "x" * 5000},
         names="note"),
    Case("verdict: on someone's behalf", VERDICT, body={"verdict": "confirmed", "by": "bob"}, names="by"),
    Case("verdict: not JSON", VERDICT, raw=b"{verdict", names="body"),
    Case("verdict: a list", VERDICT, body=["confirmed"], names="body"),
    Case("verdict: incident id 0", "/v1/incidents/0/verdict", body={"verdict": "confirmed"},
         names="incident_id"),
    Case("verdict: a huge incident id", "/v1/incidents/99999999999999999999/verdict",
         body={"verdict": "confirmed"}, names="incident_id"),
    Case(
        "slack verdict: an incident id that is not one",
        "/slack/interactive",
        raw=b"payload=" + json.dumps({"type": "block_actions", "user": {"id": "U1"}, "actions": [
            {"action_id": "verdict_confirmed", "value": "12; drop"}]}).encode(),
        headers=_slack("application/x-www-form-urlencoded"), slack_signed=True,
        names="actions.0.value",
    ),
    Case(
        "slack verdict: a wrong-menu value without the cause",
        "/slack/interactive",
        raw=b"payload=" + json.dumps({"type": "block_actions", "user": {"id": "U1"}, "actions": [
            {"action_id": "verdict_wrong", "selected_option": {"value": "12"}}]}).encode(),
        headers=_slack("application/x-www-form-urlencoded"), slack_signed=True,
        names="actions.0.selected_option.value",
    ),
    # Integer ids out of range (were a 500 OverflowError on SQLite, a DataError on PostgreSQL).
    Case("incident id past 64 bits", "/v1/incidents/99999999999999999999", method="GET", names="incident_id"),
    Case("incident id past 32 bits", "/v1/incidents/2147483648", method="GET", names="incident_id"),
    Case("report of id 0", "/v1/incidents/0/report", method="GET", names="incident_id"),
    Case(
        "report.md of a huge id",
        "/v1/incidents/99999999999999999999/report.md",
        method="GET",
        names="incident_id",
    ),
    Case(
        "postmortem of a huge id",
        "/v1/incidents/99999999999999999999/postmortem.json",
        method="GET",
        names="incident_id",
    ),
    Case("incident page of a huge id", "/incidents/99999999999999999999", method="GET", names="incident_id"),
    Case(
        "proposals of a huge incident",
        "/v1/proposals?incident_id=99999999999999999999",
        method="GET",
        names="incident_id",
    ),
]


@pytest.fixture
def bad_client(store: Store, store_url: str, tmp_path: Path) -> Iterator[TestClient]:
    settings = settings_for(
        store_url,
        data_dir=tmp_path,
        slack_bot_token="xoxb-test",
        slack_signing_secret=SECRET,
        slack_api_url="http://127.0.0.1:9/api/",
    )
    with TestClient(create_app(settings, store=store), client=("127.0.0.1", 50000)) as client:
        yield client


def test_the_table_has_at_least_40_bad_inputs_across_every_write_endpoint() -> None:
    assert len(CASES) >= 40
    assert {HOOK, INV, "/slack/events", "/slack/commands", "/slack/interactive"} <= {c.path for c in CASES}
    assert any("/v1/proposals/" in c.path for c in CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_gets_a_4xx_naming_the_field_and_writes_nothing(
    case: Case,
    bad_client: TestClient,
    store: Store,
) -> None:
    token = TOKEN if case.path == HOOK else ADMIN_TOKEN
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json", **case.headers}
    if case.path.startswith("/slack/"):
        headers.pop("Authorization")
    before = row_counts(store)
    content = (
        case.raw
        if case.raw is not None
        else (json.dumps(case.body).encode() if case.body is not None else None)
    )
    if case.slack_signed:
        headers.update(signed_headers(SECRET, content or b""))
    answer = bad_client.request(case.method, case.path, content=content, headers=headers)
    assert answer.status_code == case.status, answer.text[:500]
    reason = answer.json()["reason"]
    assert case.names in reason, reason
    assert "Traceback" not in reason and "internal_error" not in answer.text
    assert row_counts(store) == before
