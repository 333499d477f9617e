"""`augur eval --dataset nezha-ob`: the 56 real Online Boutique faults through real Prometheus.

For each day: unpack the day's metrics (and logs), convert them (:mod:`augur.evals.nezha.telemetry`),
backfill a fresh Prometheus on loopback with ``promtool`` (one per day serves all its faults),
index the logs in the embedded log store, and find every start of the frontend SLI rules over the
day (:mod:`augur.evals.nezha.alerting`). Then the scorer (:mod:`augur.evals.nezha.scoring`), the
only reader of the fault lists with the baseline, pairs each fault with its alert; the alert is
turned into the version-4 webhook body Alertmanager would send (:mod:`augur.evals.alert`) and
investigated as augur's worker would, one minute after it started (Alertmanager's group wait and
the worker picking it up). The investigation sees the webhook, the catalog and the tools: never
the fault list. RCAEval's BARO (:mod:`augur.evals.baseline`) ranks the catalog's signals around
every fault, given the true injection time as in RCAEval's protocol.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from augur.evals.nezha.alerting import Firing, firings
from augur.evals.nezha.dataset import Fault, NezhaData
from augur.evals.nezha.scoring import NezhaCase, match_firings, summarise
from augur.evals.nezha.telemetry import (
    alert_rules,
    catalog_for,
    convert_day,
    ingest_traces,
    log_lines,
    log_services,
    span_edges,
    write_yaml,
)

__all__ = ["INVESTIGATION", "NezhaResult", "investigate_firing", "render_table", "run_nezha"]

#: How the investigations are run: an hour of look-back at the data's one-minute resolution, the
#: quiet baseline ending five minutes before the alert (a microservice fault reaches the
#: frontend within seconds; the alert rule needs a minute or two), one minute after the start.
INVESTIGATION = {"lookback_s": 3600.0, "step_s": 60.0, "baseline_gap_s": 300.0, "after_alert_s": 60.0}

RegistryFactory = Callable[[str, Path], Any]


@dataclass
class NezhaResult:
    """Every fault's outcome and the summary."""

    cases: list[NezhaCase]
    notes: list[str]

    @property
    def summary(self) -> dict[str, Any]:
        """See :func:`augur.evals.nezha.scoring.summarise`."""
        return summarise(self.cases)

    def as_dict(self) -> dict[str, Any]:
        """``{"summary", "cases", "notes"}`` for ``--json``."""
        return {"summary": self.summary, "cases": [c.as_dict() for c in self.cases], "notes": self.notes}


async def investigate_firing(prometheus_url: str, firing: Firing, catalog: Any, registry: Any) -> Any:
    """The report for one alert start, investigated as the worker would (see :data:`INVESTIGATION`)."""
    from augur.agent.investigation import investigate
    from augur.evals.alert import evaluate_rule, webhook_body

    alerts = await asyncio.to_thread(evaluate_rule, prometheus_url, firing.rule, firing.at)
    body = webhook_body(alerts)
    return await investigate(
        body, registry=registry, catalog=catalog, lookback_s=INVESTIGATION["lookback_s"],
        step_s=INVESTIGATION["step_s"], baseline_gap_s=INVESTIGATION["baseline_gap_s"],
        after_s=INVESTIGATION["after_alert_s"], now=firing.at + INVESTIGATION["after_alert_s"])


def _baselines(prometheus_url: str, catalog: Any, fault: Fault,
               methods: Sequence[str]) -> dict[str, list[str]]:
    from augur.evals.baseline import run_baselines

    # RCAEval's protocol: the hour before the (true) injection and the minutes after it.
    return run_baselines(prometheus_url, catalog, start=fault.inject_time - 3600, end=fault.inject_time + 240,
                         step=60.0, inject_time=fault.inject_time, methods=methods)


async def _run_day(data: NezhaData, day: str, workdir: Path, registry_factory: RegistryFactory,
                   baselines: Sequence[str], case_ids: set[str] | None,
                   on_case: Callable[[NezhaCase], None] | None, notes: list[str],
                   discovered_catalog: bool = False, traces: bool = False,
                   anonymise: bool = False) -> list[NezhaCase]:
    from augur.agent.catalog import load_catalog
    from augur.evals.servers import PrometheusServer
    from augur.tools.logs.sqlite import SqliteLogStore

    await asyncio.to_thread(data.ensure, [day], ("metric", "log", "trace") if traces else ("metric", "log"))
    day_dir = data.day_dir(day)
    anon = None
    if anonymise:  # every service renamed, the fault list too: nothing may read meaning into names
        from augur.evals.nezha.anonymise import anonymise_day

        anon = await asyncio.to_thread(anonymise_day, day_dir, workdir / "anonymised" / day)
        day_dir = anon.day_dir
        notes.append(f"{day}: services renamed to svc01..svc{len(anon.mapping):02d}")
    tel = await asyncio.to_thread(convert_day, day_dir, workdir)
    notes += [f"{day}: {n}" for n in tel.notes]
    if traces:
        # The toolbox's span store is <data_dir>/traces.db; the registry's data_dir is workdir.
        spans, refused = await asyncio.to_thread(ingest_traces, day_dir, workdir / "traces.db")
        notes.append(f"{day}: {spans} spans ingested into the embedded span store ({refused} refused)")
        if not tel.edges:  # no dependency.csv: the call graph is the spans'
            tel.edges = await asyncio.to_thread(span_edges, workdir / "traces.db", tel.services)
            notes.append(f"{day}: {len(tel.edges)} call edges from the spans")
    log_db = workdir / "logs.db"
    logs = workdir / "logs.jsonl"
    logged: set[str] = set()
    if await asyncio.to_thread(log_lines, day_dir, logs):
        await asyncio.to_thread(SqliteLogStore(log_db).ingest_file, logs)
        logged = await asyncio.to_thread(log_services, logs)
    catalog_path = write_yaml(catalog_for(tel, traces=traces, log_services=logged), workdir / "catalog.yaml")
    catalog = load_catalog(catalog_path)
    rules = alert_rules(tel.sli_service)
    rules_path = write_yaml(rules, workdir / "slo-rules.yml")
    prom = await asyncio.to_thread(PrometheusServer.start, workdir / "prometheus",
                                   openmetrics=tel.openmetrics, rule_files=[rules_path])
    cases: list[NezhaCase] = []
    try:
        fired = await asyncio.to_thread(firings, prom.url, rules["groups"][0]["rules"], tel.start, tel.end)
        notes.append(f"{day}: {len(fired)} alert starts over the day")
        registry = registry_factory(prom.url, log_db)
        # --- the scorer's side from here: the truth pairs each fault with its alert ---
        faults = data.faults([day])
        if anon is not None:
            faults = [anon.fault(f) for f in faults]
        for fault, firing in match_firings(faults, fired):
            if case_ids is not None and fault.case_id not in case_ids:
                continue
            case = NezhaCase(fault.case_id, day, fault.service, fault.fault_type, fired=firing is not None)
            if firing is not None:
                case.alert = str(firing.rule["alert"])
                case.alert_delay_s = round(firing.at - fault.inject_time, 1)
                started = time.perf_counter()
                try:
                    used = catalog
                    if discovered_catalog:  # as the worker does with no catalog configured
                        used = (await asyncio.to_thread(_discover, prom.url, firing.at)).catalog
                    report = await investigate_firing(prom.url, firing, used, registry)
                except Exception as exc:  # one broken case must not hide the others' figures
                    case.error = f"{type(exc).__name__}: {exc}"
                else:
                    from augur.evals.scoring import ranked_components

                    case.ranked = ranked_components(report)
                    case.verdict = report.root_cause.verdict
                    case.confidence = report.root_cause.confidence
                    case.tool_calls = report.stats.tool_calls
                    top = next((c for c in report.candidates if c.rank == 1), None)
                    case.top_reasons = list(getattr(top, "reasons", []) or [])[:4]
                case.seconds = round(time.perf_counter() - started, 3)
            if baselines:
                case.baselines = await asyncio.to_thread(_baselines, prom.url, catalog, fault, baselines)
            cases.append(case)
            if on_case is not None:
                on_case(case)
    finally:
        await asyncio.to_thread(prom.stop)
    return cases


async def run_nezha(
    data: NezhaData,
    *,
    days: Sequence[str] | None = None,
    workdir: Path | None = None,
    registry_factory: RegistryFactory | None = None,
    baselines: Sequence[str] = (),
    case_ids: Sequence[str] | None = None,
    on_case: Callable[[NezhaCase], None] | None = None,
    discovered_catalog: bool = False,
    traces: bool = False,
    anonymise: bool = False,
) -> NezhaResult:
    """Run the benchmark over ``days`` (optionally only the faults ``case_ids``).

    ``discovered_catalog``: investigate with the catalog ``augur catalog discover`` finds in the
    day's Prometheus as of each alert (what the worker uses when no catalog is configured)
    instead of the one written from ``dependency.csv``; baselines keep the written one.
    ``traces``: also ingest the day's trace CSVs into the case's embedded span store and give the
    frontend (where user requests enter) a trace signal, so the investigation reads its traces.
    ``anonymise``: rename every service to ``svc01``... (:mod:`augur.evals.nezha.anonymise`), the
    fault list too; case ids then carry the opaque names.
    """
    if registry_factory is None:
        from augur.evals.runner import default_registry

        registry_factory = default_registry
    root = workdir or Path(tempfile.mkdtemp(prefix="augur-nezha-"))
    wanted = set(case_ids) if case_ids else None
    cases: list[NezhaCase] = []
    notes: list[str] = []
    try:
        for day in data.days() if days is None else days:
            if wanted is not None and not any(c.startswith(day) for c in wanted):
                continue
            cases += await _run_day(data, day, root / day, registry_factory, baselines, wanted, on_case,
                                    notes, discovered_catalog, traces, anonymise)
    finally:
        if workdir is None:
            shutil.rmtree(root, ignore_errors=True)
    return NezhaResult(cases, notes)


def _discover(prometheus_url: str, at: float) -> Any:
    from augur.agent.discovery import discover
    from augur.tools.prometheus_api import connect

    return discover(connect(prometheus_url, timeout_s=20.0), at=at)


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.0f} %"


def render_table(result: NezhaResult) -> Any:
    """A rich table of the faults, with AC@k, per fault type and the baselines as its caption."""
    from rich.table import Table

    s = result.summary
    methods = sorted(s.get("baselines", {}))
    table = Table(title="augur eval --dataset nezha-ob", show_lines=False)
    for col in ("fault", "type", "truth", "alert", "ranked", "AC@1", "AC@3", "s", *methods):
        table.add_column(col, justify="right" if col == "s" else "left")
    for c in result.cases:
        if not c.fired:
            ranked = "(alert did not fire)"
        else:
            verdict = "" if c.verdict == "identified" else " (inconclusive)"
            ranked = c.error or ", ".join(c.ranked[:3]) + verdict
        delay = f"+{c.alert_delay_s:.0f} s" if c.fired else "-"
        table.add_row(c.case_id, c.fault_type, c.truth, delay, ranked,
                      "yes" if c.ac(1) else "no", "yes" if c.ac(3) else "no", f"{c.seconds:.2f}",
                      *[", ".join(c.baselines.get(m, [])[:2]) for m in methods])
    lines = [f"{s['faults']} faults, alert fired for {s['alert_fired']} · AC@1 {_pct(s['ac1'])} · "
             f"AC@3 {_pct(s['ac3'])} · AC@5 {_pct(s['ac5'])} (fired only: AC@1 {_pct(s['fired']['ac1'])}, "
             f"AC@3 {_pct(s['fired']['ac3'])}) · median {s['median_seconds']} s, "
             f"{s['median_tool_calls']} tool calls",
             f"ranking alone (top candidate, any verdict): AC@1 {_pct(s['ranked_ac1'])} · named a cause in "
             f"{s['identified']['cases']} reports, right in {s['identified']['right']}",
             "where the faults are lost: {faults} faults → alert fired {alert_fired} → the cause's service "
             "among the changed {cause_changed} → ranked first {cause_first} → named (AC@1) "
             "{identified}".format(**s["funnel"])]
    for d, f in s["by_day"].items():
        lines.append(f"{d}: {f['faults']} faults, fired {f['alert_fired']}, AC@1 {_pct(f['ac1'])}, "
                     f"AC@3 {_pct(f['ac3'])}, AC@5 {_pct(f['ac5'])}, "
                     f"ranking alone AC@1 {_pct(f['ranked_ac1'])}"
                     + "".join(f", {m} AC@1 {_pct(f[m]['ac1'])}" for m in methods))
    for m in methods:
        b = s["baselines"][m]
        lines.append(f"RCAEval {m} (given the true injection time): AC@1 {_pct(b['ac1'])} · "
                     f"AC@3 {_pct(b['ac3'])} · AC@5 {_pct(b['ac5'])}")
    for t, f in s["by_fault_type"].items():
        lines.append(f"{t}: {f['faults']} faults, fired {f['alert_fired']}, AC@1 {_pct(f['ac1'])}, "
                     f"AC@3 {_pct(f['ac3'])}" + "".join(f", {m} AC@1 {_pct(f[m]['ac1'])}" for m in methods))
    table.caption = "\n".join(lines + result.notes)
    return table
