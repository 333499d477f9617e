"""`augur ask` with an LLM configured: the installed script in a subprocess, a SQLite store holding a
report, and the real ``openai`` client against the scripted OpenAI-compatible endpoint on loopback
(no hosted LLM is reachable here; ``tests/fixtures/openai_endpoint.py``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from augur.server.store.database import Store
from tests.fixtures.incidents import seed_incident
from tests.fixtures.llm_state import sample_report
from tests.fixtures.openai_endpoint import Reply, ScriptedEndpoint, chat_completion

AUGUR = str(Path(sys.executable).with_name("augur"))


def _augur(tmp_path: Path, llm_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    url = f"sqlite:///{tmp_path / 'augur.db'}"
    store = Store.open(url)
    try:
        seed_incident(store, sample_report(), title="RankerLatencyHigh on ranker-serving")
    finally:
        store.dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUGUR_")}
    env.update(AUGUR_DATA_DIR=str(tmp_path), AUGUR_DATABASE_URL=url, AUGUR_LLM_BASE_URL=llm_url,
               AUGUR_LLM_MODEL="scripted", AUGUR_PROMETHEUS_URL="")
    return subprocess.run([AUGUR, "ask", *args], capture_output=True, text=True, env=env, timeout=60,
                          check=False)


def test_augur_ask_answers_through_the_llm_with_citations(
    tmp_path: Path, llm_endpoint: ScriptedEndpoint,
) -> None:
    cause = sample_report().chain[0].evidence_ids[0]
    llm_endpoint.push(Reply(chat_completion(json.dumps({"sentences": [
        {"text": "The click_duration feature drifted first, PSI 0.03 to 0.41.", "evidence_ids": [cause]},
        {"text": "It will recover by 04:00.", "evidence_ids": [cause]},
    ]}))))
    result = _augur(tmp_path, llm_endpoint.url, "--json", "why did ranker-serving alert?")

    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["answered_by"] == "llm:scripted"
    assert out["sentences"] == [{"text": "The click_duration feature drifted first, PSI 0.03 to 0.41.",
                                 "evidence_ids": [cause]}]
    assert "04:00" in out["dropped"][0]["text"]
    assert out["verdict"].startswith("Root cause: `feature-pipeline`")
    assert len(llm_endpoint.requests) == 1 and "tools" in llm_endpoint.requests[0]


def test_augur_ask_says_so_when_the_llm_is_unreachable(tmp_path: Path) -> None:
    result = _augur(tmp_path, "http://127.0.0.1:9/v1", "why did ranker-serving alert?")

    assert result.returncode == 0, result.stderr
    assert "Root cause: `feature-pipeline`" in result.stdout
    assert "Note: llm:scripted failed (cannot reach the LLM" in result.stdout
    assert "this is the answer without the LLM" in result.stdout
