"""`augur eval --llm` drives the LLM planner and narrator and counts their tokens.

No hosted LLM is reachable here: the official ``openai`` client talks to the scripted
OpenAI-compatible endpoint on loopback (tests/fixtures/openai_endpoint.py), which answers every
request with a plan that asks for nothing more. A run against a real endpoint is the same
command with ``AUGUR_LLM_BASE_URL`` / ``AUGUR_LLM_MODEL`` pointing at it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.fixtures.openai_endpoint import Reply, ScriptedEndpoint, chat_completion


@pytest.mark.slow
def test_eval_with_llm_counts_tokens_and_still_scores(llm_endpoint: ScriptedEndpoint) -> None:
    llm_endpoint.push(*(Reply(chat_completion('{"calls": []}')) for _ in range(40)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUGUR_")}
    env.update({"AUGUR_LLM_BASE_URL": llm_endpoint.url, "AUGUR_LLM_MODEL": "scripted"})
    out = subprocess.run([sys.executable, "-m", "augur.server.cli", "eval", "--llm", "--json",
                          "-s", "slow-feature-store"], capture_output=True, text=True, timeout=240, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout)
    assert llm_endpoint.requests, "the LLM was never called"
    assert result["summary"]["tokens"] > 0
    (case,) = result["cases"]
    assert case["tokens"] == result["summary"]["tokens"]
    assert case["ranked"][0] == "feature-store" and case["ac1"]
