"""Which incident a new alert episode joins: a small, pure, replaceable policy.

An episode joins an open incident that has the same Alertmanager group key; failing that, an open
incident about the same component (the value of the first of ``component_labels`` the alert
carries, e.g. ``service``) whose last alert is at most ``window`` old; failing that, it opens a
new incident. The intake calls :func:`choose_incident` once per new episode, with the open
incidents it knows (including those opened earlier in the same webhook); the investigation graph
may later regroup with more knowledge.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["GroupingPolicy", "OpenIncident", "choose_incident", "component_of", "incident_title"]


@dataclass(frozen=True)
class GroupingPolicy:
    """How episodes are grouped: the component labels, in order of preference, and the window."""

    component_labels: tuple[str, ...] = ("service", "model", "job", "namespace")
    window: timedelta = timedelta(minutes=30)


@dataclass(frozen=True)
class OpenIncident:
    """What grouping needs to know of an open incident."""

    id: int
    group_key: str
    component: str | None
    last_alert_at: datetime


def component_of(labels: Mapping[str, str], component_labels: Sequence[str]) -> str | None:
    """The component an alert is about: the value of the first component label it carries."""
    for name in component_labels:
        value = labels.get(name)
        if value:
            return value
    return None


def choose_incident(
    group_key: str,
    labels: Mapping[str, str],
    open_incidents: Iterable[OpenIncident],
    now: datetime,
    policy: GroupingPolicy,
) -> int | None:
    """The id of the open incident a new episode joins, or ``None`` to open a new one.

    Same group key wins over same component; among several candidates the most recently
    active one wins.
    """
    candidates = sorted(open_incidents, key=lambda i: i.last_alert_at, reverse=True)
    for incident in candidates:
        if incident.group_key == group_key:
            return incident.id
    component = component_of(labels, policy.component_labels)
    if component is None:
        return None
    for incident in candidates:
        if incident.component == component and now - incident.last_alert_at <= policy.window:
            return incident.id
    return None


def incident_title(labels: Mapping[str, str], component: str | None) -> str:
    """A short human title for a new incident, from its first alert: ``AlertName on component``."""
    name = labels.get("alertname", "alert")
    return f"{name} on {component}" if component else name
