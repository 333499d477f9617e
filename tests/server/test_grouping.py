"""The grouping policy, as a pure function."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from augur.server.intake.grouping import (
    GroupingPolicy,
    OpenIncident,
    choose_incident,
    component_of,
    incident_title,
)

NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)
POLICY = GroupingPolicy(
    component_labels=("service", "model", "job", "namespace"), window=timedelta(minutes=30)
)


def test_same_group_key_wins_even_outside_the_window() -> None:
    old = OpenIncident(1, "g1", "x", NOW - timedelta(hours=5))
    other = OpenIncident(2, "g2", "ranker", NOW)
    assert choose_incident("g1", {"service": "ranker"}, [other, old], NOW, POLICY) == 1


def test_same_component_joins_only_within_the_window() -> None:
    recent = OpenIncident(1, "g1", "ranker", NOW - timedelta(minutes=29))
    assert choose_incident("g2", {"service": "ranker"}, [recent], NOW, POLICY) == 1
    stale = OpenIncident(1, "g1", "ranker", NOW - timedelta(minutes=31))
    assert choose_incident("g2", {"service": "ranker"}, [stale], NOW, POLICY) is None


def test_the_most_recent_matching_incident_wins() -> None:
    a = OpenIncident(1, "g1", "ranker", NOW - timedelta(minutes=20))
    b = OpenIncident(2, "g3", "ranker", NOW - timedelta(minutes=1))
    assert choose_incident("g2", {"model": "ranker"}, [a, b], NOW, POLICY) == 2


def test_component_is_the_first_configured_label_present() -> None:
    assert component_of({"job": "api", "service": "web"}, POLICY.component_labels) == "web"
    assert component_of({"namespace": "ml", "pod": "p"}, POLICY.component_labels) == "ml"
    assert component_of({"pod": "p", "service": ""}, POLICY.component_labels) is None
    assert choose_incident("g2", {"pod": "p"}, [OpenIncident(1, "g1", None, NOW)], NOW, POLICY) is None


def test_title() -> None:
    assert incident_title({"alertname": "HighLatency"}, "ranker") == "HighLatency on ranker"
    assert incident_title({}, None) == "alert"
