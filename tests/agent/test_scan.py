"""Family scans: one query for a signal many components share, split back per component."""

from __future__ import annotations

from typing import Any

from augur.agent.catalog import Component, Signal, parse_catalog
from augur.agent.scan import expand_scan, scan_calls, scan_query

CATALOG = """
version: 1
components:
  - name: frontend
    layer: service
    match: {service: frontend}
    depends_on: [cart, checkout]
    signals:
      - {name: cpu, query: 'sum(rate(cpu_seconds_total{ns="ob",service="frontend"}[2m]))'}
      - {name: sli, query: 'sli_ratio{service="frontend"}'}
  - name: cart
    layer: service
    match: {service: cart}
    signals:
      - {name: cpu, query: 'sum(rate(cpu_seconds_total{ns="ob",service="cart"}[2m]))'}
      - {name: inbound, query: 'max by (le) (edge_p50{destination_workload="cart"})'}
  - name: checkout
    layer: service
    match: {service: checkout}
    depends_on: [cart]
    signals:
      - {name: cpu, query: 'sum(rate(cpu_seconds_total{ns="ob",service="checkout"}[2m]))'}
      - {name: inbound, query: 'max by (le) (edge_p50{destination_workload="checkout"})'}
"""


def test_a_shared_signal_is_one_query_that_keeps_the_component_label() -> None:
    query = 'sum(rate(x{ns="ob",service="cart"}[2m]))'
    assert scan_query(query, "service", "cart", ["cart", "checkout"]) == (
        'sum by (service) (rate(x{ns="ob",service=~"cart|checkout"}[2m]))')
    assert scan_query('max by (le) (y{dst="cart"})', "dst", "cart", ["cart", "a.b"]) == (
        'max by (le, dst) (y{dst=~"cart|a\\\\.b"})')
    # An aggregation that would drop the label, or a value that is not a plain name: not scanned.
    assert scan_query('sum without (service) (x{service="cart"})', "service", "cart", ["cart"]) is None
    assert scan_query('topk(3, x{service="cart"})', "service", "cart", ["cart"]) is None
    assert scan_query('x{service="cart"}', "service", "cart", ["cart", 'a"b']) is None


def test_scan_calls_group_by_signal_and_leave_unique_signals_alone() -> None:
    catalog = parse_catalog(CATALOG)
    singles: list[str] = []
    scans: list[tuple[str, str, list[str]]] = []

    def one(comp: Component, sig: Signal) -> list[dict[str, Any]]:
        singles.append(f"{comp.name}.{sig.name}")
        return []

    def many(query: str, signal: str, label: str, members: list[Component]) -> list[dict[str, Any]]:
        scans.append((signal, label, [c.name for c in members]))
        return []

    scan_calls(catalog, ["frontend", "cart", "checkout"], one, many)
    assert singles == ["frontend.sli"]
    assert scans == [("cpu", "service", ["frontend", "cart", "checkout"]),
                     ("inbound", "destination_workload", ["cart", "checkout"])]


def test_a_scan_evidence_is_read_back_per_component() -> None:
    catalog = parse_catalog(CATALOG)
    data = {"start": 0, "series": [{"labels": {"destination_workload": "checkout"}, "found": True},
                                   {"labels": {"destination_workload": "cart"}, "found": False},
                                   {"labels": {"destination_workload": "unknown"}, "found": True}]}
    views = expand_scan("scan:inbound:destination_workload", data, catalog)
    assert sorted(views) == ["cart.inbound", "checkout.inbound"]
    assert views["checkout.inbound"]["series"] == [data["series"][0]]
    assert views["cart.inbound"]["start"] == 0
