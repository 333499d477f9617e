"""A planted-secrets corpus (14 kinds) in alert labels and annotations, log lines and settings never
appears on any surface: API answers (incidents, reports in JSON and Markdown, postmortems, errors),
the files the run wrote, Slack blocks, the server's log lines and ``augur config``.

Real Prometheus (the shared history fixture), the embedded log store and the queue worker; the
run's outputs are scanned for every planted value.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from augur.agent.redact import RedactingFilter
from augur.server.jobs.worker import Worker
from augur.server.scopes import Scope
from augur.server.settings import ConfigError, Settings, load_settings
from augur.server.slack.blocks import incident_blocks, report_blocks
from augur.server.state import default_handlers
from augur.server.store.database import Store
from augur.server.web.app import create_app
from augur.tools.logs import LogRecord, SqliteLogStore
from tests.agent.investigation_support import PLATFORM, latency_alert, write_platform_logs
from tests.fixtures.prometheus import PromHistory

pytestmark = pytest.mark.slow

ADMIN = "admin-redaction-token-01"
#: kind -> (the secret value a scan looks for, the text it is planted in)
CORPUS: dict[str, tuple[str, str]] = {
    "url_password": ("Pr0m-pa55word", "https://promuser:Pr0m-pa55word@prom.internal/api"),
    "dsn_password_with_at": ("db@pa55word", "postgresql://augur:db@pa55word@db.internal:5432/augur"),
    "dsn_query_password": ("qs-pa55word-9", "postgresql://augur@db.internal/augur?password=qs-pa55word-9"),
    "aws_access_key": ("AKIAIOSFODNN7EXAMPLE", "key id AKIAIOSFODNN7EXAMPLE used"),
    "aws_secret_key": ("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                       "secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    "jwt": ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ",
            "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ"),
    "bearer": ("br-9f8e7d6c5b4a39281706", "Authorization: Bearer br-9f8e7d6c5b4a39281706"),
    "slack_bot_token": ("xoxb-123456789012-abcdefghijkl", "posted with xoxb-123456789012-abcdefghijkl"),
    "slack_app_token": ("xapp-1-A0123456789-abcdefghij", "socket xapp-1-A0123456789-abcdefghij"),
    "private_key": ("MIIEowIBAAKCAQEAplantedkeymaterial",
                    "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAplantedkeymaterial\n"
                    "-----END RSA PRIVATE KEY-----"),
    "github_token": ("ghp_abcdefghijklmnopqrstuvwxyz0123456789",
                     "clone ghp_abcdefghijklmnopqrstuvwxyz0123456789"),
    "openai_key": ("sk-proj-plantedOpenAIkey0123456789", "OPENAI sk-proj-plantedOpenAIkey0123456789"),
    "key_value": ("kv-hunter2-secret", "db_password=kv-hunter2-secret"),
    "custom_pattern": ("ACME-7f3a9c1e", "vendor key ACME-7f3a9c1e"),
}
SECRETS = [secret for secret, _ in CORPUS.values()]


def _leaks(text: str) -> list[str]:
    return [kind for kind, (secret, _) in CORPUS.items() if secret in text]


def test_planted_secrets_appear_on_no_surface(
        prom_history: PromHistory, tmp_path: Path, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from augur.agent import redact as redaction

    # The app adds the settings' pattern to the process's list: keep it to this test.
    monkeypatch.setattr(redaction, "PATTERNS", list(redaction.PATTERNS))
    write_platform_logs(tmp_path, prom_history.t_end, prom_history.onsets)
    slow = prom_history.onsets["http_request_duration_seconds"]
    SqliteLogStore(tmp_path / "logs.db").ingest([
        LogRecord(ts=slow + 60 + i, level="error", service="ranker-serving", host="rs-1",
                  message=f"inference timeout calling upstream: {text}")
        for i, (_, text) in enumerate(CORPUS.values())])
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'augur.db'}", data_dir=tmp_path,
        prometheus_url=prom_history.url,
        catalog_file=PLATFORM, worker_in_process=False, redact_patterns=[r"ACME-[0-9a-f]{8}"],
        jaeger_url=f"http://jaeger:{CORPUS['url_password'][0]}@127.0.0.1:1",
        api_tokens={"tester": {"token": ADMIN, "scopes": [s.value for s in Scope]}})  # type: ignore[arg-type]
    store = Store.open(settings.effective_database_url)
    body = latency_alert(prom_history.t_end - 40 * 60, prom_history.url)
    alert = body["alerts"][0]
    alert["labels"]["db"] = CORPUS["dsn_password_with_at"][1]
    alert["annotations"].update({kind: text for kind, text in (
        (k, t) for k, (_, t) in CORPUS.items())})
    outputs: list[str] = []
    handler_filter = RedactingFilter()
    caplog.handler.addFilter(handler_filter)
    app = create_app(settings, store=store)
    with TestClient(app, headers={"Authorization": f"Bearer {ADMIN}"}) as client:
        assert client.post("/v1/alertmanager", json=body).status_code == 200
        logging.getLogger("augur.test").warning("upstream said %s", CORPUS["bearer"][1])
        worker = Worker(store, default_handlers(settings), lease_seconds=60, poll_seconds=0.1)
        assert worker.run_once()
        for path in ("/v1/incidents", "/v1/incidents/1", "/v1/incidents/1/report",
                     "/v1/incidents/1/report.md",
                     "/v1/incidents/1/postmortem.md", "/v1/incidents/1/postmortem.json",
                     "/v1/incidents/1/postmortem.html", "/v1/proposals"):
            response = client.get(path)
            assert response.status_code == 200, (path, response.text[:300])
            outputs.append(response.text)
        # An error reason that quotes a secret-bearing value.
        bad = client.post("/v1/investigations", json={"question": CORPUS["jwt"][1], "start": "x"})
        assert bad.status_code == 422
        outputs.append(bad.text)
        report = client.get("/v1/incidents/1/report").json()
    # The report carries the planted log lines (redacted), so the test exercises the log path.
    assert "[REDACTED:" in json.dumps(report)
    from augur.agent.report import Report

    parsed = Report.model_validate(report)
    outputs.append(json.dumps(incident_blocks(1, parsed.title, parsed.alert.labels, None)))
    outputs.append(json.dumps(report_blocks(1, parsed, "https://augur.example")))
    outputs += [p.read_text(errors="replace") for p in tmp_path.rglob("*")
                if p.is_file() and p.suffix in (".md", ".html", ".json", ".svg")]
    outputs.append(json.dumps(settings.masked()))
    outputs += [r.getMessage() for r in caplog.records]
    leaked = {kind for text in outputs for kind in _leaks(text)}
    assert leaked == set(), f"secrets shown: {sorted(leaked)}"
    assert len(CORPUS) >= 12


def test_augur_config_and_config_errors_show_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(
        database_url=CORPUS["dsn_password_with_at"][1], prometheus_url=CORPUS["url_password"][1],
        elasticsearch_url=f"https://elastic:{CORPUS['key_value'][0]}@es.internal:9200",
        alertmanager_url=f"http://am:{CORPUS['bearer'][0]}@am.internal",
        llm_base_url=CORPUS["url_password"][1],
        llm_api_key=CORPUS["openai_key"][0], slack_bot_token=CORPUS["slack_bot_token"][0],
        slack_app_token=CORPUS["slack_app_token"][0], webhook_token=CORPUS["github_token"][0],
        reviewer_tokens={"alice": CORPUS["aws_secret_key"][0]})  # type: ignore[arg-type]
    shown = json.dumps(settings.masked())
    assert _leaks(shown) == [] and "db.internal:5432/augur" in shown
    query = Settings(database_url=CORPUS["dsn_query_password"][1]).masked()
    assert _leaks(json.dumps(query)) == []
    monkeypatch.setenv("AUGUR_WEBHOOK_TOKEN", "short")
    monkeypatch.setenv("AUGUR_API_TOKENS", json.dumps({"x": {"token": "tiny", "scopes": ["read"]}}))
    with pytest.raises(ConfigError) as error:
        load_settings()
    assert _leaks(str(error.value)) == [] and "tiny" not in str(error.value)
    monkeypatch.setenv("AUGUR_REVIEWER_TOKENS", f"not json {CORPUS['jwt'][1]}")
    with pytest.raises(ConfigError, match=r"AUGUR_REVIEWER_TOKENS.*not valid JSON") as unparsable:
        load_settings()
    assert _leaks(str(unparsable.value)) == []
