"""Fire a scenario's alert as Prometheus and Alertmanager would: a version-4 webhook body.

The eval runner does not wait for a rule's ``for:`` and Alertmanager's group wait: it evaluates
the alerting rule's expression through Prometheus's query API at the alert's time (the end of
the generated history), and turns each resulting series into an alert exactly as Prometheus does
(series labels minus ``__name__``, plus the rule's labels and ``alertname``; annotations with
``{{ $labels.x }}`` and ``{{ $value }}`` filled in), grouped by ``alertname`` into the body
Alertmanager POSTs. The end-to-end test and the demo use the real Alertmanager instead.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus

import httpx

from augur.tools.errors import Bug

__all__ = ["AlertNotFiring", "evaluate_rule", "webhook_body"]


class AlertNotFiring(Bug, RuntimeError):
    """The rule's expression returned nothing at the alert's time: the scenario's data is wrong."""


_TEMPLATE = re.compile(r"{{\s*\$(labels\.(\w+)|value)\s*}}")


def _render(text: str, labels: Mapping[str, str], value: float) -> str:
    def sub(m: re.Match[str]) -> str:
        return labels.get(m.group(2), "") if m.group(2) else f"{value:.4g}"

    return _TEMPLATE.sub(sub, text)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _fingerprint(labels: Mapping[str, str]) -> str:
    canonical = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def evaluate_rule(prometheus_url: str, rule: Mapping[str, Any], at: float,
                  client: httpx.Client | None = None) -> list[dict[str, Any]]:
    """The alerts an alerting rule produces at time ``at`` (one per series its expression returns)."""
    own = client or httpx.Client(timeout=10.0)
    try:
        r = own.get(f"{prometheus_url}/api/v1/query", params={"query": rule["expr"], "time": at})
        r.raise_for_status()
        result = r.json()["data"]["result"]
    finally:
        if client is None:
            own.close()
    if not result:
        raise AlertNotFiring(f"{rule['alert']}: `{rule['expr']}` returned nothing at {_iso(at)}")
    generator = f"{prometheus_url}/graph?g0.expr={quote_plus(str(rule['expr']))}&g0.tab=1"
    alerts = []
    for series in result:
        value = float(series["value"][1])
        labels = {k: v for k, v in series["metric"].items() if k != "__name__"}
        labels.update({str(k): str(v) for k, v in (rule.get("labels") or {}).items()})
        labels["alertname"] = str(rule["alert"])
        raw = rule.get("annotations") or {}
        annotations = {str(k): _render(str(v), labels, value) for k, v in raw.items()}
        alerts.append({
            "status": "firing",
            "labels": labels,
            "annotations": annotations,
            "startsAt": _iso(at),
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": generator,
            "fingerprint": _fingerprint(labels),
        })
    return alerts


def webhook_body(alerts: list[dict[str, Any]], *, receiver: str = "augur",
                 external_url: str = "http://127.0.0.1:9093") -> dict[str, Any]:
    """The v4 webhook body Alertmanager sends for one group of alerts (grouped by alertname)."""
    if not alerts:
        raise ValueError("a webhook carries at least one alert")
    common_labels = dict(alerts[0]["labels"])
    for a in alerts[1:]:
        common_labels = {k: v for k, v in common_labels.items() if a["labels"].get(k) == v}
    common_ann = dict(alerts[0]["annotations"])
    for a in alerts[1:]:
        common_ann = {k: v for k, v in common_ann.items() if a["annotations"].get(k) == v}
    name = alerts[0]["labels"]["alertname"]
    return {
        "receiver": receiver,
        "status": "firing",
        "alerts": alerts,
        "groupLabels": {"alertname": name},
        "commonLabels": common_labels,
        "commonAnnotations": common_ann,
        "externalURL": external_url,
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{name}"}}',
        "truncatedAlerts": 0,
    }
