"""The route table: every route of the app refuses callers without credentials or with a token of
the wrong scope (401/403), admits the scope it declares, and the development mode works apart.

The table is read from the app itself (``app.routes``), so a route another module adds is
covered without editing this file; a route that declares nothing makes ``create_app`` fail.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient

from augur.server.scopes import Scope
from augur.server.settings import ConfigError, Settings, load_settings
from augur.server.store.database import Store
from augur.server.web.app import create_app
from augur.server.web.auth import Requirement, check_routes, route_table

TOKENS = {scope: f"tok-{scope.value.replace(':', '-')}-0123456789" for scope in Scope}
#: Routes anyone may call, each for a stated reason (a new one must be added here on purpose).
PUBLIC = {"/healthz", "/readyz", "/review/login"}
_PARAMS = {"incident_id": "1", "proposal_id": "pr-0000", "name": "chain.png", "action": "approve"}


def _settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": tmp_path, "worker_in_process": False, "slack_signing_secret": "slack-secret",
        "api_tokens": {f"only-{s.value}": {"token": t, "scopes": [s.value]} for s, t in TOKENS.items()},
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


def _calls(app: FastAPI) -> list[tuple[str, str, Requirement]]:
    out = []
    for route in route_table(app):
        assert route.api and route.requirement is not None, f"{route}: check_routes should have refused it"
        path = re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: _PARAMS[m.group(1)], route.path)
        out.extend((method, path, route.requirement) for method in sorted(route.methods - {"HEAD"}))
    return out


def _call(client: TestClient, method: str, path: str, headers: dict[str, str] | None = None) -> int:
    kwargs: dict[str, object] = {"headers": headers or {}}
    if method == "POST" and path.startswith("/review"):
        kwargs["data"] = {"comment": "x"}
    elif method == "POST":
        kwargs["json"] = {}
    return client.request(method, path, follow_redirects=False, **kwargs).status_code  # type: ignore[arg-type]


def test_every_route_refuses_no_and_wrong_credentials_and_admits_its_scope(
        store: Store, tmp_path: Path) -> None:
    app = create_app(_settings(tmp_path), store=store)
    calls = _calls(app)
    assert len(calls) >= 20  # the whole table, not a sample
    public = {path for _, path, req in calls if req.kind == "public"}
    assert public == PUBLIC, "a public route must be added to PUBLIC with its reason"
    with TestClient(app, client=("10.0.0.9", 4000)) as client:
        for method, path, req in calls:
            what = f"{method} {path} ({req.kind} {req.scope})"
            anonymous = _call(client, method, path)
            if req.kind == "public":
                expected = {200} if path in ("/healthz", "/readyz") else {401, 403}
                assert anonymous in expected, what
                continue
            assert anonymous in (401, 403), f"{what} without credentials answered {anonymous}"
            for scope, token in TOKENS.items():
                status = _call(client, method, path, {"Authorization": f"Bearer {token}"})
                allowed = req.kind == "authenticated" or (req.kind == "scope" and scope is req.scope)
                if allowed:
                    assert status not in (401, 403), f"{what} refused its own scope {scope}: {status}"
                else:
                    assert status in (401, 403), f"{what} admitted a {scope} token: {status}"
            unknown = _call(client, method, path, {"Authorization": "Bearer not-a-configured-token"})
            assert unknown == 401, what


def test_a_refusal_says_what_is_missing(store: Store, tmp_path: Path) -> None:
    with TestClient(create_app(_settings(tmp_path), store=store)) as client:
        none = client.get("/v1/incidents")
        assert none.status_code == 401 and none.headers["WWW-Authenticate"] == "Bearer"
        assert "'read' scope" in none.json()["reason"]
        wrong = client.get("/v1/incidents", headers={"Authorization": f"Bearer {TOKENS[Scope.ALERTS_WRITE]}"})
        assert wrong.status_code == 403 and "needs the 'read' scope" in wrong.json()["reason"]
        assert TOKENS[Scope.ALERTS_WRITE] not in wrong.text
        ok = client.get("/v1/incidents", headers={"Authorization": f"Bearer {TOKENS[Scope.READ]}"})
        assert ok.status_code == 200 and ok.json()["count"] == 0


def test_refreshing_a_postmortem_needs_investigate(store: Store, tmp_path: Path) -> None:
    settings = _settings(tmp_path, api_tokens={
        "reader": {"token": TOKENS[Scope.READ], "scopes": ["read"]},
        "oncall": {"token": TOKENS[Scope.INVESTIGATE], "scopes": ["read", "investigate"]}})
    with TestClient(create_app(settings, store=store)) as client:
        url = "/v1/incidents/1/postmortem.json?refresh=true"
        refused = client.get(url, headers={"Authorization": f"Bearer {TOKENS[Scope.READ]}"})
        assert refused.status_code == 403 and "investigate" in refused.json()["reason"]
        # Past the scope check: the incident does not exist.
        oncall = {"Authorization": f"Bearer {TOKENS[Scope.INVESTIGATE]}"}
        assert client.get(url, headers=oncall).status_code == 404


def test_the_older_token_settings_map_to_scopes(store: Store, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, worker_in_process=False, webhook_token="hook-token-0123",
                        reviewer_tokens={"alice": "alice-token-0123"})  # type: ignore[arg-type]
    with TestClient(create_app(settings, store=store), client=("10.0.0.9", 1)) as client:
        hook = {"Authorization": "Bearer hook-token-0123"}
        alice = {"Authorization": "Bearer alice-token-0123"}
        assert client.post("/v1/alertmanager", json={}, headers=hook).status_code == 422  # past auth
        assert client.get("/v1/incidents", headers=hook).status_code == 403
        assert client.get("/v1/proposals", headers=alice).status_code == 200
        assert client.post("/v1/alertmanager", json={}, headers=alice).status_code == 403
        assert client.post("/v1/investigations", json={"question": "why?"}, headers=alice).status_code == 403


def test_a_route_without_a_declaration_is_refused_at_start() -> None:
    app = FastAPI()
    open_router = APIRouter()

    @open_router.get("/v1/leak")
    def leak() -> dict[str, str]:
        return {"secret": "x"}

    app.include_router(open_router)
    with pytest.raises(RuntimeError, match=r"GET /v1/leak.*require\(Scope.READ\)"):
        check_routes(app)


def test_development_mode_admits_loopback_only_and_never_a_foreign_page(store: Store, tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path, worker_in_process=False, dev_mode=True), store=store)
    body = {"version": "4", "groupKey": "g", "status": "firing", "alerts": [
        {"status": "firing", "labels": {"alertname": "X"}, "startsAt": "2026-01-01T00:00:00Z",
         "fingerprint": "f1"}]}
    with TestClient(app, client=("127.0.0.1", 1)) as local:
        assert local.get("/v1/incidents").status_code == 200
        assert local.post("/v1/alertmanager", json=body).status_code == 200
        foreign = local.post("/v1/alertmanager", json=body, headers={"Origin": "http://evil.example"})
        assert foreign.status_code == 401
        as_text = local.post("/v1/alertmanager", content=b"{}", headers={"Content-Type": "text/plain"})
        assert as_text.status_code == 415
        wrong = {"Authorization": "Bearer wrong-token-000"}
        assert local.get("/v1/incidents", headers=wrong).status_code == 401
    with TestClient(app, client=("10.0.0.9", 1)) as remote:
        refused = remote.get("/v1/incidents")
        assert refused.status_code == 401 and "development mode" in refused.json()["reason"]


def test_without_development_mode_loopback_needs_a_token_too(store: Store, tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path, worker_in_process=False), store=store)
    with TestClient(app, client=("127.0.0.1", 1)) as local:
        refused = local.get("/v1/incidents")
        assert refused.status_code == 401 and "AUGUR_DEV_MODE" in refused.json()["reason"]
        assert local.get("/healthz").status_code == 200


def test_a_token_given_to_two_callers_or_too_short_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUGUR_WEBHOOK_TOKEN", "shared-token-0123")
    monkeypatch.setenv("AUGUR_REVIEWER_TOKENS", '{"alice": "shared-token-0123"}')
    with pytest.raises(ConfigError) as shared:
        load_settings()
    assert "'alertmanager'" in str(shared.value) and "'alice'" in str(shared.value)
    assert "shared-token-0123" not in str(shared.value)
    monkeypatch.delenv("AUGUR_REVIEWER_TOKENS")
    monkeypatch.setenv("AUGUR_API_TOKENS", '{"ci": {"token": "short", "scopes": ["read"]}}')
    with pytest.raises(ConfigError, match="at least 12 characters"):
        load_settings()


def test_a_refusal_says_which_header_to_send_without_redacting_its_own_hint(
        store: Store, tmp_path: Path) -> None:
    """Someone trying the webhook with curl reads the fix in the 401, not ``[REDACTED:...]``.

    The answers went through the credential redaction, which took the hints for credentials:
    ``send `Authorization: Bearer [REDACTED:bearer] with the 'alerts:write' scope`` and
    ``unknown bearer token: [REDACTED:secret] a token from AUGUR_API_TOKENS``.
    """
    client = TestClient(create_app(_settings(tmp_path), store=store))
    no_token = client.post("/v1/alertmanager", json={})
    wrong = client.post("/v1/alertmanager", json={},
                        headers={"Authorization": "Bearer wrong-token-0123456789"})
    basic = client.post("/v1/alertmanager", json={}, headers={"Authorization": "Basic dXNlcjpwYXNz"})
    reasons = [r.json()["reason"] for r in (no_token, wrong, basic)]
    assert [r.status_code for r in (no_token, wrong, basic)] == [401, 401, 401]
    assert not [r for r in reasons if "REDACTED" in r], reasons
    assert "`Authorization: Bearer <token>` with the 'alerts:write' scope" in reasons[0]
    assert "unknown bearer token" in reasons[1] and "AUGUR_API_TOKENS" in reasons[1]
    assert "Bearer <token>" in reasons[2]
    # The caller's own wrong token is still never echoed back.
    assert "wrong-token-0123456789" not in wrong.text
