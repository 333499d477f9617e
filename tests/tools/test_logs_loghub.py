"""`augur logs ingest`'s reader on the raw files of 8 real systems (Loghub 2k), checked against labels.

Each raw file goes through :meth:`SqliteLogStore.ingest_file` (what ``augur logs ingest`` runs) with
format detection; the stored messages and times are compared with the labelled header fields of
``<Sys>_2k.log_structured.csv`` (times read there with ``strptime``, independently of augur's
parser). Skips when ``../shared/datasets/loghub-2k`` is not beside the clone.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from pathlib import Path

import pytest

from augur.evals.loghub import SYSTEMS, YEARS, default_root, expected_time, read_labelled
from augur.tools.logs import SqliteLogStore

#: Every this many labelled lines is checked for its time.
SAMPLE_EVERY = 20

pytestmark = pytest.mark.skipif(
    not default_root().is_dir(),
    reason=f"Loghub 2k data set not found at {default_root()} (it sits beside the clone in CI)",
)


@pytest.mark.parametrize("system", SYSTEMS)
def test_raw_loghub_file_is_stored_with_the_right_times(system: str, tmp_path: Path) -> None:
    log = read_labelled(system)
    store = SqliteLogStore(tmp_path / "logs.db")
    result = store.ingest_file(log.raw, year=YEARS.get(system))
    assert result.stats is not None
    lines = len(log.rows)
    print(f"{system}: {result.lines}/{lines} stored, layout {dict(result.stats.formats)}, "
          f"merged {result.stats.merged}, refused {dict(result.stats.refused)}")
    assert result.lines >= 0.99 * lines
    with sqlite3.connect(store.path) as conn:
        stored = conn.execute("SELECT message, ts, level FROM logs ORDER BY id").fetchall()
    times: dict[str, set[float]] = defaultdict(set)
    for message, ts, _ in stored:
        times[message].add(round(ts, 3))
    sample = log.rows[::SAMPLE_EVERY]
    right = [row for row in sample
             if round(expected_time(system, row), 3) in times.get(row["Content"].strip(), ())]
    # The header is split off: the message is the labelled content, with the labelled time.
    assert len(right) >= 0.98 * len(sample), [r["Content"] for r in sample if r not in right][:5]
    if "Level" in log.rows[0] and system != "Linux":  # Linux's "Level" column is the host name
        assert all(level for _, _, level in stored)
