"""Investigation benchmark: wall time, tool calls and agent overhead on the acceptance scenario.

The scenario is the seed's story (``feature-drift-click-duration``: drift → accuracy → p99 → CTR,
with a noisy GPU series as a red herring), generated into a real Prometheus on loopback and the
embedded log store, alerted as Alertmanager would, and investigated ``--runs`` times by the SOP
path (no LLM), without and with a SQLite checkpointer.

Figures per run: wall time of :func:`augur.agent.investigation.investigate`; tool calls; backend
time = the time during which at least one backend query was running (the union of the calls'
intervals, since the calls of a round run concurrently); the sum of the calls' durations; and
**agent overhead = wall ÷ backend time**. Baselines (the issue's targets): overhead ≤ 1.5×, and
≤ 10 s end to end without an LLM. Ratios are printed against them.

    python -m augur.evals.bench_investigation              # 10 runs each
    python -m augur.evals.bench_investigation --runs 3 --json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["main", "run_bench"]

SCENARIO = "feature-drift-click-duration"
TARGET_OVERHEAD = 1.5
TARGET_WALL_S = 10.0


async def _runs(url: str, workdir: Path, body: dict[str, Any], catalog: Any, runs: int,
                checkpoint: bool) -> list[dict[str, Any]]:
    from augur.agent.checkpoints import open_checkpointer
    from augur.agent.investigation import investigate
    from augur.evals.runner import default_registry

    out = []
    for i in range(runs):
        registry = default_registry(url, workdir / "logs.db")
        started = time.perf_counter()
        if checkpoint:
            async with open_checkpointer(f"sqlite:///{workdir / f'bench-{i}.db'}") as saver:
                report = await investigate(body, registry=registry, catalog=catalog, checkpointer=saver,
                                           investigation_id=f"bench-{i}")
        else:
            report = await investigate(body, registry=registry, catalog=catalog)
        wall = time.perf_counter() - started
        out.append({
            "wall_s": wall, "tool_calls": report.stats.tool_calls, "backend_s": report.stats.backend_s,
            "rounds": report.stats.rounds, "root_cause": report.root_cause.component,
            "overhead": wall / report.stats.backend_s
            if report.stats.backend_s else float("inf"),
        })
    return out


def run_bench(runs: int = 10) -> dict[str, Any]:
    """Generate the scenario once, then time ``runs`` investigations without and with checkpoints."""
    from augur.agent.catalog import load_catalog
    from augur.evals.alert import evaluate_rule, webhook_body
    from augur.evals.generator import default_t_end, generate
    from augur.evals.scenario import load_scenario
    from augur.evals.servers import PrometheusServer
    from augur.tools.logs.sqlite import SqliteLogStore

    scenario = load_scenario(SCENARIO)
    workdir = Path(tempfile.mkdtemp(prefix="augur-bench-inv-"))
    end = default_t_end(scenario.history.step_seconds)
    gen = generate(scenario, workdir / "data", t_end=end)
    SqliteLogStore(workdir / "logs.db").ingest_file(gen.logs)
    prom = PrometheusServer.start(workdir / "prometheus", openmetrics=gen.openmetrics, rule_files=[gen.rules])
    try:
        body = webhook_body(evaluate_rule(prom.url, scenario.rule(), end))
        catalog = load_catalog(gen.catalog)
        plain = asyncio.run(_runs(prom.url, workdir, body, catalog, runs, checkpoint=False))
        checkpointed = asyncio.run(_runs(prom.url, workdir, body, catalog, runs, checkpoint=True))
    finally:
        prom.stop()
    return {"scenario": SCENARIO, "runs": runs, "no_checkpointer": _summary(plain),
            "sqlite_checkpointer": _summary(checkpointed)}


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    def med(key: str) -> float:
        return float(statistics.median(r[key] for r in rows))

    return {
        "wall_s_median": round(med("wall_s"), 3), "wall_s_max": round(max(r["wall_s"] for r in rows), 3),
        "wall_s_first": round(rows[0]["wall_s"], 3), "tool_calls": rows[0]["tool_calls"],
        "rounds": rows[0]["rounds"], "backend_s_median": round(med("backend_s"), 3),
        "overhead_median": round(med("overhead"), 2),
        "overhead_max": round(max(r["overhead"] for r in rows), 2),
        "root_causes": sorted({str(r["root_cause"]) for r in rows}),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures (``--json`` for machines)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = run_bench(args.runs)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"investigation benchmark: {result['scenario']}, {result['runs']} runs each, SOP only (no LLM)")
    for name in ("no_checkpointer", "sqlite_checkpointer"):
        s = result[name]
        print(f"\n  {name.replace('_', ' ')}:")
        print(f"    wall time       median {s['wall_s_median']:.3f} s, max {s['wall_s_max']:.3f} s, "
              f"first {s['wall_s_first']:.3f} s  ({s['wall_s_max'] / TARGET_WALL_S:.1%} of the "
              f"{TARGET_WALL_S:g} s target)")
        print(f"    tool calls      {s['tool_calls']} in {s['rounds']} rounds")
        print(f"    backend time    median {s['backend_s_median']:.3f} s (at least one query running)")
        print(f"    agent overhead  median {s['overhead_median']:.2f}×, max {s['overhead_max']:.2f}× "
              f"(target ≤ {TARGET_OVERHEAD}×: {s['overhead_median'] / TARGET_OVERHEAD:.2f} of it)")
        print(f"    root cause      {', '.join(s['root_causes'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
