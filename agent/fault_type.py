"""Fault type from what the changed signals *are*, not from words in their names.

A component's fault type (the playbook key) is read from all of its changed signals. Each
signal gets a **nature** — what kind of quantity moved — from, in order:

1. the catalog's declaration (``fault_type:`` on the signal) — the operator's word wins;
2. the signal's kind: a drift test is drift, a new log template is exceptions, a slower trace
   hop is latency;
3. well-known exporter metric families in its query (standard identifiers such as DCGM's
   ``DCGM_FI_DEV_XID_ERRORS`` or node exporter's ``node_network_*``, not names an operator chose);
4. the query's shape: ``histogram_quantile`` over buckets is a latency, a ratio selecting 5xx
   status codes is errors, a selector over every value of a label (``slice!=""``) is per-slice;
5. its unit, bad direction and layer: a PSI is drift; seconds on a data component are age
   (freshness), on a service latency; a ratio that must not rise on a data component is a bad-row
   share (missing values); a ratio that must not fall on a model is quality, on a resource
   utilisation; requests per second are traffic.

A backlog (queued work) on a data component is late data; on a service it is queueing delay.
The component's type is then the most specific nature among its signals (hardware errors before
the saturation they cause, errors before the traffic they cost). A service whose latency (or a
success ratio such as a cache hit ratio) degraded while its changed dependents slowed down is
``upstream_latency``: its callers wait on it. The names are the scenarios' truth vocabulary
(:class:`augur.evals.scenario.FaultType`) wherever one applies.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from augur.agent.state import Finding

__all__ = ["NATURES", "classify", "fault_type", "signal_nature"]

#: Exporter metric families with a known meaning: (metric-name prefix, nature).
_FAMILIES: tuple[tuple[str, str], ...] = (
    ("DCGM_FI_DEV_XID_ERRORS", "hardware_errors"), ("DCGM_FI_DEV_ECC_", "hardware_errors"),
    ("DCGM_FI_DEV_RETIRED_", "hardware_errors"), ("DCGM_FI_DEV_ROW_REMAP", "hardware_errors"),
    ("DCGM_FI_DEV_CLOCK_THROTTLE", "hardware_errors"),
    ("DCGM_FI_DEV_FB_", "gpu_memory"), ("DCGM_FI_PROF_SM_", "gpu_activity"),
    ("DCGM_FI_PROF_PIPE_TENSOR", "gpu_activity"), ("DCGM_FI_DEV_GPU_UTIL", "gpu_utilisation"),
    ("DCGM_FI_PROF_DRAM_ACTIVE", "gpu_utilisation"), ("DCGM_FI_PROF_GR_ENGINE", "gpu_utilisation"),
    ("node_network_", "network"), ("nccl_", "network"), ("node_infiniband_", "network"),
    ("node_cpu_", "cpu"), ("container_cpu_", "cpu"), ("node_load", "cpu"),
    ("node_memory_", "memory"), ("container_memory_", "memory"), ("node_filesystem_", "disk"),
    ("kafka_consumergroup_lag", "backlog"), ("kafka_consumer_lag", "backlog"),
    ("vllm:num_requests_waiting", "backlog"), ("vllm:gpu_cache_usage", "gpu_memory"),
)
_ERROR_SELECTOR = re.compile(r"""\b(code|status|status_code|response_code)\s*(=~|=)\s*["']5""")
_ALL_VALUES_SELECTOR = re.compile(r"""\b[A-Za-z_]\w*\s*(!=\s*["']["']|=~\s*["']\.[+*]["'])""")
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_DRIFT_UNITS = {"psi", "ks", "wasserstein", "js", "jensenshannon", "kl", "chi2"}
_TIME_UNITS = {"s", "ms", "us", "seconds", "milliseconds", "second", "minutes", "min", "h"}
_RATIO_UNITS = {"ratio", "%", "percent", "share", "fraction"}
_RATE_UNITS = {"req/s", "rps", "qps", "requests/s", "1/s", "ops/s", "sessions", "users", "requests"}
_COUNT_ERROR_UNITS = {"errors", "errors/s", "code", "failures"}

#: Natures, most specific first: a component's type comes from the first one among its signals.
NATURES: tuple[str, ...] = (
    "declared", "hardware_errors", "network", "gpu_memory", "gpu_activity", "drift", "missing",
    "backlog", "freshness", "slice_quality", "errors", "exceptions", "model_change", "quality",
    "latency", "degraded_ratio", "gpu_utilisation", "memory", "cpu", "disk", "utilisation",
    "traffic", "kpi", "unknown",
)


def _metrics(query: str) -> list[str]:
    no_labels = re.sub(r"\{[^}]*\}", "", query)
    return [m.group(0) for m in _IDENT.finditer(no_labels)]


def signal_nature(f: Finding) -> str:
    """What kind of quantity this changed signal is (see the module docstring)."""
    if f.get("fault_type"):
        return "declared"
    kind, query = f.get("kind"), str(f.get("query") or "")
    unit, layer, bad = (f.get("unit") or "").strip().lower(), f.get("layer"), f.get("bad") or "any"
    if kind == "drift" or unit in _DRIFT_UNITS:
        return "drift"
    if kind == "log":
        return "exceptions"
    if kind == "trace":
        return "latency"
    for metric in _metrics(query):
        for prefix, nature in _FAMILIES:
            if metric.startswith(prefix):
                return nature
    if _ERROR_SELECTOR.search(query):
        return "errors"
    if layer == "business":
        return "kpi"
    if "histogram_quantile(" in query or unit in _TIME_UNITS:
        return "freshness" if layer == "data" else "latency"
    if unit in _COUNT_ERROR_UNITS:
        return "errors"
    if unit in _RATIO_UNITS or unit == "":
        if _ALL_VALUES_SELECTOR.search(query) and layer == "model":
            return "slice_quality"
        if layer == "data" and bad == "up":
            return "missing"
        if layer == "model" and bad == "down":
            return "quality"
        if layer == "resource":
            return "utilisation"
        if layer == "service" and bad == "down":
            return "degraded_ratio"
    if unit in _RATE_UNITS or (unit.endswith("/s") and unit not in ("b/s", "bytes/s")):
        return "traffic"
    if layer == "data" and bad == "up":
        return "backlog"  # a count that must not grow on a data component: queued work
    if layer == "model":
        return "model_change"  # a model parameter or setting moved (not a quality metric)
    return "unknown"


def classify(changed: Sequence[Finding], downstream: Sequence[Finding] = ()) -> str:
    """The fault type of a component from all its changed signals (and its changed dependents)."""
    if not changed:
        return "unknown"
    natures = {signal_nature(f): f for f in changed}
    nature = min(natures, key=NATURES.index)
    f = natures[nature]
    layer, up = f.get("layer"), f.get("direction") == "up"
    dependents_slower = any(signal_nature(d) == "latency" for d in downstream)
    if nature == "declared":
        return str(f["fault_type"])
    if nature == "backlog" and layer == "service":
        nature = "latency"  # requests queueing in a server: its callers wait (not data freshness)
    if nature in ("latency", "degraded_ratio"):
        return "upstream_latency" if dependents_slower or nature == "degraded_ratio" else "latency_regression"
    if nature == "drift":
        return "data_drift" if layer in ("data", None) else "train_serve_skew"
    if nature in ("errors", "exceptions"):
        if layer in ("service", None):
            return "bad_deploy"  # a service's own errors, nothing upstream: its last change
        return "gpu_hardware" if layer == "resource" else "error_logs"
    if nature == "traffic":
        return "traffic_surge" if up else "traffic_drop"
    if nature == "utilisation" or nature == "gpu_utilisation":
        return ("gpu_saturation" if nature == "gpu_utilisation" else "resource_saturation") if up else (
            "gpu_underutilized" if nature == "gpu_utilisation" else "resource_saturation")
    if nature == "gpu_activity":
        return "gpu_underutilized" if not up else "gpu_saturation"
    return {
        "hardware_errors": "gpu_hardware", "network": "network_bottleneck", "gpu_memory": "gpu_oom",
        "missing": "missing_features", "backlog": "data_freshness", "freshness": "data_freshness",
        "slice_quality": "slice_degradation", "model_change": "bad_model_version",
        "quality": "model_degradation", "memory": "resource_saturation", "cpu": "resource_saturation",
        "disk": "resource_saturation", "kpi": "kpi_drop",
    }.get(nature, "unknown")


def fault_type(finding: Finding) -> str:
    """The fault type of one changed signal on its own (a symptom's kind, for mitigation steps)."""
    return classify([finding])
