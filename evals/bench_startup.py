"""Start-up benchmark: seconds from `augur serve` to a ready ``/readyz`` on a fresh SQLite store.

Each run starts the README's ``augur serve`` (development mode, a data directory that does not
exist yet) on a free loopback port, polls ``/readyz`` until it answers 200, and stops the process
by PID. Reported: every run, the median and the worst, against the target of 3 s (measured on a
quiet machine; on a loaded one the imports alone take longer — the load average is printed).

    python -m augur.evals.bench_startup
    python -m augur.evals.bench_startup --runs 10
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from augur.evals.servers import free_port

__all__ = ["main", "time_to_ready"]

TARGET_S = 3.0


def time_to_ready(augur: str, data_dir: Path, deadline_s: float = 90.0) -> float:
    """Seconds until a new ``augur serve`` answers ``/readyz`` with 200 (raises past the deadline)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUGUR_")}
    env.update(AUGUR_DATA_DIR=str(data_dir), AUGUR_DEV_MODE="true")
    start = time.monotonic()
    proc = subprocess.Popen([augur, "serve", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.monotonic() - start < deadline_s and proc.poll() is None:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=0.5).status_code == 200:
                    return time.monotonic() - start
            except httpx.HTTPError:
                time.sleep(0.02)
        raise RuntimeError(f"augur serve was not ready within {deadline_s:.0f} s (exit {proc.poll()})")
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print one line per run and a summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    augur = str(Path(sys.executable).with_name("augur"))
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
    times: list[float] = []
    with tempfile.TemporaryDirectory(prefix="augur-bench-startup-") as tmp:
        for i in range(args.runs):
            elapsed = time_to_ready(augur, Path(tmp) / f"data{i}")
            times.append(elapsed)
            print(f"run {i + 1}/{args.runs}: ready in {elapsed:.2f} s", flush=True)
    median = statistics.median(times)
    print(f"augur serve ready: median {median:.2f} s, worst {max(times):.2f} s "
          f"(target {TARGET_S:.0f} s: {'met' if median <= TARGET_S else 'MISSED'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
