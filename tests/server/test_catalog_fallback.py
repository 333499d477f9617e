"""No catalog configured: the worker discovers one from Prometheus, caches it, and says so.

Real store, real worker loop, the real Prometheus history fixture. The discovered catalog is kept
in the data directory (keyed on the Prometheus URL), reused by the next investigation while it is
younger than its TTL, and named on the report ("discovered from <url> at <time>, N components");
a configured catalog file still wins, and with discovery switched off nothing is discovered.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from augur.server.catalogs import resolve_catalog
from augur.server.jobs.investigations import investigation_handler
from augur.server.jobs.worker import Worker
from augur.server.settings import Settings
from augur.server.store.database import Store
from augur.server.store.models import Report
from augur.server.web.app import create_app
from tests.agent.investigation_support import PLATFORM, latency_alert, registry_for
from tests.fixtures.prometheus import PromHistory
from tests.server.conftest import TOKEN, settings_for

pytestmark = pytest.mark.slow


def test_the_worker_discovers_a_catalog_and_names_the_drift(
        store: Store, store_url: str, prom_history: PromHistory, tmp_path: Path) -> None:
    settings = settings_for(store_url, data_dir=tmp_path, prometheus_url=prom_history.url)
    client = TestClient(create_app(settings, store=store), client=("127.0.0.1", 5000),
                        headers={"Authorization": f"Bearer {TOKEN}"})
    hook = client.post("/v1/alertmanager", json=latency_alert(prom_history.t_end - 5 * 60, prom_history.url))
    assert hook.status_code < 300, hook.text
    handler = investigation_handler(settings, registry=registry_for(prom_history.url, tmp_path))
    assert Worker(store, {"investigate": handler}, lease_seconds=60).run_once()
    with store.read_session() as session:
        row = session.scalars(select(Report)).one()
    report, markdown = row.report, row.markdown
    # Discovered from the labels: the drifting feature of model "ranker" is its own data component.
    assert report["root_cause"]["component"] == "ranker-click_duration"
    assert report["root_cause"]["fault_type"] == "data_drift"
    assert [link["component"] for link in report["chain"]][:3] == [
        "ranker-click_duration", "ranker-model", "ranker-serving"]
    note = report["stats"]["notes"][0]
    assert note.startswith(f"no catalog configured: using the catalog discovered from {prom_history.url} at ")
    assert "components" in note and note in markdown
    (cached,) = (tmp_path / "catalogs").glob("catalog-*.yaml")
    meta = json.loads(cached.with_suffix(".json").read_text())
    assert meta["url"] == prom_history.url and cached.read_text().startswith("# Platform catalog discovered")


def test_the_cache_is_reused_within_its_ttl_and_a_file_wins(
        prom_history: PromHistory, tmp_path: Path) -> None:
    settings = Settings(prometheus_url=prom_history.url, data_dir=tmp_path, catalog_discovery_ttl_s=600)
    at = prom_history.t_end
    first = resolve_catalog(settings, at=at, now=1_000.0)
    assert first.source == "discovered" and first.catalog is not None
    again = resolve_catalog(settings, at=at, now=1_500.0)
    assert again.source == "cached" and again.catalog == first.catalog
    assert again.note == first.note and f"kept in {again.path}" in str(again.note)  # same report text
    assert resolve_catalog(settings, at=at, now=1_700.0).source == "discovered"  # past the TTL
    slash = Settings(prometheus_url=prom_history.url + "/", data_dir=tmp_path, catalog_discovery_ttl_s=600)
    assert resolve_catalog(slash, at=at, now=1_710.0).source == "cached"  # the same Prometheus
    edges = tmp_path / "edges.csv"
    edges.write_text("Source,Target\nranker-serving,ranker-model\n")
    other = Settings(prometheus_url=prom_history.url, data_dir=tmp_path, catalog_edges_file=edges)
    with_edges = resolve_catalog(other, at=at, now=1_750.0)
    assert with_edges.source == "discovered"  # other edge sources: another cache entry
    assert with_edges.catalog is not None
    assert "ranker-model" in with_edges.catalog.component("ranker-serving").depends_on
    hand = resolve_catalog(Settings(prometheus_url=prom_history.url, data_dir=tmp_path,
                                    catalog_file=PLATFORM), at=at)
    assert hand.source == "file" and hand.note is None and hand.catalog is not None
    assert "feature-pipeline" in {c.name for c in hand.catalog.components}
    off = resolve_catalog(Settings(prometheus_url=prom_history.url, data_dir=tmp_path,
                                   catalog_discovery=False), at=at)
    assert off.source == "none" and off.catalog is None
    down = resolve_catalog(Settings(prometheus_url="http://127.0.0.1:9", data_dir=tmp_path), at=at)
    assert down.source == "failed" and down.catalog is None and "cannot reach Prometheus" in str(down.note)


def test_services_with_lines_in_the_log_store_get_an_error_log_signal(
        prom_history: PromHistory, tmp_path: Path) -> None:
    from augur.tools.logs import LogRecord, SqliteLogStore

    at = prom_history.t_end
    bare = resolve_catalog(Settings(prometheus_url=prom_history.url, data_dir=tmp_path / "bare"), at=at)
    assert bare.catalog is not None
    assert not [s for c in bare.catalog.components for s in c.signals if s.kind == "log"]
    # `augur logs ingest` loaded the serving pods' lines (and a service Prometheus does not know).
    SqliteLogStore(tmp_path / "logs" / "logs.db").ingest(
        [LogRecord(ts=at - 600 + i, level="info", service=svc, host="h", message="request served")
         for i, svc in enumerate(["ranker-serving", "ranker-serving", "billing"])])
    settings = Settings(prometheus_url=prom_history.url, data_dir=tmp_path / "logs")
    resolved = resolve_catalog(settings, at=at)
    assert resolved.source == "discovered" and resolved.catalog is not None
    logs = {c.name: s for c in resolved.catalog.components for s in c.signals if s.kind == "log"}
    assert list(logs) == ["ranker-serving"]  # only a component its lines name; billing has none
    assert "error" in str(logs["ranker-serving"].log_query)
    assert resolved.catalog.component("ranker-serving").match.get("service") == "ranker-serving"
    # The reviewable YAML says where the signal came from.
    assert "its lines in the log store (service=ranker-serving)" in resolved.path.read_text()
