"""Acceptance: `augur investigate` with no catalog configured, on the demo's data, names the cause.

The demo's story (``feature-drift-click-duration``: click duration drifts, the ranker's accuracy
falls, serving p99 triples, CTR drops; a noisy GPU as red herring) is generated and backfilled
into a real Prometheus; its alerting rule is evaluated there for the webhook body. The same alert
is investigated through the CLI twice: with the scenario's hand-written catalog, and with none,
when augur discovers one from Prometheus. The discovered catalog cannot know the hand-written
names (``feature-pipeline`` appears nowhere in the telemetry), so "the same root cause" means the
same series changed first: the cause's component is matched by the same labels, its signal reads
the same series with the same value, the fault type and the chain's layers and signals are equal.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from augur.agent.catalog import load_catalog
from augur.evals.alert import evaluate_rule, webhook_body
from augur.evals.demo import story_scenario
from augur.evals.generator import generate
from augur.evals.servers import PrometheusServer
from augur.server.cli.main import app
from augur.tools.logs.sqlite import SqliteLogStore

pytestmark = pytest.mark.slow
UNSET = ("AUGUR_CATALOG_FILE", "AUGUR_CONFIG_FILE", "AUGUR_LLM_BASE_URL", "AUGUR_LLM_MODEL",
         "AUGUR_JAEGER_URL", "AUGUR_ELASTICSEARCH_URL", "AUGUR_CATALOG_EDGES_FILE", "AUGUR_CATALOG_DISCOVERY")


def _value(prom: str, query: str, at: float) -> float:
    answer = httpx.get(f"{prom}/api/v1/query", params={"query": query, "time": at}, timeout=10).json()
    (series,) = answer["data"]["result"]
    return float(series["value"][1])


def test_no_catalog_names_the_same_root_cause_as_the_hand_written_one(tmp_path: Path) -> None:
    story = story_scenario()
    end = float(int(time.time()) // 86400 * 86400)  # as the eval suite: history ends at UTC midnight
    gen = generate(story, tmp_path / "data", t_end=end)
    log_db = tmp_path / "logs.db"
    SqliteLogStore(log_db).ingest_file(gen.logs)
    prom = PrometheusServer.start(tmp_path / "prom", openmetrics=gen.openmetrics, rule_files=[gen.rules])
    try:
        alert = tmp_path / "alert.json"
        alert.write_text(json.dumps(webhook_body(evaluate_rule(prom.url, story.rule(), end))))
        env: dict[str, str | None] = {name: None for name in UNSET}
        env.update(AUGUR_PROMETHEUS_URL=prom.url, AUGUR_DATA_DIR=str(tmp_path / "augur"),
                   AUGUR_LOG_DB=str(log_db))

        def investigate(*extra: str) -> dict[str, Any]:
            result = CliRunner().invoke(app, ["investigate", str(alert), "--json", "-q", *extra], env=env)
            assert result.exit_code == 0, result.output
            return json.loads(result.stdout)  # type: ignore[no-any-return]

        hand = investigate("--catalog", str(gen.catalog))
        found = investigate()
        (cached,) = (tmp_path / "augur" / "catalogs").glob("catalog-*.yaml")
        discovered = load_catalog(cached)
        written = load_catalog(gen.catalog)
        hand_cause, found_cause = hand["root_cause"], found["root_cause"]
        assert hand_cause["verdict"] == found_cause["verdict"] == "identified"
        assert hand_cause["component"] == "feature-pipeline"
        assert found_cause["fault_type"] == hand_cause["fault_type"] == "data_drift"
        assert (discovered.component(found_cause["component"]).match
                == written.component(hand_cause["component"]).match == {"model": "ranker",
                                                                         "feature": "click_duration"})
        _, hand_signal = written.resolve(hand_cause["signal"])
        _, found_signal = discovered.resolve(found_cause["signal"])
        assert found_signal.name == hand_signal.name == "click_duration_psi"
        assert _value(prom.url, str(found_signal.query), end) == _value(prom.url, str(hand_signal.query), end)
    finally:
        prom.stop()
    # The same chain, layer by layer and signal by signal; the noisy GPU on neither.
    assert ([(link["layer"], link["signal"].partition(".")[2]) for link in found["chain"]]
            == [(link["layer"], link["signal"].partition(".")[2]) for link in hand["chain"]]
            == [("data", "click_duration_psi"), ("model", "accuracy"), ("service", "p99_latency"),
                ("business", "ctr")])
    assert not any(link["layer"] == "resource" for link in found["chain"])
    # The report says where its catalog came from.
    note = found["stats"]["notes"][0]
    assert note.startswith(f"no catalog configured: using the catalog discovered from {prom.url} at ")
    assert f"{len(discovered.components)} components" in note
    assert not any("discovered from" in n for n in hand["stats"]["notes"])
