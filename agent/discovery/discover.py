"""Build a catalog from a Prometheus inventory and call edges.

Components come from the families' owners (:mod:`augur.agent.discovery.families`). ``depends_on``
comes, strongest first, from

1. **call edges** (traces or an edge table): a caller depends on its callee;
2. **labels**: a model depends on the features whose metrics carry its ``model`` label; a service
   depends on its pods' containers, on the GPU whose DCGM series name its pod, on the model its
   series are labelled with (``model``/``model_name``), and on the workloads a service mesh
   (Istio's ``source_workload`` -> ``destination_workload``) sees it call;
3. **layers**, only where nothing above says anything (switch off with ``layer_edges=False``):
   faults flow up the platform's layers (resources → serving → business; data → model →
   serving), so a model no label ties to data may depend on any data component no other model
   claims, a service on any model no service claims and on any GPU or node nothing is known to
   run on (when there are at most :data:`MAX_ORPHAN_RESOURCES`), and a business KPI on the
   services nothing else calls (the entry points; all services without call edges).

Each edge's comment says which of these it came from, so a reviewer knows which to check.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from augur.agent.catalog import Catalog, Layer, parse_catalog
from augur.agent.discovery.draft import Draft, DraftCatalog
from augur.agent.discovery.edges import CallEdge, EdgeSource
from augur.agent.discovery.families import (
    MAX_FEATURE_COMPONENTS,
    Owner,
    OwnerFamilies,
    kind_of,
    owner_of,
    priority,
)
from augur.agent.discovery.inventory import Inventory, read_inventory
from augur.agent.discovery.naming import component_name
from augur.agent.discovery.signals import signals_for
from augur.tools.prometheus_api import PrometheusClient

__all__ = ["MAX_ORPHAN_RESOURCES", "Discovered", "build_draft", "discover"]

#: Above this many GPUs/nodes with nothing known to run on them, no service is assumed to use them.
MAX_ORPHAN_RESOURCES = 4
_SERVICE_KINDS = ("http", "vllm", "triton", "kserve", "generic")

Progress = Callable[[str], None]


@dataclass
class Discovered:
    """A discovered catalog: the validated catalog, its YAML and its provenance."""

    catalog: Catalog
    yaml: str
    provenance: str
    draft: DraftCatalog


def _drafts(inv: Inventory) -> tuple[dict[str, Draft], dict[str, set[str]], set[tuple[str, str]], int]:
    """Components with their families; GPU consumers (gpu component -> workloads); service-mesh
    calls (source workload, destination workload); label rows no rule could place."""
    drafts: dict[str, Draft] = {}
    mesh: set[tuple[str, str]] = set()
    consumers: dict[str, set[str]] = {}
    unowned = 0
    features: dict[str, set[str]] = {}
    for fam in inv.families.values():
        if kind_of(fam.name) == "data":
            for row in fam.rows:
                if row.get("model") and row.get("feature"):
                    features.setdefault(row["model"], set()).add(row["feature"])
    for fam in sorted(inv.families.values(), key=lambda f: f.name):
        kind = kind_of(fam.name)
        for row in fam.rows:
            if kind == "data" and len(features.get(row.get("model", ""), ())) > MAX_FEATURE_COMPONENTS:
                row = {k: v for k, v in row.items() if k != "feature"}  # one component for them all
            owner = owner_of(kind, row, fam.name)
            if owner is None:
                unowned += 1
                continue
            draft = drafts.get(owner.name)
            if draft is not None and draft.layer != owner.layer:
                owner = Owner(f"{owner.name}-{owner.layer.value}", owner.layer, owner.match, owner.selector,
                              owner.origin)
                draft = drafts.get(owner.name)
            if draft is None:
                draft = drafts[owner.name] = Draft(owner, kind, OwnerFamilies(owner))
            draft.origins.append(owner.origin)
            draft.group.families.setdefault(fam.name, (fam, [], owner))[1].append(row)
            if kind == "mesh" and row.get("source_workload"):
                mesh.add((row["source_workload"], row["destination_workload"]))
            if kind == "gpu" and row.get("workload") and not row["workload"].startswith("dcgm-exporter"):
                consumers.setdefault(owner.name, set()).add(row["workload"])
            if kind in _SERVICE_KINDS and owner.layer == Layer.SERVICE:
                if row.get("workload"):
                    draft.workloads.add(row["workload"])
                for label in ("model", "model_name"):
                    if row.get(label):
                        draft.models.add(row[label])
    return drafts, consumers, mesh, unowned


def _label_edges(drafts: dict[str, Draft], consumers: dict[str, set[str]],
                 mesh: set[tuple[str, str]]) -> None:
    models = {d.owner.match[0][1]: d for d in drafts.values()
              if d.layer == Layer.MODEL and d.owner.match and d.owner.match[0][0] == "model"}
    for d in drafts.values():
        if d.layer == Layer.DATA:
            model = dict(d.owner.match).get("model")
            if model in models:
                models[model].depend(d.name, f'its features: metrics share model="{model}"')
    services = [d for d in drafts.values() if d.layer == Layer.SERVICE]
    for svc in services:
        for workload in sorted(svc.workloads | {svc.name}):
            pods = drafts.get(component_name(workload, "pods"))
            if pods is not None:
                svc.depend(pods.name, f'its pods\' containers (workload "{workload}")')
        for model in sorted(svc.models):
            if model in models:
                svc.depend(models[model].name, f'its series carry model="{model}"')
    for source, destination in sorted(mesh):
        caller, callee = drafts.get(component_name(source)), drafts.get(component_name(destination))
        if caller is not None and callee is not None:
            caller.depend(callee.name, f'service mesh metrics: source_workload="{source}" calls '
                          f'destination_workload="{destination}"')
    for gpu, workloads in consumers.items():
        for svc in services:
            seen = sorted(w for w in workloads if w in svc.workloads or component_name(w) == svc.name)
            if seen:
                svc.depend(gpu, f"DCGM reports its pod on this GPU (workload {seen[0]})")


def _call_edges(drafts: dict[str, Draft], source: EdgeSource, edges: Sequence[CallEdge]) -> int:
    def find(service: str) -> Draft:
        name = component_name(service)
        for d in drafts.values():
            if ("service", service) in d.owner.match or (d.name == name and d.layer == Layer.SERVICE) \
                    or service in d.workloads:
                return d
        owner = Owner(name, Layer.SERVICE, (("service", service),), (("service", "=", service),),
                      f"seen only in the call edges ({source.describe()})")
        drafts[name] = Draft(owner, "calls", OwnerFamilies(owner), origins=[owner.origin])
        return drafts[name]

    added = 0
    for edge in edges:
        caller, callee = find(edge.caller), find(edge.callee)
        if caller is callee:
            continue
        if source.traced:
            caller.trace_service = caller.trace_service or edge.caller
            callee.trace_service = callee.trace_service or edge.callee
        if callee.name not in caller.depends_on:
            added += 1
        caller.depend(callee.name, f"calls it ({edge.weight:g} calls, {source.describe()})"
                      if source.traced else f"calls it (weight {edge.weight:g}, {source.describe()})")
    return added


def _layer_edges(drafts: dict[str, Draft], notes: list[str]) -> None:
    by_layer = {layer: [d for d in drafts.values() if d.layer == layer] for layer in Layer}
    claimed = {dep for d in drafts.values() for dep in d.depends_on}
    why = "assumed from layers (no trace or label links them): review"

    def unclaimed(layer: Layer) -> list[Draft]:
        return [d for d in by_layer[layer] if d.name not in claimed]

    for model in by_layer[Layer.MODEL]:
        if not any(drafts[n].layer == Layer.DATA for n in model.depends_on if n in drafts):
            for data in unclaimed(Layer.DATA):
                model.depend(data.name, f"a model consumes data; {why}")
    free_models = unclaimed(Layer.MODEL)
    orphans = [d for d in unclaimed(Layer.RESOURCE) if d.kind in ("gpu", "node")]
    if len(orphans) > MAX_ORPHAN_RESOURCES:
        notes.append(f"{len(orphans)} GPUs/nodes with nothing known to run on them: no service is assumed "
                     "to use them (add depends_on by hand, or traces/pod labels)")
        orphans = []
    for svc in by_layer[Layer.SERVICE]:
        if not any(drafts[n].layer == Layer.MODEL for n in svc.depends_on if n in drafts):
            for model in free_models:
                svc.depend(model.name, f"serving uses a model; {why}")
        if not any(drafts[n].layer == Layer.RESOURCE for n in svc.depends_on if n in drafts):
            for res in orphans:
                svc.depend(res.name, f"serving runs on resources; {why}")
    called = {dep for d in by_layer[Layer.SERVICE] for dep in d.depends_on}
    entries = [d for d in by_layer[Layer.SERVICE] if d.name not in called] or by_layer[Layer.SERVICE]
    for kpi in by_layer[Layer.BUSINESS]:
        if not kpi.depends_on:
            for svc in entries:
                kpi.depend(svc.name, f"a KPI rests on the services users call; {why}")


def build_draft(inv: Inventory, edge_sets: Sequence[tuple[EdgeSource, Sequence[CallEdge]]] = (),
                *, layer_edges: bool = True) -> DraftCatalog:
    """The draft catalog for an inventory and call edges (see the module docstring)."""
    drafts, consumers, mesh, unowned = _drafts(inv)
    notes = [f"{n} {why} families" for why, n in sorted(inv.skipped.items())]
    if unowned:
        notes.append(f"{unowned} label sets without any identifying label (service, job, namespace, pod, "
                     "container, Hostname, model, feature, surface)")
    for draft in drafts.values():
        draft.signals = signals_for(draft.group)
    empty = sorted(n for n, d in drafts.items() if not d.signals)
    for name in empty:
        del drafts[name]
    if empty:
        notes.append(f"{len(empty)} components whose families give no signal: {', '.join(empty[:8])}"
                     + (" ..." if len(empty) > 8 else ""))
    sources = []
    for source, edges in edge_sets:  # first: an edge's comment names its strongest evidence
        added = _call_edges(drafts, source, edges)
        sources.append(f"{source.describe()}: {len(edges)} call edges, {added} new depends_on")
    _label_edges(drafts, consumers, mesh)
    if layer_edges:
        _layer_edges(drafts, notes)
    return DraftCatalog(inv.url, inv.at, inv.window_s, drafts, sources, notes)


def _log_signals(draft: DraftCatalog, services: Collection[str]) -> int:
    """Give each component whose ``service`` the log store knows an ``errors`` log signal."""
    wanted = set(services)
    added = 0
    for d in draft.drafts.values():
        service = dict(d.owner.match).get("service")
        if service in wanted:
            d.log_service = service
            added += 1
    return added


def discover(
    prom: PrometheusClient, *, at: float, window_s: float = 3600.0,
    edge_sources: Sequence[EdgeSource] = (), layer_edges: bool = True, max_families: int = 2000,
    on_progress: Progress | None = None, log_services: Collection[str] = (),
) -> Discovered:
    """Discover a catalog from the Prometheus behind ``prom`` as of ``at`` (see the module docstring).

    ``log_services``: the ``service`` values with lines in the log store over the window; a
    component matched by one of them gets an ``errors`` log signal (its lines searched for error
    words, templates new since the baseline).

    Raises ToolError/Unavailable (Prometheus) and EdgeError (an edge source) with the fix.
    """
    say = on_progress or (lambda text: None)
    inv = read_inventory(prom, at=at, window_s=window_s, max_families=max_families, priority=priority,
                         on_progress=say)
    say(f"{len(inv.families)} families in {inv.requests} requests")
    edge_sets = []
    for source in edge_sources:
        edges = source.edges(at - window_s, at)
        say(f"{len(edges)} call edges from {source.describe()}")
        edge_sets.append((source, edges))
    draft = build_draft(inv, edge_sets, layer_edges=layer_edges)
    if log_services:
        say(f"{_log_signals(draft, log_services)} components with lines in the log store")
    text = draft.to_yaml()
    catalog = parse_catalog(text, "<discovered catalog>")
    say(f"{draft.provenance()}, {draft.signal_count} signals")
    return Discovered(catalog, text, draft.provenance(), draft)
