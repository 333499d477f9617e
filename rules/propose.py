"""The proposal engine: from an investigated incident and Prometheus history, the rules that would
have caught it earlier or more quietly.

For the chain's first link (the root cause) it proposes:

- **threshold** — an adaptive threshold: the baseline's 99.5th percentile plus its spread, from
  history before the onset, and suppressed when the signal is within that margin of the same time
  yesterday or last week (``offset 1d`` / ``offset 1w``), so a surge that recurs (a holiday, a
  weekly peak) does not page. It is a **missing signal** proposal instead when no existing rule
  watches that metric at all (the chain's first link had no alert);
- **trend** — ``predict_linear`` over 30 minutes crossing the same threshold within the hour;
- **composite** — the cause AND its first downstream effect (e.g. drift AND accuracy down);
- **inhibition** — an Alertmanager ``inhibit_rule``: the cause mutes the symptom alerts it produced
  (never business alerts), scoped by the component labels.

Each proposal carries the rule, a rationale citing evidence ids, the ``promtool check rules``
(``amtool check-config``) output, and a backtest over the last N days at 1-minute resolution.
Proposals that fail validation, duplicate a loaded rule (expressions compared in Prometheus's own
formatting, see ``/api/v1/format_query``) or a stored proposal (fingerprint) are not proposed;
:attr:`ProposalSet.skipped` says why.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from augur.rules.backtest import REQUEST_TIMEOUT_S, BacktestError, backtest, query_history
from augur.rules.incident import Findings, Signal
from augur.rules.matchers import LABEL_NAME, any_of, equal
from augur.rules.proposal import Proposal, ProposalKind, normalise_expr
from augur.rules.review import ProposalRepository
from augur.rules.validate import check_inhibit_rule, check_rule_group
from augur.tools.base import ToolError, Unavailable
from augur.tools.prometheus_api import PrometheusClient
from augur.tools.timeparse import parse_duration

__all__ = [
    "EngineConfig",
    "ExistingRule",
    "ProposalSet",
    "fetch_existing_rules",
    "propose",
    "propose_and_record",
    "rules_in_files",
]

_METRIC = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_NOT_METRICS = {"sum", "max", "min", "avg", "count", "rate", "irate", "increase", "by", "without", "on",
                "ignoring", "offset", "and", "or", "unless", "bool", "histogram_quantile", "avg_over_time",
                "max_over_time", "min_over_time", "predict_linear", "deriv", "abs", "clamp_min", "le"}


@dataclass(frozen=True)
class ExistingRule:
    """A rule Prometheus has loaded (from ``/api/v1/rules``)."""

    name: str
    kind: str  # "alerting" or "recording"
    query: str
    group: str


@dataclass
class ProposalSet:
    """What the engine proposes, and what it left out and why."""

    proposals: list[Proposal] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class EngineConfig:
    """Knobs of the engine."""

    history_days: float = 7.0
    step_s: float = 60.0
    baseline_s: float = 7 * 86400.0
    guard_s: float = 600.0
    promtool: str = "promtool"
    amtool: str = "amtool"


def fetch_existing_rules(prom: PrometheusClient) -> list[ExistingRule]:
    """Every rule the Prometheus has loaded."""
    try:
        groups = prom.get("rules", timeout_s=REQUEST_TIMEOUT_S)["groups"]
    except (ToolError, Unavailable, KeyError, TypeError) as exc:
        raise BacktestError(f"cannot read rules from {prom.url}/api/v1/rules ({exc}): "
                            "check the Prometheus URL") from None
    return [ExistingRule(r["name"], r["type"], r["query"], g["name"]) for g in groups for r in g["rules"]]


def rules_in_files(paths: Iterable[Path]) -> list[ExistingRule]:
    """The rules in Prometheus rule files (e.g. augur's packs, before Prometheus loads them)."""
    found: list[ExistingRule] = []
    for path in paths:
        for group in (yaml.safe_load(path.read_text()) or {}).get("groups", []):
            for rule in group.get("rules", []):
                kind = "alerting" if "alert" in rule else "recording"
                found.append(ExistingRule(rule.get("alert") or rule["record"], kind, str(rule["expr"]),
                                          group["name"]))
    return found


class _Canon:
    """Expressions in one canonical spelling: Prometheus's formatter when it has one, else ours."""

    def __init__(self, prom: PrometheusClient) -> None:
        self.prom = prom
        self.remote = True
        self.cache: dict[str, str] = {}

    def __call__(self, expr: str) -> str:
        if expr not in self.cache:
            text = expr
            if self.remote:
                try:
                    answer = self.prom.request("POST", "format_query", data={"query": expr},
                                               timeout_s=REQUEST_TIMEOUT_S)
                    if answer.status_code == 200:
                        text = str(answer.json()["data"])
                    elif answer.status_code == 404:  # Prometheus older than 2.38
                        self.remote = False
                except (ToolError, Unavailable, ValueError, KeyError):
                    self.remote = False
            self.cache[expr] = normalise_expr(text)
        return self.cache[expr]


def metric_of(query: str) -> str:
    """The metric name a signal's query selects (its first identifier that is not a function)."""
    for match in _METRIC.finditer(re.sub(r'"(?:[^"\\]|\\.)*"|\[[^\]]*\]', "", query)):
        if match.group(0) not in _NOT_METRICS:
            return match.group(0)
    return "signal"


def _camel(text: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", text) if part)


def _fmt(value: float) -> str:
    return f"{float(f'{value:.3g}'):g}"


@dataclass(frozen=True)
class _Threshold:
    value: float
    margin: float  # distance from the baseline median: the seasonal comparison's allowance
    baseline: float
    after: float | None


def _values(prom: PrometheusClient, expr: str, start: float, end: float, step_s: float) -> np.ndarray:
    series = query_history(prom, expr, start, end, step_s) if end > start else []
    array = np.concatenate([s.values for s in series]) if series else np.empty(0, dtype=np.float64)
    finite: np.ndarray = array[np.isfinite(array)]
    return finite


def adaptive_threshold(
    prom: PrometheusClient, signal: Signal, cfg: EngineConfig, end: float,
) -> _Threshold:
    """Threshold from the history before the onset: 99.5th percentile plus the spread, capped so
    the incident's own change (median after the onset) would cross it."""
    agg = "max" if signal.direction == "up" else "min"
    base = _values(prom, f"{agg}({signal.query})", signal.onset - cfg.baseline_s,
                   signal.onset - cfg.guard_s, cfg.step_s)
    if base.size < 10:
        raise BacktestError(f"too little history before the onset of {signal.query} to set a threshold "
                            f"({base.size} points): backfill more history or lower baseline_s")
    after_values = _values(prom, f"{agg}({signal.query})", signal.onset, end, cfg.step_s)
    after = float(np.median(after_values)) if after_values.size else None
    median = float(np.median(base))
    if signal.direction == "up":
        edge = float(np.quantile(base, 0.995))
        value = edge + max(edge - median, abs(median) * 0.05, 1e-9)
        if after is not None and after > median:
            value = min(value, median + 0.5 * (after - median))
        value = float(_fmt(value))
        return _Threshold(value, value - median, median, after)
    edge = float(np.quantile(base, 0.005))
    value = edge - max(median - edge, abs(median) * 0.05, 1e-9)
    if after is not None and after < median:
        value = max(value, median - 0.5 * (median - after))
    value = float(_fmt(value))
    return _Threshold(value, median - value, median, after)


_SELECTOR = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{(?:[^{}"]|"(?:[^"\\]|\\.)*")*\})?$')


def _is_selector(query: str) -> bool:
    return bool(_SELECTOR.match(query.strip()))


def _offset(query: str, offset: str) -> str:
    """``query`` as it was ``offset`` ago (a subquery when it is not a plain selector)."""
    if _is_selector(query):
        return f"{query} offset {offset}"
    return f"last_over_time(({query})[5m:1m] offset {offset})"


def _range(query: str, window: str) -> str:
    """``query`` as a range vector over ``window`` (a subquery when it is not a plain selector)."""
    return f"{query}[{window}]" if _is_selector(query) else f"({query})[{window}:1m]"


def _condition(signal: Signal, threshold: _Threshold, seasonal: bool = True) -> str:
    """The signal beyond the threshold, unless within the margin of yesterday or last week."""
    q, m, t = signal.query, _fmt(threshold.margin), _fmt(threshold.value)
    up = signal.direction == "up"
    expr = f"{q} {'>' if up else '<'} {t}"
    if seasonal:
        for offset in ("1d", "1w"):
            expr += (f"\n  unless ({q} <= {_offset(q, offset)} + {m})" if up
                     else f"\n  unless ({q} >= {_offset(q, offset)} - {m})")
    return expr


def _evidence(findings: Findings, *signals: Signal) -> list[str]:
    ids: list[str] = []
    for signal in signals:
        ids.extend(i for i in signal.evidence_ids if i not in ids)
    return ids or list(findings.evidence_ids)


def _cite(ids: list[str]) -> str:
    return " ".join(f"[{i}]" for i in ids)


class _Engine:
    def __init__(self, findings: Findings, prom: PrometheusClient, existing: list[ExistingRule],
                 known: set[str], cfg: EngineConfig, now: float) -> None:
        self.f, self.h, self.cfg, self.now = findings, prom, cfg, now
        self.known = known
        self.canon = _Canon(prom)
        self.existing_exprs = {self.canon(r.query): r for r in existing}
        self.existing_names = {r.name for r in existing}
        self.existing = existing
        self.out = ProposalSet()

    def name_for(self, signal: Signal, suffix: str) -> str:
        name = _camel(metric_of(signal.query)) + suffix
        if name in self.existing_names:
            name = _camel(" ".join(signal.labels.values())) + name
        return name

    def add_rule(self, kind: ProposalKind, signal: Signal, rule: dict[str, Any], rationale: str,
                 evidence: list[str], value_expr: str, threshold: float | None) -> Proposal | None:
        group = f"augur-proposed-{signal.layer or 'rules'}"
        duplicate = self.existing_exprs.get(self.canon(str(rule["expr"])))
        if duplicate is not None:
            self.out.skipped.append(f"{kind.value} {rule['alert']}: same expression as the loaded rule "
                                    f"{duplicate.name} (group {duplicate.group})")
            return None
        validation = check_rule_group(group, [rule], self.cfg.promtool)
        if not validation.ok:
            self.out.skipped.append(f"{kind.value} {rule['alert']}: promtool rejected it: "
                                    f"{validation.output}")
            return None
        for_s = parse_duration(str(rule.get("for", "0s")))
        result = backtest(self.h, str(rule["expr"]), start=self.now - self.cfg.history_days * 86400,
                          end=self.now, step_s=self.cfg.step_s, for_s=for_s,
                          incident_start=self.f.first_alert_at, value_expr=value_expr, threshold=threshold)
        proposal = Proposal.build(kind, group, rule, rationale=rationale, evidence_ids=evidence,
                                  validation=validation, backtest=result, incident_id=self.f.incident_id)
        return self.keep(proposal)

    def keep(self, proposal: Proposal) -> Proposal | None:
        if proposal.fingerprint in self.known:
            self.out.skipped.append(f"{proposal.title}: already proposed ({proposal.id})")
            return None
        self.known.add(proposal.fingerprint)
        self.out.proposals.append(proposal)
        return proposal

    def labels(self, severity: str, signal: Signal) -> dict[str, str]:
        labels = {"severity": severity, "proposed_by": "augur"}
        if signal.layer:
            labels["layer"] = signal.layer
        return labels

    def annotations(self, summary: str, evidence: list[str]) -> dict[str, str]:
        notes = {"summary": summary, "augur_evidence": ", ".join(evidence)}
        if self.f.incident_id is not None:
            notes["augur_incident"] = str(self.f.incident_id)
        return notes

    def covered(self, signal: Signal) -> list[ExistingRule]:
        metric = metric_of(signal.query)
        pattern = re.compile(rf"(?<![A-Za-z0-9_:]){re.escape(metric)}(?![A-Za-z0-9_:])")
        return [r for r in self.existing if r.kind == "alerting" and pattern.search(r.query)]


def _threshold_and_trend(engine: _Engine, root: Signal, threshold: _Threshold, source_name: str) -> None:
    """The root cause's adaptive threshold (or missing-signal) rule and its trend rule."""
    f = engine.f
    what = root.name or metric_of(root.query)
    evidence = _evidence(f, root)
    agg, word = ("max", "above") if root.direction == "up" else ("min", "below")
    covering = engine.covered(root)
    kind = ProposalKind.THRESHOLD if covering else ProposalKind.MISSING_SIGNAL
    gap = (f"The existing rule(s) {', '.join(r.name for r in covering)} watch this metric but the first "
           "page came from a symptom." if covering else
           f"No loaded alerting rule watches {metric_of(root.query)} at all: the chain's first link "
           "had no alert.")
    t = _fmt(threshold.value)
    engine.add_rule(kind, root, {
        "alert": source_name, "expr": _condition(root, threshold), "for": "5m",
        "labels": engine.labels("ticket", root),
        "annotations": engine.annotations(f"{what} {word} its usual level ({t}) and unlike the same time "
                                          "yesterday or last week", evidence),
    }, f"{what} changed {(f.first_alert_at - root.onset) / 60:.0f} min before the incident's first alert "
       f"{_cite(evidence)}, from {_fmt(threshold.baseline)} to {_fmt(threshold.after or threshold.value)}. "
       f"{gap} Threshold {t}: the 99.5th percentile of the history before the onset plus its spread; "
       "suppressed while within that margin of the same time yesterday or last week, so recurring surges "
       "do not page.", evidence, f"{agg}({root.query})", threshold.value)

    projected = f"predict_linear({_range(root.query, '30m')}, 3600)"
    engine.add_rule(ProposalKind.TREND, root, {
        "alert": engine.name_for(root, "TrendingToThreshold"),
        "expr": f"{projected} {'>' if root.direction == 'up' else '<'} {t}", "for": "10m",
        "labels": engine.labels("ticket", root),
        "annotations": engine.annotations(f"{what} is on course to cross {t} within the hour", evidence),
    }, f"A sustained slope of {what} {_cite(evidence)} predicts the crossing before it happens "
       "(linear fit over 30 min, projected one hour ahead).", evidence, f"{agg}({projected})",
       threshold.value)


def _composite(engine: _Engine, root: Signal, threshold: _Threshold) -> None:
    """The cause AND its first downstream effect (another metric), as one paging rule."""
    effect = next((s for s in engine.f.chain if metric_of(s.query) != metric_of(root.query)), None)
    if effect is None:
        return
    try:
        effect_threshold = adaptive_threshold(engine.h, effect, engine.cfg, engine.f.first_alert_at)
    except BacktestError as exc:
        engine.out.skipped.append(f"composite rule with {effect.query}: {exc}")
        return
    what = root.name or metric_of(root.query)
    shared = [k for k, v in root.labels.items() if effect.labels.get(k) == v]
    both = _evidence(engine.f, root, effect)
    effect_name = effect.name or metric_of(effect.query)
    engine.add_rule(ProposalKind.COMPOSITE, root, {
        "alert": engine.name_for(root, "With" + _camel(metric_of(effect.query)) + "Change"),
        "expr": f"({_condition(root, threshold, seasonal=False)})\nand on({', '.join(shared)})\n"
                f"({_condition(effect, effect_threshold, seasonal=False)})",
        "for": "5m", "labels": engine.labels("page", root),
        "annotations": engine.annotations(f"{what} and {effect_name} both off their usual levels: the cause "
                                          "and its effect", both),
    }, f"The cause {what} {_cite(root.evidence_ids)} was followed by {effect_name} "
       f"{_cite(effect.evidence_ids)} {(effect.onset - root.onset) / 60:.0f} min later; together they are a "
       "page, alone the cause is a ticket.", both,
       f"{'max' if root.direction == 'up' else 'min'}({root.query})", threshold.value)


def _inhibition(engine: _Engine, root: Signal, source_name: str) -> None:
    """An Alertmanager inhibit rule: the cause's alerts mute the non-business symptoms it produced."""
    targets = [s for s in engine.f.symptoms if s.layer != "business" and s.alertname != source_name]
    if not targets:
        return
    names = sorted({s.alertname for s in targets})
    shared_keys = sorted(set.intersection(*[{k for k, v in s.labels.items() if root.labels.get(k) == v}
                                            for s in targets]))
    scope = {k: v for s in targets for k, v in s.labels.items()
             if k in ("service", "namespace", "model", "job") and k not in shared_keys}
    sources = sorted({source_name, *(r.name for r in engine.covered(root))})
    inhibit = {
        "source_matchers": [any_of("alertname", sources),
                            *(equal(k, v) for k, v in sorted(root.labels.items()) if LABEL_NAME.match(k))],
        "target_matchers": [any_of("alertname", names),
                            *(equal(k, v) for k, v in sorted(scope.items()) if LABEL_NAME.match(k))],
        "equal": [k for k in shared_keys if LABEL_NAME.match(k)],
    }
    validation = check_inhibit_rule(inhibit, engine.cfg.amtool)
    if not validation.ok:
        engine.out.skipped.append(f"inhibition: amtool rejected it: {validation.output}")
        return
    cited = _evidence(engine.f, root, *engine.f.chain)
    what = root.name or metric_of(root.query)
    engine.keep(Proposal.build(
        ProposalKind.INHIBITION, "alertmanager", inhibit, validation=validation, evidence_ids=cited,
        incident_id=engine.f.incident_id,
        rationale=f"{', '.join(names)} fired because of {what} {_cite(cited)}; while the cause alerts, these "
                  "symptoms add pages without adding information. Business alerts stay visible.",
    ))


def propose(
    findings: Findings, prom: PrometheusClient, *, existing: list[ExistingRule] | None = None,
    known_fingerprints: set[str] | None = None, config: EngineConfig | None = None, now: float | None = None,
) -> ProposalSet:
    """Propose rules for an investigated incident (see the module docstring).

    ``existing`` defaults to the rules the Prometheus has loaded; ``known_fingerprints`` are
    proposals already stored. Raises :class:`BacktestError` only when Prometheus cannot be queried.
    """
    cfg = config or EngineConfig()
    rules = fetch_existing_rules(prom) if existing is None else existing
    engine = _Engine(findings, prom, rules, set(known_fingerprints or ()), cfg,
                     time.time() if now is None else now)
    root = findings.root_cause
    source_name = engine.name_for(root, "AboveBaseline" if root.direction == "up" else "BelowBaseline")
    try:
        threshold = adaptive_threshold(prom, root, cfg, findings.first_alert_at)
    except BacktestError as exc:
        engine.out.skipped.append(f"threshold, trend and composite rules for {root.query}: {exc}")
    else:
        _threshold_and_trend(engine, root, threshold, source_name)
        _composite(engine, root, threshold)
    _inhibition(engine, root, source_name)
    return engine.out


def propose_and_record(
    findings: Findings, prom: PrometheusClient, repo: ProposalRepository, **options: Any,
) -> ProposalSet:
    """Propose (skipping what ``repo`` already holds) and store each new proposal as pending."""
    result = propose(findings, prom, known_fingerprints=repo.fingerprints(), **options)
    result.proposals = [repo.add(p)[0] for p in result.proposals]
    return result
