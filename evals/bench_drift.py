"""Drift benchmark: augur's drift statistics vs Evidently's ``DataDriftPreset`` on the same data.

10 numerical columns x 1,000,000 rows a side (some columns shifted, one with a far outlier so
Sturges bins go empty), generated from a fixed seed. Each engine runs in its own subprocess so
peak memory (``ru_maxrss``) is its own: the process generates the data, then computes drift for
every column with the same method. Reported per method: CPU seconds of the computation (imports
and data generation excluded; shown separately), peak RSS of the whole process, the CPU-time
ratio Evidently / augur, the memory ratio, and the largest difference between the two engines'
values (must be <= 1e-9 relative). Targets (issue 3): at least 30x faster, at most half the memory.

Evidently is a test/benchmark-only dependency (``pip install evidently==0.7.23``).

    python -m augur.evals.bench_drift                     # methods: auto (Wasserstein here), psi, ks
    python -m augur.evals.bench_drift --rows 100000 --methods psi
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import subprocess
import sys
import time
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["main", "make_frames", "measure"]

TARGET_SPEEDUP = 30.0
TARGET_MEMORY_SHARE = 0.5


def make_frames(rows: int, columns: int = 10, seed: int = 20261124) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reference and current tables: normal, lognormal and exponential columns; every third shifted.

    Each table is one column-major float block filled in place, so building it does not hold a
    second copy of the data (which would dominate both engines' peak memory).
    """
    rng = np.random.default_rng(seed)
    tables = []
    for side in ("reference", "current"):
        block = np.empty((rows, columns), dtype=np.float64, order="F")
        for i in range(columns):
            col = block[:, i]
            if i % 3 == 0:
                rng.standard_normal(out=col)
                col += 0.15 if side == "current" else 0.0
            elif i % 3 == 1:
                rng.standard_normal(out=col)
                col *= 0.5
                col += 1.0
                np.exp(col, out=col)
            else:
                rng.standard_exponential(out=col)
                col *= 3.0
        if side == "current":
            block[0, 2] = 1e4  # a far outlier: most Sturges bins between it and the bulk are empty
        tables.append(pd.DataFrame(block, columns=[f"f{i}" for i in range(columns)], copy=False))
    return tables[0], tables[1]


def _augur(reference: pd.DataFrame, current: pd.DataFrame, method: str) -> dict[str, float]:
    from augur.tools.drift import compare_frames

    return {row["column"]: row["value"] for row in compare_frames(reference, current, method=method)}


def _evidently(reference: pd.DataFrame, current: pd.DataFrame, method: str) -> dict[str, float]:
    from evidently import Report
    from evidently.presets import DataDriftPreset

    preset = DataDriftPreset() if method == "auto" else DataDriftPreset(method=method)
    snapshot = Report([preset]).run(current, reference).dict()
    return {m["config"]["column"]: float(m["value"]) for m in snapshot["metrics"]
            if str(m["config"].get("type", "")).endswith("ValueDrift")}


def measure(engine: str, method: str, rows: int) -> dict[str, Any]:
    """Run one engine in this process and return its figures (call it in a fresh subprocess)."""
    started = time.process_time()
    if engine == "evidently":
        import evidently  # noqa: F401  # imported up front so its 4 s import is not counted as work
    else:
        import augur.tools.drift  # noqa: F401
    imported = time.process_time()
    reference, current = make_frames(rows)
    generated = time.process_time()
    data_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    wall = time.perf_counter()
    values = (_evidently if engine == "evidently" else _augur)(reference, current, method)
    cpu = time.process_time() - generated
    return {
        "engine": engine, "method": method, "rows": rows, "cpu_s": cpu,
        "wall_s": time.perf_counter() - wall, "import_cpu_s": imported - started,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "data_rss_mib": data_rss,
        "values": values,
    }


def _subprocess(engine: str, method: str, rows: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "augur.evals.bench_drift", "--child", engine, "--methods", method,
         "--rows", str(rows)], check=True, capture_output=True, text=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    """Run the comparison and print a table; exit 1 if the values differ."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--methods", default="auto,psi,ks")
    parser.add_argument("--child", choices=["augur", "evidently"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure(args.child, args.methods, args.rows)))
        return 0
    if importlib.util.find_spec("evidently") is None:
        print("the baseline needs Evidently: pip install evidently==0.7.23 (a benchmark/test-only "
              "dependency, in the dev extra)", file=sys.stderr)
        return 2
    print(f"drift: 10 numerical columns x {args.rows:,} rows a side; each engine in its own process")
    print(f"{'method':<12}{'evidently CPU s':>16}{'augur CPU s':>13}{'speed-up':>10}"
          f"{'evidently MiB':>15}{'augur MiB':>11}{'mem share':>11}{'max rel diff':>14}")
    failed = False
    for method in args.methods.split(","):
        ev = _subprocess("evidently", method, args.rows)
        au = _subprocess("augur", method, args.rows)
        diffs = [abs(au["values"][c] - v) / max(1.0, abs(v)) for c, v in ev["values"].items()]
        worst = max(diffs) if diffs else float("nan")
        failed |= not (worst <= 1e-9) or set(ev["values"]) != set(au["values"])
        print(f"{method:<12}{ev['cpu_s']:>16.2f}{au['cpu_s']:>13.3f}{ev['cpu_s'] / au['cpu_s']:>9.1f}x"
              f"{ev['peak_rss_mib']:>15.0f}{au['peak_rss_mib']:>11.0f}"
              f"{au['peak_rss_mib'] / ev['peak_rss_mib']:>11.2f}{worst:>14.1e}")
        print(f"{'':<12}imports: evidently {ev['import_cpu_s']:.1f} CPU-s, augur "
              f"{au['import_cpu_s']:.1f} CPU-s; wall: evidently {ev['wall_s']:.1f} s, augur "
              f"{au['wall_s']:.2f} s; memory above the loaded data: evidently "
              f"{ev['peak_rss_mib'] - ev['data_rss_mib']:.0f} MiB, augur "
              f"{au['peak_rss_mib'] - au['data_rss_mib']:.0f} MiB")
    print(f"targets: >= {TARGET_SPEEDUP:g}x faster, <= {TARGET_MEMORY_SHARE:.0%} of Evidently's memory, "
          "values equal to 1e-9")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
