"""Backtest cost: replaying one proposed rule over 1, 7 and 30 days of history at 1-minute resolution.

A local Prometheus is backfilled with ``--days`` (default 30) of a drift score at 1-minute steps
(with a daily cycle and a few surges, so the rule fires now and then), then one proposal's rule —
the engine's seasonal adaptive threshold, with its ``offset 1d`` / ``offset 1w`` comparisons — is
backtested over the last 1, 7 and 30 days, ``--repeat`` times each. Reported: median wall time,
time per day, and the ratio to the 1-day run (linear growth means ratio ≈ days). The baseline is
the issue's target: ≤ 2 s for 30 days, growing linearly.

    python -m augur.evals.bench_backtest
    python -m augur.evals.bench_backtest --days 30 --repeat 5
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from pathlib import Path

from augur.evals.servers import PrometheusServer, Sample, write_openmetrics
from augur.rules.backtest import backtest
from augur.tools.prometheus_api import PrometheusClient

__all__ = ["RULE", "main"]

TARGET_30D_S = 2.0
SERIES = 'model_drift_score{feature="click_duration",model="ranker"}'
#: The engine's threshold proposal for this signal (see rules/propose.py: _condition).
RULE = (f"{SERIES} > 0.093\n  unless ({SERIES} <= {SERIES} offset 1d + 0.0427)\n"
        f"  unless ({SERIES} <= {SERIES} offset 1w + 0.0427)")


def _history(days: int, end: float, path: Path) -> int:
    samples = []
    start = end - days * 86400
    for i in range(days * 1440 + 1):
        t = start + i * 60
        value = 0.05 + 0.01 * math.sin(2 * math.pi * (t % 86400) / 86400)
        if i % 9001 < 40:  # a 40-minute surge every ~6 days, at a different hour each time
            value = 0.45
        labels = {"feature": "click_duration", "model": "ranker"}
        samples.append(Sample("model_drift_score", labels, value, t))
    return write_openmetrics(samples, path)


def main(argv: list[str] | None = None) -> int:
    """Backfill, backtest over 1/7/30 days, print the figures and the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30, help="History to backfill (days).")
    parser.add_argument("--repeat", type=int, default=3, help="Runs per window; the median is reported.")
    args = parser.parse_args(argv)
    windows = [d for d in (1, 7, 30) if d <= args.days]
    with tempfile.TemporaryDirectory(prefix="augur-bench-backtest-") as tmp:
        end = float(int(time.time()) // 60 * 60 - 120)
        om = Path(tmp) / "history.om"
        started = time.perf_counter()
        count = _history(args.days, end, om)
        with PrometheusServer.start(Path(tmp) / "prom", openmetrics=om) as server, \
                PrometheusClient(server.url) as history:
            print(f"backfilled {count:,} samples ({args.days} days at 1 min) and started Prometheus in "
                  f"{time.perf_counter() - started:.1f} s")
            backtest(history, RULE, start=end - 3600, end=end, for_s=300)  # warm-up
            rows: list[tuple[int, float, int]] = []
            for days in windows:
                times, episodes = [], 0
                for _ in range(args.repeat):
                    t0 = time.perf_counter()
                    result = backtest(history, RULE, start=end - days * 86400, end=end, step_s=60, for_s=300,
                                      value_expr=f"max({SERIES})", threshold=0.093)
                    times.append(time.perf_counter() - t0)
                    episodes = result.episodes
                rows.append((days, statistics.median(times), episodes))
    base = rows[0][1]
    print(f"{'days':>5} {'points':>8} {'wall s':>8} {'ms/day':>8} {'x 1-day':>8} {'episodes':>9}")
    for days, wall, episodes in rows:
        print(f"{days:>5} {days * 1440:>8,} {wall:>8.3f} {wall / days * 1000:>8.1f} {wall / base:>8.2f} "
              f"{episodes:>9}")
    print(f"baseline: the 1-day run ({base:.3f} s); linear growth means 'x 1-day' ≈ days; "
          f"target: 30 days ≤ {TARGET_30D_S:g} s")
    thirty = next((wall for days, wall, _ in rows if days == 30), None)
    if thirty is not None:
        print(f"30 days: {thirty:.3f} s = {thirty / TARGET_30D_S:.2f} x the target "
              f"({'within' if thirty <= TARGET_30D_S else 'OVER'} target)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
