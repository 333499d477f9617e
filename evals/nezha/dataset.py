"""The Nezha Online Boutique dataset on disk: where it is, what to unpack, and its fault lists.

The archive (``nezha-ob-rca_data.tar.xz``, IntelligentDDS/Nezha, MIT) sits beside the project at
``../shared/datasets/nezha-online-boutique/``; it is never copied into the repository. Members are
unpacked on demand into a cache directory outside the repository (``~/.cache/augur/nezha-ob`` by
default), one group at a time (a day's metrics, its traces, its logs), with a marker file per
group so a second run reads the cache. xz has no index, so every extraction is one pass over the
whole stream (about 15 s on one core); asking for all the groups a run needs at once costs one pass.

The fault lists are the **ground truth**: only :mod:`augur.evals.nezha.scoring` and the baseline
(which, as in RCAEval's protocol, is given the true injection time) read them. The importer and
the investigation never do.
"""

from __future__ import annotations

import json
import os
import tarfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from augur.tools.errors import BadInput

__all__ = [
    "DAYS",
    "DEFAULT_ARCHIVE",
    "DatasetMissing",
    "Fault",
    "NezhaData",
    "default_cache",
    "service_of_pod",
]

#: The two days of the Online Boutique archive's RCA half (another Nezha archive, such as its Train
#: Ticket half, has its own: :meth:`NezhaData.days` reads them from the archive).
DAYS = ("2022-08-22", "2022-08-23")
#: Where the archive lives relative to the repository root (``../shared/datasets/...``).
DEFAULT_ARCHIVE = (Path(__file__).resolve().parents[2].parent / "shared" / "datasets"
                   / "nezha-online-boutique" / "nezha-ob-rca_data.tar.xz")
GROUPS = ("metric", "trace", "log")


class DatasetMissing(BadInput, FileNotFoundError):
    """The archive is not where it was looked for; the message says where to put it."""


def default_cache(archive: Path | None = None) -> Path:
    """``$XDG_CACHE_HOME/augur/nezha-ob`` (``~/.cache/augur/nezha-ob``): outside the repository.

    Another archive than the default gets its own folder, named after the archive's file
    (``nezha-tt-rca_data.tar.xz`` -> ``~/.cache/augur/nezha-tt-rca_data``), so two halves of the
    dataset never share unpacked days.
    """
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "augur"
    if archive is None or archive.resolve() == DEFAULT_ARCHIVE.resolve():
        return root / "nezha-ob"
    return root / archive.name.split(".tar")[0]


def service_of_pod(pod: str) -> str:
    """The service a Kubernetes pod belongs to: its name minus ``-<replicaset>-<pod>``.

    ``cartservice-579f59597d-wc2lz`` -> ``cartservice``; a name without both suffixes is returned
    as it is.
    """
    parts = pod.rsplit("-", 2)
    return parts[0] if len(parts) == 3 else pod


@dataclass(frozen=True)
class Fault:
    """One injected fault of the fault list (ground truth: read by the scorer only)."""

    day: str
    inject_time: float  # Unix seconds (the list's inject_timestamp, checked against inject_time)
    pod: str
    fault_type: str

    @property
    def service(self) -> str:
        """The root-cause service."""
        return service_of_pod(self.pod)

    @property
    def case_id(self) -> str:
        """A stable name: ``2022-08-22T04:27:03-cartservice``."""
        stamp = datetime.fromtimestamp(self.inject_time, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        return f"{stamp}-{self.service}"


class NezhaData:
    """The archive and its unpacked cache (see the module docstring)."""

    def __init__(self, archive: Path | None = None, cache: Path | None = None) -> None:
        self.archive = archive or DEFAULT_ARCHIVE
        self.cache = cache or default_cache(self.archive)
        if not self.archive.is_file():
            raise DatasetMissing(
                f"Nezha archive not found at {self.archive}: put nezha-ob-rca_data.tar.xz there "
                "(../shared/datasets/nezha-online-boutique/ beside the repository) or pass its path")

    def day_dir(self, day: str) -> Path:
        """``<cache>/rca_data/<day>`` (unpack first with :meth:`ensure`)."""
        return self.cache / "rca_data" / day

    def _marker(self, day: str, group: str) -> Path:
        return self.cache / f".{day}-{group}.done"

    def days(self) -> tuple[str, ...]:
        """The archive's days: each ``rca_data/<day>/`` with a ``<day>-fault_list.json``, in order.

        Listing an xz archive reads all of it (~15 s), so the answer is kept in the cache beside
        the unpacked days, keyed on the archive's size and modification time. The Online Boutique
        archive beside the project holds :data:`DAYS`, which saves that pass.
        """
        if self.archive.resolve() == DEFAULT_ARCHIVE.resolve():
            return DAYS
        stat = self.archive.stat()
        key = f"{stat.st_size}:{stat.st_mtime_ns}"
        listing = self.cache / ".days.json"
        try:
            known = json.loads(listing.read_text())
            if known.get("archive") == key:
                return tuple(known["days"])
        except (OSError, ValueError, KeyError, AttributeError):
            pass
        found: set[str] = set()
        with tarfile.open(self.archive, "r:xz") as tar:
            for member in tar:
                parts = member.name.split("/")
                if (member.isfile() and len(parts) == 3 and parts[0] == "rca_data"
                        and parts[2] == f"{parts[1]}-fault_list.json"):
                    found.add(parts[1])
        if not found:
            raise DatasetMissing(f"{self.archive}: no rca_data/<day>/<day>-fault_list.json inside; is it "
                                 "a Nezha rca_data archive?")
        self.cache.mkdir(parents=True, exist_ok=True)
        listing.write_text(json.dumps({"archive": key, "days": sorted(found)}))
        return tuple(sorted(found))

    def ensure(self, days: Sequence[str] | None = None, groups: Sequence[str] = ("metric",)) -> None:
        """Unpack the fault lists and the given groups of the given days (default: all; one pass,
        if any is missing)."""
        known = self.days()
        days = known if days is None else days
        unknown = [g for g in groups if g not in GROUPS] + [d for d in days if d not in known]
        if unknown:
            raise ValueError(f"unknown day or group {unknown}: days are {known}, groups {GROUPS}")
        wanted = [(d, g) for d in days for g in groups if not self._marker(d, g).exists()]
        lists = [d for d in days if not (self.day_dir(d) / f"{d}-fault_list.json").exists()]
        if not wanted and not lists:
            return
        prefixes = tuple(f"rca_data/{d}/{g}/" for d, g in wanted)
        names = {f"rca_data/{d}/{d}-fault_list.json" for d in days}
        self.cache.mkdir(parents=True, exist_ok=True)
        with tarfile.open(self.archive, "r:xz") as tar:
            for member in tar:
                if member.isfile() and (member.name in names or member.name.startswith(prefixes)):
                    tar.extract(member, self.cache, filter="data")
        for d, g in wanted:
            self._marker(d, g).touch()

    def faults(self, days: Iterable[str] | None = None) -> list[Fault]:
        """The injected faults of the days (default: all), in time order (ground truth)."""
        out: list[Fault] = []
        for day in self.days() if days is None else days:
            self.ensure([day], ())
            listing = json.loads((self.day_dir(day) / f"{day}-fault_list.json").read_text())
            for entries in listing.values():
                for e in entries:
                    ts = float(e["inject_timestamp"])
                    stated = datetime.strptime(e["inject_time"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
                    # One entry (2022-08-22 07:10:43) has an inject_timestamp 60 s before its
                    # inject_time: the earlier of the two is taken, so its alert is not dropped.
                    ts = min(ts, stated.timestamp())
                    out.append(Fault(day, ts, str(e["inject_pod"]), str(e["inject_type"])))
        return sorted(out, key=lambda f: f.inject_time)
