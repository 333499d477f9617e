"""Component names from Prometheus label values: workloads from pod names, hosts from instances.

Kubernetes names a Deployment's pods ``<deployment>-<replicaset hash>-<pod hash>``, a DaemonSet's
or a Job's ``<name>-<pod hash>`` and a StatefulSet's ``<name>-<ordinal>``. The hashes are drawn from
Kubernetes' "safe" alphabet (``bcdfghjklmnpqrstvwxz2456789``: no vowels, no 0/1/3), so stripping
only suffixes in that alphabet leaves real words (``envoy-proxy``) alone. The same rule exists as
an RE2 regular expression (:data:`WORKLOAD_RE`) so Prometheus can group series by workload itself
(``label_replace``), and the tests check the two agree.
"""

from __future__ import annotations

import re

__all__ = ["WORKLOAD_RE", "component_name", "host_of", "workload_of"]

_SAFE = "[bcdfghjklmnpqrstvwxz2456789]"
#: Deployment pod, DaemonSet/Job pod, StatefulSet pod, or a bare pod name; group 1 is the workload.
#: The lazy group with an optional suffix means the same in RE2 (fully anchored) and Python.
WORKLOAD_RE = f"(.+?)(?:-{_SAFE}{{6,10}}-{_SAFE}{{5}}|-{_SAFE}{{5}}|-[0-9]+)?"
_WORKLOAD = re.compile(f"^{WORKLOAD_RE}$")
_NOT_NAME = re.compile(r"[^a-z0-9._-]+")


def workload_of(pod: str) -> str:
    """``frontend-5d8f7c9b6-x2xkq`` -> ``frontend``; ``redis-0`` -> ``redis``; others unchanged."""
    match = _WORKLOAD.match(pod)
    return match.group(1) if match else pod


def host_of(instance: str) -> str:
    """A host from an ``instance`` label: ``10.0.0.7:9100`` -> ``10.0.0.7``, ``[::1]:9100`` -> ``::1``."""
    if instance.startswith("["):
        return instance[1:].split("]", 1)[0]
    head, sep, tail = instance.rpartition(":")
    return head if sep and tail.isdigit() else instance


def component_name(*parts: str) -> str:
    """A valid catalog name (``^[a-z0-9][a-z0-9._-]*$``) from label values joined by ``-``.

    ``component_name("Ranker Serving")`` -> ``ranker-serving``; an empty result becomes ``unnamed``.
    """
    text = "-".join(p for p in parts if p)
    name = _NOT_NAME.sub("-", text.lower()).strip("-._")
    return name or "unnamed"
