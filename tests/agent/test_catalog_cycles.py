"""Real call graphs have cycles: the catalog accepts them and every graph walk terminates on them.

A frontend calls checkout, which calls the frontend's API back; a model retrained on the logs its
own serving wrote depends on that serving. The catalog loads such graphs, ``catalog check`` notes
the cycle, and correlation, diagnosis and the SOP planner finish on them and still rank the
change that came first; the last test runs a whole investigation on the real Prometheus fixture
with a feedback edge (ranker-model depends on ranker-serving) closing a cycle through the chain.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from typer.testing import CliRunner

from augur.agent.catalog import parse_catalog
from augur.agent.correlate import correlate
from augur.agent.diagnose import diagnose
from augur.agent.investigation import investigate
from augur.agent.sop import SopPlanner
from augur.agent.state import Finding
from augur.server.cli.main import app
from tests.agent.investigation_support import PLATFORM, latency_alert, registry_for
from tests.fixtures.prometheus import PromHistory

T0 = 1_795_000_000.0
CYCLIC = """
components:
  - {name: frontend, layer: service, depends_on: [checkout, catalog-api], match: {service: frontend}}
  - {name: checkout, layer: service, depends_on: [frontend, payment], match: {service: checkout}}
  - {name: payment, layer: service, depends_on: [checkout]}
  - {name: catalog-api, layer: service, depends_on: [catalog-api]}
"""


def finding(component: str, onset: float | None, z: float) -> Finding:
    return Finding(component=component, signal=f"{component}.p99", layer="service", query="q",
                   kind="metric", anomalous=True, onset=onset, direction="up", magnitude=z, before=None,
                   after=None, bad="up", unit="s", evidence_ids=[f"ev-{component}"])


def test_a_cyclic_catalog_loads_and_check_notes_the_cycle(tmp_path: Path) -> None:
    catalog = parse_catalog(CYCLIC)
    assert catalog.find_cycle() == ["frontend", "checkout", "frontend"]
    # Each member of a cycle is upstream of the others, never of itself.
    assert catalog.upstream("frontend") == {"checkout", "payment", "catalog-api"}
    assert catalog.upstream("payment") == {"checkout", "frontend", "catalog-api"}
    assert catalog.upstream("catalog-api") == set()  # a self-loop is no dependency
    assert catalog.is_upstream("frontend", "checkout") and catalog.is_upstream("checkout", "frontend")
    assert not catalog.is_upstream("frontend", "frontend")
    assert catalog.neighbours("payment", hops=10) == {"checkout": 1, "frontend": 2, "catalog-api": 3}
    path = tmp_path / "cyclic.yaml"
    path.write_text(CYCLIC)
    result = CliRunner().invoke(app, ["catalog", "check", str(path)])
    assert result.exit_code == 0, result.output
    assert "4 components" in result.output and "note: depends_on has a cycle" in result.output


def test_correlate_and_diagnose_terminate_on_a_cycle_and_rank_the_first_change() -> None:
    catalog = parse_catalog(CYCLIC)
    findings = [finding("frontend", T0 + 900, 30.0), finding("checkout", T0 + 300, 12.0),
                finding("payment", T0, 4.0)]
    chain = correlate(findings, catalog)
    assert [f["component"] for f in chain.links] == ["payment", "checkout", "frontend"]
    result = diagnose(chain, catalog)
    assert result.top is not None and result.top.component == "payment"
    assert [c.component for c in result.candidates] == ["payment", "checkout", "frontend"]


def test_the_sop_planner_terminates_on_a_cycle_and_reaches_every_component() -> None:
    catalog = parse_catalog(CYCLIC.replace("depends_on: [checkout]}", "depends_on: [checkout], signals: "
                                           "[{name: p99, query: 'payment_p99'}]}"))
    state = {"focus": "frontend", "window": {"start": T0, "end": T0 + 3600, "alert_at": T0 + 3000,
                                             "step": 30.0},
             "alert": {}, "findings": [finding("checkout", T0, 3.0)], "calls": []}
    stages = SopPlanner(catalog).stages(state)  # type: ignore[arg-type]
    queried = {c["args"].get("query") for stage in stages for c in stage}
    assert "payment_p99" in queried


def test_an_investigation_with_a_feedback_cycle_still_names_the_drift(
        prom_history: PromHistory, tmp_path: Path) -> None:
    text = PLATFORM.read_text().replace("    depends_on: [feature-pipeline]\n",
                                        "    depends_on: [feature-pipeline, ranker-serving]\n", 1)
    catalog = parse_catalog(text)
    assert catalog.find_cycle() is not None
    registry = registry_for(prom_history.url, tmp_path)
    report = asyncio.run(investigate(latency_alert(prom_history.t_end - 5 * 60, prom_history.url),
                                     registry=registry, catalog=catalog, now=prom_history.t_end))
    assert report.root_cause.component == "feature-pipeline"
    assert [link.component for link in report.chain][:3] == ["feature-pipeline", "ranker-model",
                                                             "ranker-serving"]
