"""The read API and the operations endpoints, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import update

from augur.server.jobs.worker import Worker, record_run
from augur.server.store.database import Store
from augur.server.store.models import Incident
from tests.fixtures.alerts import alert, notification


def _post(client: TestClient, *alerts: dict[str, object]) -> None:
    response = client.post("/v1/alertmanager", json=notification(list(alerts)))
    assert response.status_code == 200, response.text


def test_list_filters_by_status_and_since_and_carries_summaries(client: TestClient, store: Store) -> None:
    firing = alert("A", service="one")
    _post(client, firing)
    _post(client, alert("B", service="two"), alert("B", service="two", pod="p"))
    _post(client, dict(firing, status="resolved", endsAt="2026-11-24T10:10:00Z"))
    everything = client.get("/v1/incidents").json()
    assert everything["count"] == 2
    by_title = {i["title"]: i for i in everything["incidents"]}
    assert by_title["A on one"]["status"] == "resolved"
    two = by_title["B on two"]
    assert (two["episode_count"], two["firing_count"], by_title["A on one"]["firing_count"]) == (2, 2, 0)
    assert "episodes" not in two
    episodes = client.get(two["episodes_url"]).json()["episodes"]
    assert len(episodes) == 2 and {e["labels"]["alertname"] for e in episodes} == {"B"}
    assert [
        i["title"] for i in client.get("/v1/incidents", params={"status": "open"}).json()["incidents"]
    ] == ["B on two"]
    with store.transaction() as session:
        session.execute(
            update(Incident)
            .where(Incident.title == "A on one")
            .values(updated_at=datetime.now(UTC) - timedelta(days=2))
        )
    since = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    recent = client.get("/v1/incidents", params={"since": since}).json()
    assert [i["title"] for i in recent["incidents"]] == ["B on two"]


def test_detail_has_episodes_and_timeline_including_the_job_run(client: TestClient, store: Store) -> None:
    _post(client, alert("A", service="one"))
    Worker(store, {"investigate": record_run}).run_once()
    _post(client, alert("A2", service="one"))
    detail = client.get("/v1/incidents/1").json()
    assert detail["status"] == "open" and len(detail["episodes"]) == 2
    assert [e["kind"] for e in detail["timeline"]] == ["opened", "job_ran", "alerts_added"]
    assert detail["timeline"][1]["detail"]["kind"] == "investigate"


def test_bad_queries_get_a_reason(client: TestClient) -> None:
    missing = client.get("/v1/incidents/999")
    assert missing.status_code == 404 and "GET /v1/incidents" in missing.json()["reason"]
    bad_status = client.get("/v1/incidents", params={"status": "closed"})
    assert bad_status.status_code == 422 and bad_status.json()["error"] == "invalid_request"
    naive = client.get("/v1/incidents", params={"since": "2026-01-01T00:00:00"})
    assert naive.status_code == 422 and "timezone" in naive.json()["reason"]


def test_health_readiness_and_metrics(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json()["status"] == "ready"
    _post(client, alert("A", service="one"), alert("A", service="one", pod="2"))
    client.post("/v1/alertmanager", content=b"nope", headers={"Content-Type": "application/json"})
    text = client.get("/metrics").text
    assert "augur_webhooks_received_total 2.0" in text
    assert 'augur_webhooks_rejected_total{reason="invalid_json"} 1.0' in text
    assert "augur_alerts_ingested_total 2.0" in text
    assert 'augur_jobs{status="queued"} 1.0' in text
    assert (
        'augur_http_request_duration_seconds_count{method="POST",route="/v1/alertmanager",status="200"} 1.0'
        in text
    )


def test_two_apps_do_not_share_metrics(store: Store, store_url: str) -> None:
    from augur.server.web.app import create_app
    from tests.server.conftest import ADMIN_TOKEN, settings_for

    apps = [create_app(settings_for(store_url), store=store) for _ in range(2)]
    with TestClient(apps[0], headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as first:
        _post(first, alert("A"))
    with TestClient(apps[1], headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as second:
        assert "augur_webhooks_received_total 0.0" in second.get("/metrics").text


def test_an_unexpected_error_is_a_json_500_without_internals(store: Store, store_url: str) -> None:
    from augur.server.web.app import create_app
    from tests.server.conftest import ADMIN_TOKEN, settings_for

    app = create_app(settings_for(store_url), store=store)

    @app.get("/boom")
    def boom() -> None:
        raise KeyError("secret-internal-detail")

    with TestClient(app, raise_server_exceptions=False, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
                    ) as c:
        response = c.get("/boom")
    assert response.status_code == 500
    assert response.json()["error"] == "internal_error"
    assert "secret-internal-detail" not in response.text


def test_incidents_and_their_episodes_come_a_page_at_a_time(client: TestClient, store: Store) -> None:
    """After a storm the list stays small: summaries, ``limit`` per page, a cursor to the next one."""
    for n in range(5):
        alerts = [alert("Storm", service=f"svc-{n}", pod=f"p{i}") for i in range(7)]
        body = notification(alerts, group_key=f"g{n}")
        assert client.post("/v1/alertmanager", json=body).status_code == 200
    seen: list[int] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/incidents", params=params).json()
        assert page["count"] == len(page["incidents"]) <= 2
        seen += [i["id"] for i in page["incidents"]]
        assert all(i["episode_count"] == 7 for i in page["incidents"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == [1, 2, 3, 4, 5] and len(seen) == 5, seen
    episodes: list[str] = []
    cursor = None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/incidents/2/episodes", params=params).json()
        episodes += [e["labels"]["pod"] for e in page["episodes"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(episodes) == [f"p{i}" for i in range(7)]
    detail = client.get("/v1/incidents/2").json()
    assert detail["episode_count"] == 7 and detail["episodes_url"] == "/v1/incidents/2/episodes"
    bad = client.get("/v1/incidents", params={"cursor": "nope"})
    assert bad.status_code == 422 and "cursor" in bad.json()["reason"]
    assert client.get("/v1/incidents/99/episodes").status_code == 404
