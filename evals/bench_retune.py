"""Retune benchmark: the false-alarm rate of the suite's rule set before and after retune proposals
are applied, on the synthetic suite's history replayed as one sequence.

Every scenario of ``evals/scenarios/`` is generated (``generator.py``) end to end in time, one
after another with an hour of silence between them, and all of them are backfilled into one real
Prometheus: a platform's history with one incident per scenario. The rule set is the union of the
scenarios' alerting rules (deduplicated; a name reused with another expression gets a suffix),
loaded by that Prometheus from ``suite.yml`` in its rules directory.

1. **Before**: each rule is backtested over the whole sequence (``rules/backtest.py``, 1-minute
   steps, its ``for:`` honoured). A firing episode is a *true alarm* when it overlaps a non-benign
   fault of the sequence (from 10 minutes before its start to its end) that changed a metric the
   rule reads, else a *false alarm* (benign faults — a holiday surge, a legitimate shift — are not
   incidents that mattered, and a rule paging during some other component's fault is not caught
   by it).
2. **Verdicts, by a simulated reviewer**: no person judged these. Every episode, in time order,
   gets a verdict from the truth: a false alarm is ``not_actionable``, a true one ``confirmed``;
   every ``--wrong-every``-th verdict (default 5th) is deliberately the opposite (a true alarm
   dismissed as not actionable, a false one confirmed), as a tired on-call would.
3. **Retune**: each rule with at least ``--min-verdicts`` (3, the server's default) not-actionable
   verdicts goes through :func:`augur.rules.retune.retune` exactly as the server's job does: the
   rule as Prometheus loaded it, the verdicts, the spans of its episodes judged real (which the
   retune must keep firing for), promtool, and the backtest on the same Prometheus. The simulated
   reviewer approves the proposal that fires least; it is applied with
   :func:`augur.rules.apply.apply_proposal` (file mode: promtool, write, reload, confirmed loaded).
4. **After**: the loaded rule set is backtested again, classified against the same truth.

Printed: pages (episodes), false alarms, the false-alarm rate (false ÷ all pages), false alarms per
day, and incidents caught (scenarios whose non-benign fault got at least one true alarm), before and
after, with the median minutes from a real fault's start to its first page, and every retune
proposed or skipped and why.

    python -m augur.evals.bench_retune
    python -m augur.evals.bench_retune --wrong-every 0 --json
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import yaml

from augur.evals.generator import generate
from augur.evals.scenario import Scenario, list_scenarios
from augur.evals.servers import PrometheusServer, backfill
from augur.rules.apply import ApplyConfig, apply_proposal
from augur.rules.backtest import backtest
from augur.rules.retune import RetuneConfig, VerdictRef, loaded_alert_rule, retune
from augur.tools.prometheus_api import PrometheusClient, connect
from augur.tools.timeparse import parse_duration

__all__ = ["Episode", "Figures", "main", "rule_set"]

GROUP = "suite"
GAP_S = 3600.0
STEP_S = 60.0
#: A firing this long before a fault's start still counts as catching it.
LEAD_S = 600.0
#: Firings of one rule this close together are one incident (the server's grouping window).
GROUP_S = 1800.0
REVIEWER = "simulated-reviewer"
_IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"|\{[^{}]*\}|\[[^\]]*\]')


@dataclass(frozen=True)
class Window:
    """A fault of the sequence in absolute time, and the metrics it changed."""

    scenario: str
    start: float
    end: float
    benign: bool
    metrics: frozenset[str] = frozenset()

    def explains(self, rule_metrics: set[str]) -> bool:
        """Whether a rule reading ``rule_metrics`` watches a metric this fault changed (a histogram's
        ``_bucket``/``_count``/``_sum`` series count as its metric)."""
        return any(m == f or m.startswith(f + "_") for m in rule_metrics for f in self.metrics)


@dataclass(frozen=True)
class Episode:
    """One firing episode of one rule, classified against the truth."""

    rule: str
    start: float
    end: float
    true_alarm: bool


@dataclass
class Figures:
    """The rule set's firing over the sequence."""

    pages: int
    false_alarms: int
    days: float
    incidents: int
    caught: int
    per_rule: dict[str, tuple[int, int]] = field(default_factory=dict)  # rule -> (pages, false)
    #: The pages grouped into incidents (:func:`incidents_of`), and those with no true alarm.
    opened: int = 0
    opened_false: int = 0
    #: Median minutes from a real incident's fault start to its first true alarm.
    median_delay_min: float | None = None

    @property
    def false_alarm_rate(self) -> float:
        """False alarms ÷ pages (0 without pages)."""
        return self.false_alarms / self.pages if self.pages else 0.0

    def as_json(self) -> dict[str, Any]:
        """The figures as a dict."""
        return {"pages": self.pages, "false_alarms": self.false_alarms,
                "false_alarm_rate": round(self.false_alarm_rate, 4),
                "false_alarms_per_day": round(self.false_alarms / self.days, 2) if self.days else None,
                "incidents_opened": self.opened, "false_incidents": self.opened_false,
                "false_incident_rate": round(self.opened_false / self.opened, 4) if self.opened else 0.0,
                "incidents": self.incidents, "caught": self.caught,
                "median_minutes_to_page": None if self.median_delay_min is None
                else round(self.median_delay_min, 1),
                "per_rule": {k: {"pages": p, "false": f} for k, (p, f) in sorted(self.per_rule.items())}}


def rule_set(scenarios: list[Scenario]) -> list[dict[str, Any]]:
    """The union of the scenarios' alerting rules: one per (name, expression); a name reused with
    another expression gets ``_2``, ``_3``..."""
    out: list[dict[str, Any]] = []
    seen: dict[tuple[str, str], str] = {}
    names: set[str] = set()
    for scenario in scenarios:
        for group in scenario.rules.get("groups", []):
            for rule in group.get("rules") or []:
                if "alert" not in rule:
                    continue
                key = (str(rule["alert"]), " ".join(str(rule["expr"]).split()))
                if key in seen:
                    continue
                name, n = key[0], 1
                while name in names:
                    n += 1
                    name = f"{key[0]}_{n}"
                names.add(name)
                seen[key] = name
                out.append({**rule, "alert": name})
    return out


def _windows(scenario: Scenario, end: float) -> list[Window]:
    names = {m.id: m.metric for m in scenario.metrics}
    return [Window(scenario.name, end + f.start,
                   end + f.start + f.duration if f.shape == "spike" and f.duration else end, f.benign,
                   frozenset(names[e.metric] for e in f.effects if e.metric in names))
            for f in scenario.faults]


def _metrics_of(expr: str) -> set[str]:
    return set(_IDENT.findall(_QUOTED.sub("", expr)))


def _episodes(prom: PrometheusClient, rules: list[dict[str, Any]], windows: list[Window],
              start: float, end: float) -> list[Episode]:
    real = [w for w in windows if not w.benign]
    out = []
    for rule in rules:
        replay = backtest(prom, str(rule["expr"]), start=start, end=end, step_s=STEP_S,
                          for_s=parse_duration(str(rule.get("for", "0s"))))
        reads = _metrics_of(str(rule["expr"]))
        for a, b in replay.spans:
            out.append(Episode(str(rule["alert"]), a, b, any(
                a <= w.end and b >= w.start - LEAD_S and w.explains(reads) for w in real)))
    return sorted(out, key=lambda e: (e.start, e.rule))


def _figures(episodes: list[Episode], rules: list[dict[str, Any]], windows: list[Window],
             days: float) -> Figures:
    real = [w for w in windows if not w.benign]
    incidents = sorted({w.scenario for w in real})
    first: dict[str, float] = {}  # scenario -> minutes from its fault's start to the first true alarm
    for w in real:
        for e in episodes:
            if e.true_alarm and e.start <= w.end and e.end >= w.start - LEAD_S:
                delay = (e.start - w.start) / 60.0
                first[w.scenario] = min(first.get(w.scenario, delay), delay)
    caught = set(first)
    per_rule = {str(r["alert"]): (sum(e.rule == r["alert"] for e in episodes),
                                  sum(e.rule == r["alert"] and not e.true_alarm for e in episodes))
                for r in rules}
    grouped = incidents_of(episodes)
    return Figures(len(episodes), sum(not e.true_alarm for e in episodes), days, len(incidents),
                   len(caught), per_rule, len(grouped),
                   sum(not any(e.true_alarm for e in i) for i in grouped),
                   statistics.median(first.values()) if first else None)


def incidents_of(episodes: list[Episode]) -> list[list[Episode]]:
    """Episodes of one rule less than :data:`GROUP_S` apart are one incident (as the server's
    grouping window joins them), in time order."""
    out: list[list[Episode]] = []
    last: dict[str, list[Episode]] = {}
    for e in sorted(episodes, key=lambda e: e.start):
        current = last.get(e.rule)
        if current is not None and e.start - max(x.end for x in current) <= GROUP_S:
            current.append(e)
        else:
            last[e.rule] = [e]
            out.append(last[e.rule])
    return sorted(out, key=lambda i: i[0].start)


def _verdicts(episodes: list[Episode], wrong_every: int) -> dict[str, tuple[list[VerdictRef],
                                                                            list[tuple[float, float]]]]:
    """The simulated reviewer, one verdict per incident in time order: per rule, its not-actionable
    verdicts and the spans of its incidents judged real."""
    out: dict[str, tuple[list[VerdictRef], list[tuple[float, float]]]] = {}
    for k, incident in enumerate(incidents_of(episodes)):
        first = incident[0]
        mistaken = wrong_every > 0 and k % wrong_every == wrong_every - 1
        noise, real = out.setdefault(first.rule, ([], []))
        if any(e.true_alarm for e in incident) == mistaken:  # noise judged right, or real judged wrongly
            at = datetime.fromtimestamp(max(e.end for e in incident) + 1800, UTC)
            noise.append(VerdictRef(id=k + 1, incident_id=k + 1, by=REVIEWER, at=at, fired_at=first.start))
        else:
            real.append((first.start, max(e.end for e in incident)))
    return out


def _load(workdir: Path, scenarios: list[Scenario], end: float) -> tuple[PrometheusServer, list[Window],
                                                                         list[dict[str, Any]], float]:
    """Generate every scenario one after another ending at ``end``; backfill them into one Prometheus."""
    windows: list[Window] = []
    files = []
    t = end
    for scenario in reversed(scenarios):
        gen = generate(scenario, workdir / scenario.name, t_end=t,
                       truth_dir=workdir / f"{scenario.name}.truth")
        files.append(gen.openmetrics)
        windows.extend(_windows(scenario, t))
        t = gen.t_start - GAP_S
    start = t + GAP_S
    rules = rule_set(scenarios)
    rule_file = workdir / f"{GROUP}.yml"
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": GROUP, "rules": rules}]}, sort_keys=False))
    root = workdir / "prometheus"
    for om in files[1:]:
        backfill(om, root / "data")
    prom = PrometheusServer.start(root, openmetrics=files[0], rule_files=[rule_file])
    return prom, windows, rules, start


def _loaded(prom: PrometheusClient) -> list[dict[str, Any]]:
    groups = prom.get("rules", params={"type": "alert"})["groups"]
    return [{"alert": r["name"], "expr": r["query"], "for": f"{int(r.get('duration') or 0)}s"}
            for g in groups if g["name"] == GROUP for r in g["rules"]]


def run(wrong_every: int = 5, min_verdicts: int = 3, end: float | None = None) -> dict[str, Any]:
    """The benchmark (see the module docstring); its figures and what was retuned."""
    scenarios = list_scenarios()
    end = end if end is not None else float(int(time.time()) // 86400 * 86400)
    with tempfile.TemporaryDirectory(prefix="augur-bench-retune-") as tmp:
        workdir = Path(tmp)
        started = time.perf_counter()
        server, windows, rules, start = _load(workdir, scenarios, end)
        try:
            http = httpx.Client()
            prom = connect(server.url, http=http)
            days = (end - start) / 86400.0
            before_eps = _episodes(prom, rules, windows, start, end + STEP_S)
            before = _figures(before_eps, rules, windows, days)
            judged = _verdicts(before_eps, wrong_every)
            retunes: list[dict[str, Any]] = []
            config = RetuneConfig(history_days=days + 0.05)
            for name, (noise, real) in sorted(judged.items()):
                if len(noise) < min_verdicts:
                    continue
                loaded = loaded_alert_rule(prom, name)
                if loaded is None:
                    retunes.append({"rule": name, "applied": None, "skipped": ["not loaded"]})
                    continue
                result = retune(loaded, noise, prom, mattered=real, config=config, now=end + STEP_S)
                entry: dict[str, Any] = {"rule": name, "verdicts": len(noise), "judged_real": len(real),
                                         "proposed": [p.rule for p in result.proposals],
                                         "skipped": result.skipped, "applied": None}
                if result.proposals:
                    best = min(result.proposals, key=lambda p: p.backtest.episodes if p.backtest else 0)
                    applied = apply_proposal(best, ApplyConfig(rules_dir=server.rules_dir,
                                                               prometheus_url=server.url), http)
                    entry["applied"] = best.rule if applied.ok else None
                    entry["apply"] = applied.detail
                retunes.append(entry)
            after_rules = _loaded(prom)
            after = _figures(_episodes(prom, after_rules, windows, start, end + STEP_S), after_rules,
                             windows, days)
            http.close()
        finally:
            server.stop()
    return {"scenarios": len(scenarios), "rules": len(rules), "days": round(days, 2),
            "wrong_every": wrong_every, "min_verdicts": min_verdicts,
            "verdicts": {"not_actionable": sum(len(n) for n, _ in judged.values()),
                         "confirmed": sum(len(r) for _, r in judged.values())},
            "before": before.as_json(), "after": after.as_json(), "retunes": retunes,
            "seconds": round(time.perf_counter() - started, 1)}


def _line(label: str, f: dict[str, Any]) -> str:
    return (f"{label:<7} pages {f['pages']:>3}  false alarms {f['false_alarms']:>3}  "
            f"false-alarm rate {f['false_alarm_rate'] * 100:5.1f} %  ({f['false_alarms_per_day']} / day)  "
            f"incidents opened {f['incidents_opened']:>3} (false {f['false_incidents']}, "
            f"{f['false_incident_rate'] * 100:.1f} %)  real incidents caught {f['caught']}/{f['incidents']}, "
            f"median {f['median_minutes_to_page']} min after the fault")


def main(argv: list[str] | None = None) -> int:
    """Run once, print both figures (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wrong-every", type=int, default=5,
                        help="Every Nth simulated verdict is the opposite of the truth (0: none).")
    parser.add_argument("--min-verdicts", type=int, default=3, help="Not-actionable verdicts for a retune.")
    parser.add_argument("--json", action="store_true", help="Print the result as JSON.")
    args = parser.parse_args(argv)
    out = run(args.wrong_every, args.min_verdicts)
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"{out['scenarios']} scenarios in sequence ({out['days']} days), {out['rules']} alerting rules; "
          f"simulated reviewer: {out['verdicts']['not_actionable']} not actionable, "
          f"{out['verdicts']['confirmed']} confirmed ("
          + (f"every {out['wrong_every']}th verdict wrong on purpose" if out["wrong_every"] else "all right")
          + f"); a retune from {out['min_verdicts']} not-actionable verdicts on one rule")
    print(_line("before", out["before"]))
    print(_line("after", out["after"]))
    for r in out["retunes"]:
        what = r["applied"]
        shown = "nothing" if not what else what["expr"] + (f" for {what['for']}" if "for" in what else "")
        print(f"  {r['rule']}: {r.get('verdicts', 0)} not-actionable verdicts -> applied {shown}")
        for reason in r["skipped"]:
            print(f"      skipped: {reason}")
    print(f"({out['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
