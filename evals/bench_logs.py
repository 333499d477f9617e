"""Log benchmark: templates from the raw files of 8 real systems (Loghub 2k) against drain3.

augur runs the product path: the raw ``<Sys>_2k.log`` -> :meth:`SqliteLogStore.ingest_file` (what
``augur logs ingest`` runs, with format detection) -> ``log_search`` over the file's whole span
(the tool's own query and template mining, one configuration for every system). The baseline is
drain3 with logparser's per-system Drain settings (depth, similarity threshold, masking regexes
from logparser's ``Drain_benchmark.py``) on the labelled ``Content`` column, run in the same
process. Both are scored with Loghub's grouping accuracy (GA: a line is right when the set of
lines in its predicted group equals the set in its labelled group) against the corrected labels
where logparser published them. Also printed: lines/s of ingest and of templating, and
``stable``: the share of the first half's lines that get the same template when the first half is
mined alone as when the whole file is (the same line in two windows).

The 8 default systems were used while developing augur's templating; their figures are not from
unseen data. ``--heldout`` runs the 8 other Loghub systems (Zookeeper, Thunderbird, Windows, HPC,
Mac, HealthApp, Proxifier, OpenSSH), never looked at while developing, on the samples kept beside
the clone in ``../loghub-heldout/<Sys>/`` (not in the repository; see :mod:`augur.evals.loghub`).
A first table says what ingest did with each file: lines stored, merged and refused, the layout
detected, and the share of lines whose stored time and message equal the labelled time and
``Content`` (a message that differs still holds header fields, or lost part of the content). GA
needs every line stored as its own record; otherwise it is not computed for that system.

    python -m augur.evals.bench_logs                 # the 8 development systems
    python -m augur.evals.bench_logs --systems Linux OpenStack --show-errors 5
    python -m augur.evals.bench_logs --heldout       # the held-out samples (../loghub-heldout)
    python -m augur.evals.bench_logs --root DIR --systems Zookeeper Mac
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from drain3 import TemplateMiner
from drain3.masking import MaskingInstruction
from drain3.template_miner_config import TemplateMinerConfig

from augur.evals.loghub import (
    HELDOUT,
    SYSTEMS,
    YEARS,
    LabelledLog,
    default_root,
    expected_time,
    heldout_root,
    read_labelled,
)
from augur.tools.evidence import EvidenceStatus
from augur.tools.logs import LogQuery, LogSearchTool, SqliteLogStore, mine_templates
from augur.tools.logs.search import LogLimits
from augur.tools.logs.sqlite import IngestResult

__all__ = ["DRAIN_SETTINGS", "grouping_accuracy", "main"]

TARGET_MEAN_GA = 0.90

#: logparser's Drain benchmark settings (logparser/Drain/Drain_benchmark.py): depth, st, regexes.
DRAIN_SETTINGS: dict[str, tuple[int, float, list[str]]] = {
    "HDFS": (4, 0.5, [r"blk_-?\d+", r"(\d+\.){3}\d+(:\d+)?"]),
    "Hadoop": (4, 0.5, [r"(\d+\.){3}\d+"]),
    "Spark": (4, 0.5, [r"(\d+\.){3}\d+", r"\b[KGTM]?B\b", r"([\w-]+\.){2,}[\w-]+"]),
    "BGL": (4, 0.5, [r"core\.\d+"]),
    "Linux": (6, 0.39, [r"(\d+\.){3}\d+", r"\d{2}:\d{2}:\d{2}"]),
    "Android": (6, 0.2, [r"(/[\w-]+)+", r"([\w-]+\.){2,}[\w-]+",
                         r"\b(\-?\+?\d+)\b|\b0[Xx][a-fA-F\d]+\b|\b[a-fA-F\d]{4,}\b"]),
    "Apache": (4, 0.5, [r"(\d+\.){3}\d+"]),
    "OpenStack": (5, 0.5, [r"((\d+\.){3}\d+,?)+", r"/.+?\s", r"\d+"]),
    # the held-out systems, same source
    "Zookeeper": (4, 0.5, [r"(/|)(\d+\.){3}\d+(:\d+)?"]),
    "Thunderbird": (4, 0.5, [r"(\d+\.){3}\d+"]),
    "Windows": (5, 0.7, [r"0x.*?\s"]),
    "HPC": (4, 0.5, [r"=\d+"]),
    "Mac": (6, 0.7, [r"([\w-]+\.){2,}[\w-]+"]),
    "HealthApp": (4, 0.2, []),
    "Proxifier": (3, 0.6, [r"<\d+\ssec", r"([\w-]+\.)+[\w-]+(:\d+)?", r"\d{2}:\d{2}(:\d{2})*", r"[KGTM]B"]),
    "OpenSSH": (5, 0.6, [r"(\d+\.){3}\d+", r"([\w-]+\.){2,}[\w-]+"]),
}


def grouping_accuracy(predicted: Sequence[str], truth: Sequence[str]) -> float:
    """Loghub's GA: the share of lines whose predicted group holds exactly their true group's lines."""
    groups: dict[str, set[int]] = defaultdict(set)
    true_groups: dict[str, set[int]] = defaultdict(set)
    for i, (p, t) in enumerate(zip(predicted, truth, strict=True)):
        groups[p].add(i)
        true_groups[t].add(i)
    exact = {frozenset(g) for g in true_groups.values()}
    return sum(len(g) for g in groups.values() if frozenset(g) in exact) / len(truth)


def drain3_groups(log: LabelledLog) -> list[str]:
    """drain3 with logparser's settings for this system, on the labelled content (cluster per line)."""
    depth, st, regexes = DRAIN_SETTINGS[log.system]
    config = TemplateMinerConfig()
    config.drain_depth = depth
    config.drain_sim_th = st
    config.profiling_enabled = False
    config.masking_instructions = [MaskingInstruction(r, "*") for r in regexes]
    miner = TemplateMiner(persistence_handler=None, config=config)
    ids = [miner.add_log_message(row["Content"].strip())["cluster_id"] for row in log.rows]
    return [str(i) for i in ids]


@dataclass(slots=True)
class Ingested:
    """What ``ingest_file`` (format detection and header parsing) did with one system's raw file."""

    lines: int  # non-blank lines read
    stored: int
    merged: int  # lines appended to the record before (no time of their own)
    refused: int
    layout: str  # the layout detected on the file's first lines, and the others used
    times_ok: float  # share of labelled lines whose stored time equals the labelled one (±1 ms)
    content_ok: float  # share whose stored message equals the labelled Content
    aligned: bool  # one record per line, in file order: the line-to-label alignment GA needs


@dataclass(slots=True)
class AugurRun:
    """What the product path did with one system's raw file."""

    ingest: Ingested
    groups: list[str] | None  # the template of each line, in file order; None when not aligned
    stable: float  # share of the first half's lines with the same template mined alone as in the whole
    ingest_s: float
    template_s: float
    templates: int
    truncated: list[str]


def _ingested(log: LabelledLog, result: IngestResult, stored: list[tuple[str, float]]) -> Ingested:
    """Ingest's figures for one file, checked line by line against the labels when aligned."""
    stats = result.stats
    assert stats is not None
    aligned = len(stored) == len(log.rows) and stats.merged == 0 and not stats.refused
    times = content = 0
    if aligned:
        for (message, ts), row in zip(stored, log.rows, strict=True):
            times += abs(ts - expected_time(log.system, row)) < 0.001
            content += message.strip() == row["Content"].strip()
    used = ", ".join(f"{name} {n}" for name, n in stats.formats.most_common())
    layout = f"{stats.detected or '-'} ({used})" if used and used != f"{stats.detected} {len(stored)}" \
        else str(stats.detected)
    n = len(log.rows)
    return Ingested(stats.lines, result.lines, stats.merged, sum(stats.refused.values()), layout,
                    times / n if aligned else 0.0, content / n if aligned else 0.0, aligned)


def augur_groups(log: LabelledLog, workdir: Path) -> AugurRun:
    """Raw file -> ingest (format detection) -> log_search's templates over the file's whole span."""
    store = SqliteLogStore(workdir / f"{log.system}.db")
    t0 = time.perf_counter()
    result = store.ingest_file(log.raw, year=YEARS.get(log.system))
    ingest_s = time.perf_counter() - t0
    with sqlite3.connect(store.path) as conn:
        first, last = conn.execute("SELECT MIN(ts), MAX(ts) FROM logs").fetchone()
        rows = conn.execute("SELECT id, message, ts FROM logs ORDER BY id").fetchall()
    order = [str(rid) for rid, _, _ in rows]
    ingested = _ingested(log, result, [(message, float(ts)) for _, message, ts in rows])
    start, end = float(first), float(last) + 1.0
    limits = LogLimits()
    tool = LogSearchTool(store, limits)
    t0 = time.perf_counter()
    evidence = asyncio.run(tool.run({"start": _iso(start), "end": _iso(end), "limit": 200}))
    template_s = time.perf_counter() - t0
    if evidence.status is not EvidenceStatus.OK:
        raise RuntimeError(f"{log.system}: log_search answered {evidence.status}: {evidence.reason}")
    # The tool's own scan and mining, with each line's template kept (the evidence lists templates only).
    page = asyncio.run(store.search(LogQuery(text="", start=start, end=end, max_docs=limits.max_docs,
                                             aggregate=False)))
    mined = mine_templates(page.records, keep_assignments=True, max_templates=10_000)
    first_half = sorted(page.records, key=lambda r: (r.ts, r.message, r.id))[: len(page.records) // 2]
    alone = mine_templates(first_half, keep_assignments=True, max_templates=10_000).assignments
    stable = sum(alone[r.id] == mined.assignments[r.id] for r in first_half) / max(len(first_half), 1)
    if len(page.records) != len(order):
        raise RuntimeError(f"{log.system}: {len(order)} stored but {len(page.records)} scanned")
    groups = [mined.assignments[i] for i in order] if ingested.aligned else None
    return AugurRun(ingested, groups, stable, ingest_s, template_s, int(evidence.data["total_templates"]),
                    list(evidence.truncated))


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _errors(log: LabelledLog, groups: list[str], show: int) -> list[str]:
    """The biggest wrongly grouped predicted groups, with their true events."""
    by_group: dict[str, list[int]] = defaultdict(list)
    by_event: dict[str, set[int]] = defaultdict(set)
    for i, (g, e) in enumerate(zip(groups, log.events, strict=True)):
        by_group[g].append(i)
        by_event[e].add(i)
    wrong = [(g, idx) for g, idx in by_group.items() if set(idx) != by_event[log.events[idx[0]]]]
    wrong.sort(key=lambda x: -len(x[1]))
    out = []
    for g, idx in wrong[:show]:
        events = Counter(log.events[i] for i in idx)
        sizes = {e: len(by_event[e]) for e in events}
        out.append(f"    {len(idx):4d} lines {g[:100]!r} events {dict(events)} (event sizes {sizes})")
    return out


def _missing(system: str, root: Path) -> str:
    """Why a system is skipped: where its files were expected, and where the held-out ones live."""
    where = f"{root / system}/{system}_2k.log and {system}_2k.log_structured.csv"
    if system in HELDOUT:
        return (f"skipped {system}: expected {where}; the held-out samples are not in the repository "
                f"(--heldout reads {heldout_root()}; README 'Logs' says how they were taken)")
    return f"skipped {system}: expected {where} (pass --root)"


def main(argv: Sequence[str] | None = None) -> int:
    """Print the ingest and GA tables; exit 1 when the target is missed on the development systems.

    The target (mean GA >= 0.90, no system below drain3) applies to the 8 development systems; on
    held-out systems the figures are reported, not held to it.
    """
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", "--data", dest="root", type=Path, default=None,
                        help="the folder holding <Sys>/<Sys>_2k.log* (default: the loghub-2k data set, "
                             "or ../loghub-heldout with --heldout)")
    parser.add_argument("--heldout", action="store_true",
                        help="the held-out systems from ../loghub-heldout (default systems: all 8)")
    parser.add_argument("--systems", nargs="*", default=None, choices=SYSTEMS + HELDOUT)
    parser.add_argument("--show-errors", type=int, default=0, help="print the N biggest wrong groups")
    args = parser.parse_args(argv)
    root: Path = args.root or (heldout_root() if args.heldout else default_root())
    systems: list[str] = args.systems or list(HELDOUT if args.heldout else SYSTEMS)
    if not root.is_dir():
        what = "held-out samples" if args.heldout else "Loghub 2k data set"
        print(f"skipped: the {what} are not at {root} (pass --root)"
              + ("; they are not in the repository (README 'Logs' says how they were taken)"
                 if args.heldout else ""), file=sys.stderr)
        return 0
    logs: list[LabelledLog] = []
    for system in systems:
        try:
            logs.append(read_labelled(system, root))
        except FileNotFoundError:
            print(_missing(system, root), file=sys.stderr)
    if not logs:
        return 0
    runs: list[tuple[LabelledLog, AugurRun]] = []
    with tempfile.TemporaryDirectory(prefix="augur-bench-logs-") as tmp:
        for log in logs:
            runs.append((log, augur_groups(log, Path(tmp))))
    print(f"{'system':11} {'lines':>5} {'stored':>6} {'merged':>6} {'refused':>7} {'time ok':>7} "
          f"{'content ok':>10}  layout")
    for log, run in runs:
        i = run.ingest
        checks = f"{i.times_ok:7.3f} {i.content_ok:10.3f}" if i.aligned else f"{'n/a':>7} {'n/a':>10}"
        print(f"{log.system:11} {i.lines:5d} {i.stored:6d} {i.merged:6d} {i.refused:7d} {checks}  {i.layout}")
    print()
    print(f"{'system':11} {'augur GA':>9} {'drain3 GA':>10} {'templates':>10} {'events':>7} {'stable':>7} "
          f"{'ingest l/s':>11} {'template l/s':>13}  truncated")
    ours: list[float] = []
    theirs: list[float] = []
    below: list[str] = []
    dev_ga: list[float] = []
    for log, run in runs:
        base = grouping_accuracy(drain3_groups(log), log.events)
        ga = grouping_accuracy(run.groups, log.events) if run.groups is not None else None
        theirs.append(base)
        if ga is not None:
            ours.append(ga)
            if log.system in SYSTEMS:
                dev_ga.append(ga)
                below += [log.system] if ga < base else []
        lines = len(log.rows)
        print(f"{log.system:11} {'n/a' if ga is None else f'{ga:.3f}':>9} {base:10.3f} {run.templates:10d} "
              f"{len(set(log.events)):7d} {run.stable:7.3f} "
              f"{lines / run.ingest_s:11.0f} {lines / run.template_s:13.0f}  "
              f"{'; '.join(run.truncated) or '-'}")
        if run.groups is not None:
            for line in _errors(log, run.groups, args.show_errors):
                print(line)
    mean = sum(ours) / len(ours) if ours else float("nan")
    base_mean = sum(theirs) / len(theirs)
    note = "" if len(ours) == len(runs) else f"  (augur over {len(ours)} of {len(runs)} systems)"
    print(f"{'mean':11} {mean:9.3f} {base_mean:10.3f}{note}")
    development = [log.system for log, _ in runs if log.system in SYSTEMS]
    if len(development) < len(runs):
        print("held-out systems: reported, not held to the development target")
    if not development:
        return 0
    ok = len(dev_ga) == len(development) and sum(dev_ga) / len(dev_ga) >= TARGET_MEAN_GA and not below
    print(f"target (development systems): mean GA >= {TARGET_MEAN_GA} and no system below drain3: "
          f"{'met' if ok else 'NOT met'}" + (f" (below drain3: {', '.join(below)})" if below else ""))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
