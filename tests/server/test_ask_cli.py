"""`augur ask` on the terminal with no LLM: the installed script in a subprocess, against a SQLite store
holding a real investigation's report (RankerP99High explained by the click-duration drift) and an
unrelated incident without a report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from augur.agent.chat import answer, parse_intent
from augur.agent.citations import report_evidence
from augur.agent.grounding import ground
from augur.agent.report import Report, Sentence
from augur.server.jobs.questions import load_briefs
from augur.server.store.database import Store
from tests.fixtures.incidents import ranker_report, seed_incident

__all__ = ["ranker_report"]

AUGUR = str(Path(sys.executable).with_name("augur"))


def _augur(*args: str, db: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUGUR_")}
    env.update(AUGUR_DATA_DIR=str(tmp_path), AUGUR_DATABASE_URL=db)
    return subprocess.run([AUGUR, *args], capture_output=True, text=True, env=env, timeout=60, check=False)


@pytest.fixture
def seeded(tmp_path: Path, ranker_report: Report) -> tuple[str, int, int]:
    """A store with the ranker incident (and report) and a disk incident (no report)."""
    url = f"sqlite:///{tmp_path / 'augur.db'}"
    store = Store.open(url)
    try:
        other = seed_incident(store, None, title="NodeDiskFull on storage-node-3", component="storage-node-3")
        ranker = seed_incident(store, ranker_report)
    finally:
        store.dispose()
    return url, ranker, other


def test_ask_why_component_alerted_answers_from_the_report(
    seeded: tuple[str, int, int], tmp_path: Path, ranker_report: Report
) -> None:
    url, ranker, _ = seeded
    result = _augur("ask", "why did ranker-serving alert?", db=url, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"Incident #{ranker}" in out
    assert "Root cause: `feature-pipeline` — data drift" in out
    assert "feature-pipeline.click_duration_psi" in out
    cited = {token.strip("[]") for token in out.split() if token.startswith("[ev-")}
    assert cited and cited <= ranker_report.evidence_ids()


def test_ask_json_sentences_are_grounded(seeded: tuple[str, int, int], tmp_path: Path,
                                         ranker_report: Report) -> None:
    url, ranker, _ = seeded
    result = _augur("ask", "--json", "why did ranker p99 jump at 3 a.m.?", db=url, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["incident_id"] == ranker
    sentences = [Sentence.model_validate(s) for s in data["sentences"]]
    assert sentences, "the report's narrative should survive re-grounding"
    kept, dropped = ground(sentences, report_evidence(ranker_report))
    assert not dropped and len(kept) == len(sentences)


def test_ask_with_no_matching_incident_exits_1(seeded: tuple[str, int, int], tmp_path: Path) -> None:
    url, _, other = seeded
    result = _augur("ask", "why did the payments gateway alert?", db=url, tmp_path=tmp_path)
    assert result.returncode == 1
    assert "no incident matching" in result.stdout
    assert f"#{other}" in result.stdout  # lists what it does know


def test_ask_on_an_empty_store_says_where_incidents_come_from(tmp_path: Path) -> None:
    """A newcomer who ingested logs, or opened a new shell after the demo, asks and gets a next step.

    It printed only "I found no incident matching ... Recent incidents: none yet." and exit 1.
    """
    demo = tmp_path / "demo"
    demo.mkdir()
    (demo / "augur.yaml").write_text("dev_mode: true\n")
    from augur.tools.logs import LogRecord, SqliteLogStore

    SqliteLogStore(tmp_path / "logs.db").ingest([  # 2005-06-14 15:16:01 and 16:16:01 UTC
        LogRecord(ts=1118762161 + 3600 * i, level="error", service="sshd", host="combo",
                  message="authentication failure") for i in range(2)])
    result = _augur("ask", "why did sshd fail?", db=f"sqlite:///{tmp_path / 'augur.db'}", tmp_path=tmp_path)
    assert result.returncode == 1
    assert "none yet" in result.stdout
    assert "matching “why did sshd fail?”" in result.stdout  # the question as asked, not "did sshd fail?"
    hint = result.stderr
    assert "augur serve" in hint and "no incidents yet" in hint  # where incidents come from
    assert f"export AUGUR_CONFIG_FILE={demo / 'augur.yaml'}" in hint  # the demo's store is another one
    assert "augur investigate --question" in hint and "--at 2005-06-14T16:16:01Z" in hint
    # the logs' own span, so the window pasted finds them (log_search's default is the last hour)
    assert "(2 lines, 2005-06-14T15:16:01Z – 2005-06-14T16:16:01Z)" in hint
    assert '"start": "2005-06-14T15:16:01Z", "end": "2005-06-14T16:16:02Z"' in hint


def test_ask_with_incidents_but_no_match_points_at_status(
    seeded: tuple[str, int, int], tmp_path: Path,
) -> None:
    url, _, _ = seeded
    result = _augur("ask", "why did the payments gateway alert?", db=url, tmp_path=tmp_path)
    assert result.returncode == 1
    assert "augur ask status" in result.stderr and "AUGUR_CONFIG_FILE" not in result.stderr


def test_intents_and_matching(seeded: tuple[str, int, int], ranker_report: Report) -> None:
    url, ranker, other = seeded
    store = Store.open(url, migrate=False)
    try:
        briefs = load_briefs(store)
    finally:
        store.dispose()
    mention = parse_intent("<@U123ABC> why did ranker p99 jump?")
    assert mention.kind == "why" and mention.subject == "did ranker p99 jump?"
    assert parse_intent("<@U123ABC> what is wrong with the ranker").kind == "ask"
    assert parse_intent("why 12").model_dump() == {"kind": "why", "subject": "12"}
    assert parse_intent('ask "what broke?"').subject == "what broke?"
    assert answer(f"why #{other}", briefs).incident_id == other
    assert answer("why RankerP99High", briefs).incident_id == ranker
    disk = answer("why storage-node-3", briefs)
    assert disk.incident_id == other and "No report yet" in disk.verdict
    status = answer("status", briefs)
    assert "2 open incidents" in status.headline and "feature-pipeline" in status.headline
