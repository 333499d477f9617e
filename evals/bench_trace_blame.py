"""Trace blame on Nezha's real faults: does trace evidence alone name the injected service?

For each fault of the chosen days of ``../shared/datasets/nezha-online-boutique/`` (Online Boutique,
real injected faults; see ``../shared/datasets/README.md``), the day's trace CSVs are ingested into
an embedded span store (once, cached under ``--workdir``; never the repository) and ``trace_search``
is run on ``frontend`` with the 30 minutes before the injection as the baseline and the 3 minutes
after as the incident. Scored per fault: whether the service owning the largest growth
(``grown.owner``: a client span's own time counts for its callee, see
:mod:`augur.tools.trace_spans`) is the injected one. Named baselines from the same evidence: the
grown hop's own span service (no callee attribution) and the critical path's slowest hop's
service. The injection time is used only to place the windows (as a perfect alert would); the
injected service only to score.

    python -m augur.evals.bench_trace_blame                      # both days
    python -m augur.evals.bench_trace_blame --day 2022-08-22 --workdir /tmp/nezha-traces
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tarfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from augur.tools.span_files import service_of_pod
from augur.tools.span_store import SqliteSpanStore
from augur.tools.trace_backends import StoreTraceBackend
from augur.tools.traces import TraceSearchTool

__all__ = ["main"]

ARCHIVE = (
    Path(__file__).resolve().parents[1]
    / ".."
    / "shared"
    / "datasets"
    / "nezha-online-boutique"
    / "nezha-ob-rca_data.tar.xz"
)
DAYS = ("2022-08-22", "2022-08-23")
BASELINE_S, INCIDENT_S = 1800, 180


def _extract(archive: Path, workdir: Path, days: tuple[str, ...]) -> None:
    """The days' fault lists and trace CSVs into ``workdir`` (skipped when already there)."""
    if all((workdir / "rca_data" / d / f"{d}-fault_list.json").is_file() for d in days):
        return
    with tarfile.open(archive, "r:xz") as tar:
        for member in tar:
            parts = member.name.split("/")
            if len(parts) < 3 or parts[1] not in days or not member.isfile():
                continue
            if "/trace/" in member.name or member.name.endswith("fault_list.json"):
                tar.extract(member, workdir, filter="data")


def _store(workdir: Path, day: str) -> SqliteSpanStore:
    store = SqliteSpanStore(workdir / f"{day}-traces.db")
    if store.path.is_file():
        return store
    started = time.perf_counter()
    stored = 0
    for file in sorted((workdir / "rca_data" / day / "trace").glob("*_trace.csv")):
        stored += store.ingest_file(file).stored
    print(f"{day}: {stored} spans ingested in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return store


async def _case(tool: TraceSearchTool, t: float) -> dict[str, Any]:
    ev = await tool.run(
        {"service": "frontend", "start": t - BASELINE_S, "baseline_end": t, "end": t + INCIDENT_S}
    )
    data = ev.data if ev.status.value == "ok" else {}
    grown, slowest = data.get("grown") or {}, data.get("critical_path_slowest") or {}
    return {
        "status": ev.status.value,
        "owner": grown.get("owner"),
        "hop": grown.get("service"),
        "critical": slowest.get("service"),
        "waits_on": (data.get("waits_on") or {}).get("service"),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print one row per fault and the totals."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--day", action="append", choices=DAYS, help="a day of faults (default: both)")
    parser.add_argument("--workdir", type=Path, default=Path.home() / ".cache" / "augur" / "nezha-traces")
    args = parser.parse_args(argv)
    days = tuple(args.day or DAYS)
    if not ARCHIVE.is_file():
        print(f"the Nezha dataset is not at {ARCHIVE} (see ../shared/datasets/README.md)", file=sys.stderr)
        return 2
    _extract(ARCHIVE, args.workdir, days)
    hits: Counter[str] = Counter()
    by_type: dict[str, Counter[str]] = {}
    traced = total = 0
    header = ("day", "time", "injected", "type", "owner", "hop service", "critical path")
    print(" ".join(f"{h:{w}s}" for h, w in zip(header, (10, 9, 22, 15, 22, 22, 0), strict=True)))
    for day in days:
        tool = TraceSearchTool(StoreTraceBackend(_store(args.workdir, day)))
        faults = json.loads((args.workdir / "rca_data" / day / f"{day}-fault_list.json").read_text())
        for fault in sorted(
            (f for hour in faults.values() for f in hour), key=lambda f: f["inject_timestamp"]
        ):
            truth, kind = service_of_pod(fault["inject_pod"]), fault["inject_type"]
            row = asyncio.run(_case(tool, float(fault["inject_timestamp"])))
            total += 1
            counts = by_type.setdefault(kind, Counter())
            counts["faults"] += 1
            if row["owner"] is not None or row["critical"] is not None:
                traced += 1
                counts["traced"] += 1
            for name in ("owner", "hop", "critical"):
                if row[name] == truth:
                    hits[name] += 1
                    counts[name] += 1
            print(
                f"{day} {fault['inject_time'][11:]}  {truth:22s} {kind:15s} {row['owner'] or '-':22s} "
                f"{row['hop'] or '-':22s} {row['critical'] or '-'}"
            )
    print(f"\n{total} faults, {traced} with spans in the window")
    for name, label in (
        ("owner", "grown.owner (augur)"),
        ("hop", "grown hop's span service"),
        ("critical", "critical path's slowest"),
    ):
        print(f"  {label:26s} {hits[name]:3d} / {traced} right")
    for kind, c in sorted(by_type.items()):
        print(
            f"  {kind:15s} {c['owner']}/{c['traced']} (of {c['faults']} faults; baselines "
            f"{c['hop']}, {c['critical']})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
