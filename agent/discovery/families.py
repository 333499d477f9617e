"""Known exporter families: which component a series belongs to and its layer.

Each family kind has an *owner* rule: which labels name the component it belongs to. Known kinds:

- ``gpu``: NVIDIA DCGM exporter ``DCGM_FI_*``, one resource component per host (``Hostname``,
  ``hostname``, ``node`` or the ``instance``'s host); a DCGM series labelled with a consumer
  ``pod`` says that workload runs on the GPU (an edge).
- ``node``: node exporter ``node_*`` (CPU busy, memory used, load, network, disk), per host.
- ``pods``: cAdvisor ``container_*`` and kube-state-metrics ``kube_*`` per workload (the ``pod``
  label without its replica suffix): CPU, memory, throttling, OOM, restarts; series that name
  their own ``service`` (the same name as the workload) belong to that service.
- ``vllm`` (``vllm:*``), ``triton`` (``nv_inference_*``), ``kserve`` (``request_*_seconds``) and
  ``http`` (``http_server_*``, ``rpc_server_*``, ``*_request_duration_seconds``,
  ``*_requests_total``, gRPC): service components named by ``service``, else the workload,
  ``container``, ``job`` or ``namespace``: p99 latency, error ratio, traffic.
- ``mesh``: Istio ``istio_*`` per ``destination_workload``; its ``source_workload`` is a caller.
- ``model``, ``data``, ``business``: augur's exporter convention (``rules/packs/README.md``):
  ``model_accuracy`` by ``model``; ``model_drift_score`` / ``model_feature_*`` by ``model`` and
  ``feature``; ``business_*`` by ``surface``.
- anything else is ``generic``: an owner as for services.

What to query for each family is :mod:`.signals`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from augur.agent.catalog import Layer
from augur.agent.discovery.inventory import MetricFamily
from augur.agent.discovery.naming import component_name, host_of

__all__ = ["MAX_FEATURE_COMPONENTS", "Owner", "OwnerFamilies", "kind_of", "owner_of", "priority",
           "render_selector"]

#: Per model, features beyond this share one data component instead of one each.
MAX_FEATURE_COMPONENTS = 12
_SERVICE_OWNERS = ("service", "workload", "container", "job", "namespace")


@dataclass(frozen=True)
class Owner:
    """The component a series belongs to: name, layer, alert labels, query matchers, provenance."""

    name: str
    layer: Layer
    match: tuple[tuple[str, str], ...]
    selector: tuple[tuple[str, str, str], ...]  # (label, op, value), op "=" or "=~"
    origin: str


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
