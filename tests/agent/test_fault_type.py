"""Fault type from what the changed signals are: declarations, query shape, units, all signals.

Plain findings as the observe node builds them (no servers needed): the classifier reads only
their kind, query, unit, direction, bad direction, layer and declared type, never component or
signal names — so the same finding under an opaque name gets the same type.
"""

from __future__ import annotations

import pytest

from augur.agent.catalog import CatalogError, parse_catalog
from augur.agent.fault_type import classify, fault_type
from augur.agent.state import Finding

P99 = 'histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{service="{c}"}[5m])))'
ERRORS = ('sum(rate(http_requests_total{service="x",code=~"5.."}[5m])) / '
          'sum(rate(http_requests_total{service="x"}[5m]))')


def _f(component: str, signal: str, layer: str, query: str, unit: str | None, direction: str = "up",
       bad: str = "up", kind: str = "metric", declared: str | None = None) -> Finding:
    f = Finding(component=component, signal=f"{component}.{signal}", layer=layer, query=query, kind=kind,
                anomalous=True, onset=1000.0, direction=direction, magnitude=5.0, bad=bad, unit=unit,
                evidence_ids=[])
    if declared:
        f["fault_type"] = declared
    return f


@pytest.mark.parametrize(("finding", "expected"), [
    (_f("c1", "s1", "data", "m01{feature=\"x\"}", "psi"), "data_drift"),
    (_f("c1", "s2", "data", "m02{feature=\"x\"}", "s"), "data_freshness"),
    (_f("c1", "s3", "data", "m03{feature=\"x\"}", "ratio"), "missing_features"),
    (_f("c1", "s4", "model", 'min(m04{slice=""})', "ratio", "down", "down"), "model_degradation"),
    (_f("c1", "s5", "model", 'm04{slice!=""}', "ratio", "down", "down"), "slice_degradation"),
    (_f("c1", "s6", "model", "m05", "weight", bad="any"), "bad_model_version"),
    (_f("c1", "s7", "resource", 'DCGM_FI_DEV_XID_ERRORS{Hostname="h"}', "code"), "gpu_hardware"),
    (_f("c1", "s8", "resource", 'DCGM_FI_DEV_FB_USED{Hostname="h"}', "MiB"), "gpu_oom"),
    (_f("c1", "s9", "resource", 'DCGM_FI_PROF_SM_ACTIVE{Hostname="h"}', "ratio", "down", "down"),
     "gpu_underutilized"),
    (_f("c1", "s10", "resource", 'sum(rate(node_network_transmit_errs_total{device="ib0"}[5m]))', "errors/s"),
     "network_bottleneck"),
    (_f("c1", "s11", "service", ERRORS, "ratio"), "bad_deploy"),
    (_f("c1", "s12", "service", "sum(rate(http_requests_total[5m]))", "req/s"), "traffic_surge"),
    (_f("c1", "s13", "service", P99.replace("{c}", "x"), "s"), "latency_regression"),
    (_f("c1", "s14", "data", 'sum(kafka_consumergroup_lag{topic="t"})', "messages"), "data_freshness"),
    (_f("c1", "s15", "service", 'vllm:num_requests_waiting{model_name="m"}', None), "latency_regression"),
])
def test_one_signal_is_typed_by_what_it_is(finding: Finding, expected: str) -> None:
    assert fault_type(finding) == expected
    # An opaque or misleading name changes nothing: the name is never read.
    renamed = {**finding, "component": "drift-latency-gpu", "signal": "drift-latency-gpu.error_psi_util"}
    assert fault_type(Finding(**renamed)) == expected  # type: ignore[typeddict-item]


def test_every_changed_signal_counts_not_only_the_first() -> None:
    qps = _f("c1", "s1", "service", "sum(rate(http_requests_total[5m]))", "req/s", "down", "any")
    errors = _f("c1", "s2", "service", ERRORS, "ratio")
    assert classify([qps]) == "traffic_drop"
    assert classify([qps, errors]) == classify([errors, qps]) == "bad_deploy"


def test_a_slow_dependency_of_slower_callers_is_upstream_latency() -> None:
    own = _f("c1", "s1", "service", P99.replace("{c}", "c1"), "s")
    caller = _f("c2", "s1", "service", P99.replace("{c}", "c2"), "s")
    assert classify([own]) == "latency_regression"
    assert classify([own], downstream=[caller]) == "upstream_latency"


def test_a_declared_fault_type_wins() -> None:
    util = _f("c1", "s1", "resource", 'DCGM_FI_DEV_GPU_UTIL{Hostname="h"}', "%", declared="gpu_oom")
    assert classify([util]) == "gpu_oom"


CATALOG = """
version: 1
components:
  - name: pool
    layer: resource
    signals:
      - {name: mem, query: gpu_mem_used_ratio, unit: ratio, bad: up, fault_type: FAULT}
"""


def test_the_catalog_carries_a_signals_fault_type() -> None:
    signal = parse_catalog(CATALOG.replace("FAULT", "gpu_oom")).component("pool").signals[0]
    assert signal.fault_type == "gpu_oom"
    with pytest.raises(CatalogError, match="fault_type"):
        parse_catalog(CATALOG.replace("FAULT", "'Not A Type'"))
