"""`augur eval`: replay the incident scenarios through real Prometheus and score the investigations.

``augur eval`` runs every scenario in ``evals/scenarios``; ``--dataset nezha-ob`` runs the 56 real
Online Boutique faults of the Nezha dataset instead (``evals/nezha``; ``--case`` picks faults by id,
``--day`` a day, ``--archive`` / ``--cache`` say where the archive is and where to unpack it);
``--scenario NAME`` (repeatable) picks
some; ``--llm`` adds the configured LLM planner and narrator (``AUGUR_LLM_BASE_URL``,
``AUGUR_LLM_MODEL``); ``--json`` prints ``{"summary": ..., "cases": [...]}`` instead of the
table. ``--min-ac1`` makes the exit status 1 when AC@1 falls below a floor (CI uses it).
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from augur.server.cli.common import settings_or_exit

_USAGE_EXIT = 2


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=_USAGE_EXIT)


def _llm_parts() -> tuple[Any, Any]:
    settings = settings_or_exit()
    if not (settings.llm_base_url and settings.llm_model):
        raise _fail("--llm needs an LLM endpoint: set AUGUR_LLM_BASE_URL and AUGUR_LLM_MODEL "
                    "(any OpenAI-compatible server), or drop --llm")
    from augur.agent.llm import LLMClient
    from augur.agent.llm_planner import LLMPlanner
    from augur.agent.narrate import LLMNarrator

    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
    client = LLMClient(base_url=settings.llm_base_url, model=settings.llm_model, api_key=key)
    return LLMPlanner(client), LLMNarrator(client)


def _variant(subtle: float | None, anonymise: bool) -> Callable[[Any], Any] | None:
    """The scenario transformation the options ask for (``--subtle`` then ``--anonymise``), if any."""
    from augur.evals.variants import anonymise as make_anonymous
    from augur.evals.variants import subtle as make_subtle

    steps: list[Callable[[Any], Any]] = []
    if subtle is not None:
        steps.append(lambda sc: make_subtle(sc, scale=subtle))
    if anonymise:
        steps.append(make_anonymous)
    if not steps:
        return None

    def apply(scenario: Any) -> Any:
        for step in steps:
            scenario = step(scenario)
        return scenario

    return apply


def eval_command(
    scenario: list[str] = typer.Option(None, "--scenario", "-s", help="Scenario name (repeatable)."),
    llm: bool = typer.Option(False, "--llm", help="Use the configured LLM planner and narrator."),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
    seed: int | None = typer.Option(None, "--seed", help="Override each scenario's seed."),
    workdir: Path | None = typer.Option(None, "--workdir", help="Keep generated data here."),
    min_ac1: float | None = typer.Option(None, "--min-ac1", help="Exit 1 if AC@1 is below this (0..1)."),
    subtle: float | None = typer.Option(
        None, "--subtle", min=0.01, max=1.0,
        help="Harder variant: keep this share of each cause's own change and double the noise.",
    ),
    anonymise: bool = typer.Option(
        False, "--anonymise", help="Rename every component, signal, alert and operator-named metric to "
        "opaque names (evals/variants.py): fault typing must not rest on names. With --dataset "
        "nezha-ob: every service renamed svc01... in the data and the fault list."),
    baseline: bool = typer.Option(
        False, "--baseline", help="Also run RCAEval's BARO and N-Sigma on the same data (needs the "
        "`baselines` extra)."
    ),
    dataset: str | None = typer.Option(
        None, "--dataset", help="A real-data benchmark instead of the scenarios: nezha-ob."),
    case: list[str] = typer.Option(None, "--case", help="With --dataset: a fault id, e.g. "
                                   "2022-08-22T04:27:03-cartservice (repeatable)."),
    day: list[str] = typer.Option(None, "--day", help="With --dataset nezha-ob: a day of "
                                   "the archive (2022-08-22 or 2022-08-23 in Online Boutique's; "
                                   "default all)."),
    archive: Path | None = typer.Option(None, "--archive", help="With --dataset nezha-ob: the "
                                        "nezha-ob-rca_data.tar.xz (default ../shared/datasets/...), or "
                                        "another Nezha rca_data archive (its Train Ticket half) in the "
                                        "same layout."),
    discovered_catalog: bool = typer.Option(
        False, "--discovered-catalog", help="With --dataset nezha-ob: investigate with the catalog "
        "discovered from each day's Prometheus (as with no catalog configured), not the written one."),
    traces: bool = typer.Option(
        False, "--traces", help="With --dataset nezha-ob: also load each day's trace CSVs into the "
        "embedded span store and let the investigation read the frontend's traces."),
    cache: Path | None = typer.Option(None, "--cache", help="With --dataset: where to unpack "
                                      "(default ~/.cache/augur/nezha-ob)."),
) -> None:
    """Replay the incident scenarios and score AC@1, AC@3, fault type, chain accuracy and time."""
    if dataset is not None:
        _dataset_eval(dataset, case or [], day or [], archive, cache, baseline, as_json, workdir, min_ac1,
                      discovered_catalog, traces, anonymise)
        return
    from augur.evals.runner import render_table, run_suite
    from augur.evals.scenario import ScenarioError, list_scenarios, load_scenario

    try:
        chosen = [load_scenario(n) for n in scenario] if scenario else list_scenarios()
    except ScenarioError as exc:
        raise _fail(str(exc)) from None
    planner, writer = _llm_parts() if llm else (None, None)
    methods: tuple[str, ...] = ()
    if baseline:
        from augur.evals.baseline import BASELINES, BaselineUnavailable, require_rcaeval

        try:
            require_rcaeval()
        except BaselineUnavailable as exc:
            raise _fail(str(exc)) from None
        methods = tuple(BASELINES)

    from rich.console import Console

    err = Console(stderr=True)

    def progress(case: Any) -> None:
        if not as_json:
            mark = "skip" if case.skipped else "ok " if case.ac1 else ("ERR" if case.error else "miss")
            err.print(f"[dim]{mark} {case.name} ({case.seconds:.2f} s)[/]")

    variant = _variant(subtle, anonymise)
    result = asyncio.run(run_suite(chosen, workdir=workdir, seed=seed, planner=planner, writer=writer,
                                   on_case=progress, baselines=methods, variant=variant))
    _finish(result, render_table, as_json, min_ac1)


def _dataset_eval(dataset: str, cases: list[str], days: list[str], archive: Path | None, cache: Path | None,
                  baseline: bool, as_json: bool, workdir: Path | None, min_ac1: float | None,
                  discovered_catalog: bool = False, traces: bool = False, anonymise: bool = False) -> None:
    """``augur eval --dataset nezha-ob``: the real-data benchmark (see :mod:`augur.evals.nezha`)."""
    if dataset != "nezha-ob":
        raise _fail(f"--dataset {dataset!r} is not known: the real-data benchmark is nezha-ob")
    from augur.evals.nezha.bench import render_table, run_nezha
    from augur.evals.nezha.dataset import DatasetMissing, NezhaData

    try:
        data = NezhaData(archive, cache)
        known = data.days()
    except DatasetMissing as exc:
        raise _fail(str(exc)) from None
    bad_days = [d for d in days if d not in known]
    if bad_days:
        raise _fail(f"--day {bad_days[0]!r}: the dataset has {', '.join(known)}")
    methods: tuple[str, ...] = ()
    if baseline:
        from augur.evals.baseline import BaselineUnavailable, require_rcaeval

        try:
            require_rcaeval()
        except BaselineUnavailable as exc:
            raise _fail(str(exc)) from None
        methods = ("baro",)
    from rich.console import Console

    err = Console(stderr=True)

    def progress(c: Any) -> None:
        if not as_json:
            mark = "ok  " if c.ac(1) else "top3" if c.ac(3) else ("ERR " if c.error else "miss")
            err.print(f"[dim]{mark} {c.case_id} {c.fault_type} -> {', '.join(c.ranked[:3]) or '-'} "
                      f"({c.seconds:.2f} s)[/]")

    result = asyncio.run(run_nezha(data, days=days or None, workdir=workdir, baselines=methods,
                                   discovered_catalog=discovered_catalog, traces=traces, anonymise=anonymise,
                                   case_ids=cases or None, on_case=progress))
    _finish(result, render_table, as_json, min_ac1)


def register(app: typer.Typer) -> None:
    """Add ``augur eval`` to the CLI."""
    app.command(name="eval")(eval_command)


def _finish(result: Any, render_table: Any, as_json: bool, min_ac1: float | None) -> None:
    """Print a run's result (JSON or the table) and exit 1 when its AC@1 is below ``min_ac1``."""
    from rich.console import Console

    if as_json:
        json.dump(result.as_dict(), sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        Console().print(render_table(result))
    ac1 = result.summary["ac1"] or 0.0
    if min_ac1 is not None and ac1 < min_ac1:
        typer.echo(f"AC@1 {ac1:.2f} is below the floor {min_ac1:.2f}", err=True)
        raise typer.Exit(code=1)
