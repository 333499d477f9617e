"""The real Prometheus fixture answers queries over its backfilled history."""

from __future__ import annotations

import httpx

from tests.fixtures.prometheus import PromHistory


def test_backfilled_history_is_queryable(prom_history: PromHistory) -> None:
    r = httpx.get(
        f"{prom_history.url}/api/v1/query",
        params={"query": 'model_drift_score{feature="click_duration"}', "time": prom_history.t_end},
    )
    r.raise_for_status()
    (series,) = r.json()["data"]["result"]
    assert float(series["value"][1]) > 0.3  # after the injected drift step

    before = prom_history.onsets["model_drift_score"] - 600
    r = httpx.get(
        f"{prom_history.url}/api/v1/query",
        params={"query": 'model_drift_score{feature="click_duration"}', "time": before},
    )
    assert float(r.json()["data"]["result"][0]["value"][1]) < 0.2


def test_free_port_never_hands_out_the_same_port_twice() -> None:
    """Servers started side by side must not be given one port (the second would fail to bind)."""
    from augur.evals.servers import free_port

    ports = [free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)
