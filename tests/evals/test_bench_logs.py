"""The log benchmark's command line: held-out systems, absent data, and a folder given with --root.

The held-out Loghub samples are not in the repository, so these tests never read them: a folder
with a few lines written here, in the held-out layout, stands in for one system.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from augur.evals.bench_logs import main
from augur.evals.loghub import expected_time

#: Lines in Zookeeper's log4j layout, written for this test: (line, labelled fields, event).
LINES = [
    ("2026-07-29 17:41:44,747 - INFO  [main:Server@10] - started on port 2181",
     ("2026-07-29", "17:41:44,747", "INFO", "main", "Server", "10", "started on port 2181"), "E1"),
    ("2026-07-29 17:41:45,001 - WARN  [worker:Pool@77] - queue full, dropped 3 tasks",
     ("2026-07-29", "17:41:45,001", "WARN", "worker", "Pool", "77", "queue full, dropped 3 tasks"), "E2"),
    ("2026-07-29 17:41:46,500 - WARN  [worker:Pool@77] - queue full, dropped 5 tasks",
     ("2026-07-29", "17:41:46,500", "WARN", "worker", "Pool", "77", "queue full, dropped 5 tasks"), "E2"),
    ("2026-07-29 17:41:47,020 - INFO  [main:Server@12] - stopped",
     ("2026-07-29", "17:41:47,020", "INFO", "main", "Server", "12", "stopped"), "E3"),
]


def _system(root: Path) -> None:
    folder = root / "Zookeeper"
    folder.mkdir(parents=True)
    (folder / "Zookeeper_2k.log").write_text("".join(line + "\n" for line, _, _ in LINES))
    with (folder / "Zookeeper_2k.log_structured.csv").open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["LineId", "Date", "Time", "Level", "Node", "Component", "Id", "Content", "EventId",
                      "EventTemplate"])
        for i, (_, fields, event) in enumerate(LINES, start=1):
            out.writerow([i, *fields, event, event])


def test_a_heldout_system_absent_from_the_folder_is_skipped_saying_where_it_is_expected(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--root", str(tmp_path), "--systems", "Zookeeper"]) == 0
    err = capsys.readouterr().err
    assert f"expected {tmp_path / 'Zookeeper'}/Zookeeper_2k.log" in err
    assert "not in the repository" in err


def test_a_folder_given_with_root_is_ingested_checked_and_scored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _system(tmp_path)
    assert main(["--root", str(tmp_path), "--systems", "Zookeeper"]) == 0
    out = capsys.readouterr().out.splitlines()
    ingest = next(line for line in out if line.startswith("Zookeeper") and "leveled" in line).split()
    assert ingest[1:6] == ["4", "4", "0", "0", "1.000"]  # lines, stored, merged, refused, time ok
    scored = [line for line in out if line.startswith("Zookeeper")][1].split()
    assert scored[1] != "n/a" and float(scored[2]) > 0  # augur GA computed; drain3 GA beside it
    assert "reported, not held to the development target" in "\n".join(out)


def test_heldout_times_are_read_from_the_labels() -> None:
    """HealthApp's last field is milliseconds without zero padding: ``:96`` is 96 ms, not 960."""
    row = {"Time": "20171223-22:15:35:96"}
    assert expected_time("HealthApp", row) == pytest.approx(1514067335.096)
    assert expected_time("Proxifier", {"Time": "10.30 16:49:06"}) == pytest.approx(1509382146.0)
