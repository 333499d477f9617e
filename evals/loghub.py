"""The Loghub 2k labelled logs as the log benchmark and the ingest test read them.

:data:`SYSTEMS` are the 8 systems augur's templating was developed on; their files live beside the
clone, in ``../shared/datasets/loghub-2k/<Sys>/`` (never in the repository): ``<Sys>_2k.log`` is
the raw file as the system wrote it, ``<Sys>_2k.log_structured.csv`` the labels (header fields,
``Content``, ``EventId``) and, where logparser corrected the labels,
``<Sys>_2k.log_structured_corrected.csv``. :data:`HELDOUT` are 8 other Loghub systems kept out of
development; only a sample of them exists here (the lines in the first 16,000 characters of each
raw file and their labelled rows, copied from logpai/loghub), in the same layout under
``../loghub-heldout/<Sys>/`` beside the clone (:func:`heldout_root`), also never in the
repository. :func:`expected_time` reads a line's time from the labelled header fields with
``strptime``, independently of augur's own time parsing.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["HELDOUT", "SYSTEMS", "LabelledLog", "default_root", "expected_time", "heldout_root",
           "read_labelled"]

SYSTEMS = ("HDFS", "Hadoop", "Spark", "BGL", "Linux", "Android", "Apache", "OpenStack")
#: Loghub systems never looked at while developing augur's templating (held out).
HELDOUT = ("Zookeeper", "Thunderbird", "Windows", "HPC", "Mac", "HealthApp", "Proxifier", "OpenSSH")
#: The year the Loghub files omit: the year they were collected (Linux syslog 2005, Android logcat
#: 2017, Mac 2017 — its own lines say ``when=2017-07-01``). OpenSSH's and Proxifier's year is not
#: published: 2017 is assumed; the labels hold no year either, so both sides of the time check
#: use the same one.
YEARS = {"Linux": 2005, "Android": 2017, "Mac": 2017, "OpenSSH": 2017, "Proxifier": 2017}


def default_root() -> Path:
    """``../shared/datasets/loghub-2k`` relative to the repository root."""
    return Path(__file__).resolve().parent.parent.parent / "shared" / "datasets" / "loghub-2k"


def heldout_root() -> Path:
    """``../loghub-heldout`` relative to the repository root: the held-out samples, when present."""
    return Path(__file__).resolve().parent.parent.parent / "loghub-heldout"


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
    return _heldout_time(system, row)


def _heldout_time(system: str, row: dict[str, str]) -> float:
    if system == "Zookeeper":
        return _utc(f"{row['Date']} {row['Time']}", "%Y-%m-%d %H:%M:%S,%f")
    if system in ("Thunderbird", "HPC"):
        return float(row["Timestamp" if system == "Thunderbird" else "Time"])
    if system == "Windows":
        return _utc(f"{row['Date']} {row['Time']}", "%Y-%m-%d %H:%M:%S")
    if system == "Mac":
        return _utc(f"{YEARS['Mac']} {row['Month']} {row['Date']} {row['Time']}", "%Y %b %d %H:%M:%S")
    if system == "HealthApp":  # 20171223-22:15:35:96: the last field is milliseconds, not zero-padded
        stamp, millis = row["Time"].rsplit(":", 1)
        return _utc(stamp, "%Y%m%d-%H:%M:%S") + int(millis) / 1000
    if system == "Proxifier":
        return _utc(f"{YEARS['Proxifier']}.{row['Time']}", "%Y.%m.%d %H:%M:%S")
    if system == "OpenSSH":
        return _utc(f"{YEARS['OpenSSH']} {row['Date']} {row['Day']} {row['Time']}", "%Y %b %d %H:%M:%S")
    raise KeyError(f"unknown Loghub system {system!r}: one of {', '.join(SYSTEMS + HELDOUT)}")
