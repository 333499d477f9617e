"""Signals for a discovered component: the PromQL a person would write for each exporter family.

:func:`signals_for` turns the families one owner emits (see :mod:`.families`) into named signals
with a direction that is bad, a unit and, where the exporter says what a change means, a fault
type (a playbook key): p99 from histograms (``histogram_quantile(0.99, sum by (le) (rate(
x_bucket[5m])))``) or a summary's top ``quantile``, error ratio as the 5xx share of a
status-coded counter (``or vector(0)`` so no errors reads 0, not empty), traffic as ``rate``,
DCGM fields aggregated per host, node and container saturation, and for families no rule knows
one signal by metric type (at most :data:`MAX_GENERIC` per component, raw families before
recording rules).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from augur.agent.discovery.families import Owner, OwnerFamilies, kind_of, render_selector
from augur.agent.discovery.inventory import MetricFamily

__all__ = ["MAX_GENERIC", "SignalSpec", "signals_for"]

STATUS_LABELS = ("code", "status_code", "status", "http_status", "response_code",
                 "http_response_status_code")
GRPC_ERRORS = "Unknown|DeadlineExceeded|Internal|Unavailable|DataLoss"
#: At most this many signals a component gets from families no rule knows.
MAX_GENERIC = 8
_LATENCY = re.compile(r"(duration|latency|_seconds|_milliseconds|_ms|_us|_microseconds)")


@dataclass(frozen=True)
class SignalSpec:
    """A signal discovery proposes, with where it came from (for the YAML comment)."""

    name: str
    query: str
    bad: str
    unit: str | None
    origin: str
    known: bool = True
    fault_type: str | None = None


def _unit(name: str) -> str | None:
    for suffix, unit in (("_seconds", "s"), ("_milliseconds", "ms"), ("_ms", "ms"), ("_us", "us"),
                         ("_microseconds", "us"), ("_bytes", "bytes"), ("_ratio", "ratio"),
                         ("_percent", "%"), ("_perc", "ratio")):
        if name.removesuffix("_total").endswith(suffix):
            return unit
    return None


def _status_label(rows: list[dict[str, str]]) -> str | None:
    for label in STATUS_LABELS:
        if any(r.get(label) for r in rows):
            return label
    return None


def _p99(family: str, sel: str) -> str:
    return f"histogram_quantile(0.99, sum by (le) (rate({family}_bucket{sel}[5m])))"


def _rate(series: str, sel: str) -> str:
    return f"sum(rate({series}{sel}[5m]))"


def _error_ratio(series: str, owner: Owner, label: str, *extra: str) -> str:
    value = f'{label}=~"{GRPC_ERRORS}"' if label == "grpc_code" else f'{label}=~"5.."'
    return (f"(sum(rate({series}{render_selector(owner, *extra, value)}[5m])) or vector(0)) / "
            f"sum(rate({series}{render_selector(owner, *extra)}[5m]))")


def signals_for(group: OwnerFamilies) -> list[SignalSpec]:
    """The signals of one owner from all the families it emits (see the module docstring)."""
    owner, fams = group.owner, group.families
    sel = render_selector(owner)  # for the families combined below (one exporter, one owner rule)
    out: list[SignalSpec] = []
    used: set[str] = set()
    names = set(fams)

    def add(name: str, query: str, bad: str, unit: str | None, origin: str, *, known: bool = True,
            fault: str | None = None) -> None:
        base, n = name, 2
        while name in {s.name for s in out}:
            name, n = f"{base}_{n}", n + 1
        out.append(SignalSpec(name, query, bad, unit, origin, known, fault))

    def take(*family_names: str) -> bool:
        if all(f in names and f not in used for f in family_names):
            used.update(family_names)
            return True
        return False

    # Families that combine into one signal come first.
    if take("node_memory_MemAvailable_bytes", "node_memory_MemTotal_bytes"):
        add("memory_used",
            f"1 - sum(node_memory_MemAvailable_bytes{sel}) / sum(node_memory_MemTotal_bytes{sel})", "up",
            "ratio", "node_memory_MemAvailable_bytes / MemTotal", fault="resource_saturation")
    if take("container_cpu_cfs_throttled_periods_total", "container_cpu_cfs_periods_total"):
        add("cpu_throttled", f"{_rate('container_cpu_cfs_throttled_periods_total', sel)} / "
            f"{_rate('container_cpu_cfs_periods_total', sel)}", "up", "ratio", "cAdvisor CFS periods",
            fault="resource_saturation")
    if take("business_clicks_total", "business_impressions_total"):
        add("ctr", f"{_rate('business_clicks_total', sel)} / {_rate('business_impressions_total', sel)}",
            "down", "ratio", "business_clicks_total / business_impressions_total")
    if take("business_conversions_total", "business_sessions_total"):
        add("conversion", f"{_rate('business_conversions_total', sel)} / "
            f"{_rate('business_sessions_total', sel)}", "down", "ratio",
            "business_conversions_total / business_sessions_total")
    if take("nv_inference_request_success", "nv_inference_request_failure"):
        ok, bad = "nv_inference_request_success", "nv_inference_request_failure"
        add("error_ratio", f"{_rate(bad, sel)} / ({_rate(ok, sel)} + {_rate(bad, sel)})", "up", "ratio",
            "Triton success/failure counters", fault="error_rate")
        add("qps", _rate(ok, sel), "any", "req/s", "Triton nv_inference_request_success")
        if take("nv_inference_request_duration_us"):
            add("avg_latency", f"{_rate('nv_inference_request_duration_us', sel)} / {_rate(ok, sel)} / 1e6",
                "up", "s", "Triton nv_inference_request_duration_us per request", fault="latency_regression")
        if take("nv_inference_queue_duration_us"):
            add("avg_queue_time", f"{_rate('nv_inference_queue_duration_us', sel)} / {_rate(ok, sel)} / 1e6",
                "up", "s", "Triton nv_inference_queue_duration_us per request", fault="latency_regression")
    generic = 0
    # Raw families before recording rules (level:metric:operations) when the generic cap bites.
    for name in sorted(names - used, key=lambda n: (":" in n and kind_of(n) != "vllm", n)):
        family, rows, fam_owner = fams[name]
        kind = kind_of(name)
        spec = _known_signal(kind, family, rows, fam_owner, render_selector(fam_owner))
        if spec is None and kind != "generic":
            continue  # an exporter family we know but do not need (node exporter has hundreds)
        if spec is not None:
            for s in spec:
                add(s.name, s.query, s.bad, s.unit, s.origin, fault=s.fault_type)
            continue
        if generic >= MAX_GENERIC or name.endswith("_info"):
            continue
        generic += 1
        for s in _generic_signal(family, rows, fam_owner, render_selector(fam_owner)):
            add(s.name, s.query, s.bad, s.unit, s.origin, known=False, fault=s.fault_type)
    return out


_DCGM = {  # DCGM field -> (aggregation, bad, unit, fault type)
    "GPU_UTIL": ("avg", "up", "%", "gpu_saturation"), "FB_USED": ("max", "up", "MiB", "gpu_oom"),
    "FB_FREE": ("min", "down", "MiB", "gpu_oom"), "SM_ACTIVE": ("avg", "any", "ratio", "gpu_underutilized"),
    "DRAM_ACTIVE": ("avg", "up", "ratio", "gpu_saturation"),
    "XID_ERRORS": ("max", "up", "code", "gpu_hardware"),
    "GPU_TEMP": ("max", "up", "C", "gpu_hardware"), "POWER_USAGE": ("sum", "any", "W", None),
    "MEM_COPY_UTIL": ("avg", "up", "%", "gpu_saturation"), "TENSOR_ACTIVE": ("avg", "any", "ratio", None),
}
_NODE = {  # node exporter family -> (signal, query template, bad, unit)
    "node_cpu_seconds_total": ("cpu_busy", "1 - avg(rate(node_cpu_seconds_total{sel_idle}[5m]))",
                               "up", "ratio"),
    "node_load1": ("load1", "max(node_load1{sel})", "up", None),
    "node_network_receive_bytes_total": ("network_rx", "sum(rate(node_network_receive_bytes_total{sel}[5m]))",
                                         "any", "bytes/s"),
    "node_network_transmit_bytes_total": ("network_tx",
                                          "sum(rate(node_network_transmit_bytes_total{sel}[5m]))",
                                          "any", "bytes/s"),
    "node_disk_io_time_seconds_total": ("disk_busy", "max(rate(node_disk_io_time_seconds_total{sel}[5m]))",
                                        "up", "ratio"),
}
_PODS = {  # cAdvisor / kube-state family -> (signal, query template, bad, unit)
    "container_cpu_usage_seconds_total": ("cpu", "sum(rate(container_cpu_usage_seconds_total{sel_ctr}[5m]))",
                                          "up", "cores"),
    "container_memory_working_set_bytes": ("memory", "sum(container_memory_working_set_bytes{sel_ctr})",
                                           "up", "bytes"),
    "container_network_receive_bytes_total": ("network_rx",
                                              "sum(rate(container_network_receive_bytes_total{sel}[5m]))",
                                              "any", "bytes/s"),
    "container_network_transmit_bytes_total": ("network_tx",
                                               "sum(rate(container_network_transmit_bytes_total{sel}[5m]))",
                                               "any", "bytes/s"),
    "container_oom_events_total": ("oom_events", "sum(increase(container_oom_events_total{sel}[5m]))",
                                   "up", None),
    "kube_pod_container_status_restarts_total": (
        "restarts", "sum(increase(kube_pod_container_status_restarts_total{sel}[15m]))", "up", None),
    "kube_pod_container_status_waiting_reason": (
        "containers_waiting", "sum(kube_pod_container_status_waiting_reason{sel})", "up", None),
    "kube_deployment_status_replicas_unavailable": (
        "replicas_unavailable", "sum(kube_deployment_status_replicas_unavailable{sel})", "up", None),
}
_VLLM = {  # vLLM family -> (signal, bad, unit, how)
    "vllm:e2e_request_latency_seconds": ("p99_latency", "up", "s", "p99"),
    "vllm:time_to_first_token_seconds": ("ttft_p99", "up", "s", "p99"),
    "vllm:time_per_output_token_seconds": ("tpot_p99", "up", "s", "p99"),
    "vllm:num_requests_waiting": ("requests_waiting", "up", None, "sum"),
    "vllm:num_requests_running": ("requests_running", "any", None, "sum"),
    "vllm:gpu_cache_usage_perc": ("kv_cache_usage", "up", "ratio", "max"),
    "vllm:request_success_total": ("qps", "any", "req/s", "rate"),
    "vllm:num_preemptions_total": ("preemptions", "up", "1/s", "rate"),
    "vllm:prompt_tokens_total": ("prompt_tokens", "any", "tokens/s", "rate"),
    "vllm:generation_tokens_total": ("generation_tokens", "any", "tokens/s", "rate"),
}


def _known_signal(kind: str, family: MetricFamily, rows: list[dict[str, str]], owner: Owner,
                  sel: str) -> list[SignalSpec] | None:
    name = family.name
    if kind == "gpu":
        field_name = re.sub(r"^DCGM_FI_(DEV_|PROF_)?", "", name)
        agg, bad, unit, fault = _DCGM.get(field_name, ("avg", "any", None, None))
        return [SignalSpec(field_name.lower(), f"{agg}({name}{sel})", bad, unit, f"DCGM {name}", True, fault)]
    if kind in ("node", "pods"):
        table = _NODE if kind == "node" else _PODS
        if name not in table:
            return None
        signal, template, bad, unit = table[name]
        query = (template.replace("{sel_idle}", render_selector(owner, 'mode="idle"'))
                 .replace("{sel_ctr}", render_selector(owner, 'container!=""', 'container!="POD"'))
                 .replace("{sel}", sel))
        fault = "resource_saturation" if bad == "up" else None
        return [SignalSpec(signal, query, bad, unit, name, True, fault)]
    if kind == "vllm":
        if name not in _VLLM:
            return None
        signal, bad, unit, how = _VLLM[name]
        query = {"p99": _p99(name, sel) if family.type == "histogram" else f"max({name}{sel})",
                 "sum": f"sum({name}{sel})", "max": f"max({name}{sel})", "rate": _rate(name, sel)}[how]
        return [SignalSpec(signal, query, bad, unit, f"vLLM {name}", True,
                           "latency_regression" if how == "p99" else None)]
    if kind == "model":
        query = "min(model_accuracy" + render_selector(owner, 'slice=""') + ")"
        return [SignalSpec("accuracy", query, "down", "ratio", "model_accuracy (overall: no slice)", True,
                           "model_degradation")]
    if kind == "data":
        return _data_signals(family, rows, owner)
    if kind == "business":
        short = name.removeprefix("business_").removesuffix("_total")
        if family.type == "counter":
            return [SignalSpec(f"{short}_rate", _rate(name, sel), "down", "1/s", name)]
        return [SignalSpec(short, f"avg({name}{sel})", "down" if short in ("ctr", "conversion") else "any",
                           "ratio" if short in ("ctr", "conversion") else None, name)]
    if kind in ("http", "kserve", "triton"):
        return _service_signals(family, rows, owner, sel) or None
    if kind == "mesh":
        return _mesh_signals(family, rows, owner)
    return None


def _data_signals(family: MetricFamily, rows: list[dict[str, str]], owner: Owner) -> list[SignalSpec]:
    name = family.name
    out = []
    for feature in sorted({r.get("feature", "") for r in rows}):
        grouped = not any(k == "feature" for k, _, _ in owner.selector)
        base = f'feature="{feature}"' if feature and grouped else ""
        prefix = feature or "features"
        if name == "model_drift_score":
            for method in sorted({r.get("method", "") for r in rows if r.get("feature", "") == feature}):
                extra = [m for m in (base, f'method="{method}"' if method else "") if m]
                out.append(SignalSpec(f"{prefix}_{method or 'drift'}",
                                      f"max(model_drift_score{render_selector(owner, *extra)})", "up",
                                      "psi" if method == "psi" else "score", name, True, "data_drift"))
        else:
            short = name.removeprefix("model_feature_").removesuffix("_ratio").removesuffix("_seconds")
            extra = [base] if base else []
            fault = {"missing": "missing_features", "freshness": "data_freshness"}.get(short)
            out.append(SignalSpec(f"{prefix}_{short}", f"max({name}{render_selector(owner, *extra)})", "up",
                                  _unit(name), name, True, fault))
    return out


def _service_signals(family: MetricFamily, rows: list[dict[str, str]], owner: Owner,
                     sel: str) -> list[SignalSpec]:
    name = family.name
    latency = bool(_LATENCY.search(name))
    out: list[SignalSpec] = []
    status = _status_label(rows) or ("grpc_code" if any(r.get("grpc_code") for r in rows) else None)
    if family.type == "histogram":
        signal = "p99_latency" if latency else f"{name}_p99"
        out.append(SignalSpec(signal, _p99(name, sel), "up" if latency else "any", _unit(name),
                              f"{name} histogram", True, "latency_regression" if latency else None))
        counter = f"{name}_count"
    elif family.type == "summary":
        counter = f"{name}_count"
        if latency:
            out.append(SignalSpec("mean_latency", f"sum(rate({name}_sum{sel}[5m])) / {_rate(counter, sel)}",
                                  "up", _unit(name), f"{name} summary", True, "latency_regression"))
    else:
        counter = name
    if family.type in ("counter", "summary") or status:
        if status:
            out.append(SignalSpec("error_ratio", _error_ratio(counter, owner, status), "up", "ratio",
                                  f"{counter} with status label {status}", True, "error_rate"))
        if family.type != "histogram":
            out.append(SignalSpec("qps", _rate(counter, sel), "any", "req/s", counter))
    if not out and family.type == "gauge":
        quantile = _top_quantile(rows)
        if quantile is not None and latency:
            query = f"max({name}{render_selector(owner, _quantile(quantile))})"
            out.append(SignalSpec("p99_latency" if quantile == "0.99" else f"p{_pct(quantile)}_latency",
                                  query, "up", _unit(name), f"{name} summary quantile {quantile}", True,
                                  "latency_regression"))
        else:
            out.append(SignalSpec(name, f"avg({name}{sel})", "any", _unit(name), f"{name} gauge"))
    return out


def _top_quantile(rows: list[dict[str, str]]) -> str | None:
    """The highest ``quantile`` label value of a summary's rows (``0.99`` over ``0.5``), if any."""
    values = []
    for r in rows:
        try:
            values.append((float(r["quantile"]), r["quantile"]))
        except (KeyError, ValueError):
            continue
    return max(values)[1] if values else None


def _quantile(value: str) -> str:
    return f'quantile="{value}"'


def _pct(quantile: str) -> str:
    return f"{float(quantile) * 100:g}".replace(".", "_")


def _mesh_signals(family: MetricFamily, rows: list[dict[str, str]], owner: Owner) -> list[SignalSpec]:
    """Istio's view of calls to a workload, as its callers measure them (``reporter="source"``,
    network included) where both reporters exist."""
    name = family.name
    extra = ['reporter="source"'] if any(r.get("reporter") == "source" for r in rows) else []
    sel = render_selector(owner, *extra)
    short = "inbound"
    if family.type == "histogram":
        return [SignalSpec(f"{short}_p99", _p99(name, sel), "up", _unit(name), f"{name} (service mesh)", True,
                           "latency_regression")]
    if family.type == "counter":
        out = [SignalSpec(f"{short}_qps", _rate(name, sel), "any", "req/s", f"{name} (service mesh)")]
        if any(r.get("response_code") for r in rows):
            ratio = _error_ratio(name, owner, "response_code", *extra)
            out.insert(0, SignalSpec(f"{short}_error_ratio", ratio, "up", "ratio",
                                     f"{name} response codes (service mesh)", True, "error_rate"))
        return out
    quantile = _top_quantile(rows)
    if quantile is not None:
        sel = render_selector(owner, *extra, f'quantile="{quantile}"')
    latency = bool(_LATENCY.search(name))
    label = re.sub(r"[^A-Za-z0-9_]+", "_", name.split(":")[-1]) if ":" in name else name
    return [SignalSpec(f"{short}_{'latency_' if latency else ''}{label}", f"max({name}{sel})",
                       "up" if latency else "any", _unit(name.split(":")[1] if ":" in name else name),
                       f"{name} (service mesh)", True, "latency_regression" if latency else None)]


def _generic_signal(family: MetricFamily, rows: list[dict[str, str]], owner: Owner,
                    sel: str) -> list[SignalSpec]:
    name = family.name
    how = f"{family.type} ({'metadata' if family.type_source == 'metadata' else 'by its name'})"
    if family.type == "histogram":
        return [SignalSpec(f"{name}_p99", _p99(name, sel), "any", _unit(name), f"{name}: {how}, p99")]
    if family.type == "summary":
        return [SignalSpec(f"{name}_rate", _rate(f"{name}_count", sel), "any", "1/s", f"{name}: {how}, rate")]
    if family.type == "counter":
        bad = "up" if re.search(r"(error|fail|reject|drop|timeout)", name) else "any"
        return [SignalSpec(name.removesuffix("_total") + "_rate", _rate(name, sel), bad, "1/s",
                           f"{name}: {how}, rate")]
    quantile = _top_quantile(rows)
    if quantile is not None:  # a summary's quantile series: its highest quantile
        query = f"max({name}{render_selector(owner, _quantile(quantile))})"
        latency = bool(_LATENCY.search(name))
        return [SignalSpec(f"{name}_p{_pct(quantile)}", query, "up" if latency else "any", _unit(name),
                           f"{name}: summary (quantile label), quantile {quantile}")]
    return [SignalSpec(name, f"avg({name}{sel})", "any", _unit(name), f"{name}: {how}")]
