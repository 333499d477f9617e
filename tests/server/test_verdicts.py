"""Verdicts on incidents through the API and the CLI, on SQLite and PostgreSQL: who may give one (a
``verdict`` scope, as themselves), what is stored (a new audited row per change, the latest counts),
what a verdict needs (a report that named a cause), and what incident memory reads back.

The report is a real one (the ranker's p99 alert, explained by the feature pipeline's drift).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from augur.agent.report import Report
from augur.server.cli.main import app as cli
from augur.server.store.database import Store
from augur.server.store.models import Base, IncidentEvent, VerdictRow
from augur.server.store.verdicts import past_incidents
from augur.server.web.app import create_app
from tests.fixtures.incidents import ranker_report, seed_incident
from tests.server.conftest import row_counts, settings_for

__all__ = ["ranker_report"]

ONCALL = "oncall-verdict-token-0123"
READER = "reader-only-token-0123"
BUILDER = "investigate-token-0123"
ALICE = "alice-reviewer-token-0123"
TOKENS = {
    "oncall": {"token": ONCALL, "scopes": ["read", "verdict"]},
    "reader": {"token": READER, "scopes": ["read"]},
    "builder": {"token": BUILDER, "scopes": ["read", "investigate"]},
}


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _client(store: Store, store_url: str, tmp_path: Path, **overrides: object) -> TestClient:
    settings = settings_for(store_url, data_dir=tmp_path, api_tokens=TOKENS,
                            reviewer_tokens={"alice": ALICE}, **overrides)
    return TestClient(create_app(settings, store=store), client=("10.0.0.7", 4000))


def _rows(store: Store) -> list[VerdictRow]:
    with store.read_session() as session:
        return list(session.scalars(select(VerdictRow).order_by(VerdictRow.id)))


def _inconclusive(report: Report) -> Report:
    out = report.model_copy(deep=True)
    out.root_cause.verdict, out.root_cause.component = "inconclusive", None
    return out


def test_the_migration_makes_the_table_the_model_describes(store: Store) -> None:
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert [d for d in diff if "verdicts" in repr(d)] == []


def test_a_verdict_is_recorded_as_the_caller_and_every_change_is_a_new_row(
        store: Store, store_url: str, tmp_path: Path, ranker_report: Report) -> None:
    incident = seed_incident(store, ranker_report)
    url = f"/v1/incidents/{incident}/verdict"
    with _client(store, store_url, tmp_path) as client:
        right = client.post(url, json={"verdict": "right", "fix": "rolled the feature pipeline back"},
                            headers=_auth(ONCALL))
        assert right.status_code == 201, right.text
        body = right.json()
        assert (body["verdict"], body["by"], body["via"]) == ("confirmed", "oncall", "api")
        assert body["named_cause"] == "feature-pipeline" and body["fix"] == "rolled the feature pipeline back"
        again = client.post(url, json={"verdict": "confirmed", "fix": "rolled the feature pipeline back"},
                            headers=_auth(ONCALL))
        assert again.status_code == 200 and again.json()["id"] == body["id"]  # a double click: no new row
        wrong = client.post(url, json={"verdict": "wrong", "real_cause": "ranker-serving",
                                       "real_fault_type": "bad_model_version", "note": "v42 deployed"},
                            headers=_auth(ALICE))
        assert wrong.status_code == 201, wrong.text
        detail = client.get(f"/v1/incidents/{incident}", headers=_auth(READER)).json()
    assert [v["verdict"] for v in detail["verdicts"]] == ["confirmed", "wrong"]
    assert [v["by"] for v in detail["verdicts"]] == ["oncall", "alice"]
    latest = detail["verdict"]
    assert (latest["verdict"], latest["real_cause"], latest["real_fault_type"]) == (
        "wrong", "ranker-serving", "bad_model_version")
    timeline = [e for e in detail["timeline"] if e["kind"] == "verdict"]
    assert [(e["detail"]["by"], e["detail"]["previous"]) for e in timeline] == [("oncall", None),
                                                                               ("alice", "confirmed")]
    assert len(_rows(store)) == 2


def test_only_verdict_scopes_may_judge_and_never_for_someone_else(
        store: Store, store_url: str, tmp_path: Path, ranker_report: Report) -> None:
    incident = seed_incident(store, ranker_report)
    url = f"/v1/incidents/{incident}/verdict"
    before = row_counts(store)
    with _client(store, store_url, tmp_path, reviewers=["alice"]) as client:
        for token in (READER, BUILDER):
            refused = client.post(url, json={"verdict": "confirmed"}, headers=_auth(token))
            assert refused.status_code == 403 and "'verdict' scope" in refused.json()["reason"]
        assert client.post(url, json={"verdict": "confirmed"}).status_code == 401
        # oncall has the scope, but an allowlist is set and it is not on it.
        off_list = client.post(url, json={"verdict": "confirmed"}, headers=_auth(ONCALL))
        assert off_list.status_code == 403 and "allowlist" in off_list.json()["reason"]
        # No field names someone else: the verdict is always the caller's.
        proxy = client.post(url, json={"verdict": "confirmed", "by": "bob"}, headers=_auth(ALICE))
        assert proxy.status_code == 422 and "by" in proxy.json()["reason"]
        assert row_counts(store) == before
        ok = client.post(url, json={"verdict": "confirmed"}, headers=_auth(ALICE))
        assert ok.status_code == 201 and ok.json()["by"] == "alice"


def test_a_verdict_needs_a_named_cause_except_not_actionable(
        store: Store, store_url: str, tmp_path: Path, ranker_report: Report) -> None:
    bare = seed_incident(store, None, title="NodeDiskFull on storage-node-3", component="storage-node-3")
    unsure = seed_incident(store, _inconclusive(ranker_report))
    named = seed_incident(store, ranker_report)
    with _client(store, store_url, tmp_path) as client:
        def post(incident: int, **body: object) -> tuple[int, str]:
            answer = client.post(f"/v1/incidents/{incident}/verdict", json=body, headers=_auth(ONCALL))
            return answer.status_code, answer.json().get("reason", "")

        status, reason = post(bare, verdict="confirmed")
        assert status == 409 and "no report yet" in reason
        status, reason = post(unsure, verdict="confirmed")
        assert status == 409 and "named no cause" in reason
        status, reason = post(named, verdict="wrong", real_cause="feature-pipeline")
        assert status == 422 and "is the cause augur named" in reason
        assert post(999, verdict="not_actionable")[0] == 404
        assert _rows(store) == []
        assert post(bare, verdict="not_actionable", note="disk alert on a scratch node")[0] == 201
        assert post(unsure, verdict="wrong", real_cause="ranker-serving")[0] == 201
    assert [(r.incident_id, r.verdict, r.named_cause) for r in _rows(store)] == [
        (bare, "not_actionable", None), (unsure, "wrong", None)]


def test_the_cli_records_as_the_tokens_owner_and_refuses_others(
        store: Store, store_url: str, tmp_path: Path, ranker_report: Report,
        monkeypatch: pytest.MonkeyPatch) -> None:
    incident = seed_incident(store, ranker_report)
    monkeypatch.setenv("AUGUR_DATABASE_URL", store_url)
    monkeypatch.setenv("AUGUR_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("AUGUR_API_TOKENS", json.dumps(TOKENS))
    monkeypatch.delenv("AUGUR_TOKEN", raising=False)
    runner = CliRunner()
    refused = runner.invoke(cli, ["verdict", str(incident), "right", "--token", READER])
    assert refused.exit_code == 1 and "'verdict' scope" in refused.output
    unknown = runner.invoke(cli, ["verdict", str(incident), "right", "--token", "nobody-0123"])
    assert unknown.exit_code == 1 and "unknown token" in unknown.output
    usage = runner.invoke(cli, ["verdict", str(incident), "wrong", "--token", ONCALL])
    assert usage.exit_code == 2 and "--cause" in usage.output
    assert _rows(store) == []
    monkeypatch.setenv("AUGUR_TOKEN", ONCALL)
    done = runner.invoke(cli, ["verdict", str(incident), "wrong", "--cause", "ranker-serving",
                               "--fault-type", "bad_model_version", "--fix", "rolled back to v41"])
    assert done.exit_code == 0, done.output
    assert "wrong, it was ranker-serving, by oncall" in done.output
    listed = runner.invoke(cli, ["verdict", str(incident)])
    assert listed.exit_code == 0 and "oncall via cli: wrong (it was ranker-serving/bad_model_version)" in (
        listed.output)
    (row,) = _rows(store)
    assert (row.actor, row.via, row.fix) == ("oncall", "cli", "rolled back to v41")


def test_memory_reads_past_incidents_with_their_latest_verdicts_and_fixes(
        store: Store, store_url: str, tmp_path: Path, ranker_report: Report) -> None:
    first = seed_incident(store, ranker_report)
    second = seed_incident(store, ranker_report)
    unjudged = seed_incident(store, ranker_report)
    current = seed_incident(store, ranker_report)
    with _client(store, store_url, tmp_path) as client:
        for incident, body in ((first, {"verdict": "wrong", "real_cause": "ranker-serving"}),
                               (first, {"verdict": "confirmed", "fix": "pipeline rolled back"}),
                               (second, {"verdict": "wrong", "real_cause": "ranker-serving",
                                         "real_fault_type": "bad_model_version"})):
            assert client.post(f"/v1/incidents/{incident}/verdict", json=body,
                               headers=_auth(ONCALL)).status_code == 201
    past = {p.id: p for p in past_incidents(store, exclude=current)}
    assert set(past) == {f"#{first}", f"#{second}", f"#{unjudged}"}
    one, two, none = past[f"#{first}"], past[f"#{second}"], past[f"#{unjudged}"]
    assert (one.verdict, one.root_cause, one.fix) == ("confirmed", "feature-pipeline", "pipeline rolled back")
    assert (two.verdict, two.real_cause, two.real_fault_type) == (
        "wrong", "ranker-serving", "bad_model_version")
    assert none.verdict == "none" and none.components
    with store.read_session() as session:
        kinds = [e.kind for e in session.scalars(
            select(IncidentEvent).where(IncidentEvent.incident_id == first))]
    assert kinds.count("verdict") == 2


def test_the_postmortem_shows_the_latest_verdict_even_when_given_after_it_was_written(
        store: Store, store_url: str, tmp_path: Path, ranker_report: Report) -> None:
    incident = seed_incident(store, ranker_report, status="resolved")
    with _client(store, store_url, tmp_path) as client:
        before = client.get(f"/v1/incidents/{incident}/postmortem.md", headers=_auth(READER))
        assert before.status_code == 200 and "Judged by a person" not in before.text
        assert client.post(f"/v1/incidents/{incident}/verdict", headers=_auth(ONCALL), json={
            "verdict": "wrong", "real_cause": "ranker-serving", "real_fault_type": "bad_model_version",
            "fix": "rolled back to v41"}).status_code == 201
        after = client.get(f"/v1/incidents/{incident}/postmortem.md", headers=_auth(READER)).text
        page = client.get(f"/v1/incidents/{incident}/postmortem.html", headers=_auth(READER)).text
        data = client.get(f"/v1/incidents/{incident}/postmortem.json", headers=_auth(READER)).json()
    line = "Verdict: wrong — it was ranker-serving (bad model version), by oncall at "
    assert f"**Judged by a person** — {line}" in after and "Fixed by: rolled back to v41." in after
    assert "oncall judged the root cause wrong: it was ranker-serving." in after  # on the timeline
    assert 'id="judgement"' in page and line in page
    assert data["judgement"].startswith(line)
    # The report's own verdict is still there, computed from the evidence: the person's is beside it.
    assert data["verdict"].startswith("Root cause: feature-pipeline")
