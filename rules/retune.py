"""Retuning an alert rule that people keep judging "not actionable": quieter, checked, backtested.

When the incidents an alert rule opened are judged *not actionable* again and again (the
verdicts, :mod:`augur.server.store.verdicts`), the rule pages for nothing. :func:`retune` proposes
a replacement for the loaded rule (same name, same group, same labels and annotations):

- **raise the threshold** — for a rule ``<signal> > N`` (or ``< N``): just above the highest
  (lowest) level the signal reached around the not-actionable firings, so those would not page;
- **lengthen** ``for:`` — the shortest of 1m, 2m, 5m, 10m, 15m, 30m, 1h, 2h (longer than the
  current one) that at least halves the rule's firing episodes on the history, since
  not-actionable firings are usually short blips.

Each candidate goes the way every proposal goes: ``promtool check rules``
(:mod:`augur.rules.validate`), then a backtest over Prometheus history
(:mod:`augur.rules.backtest`) of the current rule and of the candidate on the same window. A
candidate is proposed only if it **fires less** (fewer episodes) and **still fires for every
incident that mattered** (``mattered``: the spans of the rule's incidents judged confirmed or
wrong, i.e. real); otherwise :attr:`ProposalSet.skipped` says why. The proposal's
:class:`~augur.rules.proposal.Backtest` carries the candidate's replay and, in ``before``, the
current rule's; the rationale names the verdicts it comes from (ids, who, when) and both firing
counts. Applying an approved retune replaces the rule of that name in its group file
(:mod:`augur.rules.apply`).

The verdicts are cited as ``verdict-<id>`` evidence ids: :func:`retune_and_record` proposes
nothing when a stored retune of the same rule already cites every one of them, or when one is
still pending review, so running it again on the same verdicts proposes nothing new.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from augur.rules.backtest import (
    REQUEST_TIMEOUT_S,
    BacktestError,
    backtest,
    firing_spans,
    merge_spans,
    query_history,
)
from augur.rules.proposal import Backtest, Proposal, ProposalKind, ProposalState, normalise_expr
from augur.rules.propose import ProposalSet
from augur.rules.review import ProposalRepository
from augur.rules.validate import check_rule_group
from augur.tools.base import ToolError, Unavailable
from augur.tools.prometheus_api import PrometheusClient
from augur.tools.timeparse import parse_duration

__all__ = [
    "FOR_STEPS",
    "AlertRule",
    "RetuneConfig",
    "VerdictRef",
    "comparison_of",
    "format_duration",
    "loaded_alert_rule",
    "retune",
    "retune_and_record",
    "retunes_of",
]

#: The ``for:`` durations a retune may lengthen to, in seconds.
FOR_STEPS = (60, 120, 300, 600, 900, 1800, 3600, 7200)
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_COMPARISON = re.compile(rf"^(?P<lhs>.+?)\s*(?P<op>>=|<=|>|<)\s*(?P<num>{_NUMBER})\s*$", re.DOTALL)
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\{[^{}]*\}|\[[^\]]*\]')
_TOP_LEVEL_OPS = re.compile(r"\b(?:and|or|unless|bool)\b|[<>]=?|==|!=")


@dataclass(frozen=True)
class AlertRule:
    """An alerting rule as Prometheus has loaded it (``/api/v1/rules``)."""

    name: str
    group: str
    file: str
    expr: str
    for_s: float = 0.0
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)

    def as_rule(self, *, expr: str | None = None, for_s: float | None = None) -> dict[str, Any]:
        """The rule-file entry, with ``expr`` or ``for_s`` replaced."""
        rule: dict[str, Any] = {"alert": self.name, "expr": expr or self.expr}
        duration = self.for_s if for_s is None else for_s
        if duration > 0:
            rule["for"] = format_duration(duration)
        if self.labels:
            rule["labels"] = dict(self.labels)
        if self.annotations:
            rule["annotations"] = dict(self.annotations)
        return rule


@dataclass(frozen=True)
class VerdictRef:
    """A "not actionable" verdict on an incident the rule opened: which, by whom, when."""

    id: int
    incident_id: int
    by: str
    at: datetime
    #: When the incident's alert started firing (Unix seconds).
    fired_at: float

    @property
    def evidence_id(self) -> str:
        """How a retune proposal cites it."""
        return f"verdict-{self.id}"


@dataclass(frozen=True)
class RetuneConfig:
    """Knobs of the retuner."""

    history_days: float = 7.0
    step_s: float = 60.0
    #: How far around a not-actionable firing the signal's peak is looked for.
    peak_window_s: float = 900.0
    #: The raised threshold sits this share above the highest not-actionable peak.
    margin: float = 0.02
    #: An incident that mattered is still caught if the rule fires this long before it (or during).
    lead_s: float = 3600.0
    promtool: str = "promtool"


def format_duration(seconds: float) -> str:
    """Seconds as a Prometheus duration (``90`` → ``1m30s``, ``3600`` → ``1h``)."""
    total = round(seconds)
    parts = []
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        if total >= size:
            parts.append(f"{total // size}{unit}")
            total %= size
    return "".join(parts) or "0s"


def loaded_alert_rule(prom: PrometheusClient, name: str) -> AlertRule | None:
    """The first alerting rule named ``name`` Prometheus has loaded, or None."""
    try:
        groups = prom.get("rules", params={"type": "alert"}, timeout_s=REQUEST_TIMEOUT_S)["groups"]
    except (ToolError, Unavailable, KeyError, TypeError) as exc:
        raise BacktestError(f"cannot read rules from {prom.url}/api/v1/rules ({exc}): "
                            "check the Prometheus URL") from None
    for group in groups:
        for rule in group.get("rules", []):
            if rule.get("type") == "alerting" and rule.get("name") == name:
                return AlertRule(name=name, group=str(group["name"]), file=str(group.get("file", "")),
                                 expr=str(rule["query"]), for_s=float(rule.get("duration") or 0.0),
                                 labels={str(k): str(v) for k, v in (rule.get("labels") or {}).items()},
                                 annotations={str(k): str(v)
                                              for k, v in (rule.get("annotations") or {}).items()})
    return None


def comparison_of(expr: str) -> tuple[str, str, float] | None:
    """``(signal, op, threshold)`` of an expression ``<signal> <op> <number>``, or None.

    Only a single top-level comparison with a literal on the right counts: ``a > 0.5 and b > 1``
    or ``x < 0.8 * avg(...)`` are not thresholds one can raise.
    """
    match = _COMPARISON.match(expr.strip())
    if match is None:
        return None
    lhs = match.group("lhs").strip()
    bare = _STRINGS.sub("", lhs)
    depth = 0
    top = []
    for char in bare:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            return None
        top.append(char if depth == 0 else " ")
    if depth != 0 or _TOP_LEVEL_OPS.search("".join(top)):
        return None
    return lhs, match.group("op"), float(match.group("num"))


def _nice(value: float, up: bool) -> float:
    """``value`` rounded to 3 significant digits, away from the firing side."""
    if value == 0 or not math.isfinite(value):
        return value
    scale = 10.0 ** (math.floor(math.log10(abs(value))) - 2)
    return (math.ceil(value / scale) if up else math.floor(value / scale)) * scale


def _fmt(value: float) -> str:
    return f"{float(f'{value:.6g}'):g}"


def _fingerprint(rule: dict[str, Any]) -> str:
    identity = {"kind": ProposalKind.RETUNE.value, "name": rule["alert"],
                "expr": normalise_expr(str(rule["expr"])), "for": str(rule.get("for", "0s"))}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def _covers(spans: Sequence[tuple[float, float]], window: tuple[float, float], lead_s: float) -> bool:
    start, end = window
    return any(a <= end and b >= start - lead_s for a, b in spans)


def _peaks(prom: PrometheusClient, signal: str, verdicts: Sequence[VerdictRef], up: bool,
           cfg: RetuneConfig) -> list[float]:
    """The signal's peak (``up``) or trough around each not-actionable firing that has history."""
    out = []
    for v in verdicts:
        series = query_history(prom, signal, v.fired_at - cfg.peak_window_s, v.fired_at + cfg.peak_window_s,
                               min(cfg.step_s, 15.0))
        values = [float(x) for s in series for x in s.values.tolist() if math.isfinite(x)]
        if values:
            out.append(max(values) if up else min(values))
    return out


def _times(n: int) -> str:
    return "once" if n == 1 else f"{n} times"


def _span(replay: Backtest) -> str:
    """How much history a replay covered: hours under two days, else days."""
    seconds = replay.end - replay.start
    return f"{seconds / 3600:.1f} h" if seconds < 2 * 86400 else f"{seconds / 86400:.1f} days"


def _when(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _cited(verdicts: Sequence[VerdictRef]) -> str:
    return "; ".join(f"[{v.evidence_id}] by {v.by} at {_when(v.at)} on incident #{v.incident_id}"
                     for v in verdicts)


@dataclass
class _Retuner:
    rule: AlertRule
    verdicts: Sequence[VerdictRef]
    prom: PrometheusClient
    mattered: Sequence[tuple[float, float]]
    known: set[str]
    cfg: RetuneConfig
    now: float
    out: ProposalSet = field(default_factory=ProposalSet)

    @property
    def start(self) -> float:
        return self.now - self.cfg.history_days * 86400.0

    def replay(self, expr: str, for_s: float, chart: tuple[str, float] | None = None) -> Backtest:
        """The rule over the history; ``chart``: the signal and threshold drawn for the reviewer."""
        return backtest(self.prom, expr, start=self.start, end=self.now, step_s=self.cfg.step_s, for_s=for_s,
                        value_expr=chart[0] if chart else None, threshold=chart[1] if chart else None)

    def chart(self, expr: str) -> tuple[str, float] | None:
        parsed = comparison_of(expr)
        if parsed is None:
            return None
        signal, op, threshold = parsed
        return f"{'max' if op.startswith('>') else 'min'}({signal})", threshold

    def lost(self, spans: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
        return [w for w in self.mattered if not _covers(spans, w, self.cfg.lead_s)]

    def consider(self, what: str, rule: dict[str, Any], before: Backtest, change: str) -> None:
        label = f"retune {self.rule.name} ({what})"
        fingerprint = _fingerprint(rule)
        if fingerprint in self.known:
            self.out.skipped.append(f"{label}: already proposed (pr-{fingerprint[:12]})")
            return
        validation = check_rule_group(self.rule.group, [rule], self.cfg.promtool)
        if not validation.ok:
            self.out.skipped.append(f"{label}: promtool rejected it: {validation.output}")
            return
        after = self.replay(str(rule["expr"]), parse_duration(str(rule.get("for", "0s"))),
                            self.chart(str(rule["expr"])))
        if after.episodes >= before.episodes:
            self.out.skipped.append(f"{label}: would not fire less on the history ({before.episodes} → "
                                    f"{after.episodes} episodes)")
            return
        missed = self.lost(after.spans)
        if missed:
            self.out.skipped.append(f"{label}: would miss {len(missed)} incident(s) judged real (from "
                                    + ", ".join(_when(datetime.fromtimestamp(a, UTC)) for a, _ in missed)
                                    + ")")
            return
        after.before = before
        n = len(self.verdicts)
        kept = f" It still fires for the {len(self.mattered)} incident(s) of this rule judged real." \
            if self.mattered else ""
        rationale = (
            f"{self.rule.name} opened {n} incidents judged not actionable: {_cited(self.verdicts)}. "
            f"{change} Over {_span(before)} of history the current rule fired {_times(before.episodes)} "
            f"({before.firing_minutes:g} min firing); the retuned rule would have fired "
            f"{_times(after.episodes)} ({after.firing_minutes:g} min).{kept} It replaces {self.rule.name} in "
            f"group {self.rule.group}" + (f" (loaded from {self.rule.file})." if self.rule.file else ".")
        )
        proposal = Proposal(
            id=f"pr-{fingerprint[:12]}", kind=ProposalKind.RETUNE, group=self.rule.group, rule=rule,
            rationale=rationale, evidence_ids=[v.evidence_id for v in self.verdicts], validation=validation,
            backtest=after, fingerprint=fingerprint, incident_id=max(v.incident_id for v in self.verdicts),
        )
        self.known.add(fingerprint)
        self.out.proposals.append(proposal)

    def threshold(self, before: Backtest) -> None:
        parsed = comparison_of(self.rule.expr)
        if parsed is None:
            self.out.skipped.append(f"retune {self.rule.name} (threshold): {self.rule.expr!r} is not "
                                    "`<signal> > <number>` or `<signal> < <number>`")
            return
        signal, op, current = parsed
        up = op.startswith(">")
        peaks = _peaks(self.prom, signal, self.verdicts, up, self.cfg)
        if peaks:
            peak = max(peaks) if up else min(peaks)
            basis = (f"the {'highest' if up else 'lowest'} level {signal} reached around those firings "
                     f"({peak:.4g})")
        else:  # the verdicts are older than the history: the history's own extreme quantile
            history = query_history(self.prom, signal, self.start, self.now, self.cfg.step_s)
            values = np.array([x for s in history for x in s.values.tolist() if math.isfinite(x)])
            if values.size == 0:
                self.out.skipped.append(f"retune {self.rule.name} (threshold): no history of {signal}")
                return
            peak = float(np.quantile(values, 0.995 if up else 0.005))
            basis = f"the 99.5th percentile of {signal} over the history ({peak:.4g})"
        bump = abs(peak) * self.cfg.margin or self.cfg.margin
        new = _nice(peak + bump if up else peak - bump, up)
        if (up and new <= current) or (not up and new >= current):
            self.out.skipped.append(f"retune {self.rule.name} (threshold): {basis} does not pass the current "
                                    f"threshold {_fmt(current)}")
            return
        expr = f"{signal} {op} {_fmt(new)}"
        self.consider("threshold", self.rule.as_rule(expr=expr), before,
                      f"Raise the threshold from {_fmt(current)} to {_fmt(new)}: {self.cfg.margin:.0%} past "
                      f"{basis}, so they would not have paged.")

    def duration(self, before: Backtest) -> None:
        series = query_history(self.prom, self.rule.expr, self.start, self.now, self.cfg.step_s)
        stamps = [s.timestamps.tolist() for s in series]
        for for_s in (f for f in FOR_STEPS if f > self.rule.for_s):
            spans = merge_spans([sp for ts in stamps for sp in firing_spans(ts, self.cfg.step_s, for_s)],
                                gap_s=self.cfg.step_s * 1.5)
            if len(spans) * 2 <= before.episodes and not self.lost(spans):
                old = format_duration(self.rule.for_s) if self.rule.for_s else "none"
                self.consider("for", self.rule.as_rule(for_s=for_s), before,
                              f"Lengthen `for:` from {old} to {format_duration(for_s)}: the not-actionable "
                              "firings were short, a real problem outlasts them.")
                return
        self.out.skipped.append(f"retune {self.rule.name} (for): no `for:` up to "
                                f"{format_duration(FOR_STEPS[-1])} halves its firing and keeps the incidents "
                                "judged real")


def retune(
    rule: AlertRule, verdicts: Sequence[VerdictRef], prom: PrometheusClient, *,
    mattered: Iterable[tuple[float, float]] = (), known_fingerprints: Iterable[str] = (),
    config: RetuneConfig | None = None, now: float | None = None,
) -> ProposalSet:
    """Retune proposals for ``rule`` from its not-actionable ``verdicts`` (see the module docstring).

    ``mattered`` are the (start, end) Unix-second spans of the rule's incidents that were real;
    ``now`` ends the history (default: the current time). Raises :class:`BacktestError` only when
    Prometheus cannot be queried.
    """
    cfg = config or RetuneConfig()
    engine = _Retuner(rule, sorted(verdicts, key=lambda v: v.id), prom, list(mattered),
                      set(known_fingerprints), cfg, time.time() if now is None else now)
    before = engine.replay(rule.expr, rule.for_s)
    if before.episodes == 0:
        engine.out.skipped.append(f"retune {rule.name}: it did not fire on the last {cfg.history_days:g} "
                                  "days of history, so a quieter rule cannot be shown to fire less")
        return engine.out
    engine.threshold(before)
    engine.duration(before)
    return engine.out


def retunes_of(repo: ProposalRepository, rule: AlertRule) -> list[Proposal]:
    """Stored retune proposals of ``rule`` (its name, in its group)."""
    return [p for p in repo.find() if p.kind is ProposalKind.RETUNE and p.group == rule.group
            and p.rule.get("alert") == rule.name]


def retune_and_record(
    rule: AlertRule, verdicts: Sequence[VerdictRef], prom: PrometheusClient, repo: ProposalRepository,
    **options: Any,
) -> ProposalSet:
    """Propose retunes (see :func:`retune`) and store the new ones as pending; nothing new when a
    stored retune of the rule is pending or already cites every one of ``verdicts``."""
    cited = {v.evidence_id for v in verdicts}
    for stored in retunes_of(repo, rule):
        if stored.state is ProposalState.PENDING:
            return ProposalSet(skipped=[f"retune {rule.name}: {stored.id} is pending review"])
        if cited <= set(stored.evidence_ids):
            return ProposalSet(skipped=[f"retune {rule.name}: {stored.id} ({stored.state.value}) already "
                                        "answers these verdicts"])
    result = retune(rule, verdicts, prom, known_fingerprints=repo.fingerprints(), **options)
    result.proposals = [repo.add(p)[0] for p in result.proposals]
    return result
