"""Prometheus's own state as tools: rules, active alerts, and TSDB cardinality.

``prom_rules`` reads ``/api/v1/rules`` (alerting and recording rules, their state, health and last
error), ``prom_alerts`` reads ``/api/v1/alerts`` (pending and firing alerts), and
``prom_cardinality`` reads ``/api/v1/status/tsdb`` plus label-value counts over a window, flagging
labels with too many values — the "every model_version ever" problem. Alert annotations and label
values are telemetry: shown truncated, never followed as instructions.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from augur.tools.evidence import Evidence, EvidenceStatus
from augur.tools.prometheus_api import (
    PrometheusTool,
    render_labels,
    sequence_of,
    span,
)
from augur.tools.timeparse import TIME_HELP, parse_time

__all__ = ["PromAlertsTool", "PromCardinalityTool", "PromRulesTool"]

_TEXT_MAX = 300


def _clip(value: Any, limit: int = _TEXT_MAX) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _str_map(value: Any) -> dict[str, str]:
    return {str(k): _clip(v) for k, v in value.items()} if isinstance(value, dict) else {}


def _number(value: Any) -> float | str | None:
    """Prometheus sends sample values as strings; a number when it reads as one."""
    try:
        return float(f"{float(value):.6g}")
    except (TypeError, ValueError):
        return None if value is None else _clip(value, 40)


# --------------------------------------------------------------------------- rules


class PromRulesArgs(BaseModel):
    """Arguments of ``prom_rules``."""

    type: Literal["alert", "record"] | None = Field(
        default=None, description="Only alerting or recording rules."
    )
    name_contains: str | None = Field(default=None, description="Only rules whose name contains this text.")
    state: Literal["firing", "pending", "inactive"] | None = Field(
        default=None, description="Only alerting rules in this state."
    )
    limit: int = Field(default=50, ge=1, le=500, description="Most rules to return (firing first).")


_STATE_ORDER = {"firing": 0, "pending": 1, "inactive": 2}


class PromRulesTool(PrometheusTool):
    """List Prometheus's alerting and recording rules with their state, health and last error.

    Use it to see which alerts exist for a component, which are firing or pending, and which
    rules are broken (health `err`) — a broken rule is an alert that can never fire.
    """

    name = "prom_rules"
    description = (
        "List Prometheus's alerting and recording rules (/api/v1/rules) with expression, `for`, "
        "state (firing/pending/inactive), health and last error; filter by type, name or state."
    )
    Args = PromRulesArgs

    async def _answer(self, args: PromRulesArgs) -> Evidence:
        params = {"type": args.type} if args.type else {}
        data = await self.blocking(self.prom.get, "rules", params, timeout_s=self.limits.request_timeout_s)
        groups = sequence_of(data.get("groups") if isinstance(data, dict) else None, self.base_url,
                             "rules' groups")
        rows: list[dict[str, Any]] = []
        for group in groups:
            for rule in sequence_of(group.get("rules"), self.base_url, "a group's rules"):
                kind = "alert" if rule.get("type") == "alerting" else "record"
                if args.type and kind != args.type:
                    continue
                row: dict[str, Any] = {
                    "name": str(rule.get("name", "")), "type": kind, "group": str(group.get("name", "")),
                    "file": str(group.get("file", "")), "query": _clip(rule.get("query", ""), 1000),
                    "health": str(rule.get("health", "unknown")),
                    "last_error": _clip(rule["lastError"]) if rule.get("lastError") else None,
                    "labels": _str_map(rule.get("labels")),
                }
                if kind == "alert":
                    row.update(state=str(rule.get("state", "inactive")), for_s=rule.get("duration", 0),
                               active_alerts=len(rule.get("alerts") or []),
                               annotations=_str_map(rule.get("annotations")))
                rows.append(row)
        total_all = len(rows)
        if args.name_contains:
            rows = [r for r in rows if args.name_contains.lower() in r["name"].lower()]
        if args.state:
            rows = [r for r in rows if r.get("state") == args.state]
        rows.sort(key=lambda r: (_STATE_ORDER.get(r.get("state", ""), 3), r["group"], r["name"]))
        link = f"{self.base_url}/rules"
        if not rows:
            why = ("Prometheus has no rules loaded: add rule files (rule_files in prometheus.yml)"
                   if not total_all else "no rule matches the filters: loosen type/name_contains/state")
            return self.evidence(args, EvidenceStatus.EMPTY, f"no matching rules ({total_all} loaded)",
                                 reason=why, data={"rule_count": 0, "rules": []}, source_url=link)
        firing = [r["name"] for r in rows if r.get("state") == "firing"]
        pending = [r["name"] for r in rows if r.get("state") == "pending"]
        broken = [f"{r['name']} ({r['last_error'] or r['health']})" for r in rows if r["health"] == "err"]
        n_alert = sum(r["type"] == "alert" for r in rows)
        n_groups = len({r["group"] for r in rows})
        groups_text = f"{n_groups} group{'s' if n_groups != 1 else ''}"
        summary = (f"{len(rows)} rules in {groups_text} ({n_alert} alerting, "
                   f"{len(rows) - n_alert} recording): {len(firing)} firing"
                   + (f" ({', '.join(sorted(set(firing))[:5])})" if firing else "")
                   + f", {len(pending)} pending"
                   + (f" ({', '.join(sorted(set(pending))[:5])})" if pending else "")
                   + (f"; {len(broken)} unhealthy: {'; '.join(broken[:3])}" if broken else "; all healthy"))
        truncated = [f"rules: {len(rows)} -> {args.limit}"] if len(rows) > args.limit else []
        return self.evidence(
            args, EvidenceStatus.OK, summary, truncated=truncated,
            data={"rule_count": len(rows), "firing": len(firing), "pending": len(pending),
                  "unhealthy": len(broken), "rules": rows[: args.limit]},
            source_url=link,
        )


# --------------------------------------------------------------------------- alerts


class PromAlertsArgs(BaseModel):
    """Arguments of ``prom_alerts``."""

    state: Literal["firing", "pending"] | None = Field(default=None, description="Only this state.")
    labels: dict[str, str] = Field(
        default_factory=dict,
        description="Only alerts with these exact label values, e.g. {\"model\": \"ranker\"}.",
    )
    limit: int = Field(
        default=50, ge=1, le=500, description="Most alerts to return (firing first, oldest first)."
    )


class PromAlertsTool(PrometheusTool):
    """List the alerts Prometheus is evaluating as pending or firing right now.

    Includes alerts that Alertmanager silences or inhibits (those never reach a webhook).
    """

    name = "prom_alerts"
    description = (
        "List Prometheus's active alerts (/api/v1/alerts): pending and firing, with labels, "
        "annotations, since when and the value; filter by state and exact label values. Includes "
        "alerts Alertmanager silences or inhibits."
    )
    Args = PromAlertsArgs

    async def _answer(self, args: PromAlertsArgs) -> Evidence:
        data = await self.blocking(self.prom.get, "alerts", timeout_s=self.limits.request_timeout_s)
        alerts = sequence_of(data.get("alerts") if isinstance(data, dict) else None, self.base_url, "alerts")
        rows: list[dict[str, Any]] = []
        for alert in alerts:
            labels = _str_map(alert.get("labels"))
            state = str(alert.get("state", ""))
            if args.state and state != args.state:
                continue
            if any(labels.get(k) != v for k, v in args.labels.items()):
                continue
            rows.append({
                "alertname": labels.get("alertname", ""), "state": state, "labels": labels,
                "annotations": _str_map(alert.get("annotations")),
                "active_at": str(alert.get("activeAt", "")), "value": _number(alert.get("value")),
            })
        rows.sort(key=lambda r: (_STATE_ORDER.get(r["state"], 3), r["active_at"], r["alertname"]))
        link = f"{self.base_url}/alerts"
        if not rows:
            why = ("no alert is pending or firing in Prometheus" if not alerts
                   else f"{len(alerts)} active alerts, none matching the filters: loosen state/labels")
            return self.evidence(args, EvidenceStatus.EMPTY, "no matching active alerts", reason=why,
                                 data={"alert_count": 0, "alerts": []}, source_url=link)
        firing = sum(r["state"] == "firing" for r in rows)
        parts = []
        for r in rows[:3]:
            shown = {k: v for k, v in r["labels"].items() if k not in ("alertname", "severity")}
            parts.append(f"{r['state']} {r['alertname']}{render_labels(shown)} since {r['active_at'][:19]}Z"
                         f" (value {r['value']})")
        summary = (f"{len(rows)} active alerts ({firing} firing, {len(rows) - firing} pending): "
                   + "; ".join(parts))
        truncated = [f"alerts: {len(rows)} -> {args.limit}"] if len(rows) > args.limit else []
        return self.evidence(
            args, EvidenceStatus.OK, summary, truncated=truncated,
            data={"alert_count": len(rows), "firing": firing, "pending": len(rows) - firing,
                  "alerts": rows[: args.limit]},
            source_url=link,
        )


# --------------------------------------------------------------------------- cardinality


class PromCardinalityArgs(BaseModel):
    """Arguments of ``prom_cardinality``."""

    watch_labels: list[str] = Field(
        default_factory=lambda: ["model_version"],
        description="Labels that should keep few values (flagged at watch_threshold), e.g. model_version.",
    )
    watch_threshold: int = Field(default=10, ge=1, description="Values at which a watched label is flagged.")
    threshold: int = Field(default=200, ge=1, description="Values at which any other label is flagged.")
    start: str | float = Field(default="now-1h", description=f"Count label values since: {TIME_HELP}.")
    end: str | float = Field(default="now", description=f"... until: {TIME_HELP}.")
    scan_labels: int = Field(default=40, ge=1, le=500, description="Most label names to count values for.")
    limit: int = Field(default=10, ge=1, le=100, description="Rows per top list.")


_HINT_VERSION = ("keep recent versions only: drop old {label} series at the exporter or with "
                 "metric_relabel_configs, or aggregate with `sum without({label}) (...)` in recording rules")
_HINT_LABEL = ("each value multiplies the series count: drop the label (metric_relabel_configs labeldrop) "
               "or aggregate it away with `sum without({label}) (...)`")


def _top(rows: Any, limit: int) -> list[dict[str, Any]]:
    out = []
    for row in rows if isinstance(rows, list) else []:
        if isinstance(row, dict) and "name" in row:
            out.append({"name": str(row["name"]), "value": row.get("value")})
    return out[:limit]


class PromCardinalityTool(PrometheusTool):
    """Find cardinality problems: head-block series counts, and labels with too many values.

    Reads `/api/v1/status/tsdb` (the head block: roughly the last 2-3 hours of samples) and counts
    each label's values over a window, flagging watched labels such as `model_version` that keep
    every version ever deployed.
    """

    name = "prom_cardinality"
    description = (
        "Find cardinality problems: series in Prometheus's head block by metric and label "
        "(/api/v1/status/tsdb), and labels with too many values over a window, flagging watched "
        "labels such as model_version (every version ever deployed) with the fix."
    )
    Args = PromCardinalityArgs

    async def _answer(self, args: PromCardinalityArgs) -> Evidence:
        now = parse_time(None)
        start, end = parse_time(args.start, now=now), parse_time(args.end, now=now)
        tsdb, counts, scanned_of = await self.blocking(self._collect, args, start, end)
        head_stats = tsdb.get("headStats")
        head: dict[str, Any] = head_stats if isinstance(head_stats, dict) else {}
        watched = set(args.watch_labels)
        flagged = []
        for label, (count, examples) in sorted(counts.items(), key=lambda kv: (-kv[1][0], kv[0])):
            limit = args.watch_threshold if label in watched else args.threshold
            if label != "__name__" and count >= limit:
                hint = (_HINT_VERSION if label in watched else _HINT_LABEL).format(label=label)
                flagged.append({"label": label, "values": count, "threshold": limit,
                                "watched": label in watched, "examples": examples, "hint": hint})
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1][0], kv[0]))
        truncated = [f"labels counted: {scanned_of} -> {len(counts)}"] if scanned_of > len(counts) else []
        window = span(round(end - start))
        if flagged:
            first = flagged[0]
            summary = (f"{first['label']} has {first['values']} values in the last {window} "
                       f"(threshold {first['threshold']}): {first['hint']}")
            if len(flagged) > 1:
                summary += "; also " + ", ".join(f"{f['label']} ({f['values']})" for f in flagged[1:4])
        else:
            summary = (f"no label over its threshold in the last {window}; most values: "
                       + ", ".join(f"{k} ({v[0]})" for k, v in ranked[:4]))
        summary = f"head block: {head.get('numSeries', 0)} series; " + summary
        data = {
            "window": {"start": start, "end": end},
            "head": {k: head.get(k) for k in ("numSeries", "numLabelPairs", "chunkCount")},
            "head_series_by_metric": _top(tsdb.get("seriesCountByMetricName"), args.limit),
            "head_values_by_label": _top(tsdb.get("labelValueCountByLabelName"), args.limit),
            "head_series_by_label_pair": _top(tsdb.get("seriesCountByLabelValuePair"), args.limit),
            "label_values": [{"label": k, "values": v[0]} for k, v in ranked[: args.limit]],
            "flagged": flagged,
            "guards": self.limits.as_dict(),
        }
        status = EvidenceStatus.OK if counts or head.get("numSeries") else EvidenceStatus.EMPTY
        return self.evidence(
            args, status, summary, truncated=truncated, data=data,
            reason=None if status is EvidenceStatus.OK else "Prometheus holds no series in the window: "
            "widen it (start='now-24h') or check that it scrapes targets",
            source_url=f"{self.base_url}/tsdb-status",
        )

    def _collect(
        self, args: PromCardinalityArgs, start: float, end: float
    ) -> tuple[dict[str, Any], dict[str, tuple[int, list[str]]], int]:
        """TSDB status, and per label (watched first, then by head value count) its value count."""
        tsdb = self.prom.get("status/tsdb", timeout_s=self.limits.request_timeout_s)
        if not isinstance(tsdb, dict):
            tsdb = {}
        window = {"start": f"{start:.3f}", "end": f"{end:.3f}"}
        names = [str(n) for n in self.prom.label_names(window)]
        head_top = _top(tsdb.get("labelValueCountByLabelName"), 1000)
        head_rank = {row["name"]: i for i, row in enumerate(head_top)}
        order = sorted(names, key=lambda n: (n not in args.watch_labels, head_rank.get(n, 10**6), n))
        counts: dict[str, tuple[int, list[str]]] = {}
        for label in order[: args.scan_labels]:
            values = self.prom.label_values(label, window)
            counts[label] = (len(values), sorted(str(v) for v in values)[-5:])
        return tsdb, counts, len(order)
