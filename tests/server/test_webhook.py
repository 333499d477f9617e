"""The webhook intake on SQLite and PostgreSQL: idempotent, grouped, durable, strict about bad input."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from augur.server.store.database import Store, make_engine
from augur.server.store.models import AlertEpisode, Incident, IncidentEvent, Job
from augur.server.web.app import create_app
from tests.fixtures.alerts import alert, notification
from tests.fixtures.secrets import BUILTIN_SECRETS
from tests.fixtures.serving import serving
from tests.server.conftest import ADMIN_TOKEN, TOKEN, row_counts, settings_for


def _episodes(store: Store) -> list[AlertEpisode]:
    with store.read_session() as session:
        return list(session.scalars(select(AlertEpisode).order_by(AlertEpisode.id)))


def _incidents(store: Store) -> list[Incident]:
    with store.read_session() as session:
        return list(session.scalars(select(Incident).order_by(Incident.id)))


def _jobs(store: Store) -> list[Job]:
    with store.read_session() as session:
        return list(session.scalars(select(Job).order_by(Job.id)))


def test_a_new_group_opens_an_incident_and_enqueues_one_investigation(
    client: TestClient, store: Store
) -> None:
    body = notification(
        [
            alert("HighLatency", service="ranker-serving", severity="warning"),
            alert("HighLatency", service="ranker-serving", pod="p2", severity="critical"),
        ]
    )
    response = client.post("/v1/alertmanager", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["new_episodes"] == 2
    (incident,) = _incidents(store)
    assert (incident.status, incident.component, incident.severity) == ("open", "ranker-serving", "critical")
    assert incident.title == "HighLatency on ranker-serving"
    assert [(j.kind, j.payload, j.status) for j in _jobs(store)] == [
        ("investigate", {"incident_id": incident.id}, "queued")
    ]
    episodes = _episodes(store)
    assert {e.incident_id for e in episodes} == {incident.id}
    assert all(e.ends_at is None and e.status == "firing" for e in episodes)  # Go's zero endsAt is "none"


def test_replaying_a_webhook_five_times_stores_one_episode(client: TestClient, store: Store) -> None:
    body = notification([alert("GPUMemoryHigh", gpu="0", service="trainer")])
    for _ in range(5):
        assert client.post("/v1/alertmanager", json=body).status_code == 200
    assert len(_episodes(store)) == 1
    assert len(_incidents(store)) == 1
    assert len(_jobs(store)) == 1
    episode = _episodes(store)[0]
    assert episode.last_seen > episode.first_seen


def test_twenty_concurrent_overlapping_posts_to_four_replicas_store_no_duplicates(store_url: str) -> None:
    """20 posts at once over real HTTP to 4 app replicas, each with its own engine on the same database.

    The groups overlap (each notification carries alerts others carry too), so only the database's
    own serialisation (BEGIN IMMEDIATE on SQLite, the advisory lock on PostgreSQL) keeps episodes
    and incidents unique: each replica's group commit only orders its own posts.
    """
    alerts = [alert("QueueBacklog", service="feature-pipeline", shard=str(i)) for i in range(30)]
    bodies = [notification(alerts[i % 10 : i % 10 + 15]) for i in range(20)]
    stores = [Store.open(store_url, migrate=False) for _ in range(4)]
    apps = [create_app(settings_for(store_url), store=s) for s in stores]

    async def post_all(urls: list[str]) -> list[int]:
        clients = [httpx.AsyncClient(base_url=u, headers={"Authorization": f"Bearer {TOKEN}"}) for u in urls]
        try:
            responses = await asyncio.gather(
                *(clients[i % 4].post("/v1/alertmanager", json=b, timeout=60) for i, b in enumerate(bodies))
            )
        finally:
            for c in clients:
                await c.aclose()
        return [r.status_code for r in responses]

    try:
        with serving(apps[0]) as u0, serving(apps[1]) as u1, serving(apps[2]) as u2, serving(apps[3]) as u3:
            statuses = asyncio.run(post_all([u0, u1, u2, u3]))
        assert statuses == [200] * 20
        expected = {a["fingerprint"] for b in bodies for a in b["alerts"]}
        episodes = _episodes(stores[0])
        assert len(episodes) == len(expected) == 24
        assert {e.fingerprint for e in episodes} == expected
        assert len(_incidents(stores[0])) == 1, "one group key, one incident, however posts interleave"
        assert len(_jobs(stores[0])) == 1
    finally:
        for s in stores:
            s.dispose()


def test_resolving_every_alert_resolves_the_incident(client: TestClient, store: Store) -> None:
    firing = [
        alert("DriftHigh", model="ranker", feature="f1"),
        alert("DriftHigh", model="ranker", feature="f2"),
    ]
    client.post("/v1/alertmanager", json=notification(firing))
    half = [dict(firing[0], status="resolved", endsAt="2026-11-24T10:20:00Z"), firing[1]]
    client.post("/v1/alertmanager", json=notification(half))
    assert _incidents(store)[0].status == "open"
    done = [half[0], dict(firing[1], status="resolved", endsAt="2026-11-24T10:25:00Z")]
    assert client.post("/v1/alertmanager", json=notification(done)).json()["resolved_incidents"] == [1]
    (incident,) = _incidents(store)
    assert incident.status == "resolved"
    assert (
        incident.resolved_at is not None and incident.resolved_at.isoformat() == "2026-11-24T10:25:00+00:00"
    )
    assert sorted(e.ends_at.isoformat() for e in _episodes(store) if e.ends_at) == [
        "2026-11-24T10:20:00+00:00",
        "2026-11-24T10:25:00+00:00",
    ]
    # A late firing redelivery of a resolved episode does not reopen it.
    client.post("/v1/alertmanager", json=notification(firing))
    assert _incidents(store)[0].status == "resolved"
    assert len(_episodes(store)) == 2


def test_same_component_within_the_window_joins_the_open_incident(client: TestClient, store: Store) -> None:
    client.post("/v1/alertmanager", json=notification([alert("HighLatency", service="ranker")]))
    response = client.post("/v1/alertmanager", json=notification([alert("ErrorRate", service="ranker")]))
    assert response.json()["updated_incidents"] == [1]
    client.post("/v1/alertmanager", json=notification([alert("ErrorRate", service="other")]))
    incidents = _incidents(store)
    assert len(incidents) == 2
    with store.read_session() as session:
        kinds = session.scalars(
            select(IncidentEvent.kind).where(IncidentEvent.incident_id == 1).order_by(IncidentEvent.id)
        ).all()
    assert kinds == ["opened", "alerts_added"]


def test_a_refiring_alert_is_a_new_episode(client: TestClient, store: Store) -> None:
    first = alert("Down", job="api", starts_at="2026-11-24T10:00:00Z")
    client.post("/v1/alertmanager", json=notification([first]))
    client.post(
        "/v1/alertmanager", json=notification([dict(first, status="resolved", endsAt="2026-11-24T10:05:00Z")])
    )
    again = alert("Down", job="api", starts_at="2026-11-24T11:00:00Z")
    client.post("/v1/alertmanager", json=notification([again]))
    assert [e.starts_at.hour for e in _episodes(store)] == [10, 11]
    assert [i.status for i in _incidents(store)] == ["resolved", "open"]
    # One investigation per incident, and the resolved one's postmortem.
    assert [j.kind for j in _jobs(store)] == ["investigate", "postmortem", "investigate"]


def _malformed() -> list[tuple[str, bytes, int, str]]:
    good = notification([alert("X", service="s")])

    def without(key: str) -> bytes:
        return json.dumps({k: v for k, v in good.items() if k != key}).encode()

    def alert_without(key: str) -> bytes:
        a = {k: v for k, v in good["alerts"][0].items() if k != key}
        return json.dumps(dict(good, alerts=[a])).encode()

    return [
        ("not json", b"<html>hello</html>", 400, "invalid_json"),
        ("truncated json", json.dumps(good).encode()[:-7], 400, "invalid_json"),
        ("empty body", b"", 400, "invalid_json"),
        ("json array", b"[1, 2]", 422, "invalid_payload"),
        ("version 3", json.dumps(dict(good, version="3")).encode(), 422, "unsupported_version"),
        ("version missing", without("version"), 422, "unsupported_version"),
        ("alerts not a list", json.dumps(dict(good, alerts={"a": 1})).encode(), 422, "invalid_payload"),
        ("alerts empty", json.dumps(dict(good, alerts=[])).encode(), 422, "invalid_payload"),
        ("groupKey missing", without("groupKey"), 422, "invalid_payload"),
        ("fingerprint missing", alert_without("fingerprint"), 422, "invalid_payload"),
        ("startsAt missing", alert_without("startsAt"), 422, "invalid_payload"),
        (
            "startsAt not a time",
            json.dumps(dict(good, alerts=[dict(good["alerts"][0], startsAt="yesterday")])).encode(),
            422,
            "invalid_payload",
        ),
        (
            "label value not a string",
            json.dumps(dict(good, alerts=[dict(good["alerts"][0], labels={"a": [1]})])).encode(),
            422,
            "invalid_payload",
        ),
        (
            "NUL character in a label",
            json.dumps(dict(good, alerts=[dict(good["alerts"][0], labels={"alertname": "a\x00b"})])).encode(),
            422,
            "invalid_payload",
        ),
        (
            "alert status unknown",
            json.dumps(dict(good, alerts=[dict(good["alerts"][0], status="pending")])).encode(),
            422,
            "invalid_payload",
        ),
    ]


@pytest.mark.parametrize(("kind", "body", "status", "code"), _malformed(), ids=[m[0] for m in _malformed()])
def test_malformed_input_is_rejected_with_a_reason_and_writes_nothing(
    client: TestClient, store: Store, kind: str, body: bytes, status: int, code: str
) -> None:
    client.post("/v1/alertmanager", json=notification([alert("Before", service="s")]))
    before = row_counts(store)
    response = client.post("/v1/alertmanager", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == status, response.text
    assert response.json()["error"] == code
    assert len(response.json()["reason"]) > 10
    assert row_counts(store) == before


def test_a_50_mb_body_is_refused_with_413(client: TestClient, store: Store) -> None:
    before = row_counts(store)
    huge = b'{"version": "4", "padding": "' + b"x" * (50 * 1024 * 1024) + b'"}'
    response = client.post("/v1/alertmanager", content=huge, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert (
        response.json()["error"] == "body_too_large"
        and "AUGUR_WEBHOOK_MAX_BYTES" in response.json()["reason"]
    )
    assert row_counts(store) == before


def test_a_chunked_body_over_the_limit_is_refused(store: Store, store_url: str) -> None:
    app = create_app(settings_for(store_url, webhook_max_bytes=1000), store=store)
    with TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        response = c.post("/v1/alertmanager", content=iter([b"{" + b" " * 600, b" " * 600 + b"}"]),
                          headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert row_counts(store)["alert_episodes"] == 0


@pytest.mark.parametrize("header", [None, "Bearer wrong", f"Basic {TOKEN}", "Bearer"])
def test_a_missing_or_wrong_token_gets_401(app: FastAPI, store: Store, header: str | None) -> None:
    headers = {"Authorization": header} if header is not None else {}
    with TestClient(app, client=("127.0.0.1", 1)) as c:
        response = c.post("/v1/alertmanager", json=notification([alert("X")]), headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert row_counts(store)["alert_episodes"] == 0


def test_without_a_token_only_loopback_is_accepted_in_development_mode(store: Store, store_url: str) -> None:
    app = create_app(settings_for(store_url, webhook_token=None, api_tokens={}, dev_mode=True), store=store)
    body = notification([alert("X", service="s")])
    with TestClient(app, client=("10.1.2.3", 1)) as remote:
        response = remote.post("/v1/alertmanager", json=body)
        assert response.status_code == 401 and "development mode" in response.json()["reason"]
    with TestClient(app, client=("127.0.0.1", 1)) as local:
        assert local.post("/v1/alertmanager", json=body).status_code == 200


def test_a_store_that_is_down_answers_503_so_alertmanager_retries(tmp_path: Any) -> None:
    store = Store(make_engine("postgresql+psycopg://postgres@127.0.0.1:1/none"))
    app = create_app(settings_for("postgresql+psycopg://postgres@127.0.0.1:1/none"), store=store)
    with TestClient(app, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as c:
        response = c.post("/v1/alertmanager", json=notification([alert("X")]))
        assert response.status_code == 503
        assert response.json()["error"] == "store_unavailable"
        assert response.headers["Retry-After"] == "5"
        ready = c.get("/readyz")
        # It says the store is down, never where it is (the server log has that).
        assert ready.status_code == 503 and "postgresql store does not answer" in ready.json()["reason"]
        assert "127.0.0.1" not in ready.text and "none" not in ready.text
        assert c.get("/healthz").status_code == 200
        assert 'augur_webhooks_rejected_total{reason="store_unavailable"} 1.0' in c.get("/metrics").text


def test_starting_without_a_token_warns(
    store: Store, store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(settings_for(store_url, webhook_token=None, api_tokens={}), store=store)
    with caplog.at_level("WARNING", logger="augur.server.web.app"), TestClient(app):
        pass
    assert any("no API token is configured" in r.getMessage() for r in caplog.records)


def test_secrets_in_labels_and_annotations_are_stored_redacted_also_when_values_repeat(
    client: TestClient, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The intake caches redacted values (label values repeat); the cache must never hand back a
    value redacted under other patterns, or an unredacted one."""
    from augur.agent import redact as redaction

    # The built-in patterns only, whatever another test of this process added.
    monkeypatch.setattr(redaction, "PATTERNS", [p for p in redaction.PATTERNS if p[0] != "custom"])
    secrets = {"dsn": "postgres://app:hunter22@db:5432/x", "ticket": "ACME-1f2e3d4c"}
    leaky = alert("DBDown", service="billing", **secrets)
    leaky["annotations"]["description"] = "page ops@example.com"
    twin = alert("DBDown", service="billing", pod="p2", **secrets)
    assert client.post("/v1/alertmanager", json=notification([leaky])).status_code == 200
    redaction.add_patterns([r"ACME-[0-9a-f]{8}"])  # a deployment's own pattern, added later
    assert client.post("/v1/alertmanager", json=notification([twin])).status_code == 200
    first, second = _episodes(store)
    for episode in (first, second):
        assert episode.labels["dsn"] == "postgres://app:[REDACTED:password]@db:5432/x"
        assert "hunter22" not in json.dumps([episode.labels, episode.annotations])
    assert first.annotations["description"] == "page [REDACTED:email]"
    assert first.labels["ticket"] == "ACME-1f2e3d4c"  # stored before the pattern existed
    assert second.labels["ticket"] == "[REDACTED:custom]"
    with store.read_session() as session:
        details = json.dumps([e.detail for e in session.scalars(select(IncidentEvent))])
    assert "hunter22" not in details


def test_a_value_matching_each_builtin_redaction_pattern_is_stored_redacted(
    client: TestClient, store: Store
) -> None:
    """Redaction skips the patterns a value cannot match (most label values match none): a value
    each built-in pattern matches still arrives redacted, as a label and as an annotation, in its
    episode, its incident's timeline and the webhook's answer, in a new incident and a known one."""
    values = {f"v{i}": text for i, (text, _) in enumerate(BUILTIN_SECRETS)}
    first = alert("Leaky", service="billing", **values)
    first["annotations"].update(values)
    again = alert("Leaky", service="billing", pod="p2", **values)
    again["annotations"].update(values)
    for body in (notification([first]), notification([again])):
        response = client.post("/v1/alertmanager", json=body)
        assert response.status_code == 200, response.text
    episodes = _episodes(store)
    assert len(episodes) == 2 and len({e.incident_id for e in episodes}) == 1
    with store.read_session() as session:
        timeline = json.dumps([e.detail for e in session.scalars(select(IncidentEvent))])
    for episode in episodes:
        for name, (text, secret) in zip(values, BUILTIN_SECRETS, strict=True):
            for stored in (episode.labels[name], episode.annotations[name]):
                assert "[REDACTED:" in stored and secret not in stored, (text, stored)
            assert secret not in timeline and secret not in response.text


def test_a_notification_over_a_mebibyte_is_parsed_and_stored_by_the_helper_process(
    client: TestClient, store: Store
) -> None:
    """Bodies of LARGE_BODY_BYTES or more go to the intake's helper process (their parsing would hold
    the server's GIL for seconds): the same answers, exactly once, nothing written for a bad one."""
    from augur.server.intake.intake_process import LARGE_BODY_BYTES

    alerts = [alert("ShardLag", service="feature-store", shard=str(i)) for i in range(3000)]
    for a in alerts:
        a["annotations"]["description"] = "x" * 300
    body = notification(alerts)
    assert len(json.dumps(body)) >= LARGE_BODY_BYTES
    bad = json.loads(json.dumps(body))
    bad["alerts"][2001]["labels"] = {}
    refused = client.post("/v1/alertmanager", json=bad)
    assert refused.status_code == 422, refused.text
    assert refused.json()["reason"].startswith("alerts.2001.labels"), refused.text
    assert _episodes(store) == []
    first = client.post("/v1/alertmanager", json=body)
    assert first.status_code == 200, first.text
    assert (first.json()["alerts"], first.json()["new_episodes"], len(first.json()["opened_incidents"])) == (
        3000, 3000, 1)
    again = client.post("/v1/alertmanager", json=body)
    assert (again.status_code, again.json()["new_episodes"]) == (200, 0)
    assert len(_episodes(store)) == 3000 and len(_incidents(store)) == 1 and len(_jobs(store)) == 1
    assert client.app.state.augur.committer.helper._pool is not None  # type: ignore[attr-defined]
