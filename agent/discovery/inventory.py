"""What a Prometheus holds, read in a bounded number of requests: families, types, who emits them.

Discovery never lists series one by one (a real Prometheus has millions). It reads:

1. the metric names seen in the window (``/api/v1/label/__name__/values`` with ``start``/``end``:
   an index look-up);
2. their types and help (``/api/v1/metadata``; only scraped targets have metadata, so a backfilled
   history falls back to the naming conventions: ``_bucket`` + ``_count`` is a histogram,
   ``_total`` a counter, anything else a gauge);
3. per batch of up to :data:`BATCH` families, which label values emit them:
   ``group by (__name__, service, job, namespace, workload, ...)`` over the window, as a range
   query with a step under Prometheus's 5-minute look-back so no series that existed in the
   window is missed; ``workload`` is the ``pod`` label with its Kubernetes replica suffix removed
   by ``label_replace`` inside Prometheus (:data:`~augur.agent.discovery.naming.WORKLOAD_RE`), so
   the answer grows with workloads, not pods. Histograms are read through their ``_count``.

Runtime and self-monitoring families (``go_*``, ``process_*``, ``prometheus_*``, ...) are left out
and counted; recording rules (``level:metric:ops``) are read like any family.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from augur.agent.discovery.naming import WORKLOAD_RE
from augur.tools.base import ToolError
from augur.tools.prometheus_api import PrometheusClient, fetch_range_blocking

__all__ = [
    "ATTRIBUTE_LABELS",
    "BATCH",
    "HOST_PREFIXES",
    "IDENTITY_LABELS",
    "Inventory",
    "MetricFamily",
    "read_inventory",
]

#: Labels that say who emits a series (``workload`` is derived from ``pod``).
IDENTITY_LABELS = ("service", "job", "namespace", "workload", "container", "Hostname", "hostname",
                   "node", "model", "model_name", "feature", "surface", "deployment", "statefulset",
                   "daemonset", "source_workload", "destination_workload")
#: Labels read for the queries they allow: status codes (error ratios), drift method, slice, gpu.
ATTRIBUTE_LABELS = ("code", "status", "status_code", "http_status", "response_code",
                    "http_response_status_code", "grpc_code", "method", "slice", "quantile", "reporter")
#: Families whose identity is a host: their batches also group by ``instance``.
HOST_PREFIXES = ("DCGM_FI_", "node_")
#: Families per ``group by`` request.
BATCH = 40
#: Runtime and self-monitoring families: every process has them, none is a component's signal.
SKIPPED_PREFIXES = ("go_", "process_", "python_", "promhttp_", "prometheus_", "scrape_",
                    "net_conntrack_", "alertmanager_", "grafana_", "jvm_threads_", "ALERTS")
SKIPPED_NAMES = frozenset({"up"})

Progress = Callable[[str], None]


@dataclass
class MetricFamily:
    """One metric family: its name (a histogram's without ``_bucket``), type and emitters."""

    name: str
    type: str  # counter, gauge, histogram, summary
    type_source: str  # "metadata" or "name" (inferred from the naming conventions)
    help: str = ""
    series_name: str = ""  # the name that was grouped (a histogram's ``_count``)
    rows: list[dict[str, str]] = field(default_factory=list)  # distinct identity+attribute labels

    def values(self, label: str) -> list[str]:
        """Distinct values of ``label`` across the family's rows, sorted."""
        return sorted({r[label] for r in self.rows if r.get(label)})


@dataclass
class Inventory:
    """What :func:`read_inventory` found, and what it left out."""

    url: str
    at: float
    window_s: float
    families: dict[str, MetricFamily]
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> number of names
    requests: int = 0


def _type_of(meta: dict[str, list[dict[str, Any]]], *names: str) -> tuple[str, str] | None:
    for name in names:
        for entry in meta.get(name) or []:
            kind = str(entry.get("type") or "")
            if kind in ("counter", "gauge", "histogram", "summary", "gaugehistogram"):
                return ("histogram" if kind == "gaugehistogram" else kind), str(entry.get("help") or "")
    return None


def _families(names: Iterable[str], meta: dict[str, list[dict[str, Any]]],
              skipped: dict[str, int]) -> dict[str, MetricFamily]:
    present = set(names)
    out: dict[str, MetricFamily] = {}
    for name in sorted(present):
        if name in SKIPPED_NAMES or name.startswith(SKIPPED_PREFIXES):
            skipped["runtime or self-monitoring"] = skipped.get("runtime or self-monitoring", 0) + 1
            continue
        if name.endswith("_created"):
            continue
        if name.endswith("_bucket") and f"{name[:-7]}_count" in present:
            family = name[:-7]
            typed = _type_of(meta, family)
            out[family] = MetricFamily(family, "histogram", "metadata" if typed else "name",
                                       typed[1] if typed else "", f"{family}_count")
            continue
        if name.endswith(("_count", "_sum")):
            family = name.rsplit("_", 1)[0]
            if f"{family}_bucket" in present:
                continue  # part of a histogram
            if name.endswith("_sum") and f"{family}_count" in present:
                continue  # the summary is read through its _count
            typed = _type_of(meta, family)
            if name.endswith("_count") and (typed is None or typed[0] == "summary"):
                out[family] = MetricFamily(family, "summary", "metadata" if typed else "name",
                                           typed[1] if typed else "", name)
                continue
        if name in out:
            continue
        typed = _type_of(meta, name, name.removesuffix("_total"))
        if typed is not None and typed[0] in ("counter", "gauge"):
            out[name] = MetricFamily(name, typed[0], "metadata", typed[1], name)
        elif typed is not None and typed[0] == "summary" and f"{name}_count" in present:
            continue  # the quantile series of a summary read through its _count
        else:
            out[name] = MetricFamily(name, "counter" if name.endswith("_total") else "gauge", "name",
                                     "", name)
    return out


def _group_query(series_names: list[str], host: bool) -> str:
    labels = [*IDENTITY_LABELS, *ATTRIBUTE_LABELS, *(["instance"] if host else [])]
    selector = '{__name__=~"' + "|".join(series_names) + '"}'
    return (f"group by (__name__, {', '.join(labels)}) "
            f'(label_replace({selector}, "workload", "$1", "pod", "{WORKLOAD_RE}"))')


def read_inventory(
    prom: PrometheusClient, *, at: float, window_s: float = 3600.0, max_families: int = 2000,
    priority: Callable[[str], int] = lambda name: 1, on_progress: Progress | None = None,
) -> Inventory:
    """Read the inventory of the Prometheus behind ``prom`` for ``[at - window_s, at]``.

    ``priority(family)`` orders families when there are more than ``max_families`` (lower first:
    known exporter families before generic ones). Raises ToolError/Unavailable from the client.
    """
    say = on_progress or (lambda text: None)
    start = at - window_s
    names = prom.get("label/__name__/values", {"start": f"{start:.3f}", "end": f"{at:.3f}"})
    if not isinstance(names, list):
        names = []
    meta_raw = prom.get("metadata")
    meta: dict[str, list[dict[str, Any]]] = meta_raw if isinstance(meta_raw, dict) else {}
    say(f"{len(names)} metric names in the window, metadata for {len(meta)}")
    skipped: dict[str, int] = {}
    families = _families((str(n) for n in names), meta, skipped)
    if len(families) > max_families:
        keep = sorted(families, key=lambda n: (priority(n), n))[:max_families]
        skipped[f"over the limit of {max_families} families"] = len(families) - max_families
        families = {n: families[n] for n in sorted(keep)}
    by_series = {f.series_name: f for f in families.values()}
    requests = 2
    # A step under the 5-minute look-back: every series that had a sample in the window shows up.
    step = min(300.0, max(60.0, window_s / 12))
    failed: list[str] = []

    def group(names: list[str], host: bool) -> list[Any]:
        nonlocal requests
        requests += 1
        return fetch_range_blocking(prom, _group_query(names, host), start, at, step)

    for host in (True, False):
        batch_names = sorted(s for s, f in by_series.items() if f.name.startswith(HOST_PREFIXES) == host)
        for i in range(0, len(batch_names), BATCH):
            chunk = batch_names[i:i + BATCH]
            try:
                results = group(chunk, host)
            except ToolError as exc:
                # A batch Prometheus cannot answer (too slow, too big) is asked family by family;
                # what still fails is left out and named; the rest of the catalog is written.
                say(f"a batch of {len(chunk)} families failed ({exc}); asking one by one")
                results = []
                for name in chunk:
                    try:
                        results += group([name], host)
                    except ToolError:
                        failed.append(name)
            for series in results:
                family = by_series.get(series.labels.get("__name__", ""))
                if family is None:
                    continue
                row = {k: v for k, v in series.labels.items() if k != "__name__" and v}
                if row not in family.rows:
                    family.rows.append(row)
            say(f"grouped {min(i + BATCH, len(batch_names))}/{len(batch_names)} "
                f"{'host' if host else 'other'} families")
    if failed:
        shown = ", ".join(failed[:5]) + (" ..." if len(failed) > 5 else "")
        skipped[f"too slow or refused to group ({shown})"] = len(failed)
    empty = [n for n, f in families.items() if not f.rows and f.series_name not in failed]
    for name in [n for n, f in families.items() if not f.rows]:
        del families[name]
    if empty:
        skipped["no series in the window"] = len(empty)
    return Inventory(prom.url, at, window_s, families, skipped, requests)
