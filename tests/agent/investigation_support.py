"""Shared pieces of the investigation tests: the fixture platform's catalog, tools and alert."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from augur.agent.catalog import Catalog, load_catalog
from augur.server.settings import Settings
from augur.server.toolbox import build_registry
from augur.tools.base import ToolRegistry

PLATFORM = Path(__file__).with_name("platform.yaml")
P99 = "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))"


def platform_catalog() -> Catalog:
    """The catalog of the shared Prometheus history fixture."""
    return load_catalog(PLATFORM)


def registry_for(prometheus_url: str, data_dir: Path) -> ToolRegistry:
    """The tools augur builds from settings pointing at ``prometheus_url``."""
    return build_registry(Settings(prometheus_url=prometheus_url, data_dir=data_dir))


def write_platform_logs(data_dir: Path, t_end: float, onsets: dict[str, float]) -> int:
    """Logs of the fixture platform into the embedded log store build_registry uses by default.

    One line a minute per service for 6 hours; from the drift onset the feature pipeline warns
    about click_duration's range, and from the latency onset the serving logs timeouts.
    """
    from augur.tools.logs import LogRecord, SqliteLogStore

    records = []
    drift, slow = onsets["model_drift_score"], onsets["http_request_duration_seconds"]
    for i, t in enumerate(range(int(t_end - 6 * 3600), int(t_end), 60)):
        records.append(LogRecord(
            ts=t, level="info", service="feature-pipeline", host="fp-1",
            message=f"batch {i} computed feature click_duration for {900 + i % 50} rows"))
        if t >= drift:
            records.append(LogRecord(
                ts=t + 1, level="warning", service="feature-pipeline", host="fp-1",
                message=f"feature click_duration outside expected range 10-60 s in {90 + i % 7} % of rows"))
        records.append(LogRecord(ts=t + 2, level="info", service="ranker-serving", host="rs-1",
                                 message=f"served request for model ranker in {20 + i % 30} ms"))
        if t >= slow:
            records.append(LogRecord(ts=t + 3, level="error", service="ranker-serving", host="rs-1",
                                     message=f"inference timeout for model ranker after {1000 + i % 9} ms"))
    return SqliteLogStore(data_dir / "logs.db").ingest(records).lines


def latency_alert(starts_at: float, prometheus_url: str = "http://127.0.0.1:9090") -> dict[str, Any]:
    """A firing Alertmanager webhook body for the ranker's p99 latency, as Alertmanager sends it."""
    return {
        "version": "4", "status": "firing", "receiver": "augur",
        "groupKey": '{}:{alertname="RankerP99High"}',
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": "RankerP99High", "service": "ranker-serving", "severity": "page"},
            "annotations": {"summary": "ranker p99 above 500 ms"},
            "startsAt": datetime.fromtimestamp(starts_at, UTC).isoformat().replace("+00:00", "Z"),
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": f"{prometheus_url}/graph?g0.expr={quote(P99 + ' > 0.5')}&g0.tab=1",
            "fingerprint": "a1b2c3d4e5f60718",
        }],
    }
