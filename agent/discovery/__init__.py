"""Catalog discovery: a reviewable platform catalog from Prometheus labels and call edges.

``augur catalog discover`` and the no-catalog fallback of ``augur investigate`` and the worker
use :func:`discover`: it reads what Prometheus holds in a bounded number of requests
(:mod:`.inventory`), maps known exporter families to components, layers and signals
(:mod:`.families`, :mod:`.signals`), adds ``depends_on`` from call edges, labels and layers
(:mod:`.discover`, :mod:`.edges`) and renders a commented YAML catalog (:mod:`.draft`). :mod:`.cache` keeps a
discovered catalog in the data directory for a while.
"""

from augur.agent.discovery.discover import Discovered, build_draft, discover
from augur.agent.discovery.draft import DraftCatalog
from augur.agent.discovery.edges import (
    CallEdge,
    EdgeError,
    EdgeSource,
    EdgeTable,
    JaegerDependencies,
    SpanEdges,
)
from augur.agent.discovery.inventory import Inventory, MetricFamily, read_inventory
from augur.agent.discovery.naming import component_name, workload_of

__all__ = [
    "CallEdge",
    "Discovered",
    "DraftCatalog",
    "EdgeError",
    "EdgeSource",
    "EdgeTable",
    "Inventory",
    "JaegerDependencies",
    "MetricFamily",
    "SpanEdges",
    "build_draft",
    "component_name",
    "discover",
    "read_inventory",
    "workload_of",
]
