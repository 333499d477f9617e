"""The eval runner: every scenario through real Prometheus and the investigation, scored.

For each scenario :func:`run_case` generates its telemetry, backfills it into a fresh Prometheus
on loopback (start-up is well under a second, so each scenario gets its own and none can leak
into another), indexes its logs in the embedded log store, fires its alert as Alertmanager
would (:mod:`augur.evals.alert`), runs :func:`augur.agent.investigation.investigate` with the
tools the toolbox builds, and scores the report (:mod:`augur.evals.scoring`).

A scenario with a ``registry`` is loaded into a real MLflow server with the official client
(:mod:`augur.evals.mlflow_server`): the one at ``mlflow_url`` when given (its models of the same
names are replaced), else one started for the case; the factory is then called with
``mlflow_url=`` too.

The runner takes its tools from a ``registry_factory(prometheus_url, log_db)`` and the optional
LLM parts from the caller (the CLI builds both from settings), so nothing here reads the
environment.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from augur.evals.alert import AlertNotFiring, evaluate_rule, webhook_body
from augur.evals.generator import Generated, generate
from augur.evals.mlflow_server import MlflowServer, populate
from augur.evals.scenario import Scenario
from augur.evals.scoring import CaseScore, score, score_ranking, summarise
from augur.evals.servers import PrometheusServer

__all__ = ["EvalResult", "RegistryFactory", "default_registry", "render_table", "run_case", "run_suite"]

#: Builds the investigation's tools for one scenario: (Prometheus URL, log store path) -> registry,
#: with ``mlflow_url=`` as a keyword when the scenario has a model registry.
RegistryFactory = Callable[..., Any]


def default_registry(prometheus_url: str, log_db: Path, mlflow_url: str | None = None) -> Any:
    """The toolbox's registry for a Prometheus, a log store and (for a scenario's registry) an MLflow."""
    from augur.tools.toolbox import Backends, build_registry

    return build_registry(Backends(log_db=log_db, trace_db=log_db.parent / "traces.db",
                                   prometheus_url=prometheus_url, mlflow_url=mlflow_url,
                                   data_roots=(log_db.parent,)))


def _ingest_logs(logs: Path, log_db: Path) -> None:
    from augur.tools.logs.sqlite import SqliteLogStore

    SqliteLogStore(log_db).ingest_file(logs)


@dataclass
class EvalResult:
    """A suite run: one score per scenario and the summary."""

    cases: list[CaseScore]

    @property
    def summary(self) -> dict[str, Any]:
        """Suite figures (see :func:`augur.evals.scoring.summarise`)."""
        return summarise(self.cases)

    def as_dict(self) -> dict[str, Any]:
        """``{"summary": ..., "cases": [...]}`` for ``--json``."""
        return {"summary": self.summary, "cases": [c.as_dict() for c in self.cases]}


async def run_case(
    scenario: Scenario,
    workdir: Path,
    *,
    registry_factory: RegistryFactory = default_registry,
    seed: int | None = None,
    planner: Any = None,
    writer: Any = None,
    t_end: float | None = None,
    baselines: Sequence[str] = (),
    memory: Sequence[Any] = (),
    mlflow_url: str | None = None,
    on_report: Callable[[Any], None] | None = None,
) -> CaseScore:
    """Generate, serve, alert, investigate and score one scenario (see the module docstring).

    ``memory`` (past incidents, :mod:`augur.agent.memory`) goes to the investigation; ``on_report``
    gets its report (the memory benchmark builds the next past incident from it).
    """
    from augur.agent.catalog import load_catalog
    from augur.agent.investigation import investigate

    # The history ends at the last UTC midnight and the window stops there (``data_end=end``; it
    # is anchored at the alert, never the clock): two runs of a scenario see byte-identical data at
    # the same time of day (its daily seasonality included) and query the same windows, so their
    # reports are identical.
    # Nothing here scrapes live, so a history in the past is served as it is.
    end = t_end if t_end is not None else float(int(time.time()) // 86400 * 86400)
    # The tools read workdir (data and log store); the truth goes beside it, where they cannot.
    gen = await asyncio.to_thread(generate, scenario, workdir / "data", t_end=end, seed=seed,
                                  truth_dir=workdir.parent / f"{workdir.name}.truth")
    log_db = workdir / "logs.db"
    await asyncio.to_thread(_ingest_logs, gen.logs, log_db)
    mlflow: MlflowServer | None = None
    if gen.registry is not None and mlflow_url is None:
        mlflow = await asyncio.to_thread(MlflowServer.start, workdir / "mlflow")
        mlflow_url = mlflow.url
    prom = None
    try:
        if gen.registry is not None and mlflow_url is not None:
            await asyncio.to_thread(populate, mlflow_url, json.loads(gen.registry.read_text()))
        prom = await asyncio.to_thread(PrometheusServer.start, workdir / "prometheus",
                                       openmetrics=gen.openmetrics, rule_files=[gen.rules])
        alerts = await asyncio.to_thread(evaluate_rule, prom.url, scenario.rule(), end)
        body = webhook_body(alerts)
        # A sanity check of the scenario itself: its alert must not hold before its first fault.
        before = end + min((f.start for f in scenario.faults), default=0.0) - 600
        fired_before = await asyncio.to_thread(_fires, prom.url, scenario.rule(), before)
        registry = (registry_factory(prom.url, log_db, mlflow_url=mlflow_url) if gen.registry is not None
                    else registry_factory(prom.url, log_db))
        started = time.perf_counter()
        report = await investigate(body, registry=registry, catalog=load_catalog(gen.catalog),
                                   planner=planner, writer=writer, data_end=end, memory=memory)
        seconds = time.perf_counter() - started
        if on_report is not None:
            on_report(report)
        ranked_by: dict[str, list[str]] = {}
        if baselines:
            ranked_by = await asyncio.to_thread(_baselines, scenario, prom.url, gen, baselines)
    finally:
        if prom is not None:
            await asyncio.to_thread(prom.stop)
        if mlflow is not None:
            await asyncio.to_thread(mlflow.stop)
    result = score(scenario, report, seconds)
    result.extra = {"chain_text": report.chain_text, "confidence": report.root_cause.confidence,
                    "refused_calls": report.stats.refused_calls, "alert_fired_before_fault": fired_before,
                    "dropped_sentences": [s.text for s in report.dropped_sentences]}
    if ranked_by:
        result.extra["baselines"] = {}
        for method, ranked in ranked_by.items():
            ac1, ac3 = score_ranking(scenario, ranked)
            result.extra["baselines"][method] = {"ranked": ranked, "ac1": ac1, "ac3": ac3}
    return result


def _fires(prometheus_url: str, rule: dict[str, Any], at: float) -> bool:
    try:
        evaluate_rule(prometheus_url, rule, at)
    except AlertNotFiring:
        return False
    return True


def _baselines(
    scenario: Scenario, prometheus_url: str, gen: Generated, methods: Sequence[str]
) -> dict[str, list[str]]:
    from augur.agent.catalog import load_catalog
    from augur.evals.baseline import run_baselines

    causes = [f for f in scenario.faults if not f.benign] or list(scenario.faults)
    inject = min(gen.onsets[f.id] for f in causes)
    return run_baselines(prometheus_url, load_catalog(gen.catalog), start=gen.t_start, end=gen.t_end,
                         step=scenario.history.step_seconds, inject_time=inject, methods=methods)


def _failed(scenario: Scenario, exc: BaseException) -> CaseScore:
    return CaseScore(
        name=scenario.name, truth=scenario.truth.model_dump(mode="json"), ranked=[], verdict="error",
        fault_type=None, chain=[], ac1=False, ac3=False,
        fault_type_ok=False if scenario.truth.root_cause else None,
        chain_accuracy=0.0 if scenario.truth.root_cause else None,
        seconds=0.0, error=f"{type(exc).__name__}: {exc}",
    )


async def run_suite(
    scenarios: Sequence[Scenario],
    *,
    workdir: Path | None = None,
    registry_factory: RegistryFactory = default_registry,
    seed: int | None = None,
    planner: Any = None,
    writer: Any = None,
    on_case: Callable[[CaseScore], None] | None = None,
    baselines: Sequence[str] = (),
    variant: Callable[[Scenario], Scenario] | None = None,
    mlflow_url: str | None = None,
) -> EvalResult:
    """Run scenarios one after another; a case that fails counts as wrong and says why.

    ``variant`` transforms each scenario first (e.g. :func:`augur.evals.variants.subtle`); a
    variant whose alert no longer fires is marked ``skipped`` and left out of the figures.
    """
    root = workdir or Path(tempfile.mkdtemp(prefix="augur-eval-"))
    cases: list[CaseScore] = []
    try:
        for original in scenarios:
            scenario = variant(original) if variant else original
            try:
                case = await run_case(scenario, root / scenario.name, registry_factory=registry_factory,
                                      seed=seed, planner=planner, writer=writer, baselines=baselines,
                                      mlflow_url=mlflow_url)
            except AlertNotFiring as exc:
                case = _failed(scenario, exc)
                case.skipped = variant is not None
            except Exception as exc:  # one broken case must not hide the others' figures
                case = _failed(scenario, exc)
            cases.append(case)
            if on_case is not None:
                on_case(case)
    finally:
        if workdir is None:
            shutil.rmtree(root, ignore_errors=True)
    return EvalResult(cases)


def _mark(ok: bool | None) -> str:
    return "-" if ok is None else ("[green]yes[/]" if ok else "[red]no[/]")


def render_table(result: EvalResult) -> Any:
    """A rich table of the cases with the summary as its caption."""
    from rich.table import Table

    table = Table(title="augur eval", show_lines=False)
    for col in ("scenario", "truth", "ranked", "AC@1", "AC@3", "type", "chain", "s", "calls"):
        table.add_column(col, justify="right" if col in ("chain", "s", "calls") else "left")
    for c in result.cases:
        truth = c.truth.get("root_cause") or "(none)"
        ranked = ("skipped: alert no longer fires" if c.skipped else c.error) or (
            ", ".join(c.ranked[:3]) + (" (inconclusive)" if c.inconclusive else ""))
        chain = "-" if c.chain_accuracy is None else f"{c.chain_accuracy:.2f}"
        table.add_row(c.name, truth, ranked, _mark(c.ac1), _mark(c.ac3), _mark(c.fault_type_ok), chain,
                      f"{c.seconds:.2f}", str(c.tool_calls))
    s = result.summary

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{100 * v:.0f} %"

    table.caption = (
        f"{s['scenarios']} scenarios · AC@1 {pct(s['ac1'])} · AC@3 {pct(s['ac3'])} · "
        f"fault type {pct(s['fault_type_accuracy'])} · chain {pct(s['chain_accuracy'])} · "
        f"inconclusive {pct(s['inconclusive_rate'])} · median {s['median_seconds']} s · "
        f"{s['tool_calls']} tool calls · {s['tokens']} tokens"
    )
    for method, figures in s.get("baselines", {}).items():
        table.caption += (f"\nbaseline {method} (RCAEval, given the true fault start): "
                          f"AC@1 {pct(figures['ac1'])} · AC@3 {pct(figures['ac3'])}")
    return table
