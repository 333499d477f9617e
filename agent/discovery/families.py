"""Known exporter families: which component a series belongs to, its layer, and what to query.

Each family kind has an *owner* rule (which labels name the component) and signal rules (the
PromQL a person would write for it). Known kinds:

- ``gpu``: NVIDIA DCGM exporter ``DCGM_FI_*``, one resource component per host (``Hostname``,
  ``hostname``, ``node`` or the ``instance``'s host); a DCGM series labelled with a consumer
  ``pod`` says that workload runs on the GPU (an edge).
- ``node``: node exporter ``node_*`` (CPU busy, memory used, load, network, disk), per host.
- ``pods``: cAdvisor ``container_*`` and kube-state-metrics ``kube_*`` per workload (the ``pod``
  label without its replica suffix): CPU, memory, throttling, OOM, restarts.
- ``vllm`` (``vllm:*``), ``triton`` (``nv_inference_*``), ``kserve`` (``request_*_seconds``) and
  ``http`` (``http_server_*``, ``*_request_duration_seconds``, ``*_requests_total``, gRPC):
  service components named by ``service``, else the workload, ``container``, ``job`` or
  ``namespace``: p99 latency, error ratio (5xx share where a status label exists), traffic.
- ``model``, ``data``, ``business``: augur's exporter convention (``rules/packs/README.md``):
  ``model_accuracy`` by ``model``; ``model_drift_score`` / ``model_feature_*`` by ``model`` and
  ``feature``; ``business_*`` by ``surface``.
- anything else is ``generic``: an owner as for services, a signal by metric type (counter ->
  ``rate``, gauge -> ``avg``, histogram -> p99, summary -> rate of its count).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from augur.agent.catalog import Layer
from augur.agent.discovery.inventory import MetricFamily
from augur.agent.discovery.naming import component_name, host_of

__all__ = ["Owner", "SignalSpec", "kind_of", "owner_of", "priority", "signals_for"]

STATUS_LABELS = ("code", "status_code", "status", "http_status", "response_code",
                 "http_response_status_code")
GRPC_ERRORS = "Unknown|DeadlineExceeded|Internal|Unavailable|DataLoss"
#: At most this many signals a component gets from families no rule knows.
MAX_GENERIC = 8
#: Per model, features beyond this share one data component instead of one each.
MAX_FEATURE_COMPONENTS = 12
_LATENCY = re.compile(r"(duration|latency|_seconds|_milliseconds|_ms|_us|_microseconds)")
_SERVICE_OWNERS = ("service", "workload", "container", "job", "namespace")


@dataclass(frozen=True)
class Owner:
    """The component a series belongs to: name, layer, alert labels, query matchers, provenance."""

    name: str
    layer: Layer
    match: tuple[tuple[str, str], ...]
    selector: tuple[tuple[str, str, str], ...]  # (label, op, value), op "=" or "=~"
    origin: str


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


@dataclass
class OwnerFamilies:
    """The families one owner emits, with the label rows each family has for it."""

    owner: Owner
    # family name -> (family, label rows, the owner as that family names it: its query matchers)
    families: dict[str, tuple[MetricFamily, list[dict[str, str]], Owner]] = field(default_factory=dict)


def kind_of(name: str) -> str:
    """The family kind of a metric family name (see the module docstring)."""
    if name.startswith("DCGM_FI_"):
        return "gpu"
    if name.startswith("node_"):
        return "node"
    if name.startswith(("container_", "kube_")):
        return "pods"
    if name.startswith("vllm:"):
        return "vllm"
    if name.startswith("istio_") or ":istio_" in name:
        return "mesh"
    if name.startswith("nv_inference_"):
        return "triton"
    if re.fullmatch(r"request_(predict|preprocess|postprocess|explain)_seconds", name):
        return "kserve"
    if name == "model_accuracy":
        return "model"
    if name == "model_drift_score" or name.startswith("model_feature_"):
        return "data"
    if name.startswith("business_"):
        return "business"
    if (name.startswith(("http_server_", "grpc_server_", "rpc_server_")) or name.endswith(
            ("_request_duration_seconds", "_requests_total", "_request_latency_seconds"))
            or name in ("http_request_duration_seconds", "http_requests_total")):
        return "http"
    return "generic"


def priority(name: str) -> int:
    """Known exporter families first when the inventory must be cut."""
    return 1 if kind_of(name) == "generic" else 0


def _matchers(pairs: Mapping[str, str]) -> tuple[tuple[str, str, str], ...]:
    return tuple((k, "=", v) for k, v in sorted(pairs.items()))


def _workload_regex(workload: str) -> str:
    # The pods of one workload: the suffixes naming.WORKLOAD_RE strips, in a shorter (wider) class
    # a reviewer can read; the workload's name is a literal (RE2 and Python escape alike).
    name = re.escape(workload).replace("\\-", "-")
    return f"{name}((-[a-z0-9]{{6,10}})?-[a-z0-9]{{5}}|-[0-9]+)?"


def owner_of(kind: str, row: Mapping[str, str], family: str) -> Owner | None:
    """The component that emits a series with labels ``row`` of a family of kind ``kind``."""
    if kind == "gpu":
        for label in ("Hostname", "hostname", "node"):
            if row.get(label):
                host = row[label]
                name = component_name(host) if "gpu" in host.lower() else component_name("gpu", host)
                return Owner(name, Layer.RESOURCE, ((label, host),), _matchers({label: host}),
                             f'DCGM exporter, {label}="{host}"')
        if row.get("instance"):
            host = host_of(row["instance"])
            raw = row["instance"]
            return Owner(component_name("gpu", host), Layer.RESOURCE, (("instance", raw),),
                         _matchers({"instance": raw}), f'DCGM exporter, instance="{raw}"')
        return None
    if kind == "node":
        raw = row.get("instance") or row.get("node") or ""
        if not raw:
            return None
        label = "instance" if row.get("instance") else "node"
        return Owner(component_name("node", host_of(raw)), Layer.RESOURCE, ((label, raw),),
                     _matchers({label: raw}), f'node exporter, {label}="{raw}"')
    if kind == "pods":
        service = row.get("service")
        if service and component_name(service) == component_name(row.get("workload") or ""):
            # The container series name the service its pods belong to: they are its resources.
            return Owner(component_name(service), Layer.SERVICE, (("service", service),),
                         _matchers({"service": service}), f'service="{service}" (its pods\' containers too)')
        for label in ("workload", "deployment", "statefulset", "daemonset"):
            if row.get(label):
                name = row[label]
                if label == "workload":
                    sel: tuple[tuple[str, str, str], ...] = (("pod", "=~", _workload_regex(name)),)
                    origin = f'cAdvisor/kube-state, pods of workload "{name}"'
                else:
                    sel = ((label, "=", name),)
                    origin = f'kube-state, {label}="{name}"'
                if row.get("namespace"):
                    sel = (("namespace", "=", row["namespace"]), *sel)
                return Owner(component_name(name, "pods"), Layer.RESOURCE, (), sel, origin)
        return None
    if kind == "model":
        model = row.get("model")
        if not model:
            return None
        return Owner(component_name(model, "model"), Layer.MODEL, (("model", model),),
                     _matchers({"model": model}), f'model metrics (augur convention), model="{model}"')
    if kind == "data":
        model, feature = row.get("model"), row.get("feature")
        if not model:
            return None
        if feature:
            return Owner(component_name(model, feature), Layer.DATA, (("feature", feature), ("model", model)),
                         _matchers({"model": model, "feature": feature}),
                         f'feature metrics (augur convention), model="{model}", feature="{feature}"')
        return Owner(component_name(model, "features"), Layer.DATA, (("model", model),),
                     _matchers({"model": model}), f'feature metrics (augur convention), model="{model}"')
    if kind == "mesh":
        workload = row.get("destination_workload")
        if not workload:
            return None
        return Owner(component_name(workload), Layer.SERVICE, (),
                     _matchers({"destination_workload": workload}),
                     f'service mesh, destination_workload="{workload}"')
    if kind == "business":
        surface = row.get("surface")
        if surface:
            return Owner(component_name("business", surface), Layer.BUSINESS, (("surface", surface),),
                         _matchers({"surface": surface}), f'business metrics, surface="{surface}"')
        return Owner("business", Layer.BUSINESS, (), (), "business metrics without a surface label")
    for label in _SERVICE_OWNERS:
        value = row.get(label)
        if not value:
            continue
        if label == "workload":
            sel = (("pod", "=~", _workload_regex(value)),)
            return Owner(component_name(value), Layer.SERVICE, (), sel, f'pods of workload "{value}"')
        return Owner(component_name(value), Layer.SERVICE, ((label, value),), _matchers({label: value}),
                     f'{label}="{value}"')
    if row.get("model"):
        return owner_of("model", row, family)
    return None


def render_selector(owner: Owner, *extra: str) -> str:
    """``{a="1",pod=~"x-...",extra}``: the owner's matchers plus extra ones."""
    def quote(v: str) -> str:
        return v.replace("\\", "\\\\").replace('"', '\\"')
    parts = [f'{k}{op}"{quote(v)}"' for k, op, v in owner.selector] + list(extra)
    return "{" + ",".join(parts) + "}"


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
