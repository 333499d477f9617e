"""The Loghub 2k labelled logs (8 real systems) as the log benchmark and the ingest test read them.

The files live beside the clone, in ``../shared/datasets/loghub-2k/<Sys>/`` (never in the
repository): ``<Sys>_2k.log`` is the raw file as the system wrote it, ``<Sys>_2k.log_structured.csv``
the labels (header fields, ``Content``, ``EventId``) and, where logparser corrected the labels,
``<Sys>_2k.log_structured_corrected.csv``. :func:`expected_time` reads a line's time from the
labelled header fields with ``strptime``, independently of augur's own time parsing.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["SYSTEMS", "LabelledLog", "default_root", "expected_time", "read_labelled"]

SYSTEMS = ("HDFS", "Hadoop", "Spark", "BGL", "Linux", "Android", "Apache", "OpenStack")
#: The year the Loghub files omit (Linux syslog, Android logcat): the year they were collected.
YEARS = {"Linux": 2005, "Android": 2017}


def default_root() -> Path:
    """``../shared/datasets/loghub-2k`` relative to the repository root."""
    return Path(__file__).resolve().parent.parent.parent / "shared" / "datasets" / "loghub-2k"


@dataclass(frozen=True, slots=True)
class LabelledLog:
    """One system's raw file and its labelled rows (corrected labels where they exist)."""

    system: str
    raw: Path
    rows: list[dict[str, str]]  # the structured CSV (for header fields and times)
    events: list[str]  # the event id of each line, from the corrected CSV where present
    corrected: bool


def read_labelled(system: str, root: Path | None = None) -> LabelledLog:
    """The raw file and labels of ``system``; ``FileNotFoundError`` when the folder is absent."""
    folder = (root or default_root()) / system
    raw = folder / f"{system}_2k.log"
    structured = folder / f"{system}_2k.log_structured.csv"
    corrected = folder / f"{system}_2k.log_structured_corrected.csv"
    with structured.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    label_file = corrected if corrected.is_file() else structured
    with label_file.open(encoding="utf-8", newline="") as fh:
        events = [row["EventId"] for row in csv.DictReader(fh)]
    if not raw.is_file() or len(events) != len(rows):
        raise FileNotFoundError(f"{folder}: expected {raw.name} and labels of equal length")
    return LabelledLog(system, raw, rows, events, corrected.is_file())


def _utc(text: str, layout: str) -> float:
    return datetime.strptime(text, layout).replace(tzinfo=UTC).timestamp()


def expected_time(system: str, row: dict[str, str]) -> float:
    """The Unix time of a labelled row, from its header fields (UTC; the omitted year from YEARS)."""
    if system == "HDFS":
        return _utc(f"{row['Date']} {row['Time']}", "%y%m%d %H%M%S")
    if system == "Hadoop":
        return _utc(f"{row['Date']} {row['Time']}", "%Y-%m-%d %H:%M:%S,%f")
    if system == "Spark":
        return _utc(f"{row['Date']} {row['Time']}", "%y/%m/%d %H:%M:%S")
    if system == "BGL":
        return float(row["Timestamp"])
    if system == "Linux":
        return _utc(f"{YEARS['Linux']} {row['Month']} {row['Date']} {row['Time']}", "%Y %b %d %H:%M:%S")
    if system == "Android":
        return _utc(f"{YEARS['Android']}-{row['Date']} {row['Time']}", "%Y-%m-%d %H:%M:%S.%f")
    if system == "Apache":
        return _utc(row["Time"], "%a %b %d %H:%M:%S %Y")
    if system == "OpenStack":
        return _utc(f"{row['Date']} {row['Time']}", "%Y-%m-%d %H:%M:%S.%f")
    raise KeyError(f"unknown Loghub system {system!r}: one of {', '.join(SYSTEMS)}")
