"""A day of Nezha with every service renamed to an opaque name, for a check that nothing
downstream reads meaning into names.

The synthetic suite has ``--anonymise`` (:mod:`augur.evals.variants`); this is the same check on
real data. Each service (a pod name minus its ``-<replicaset>-<pod>`` suffix, from the day's metric
files) becomes ``svc01``, ``svc02``... in sorted order, in every text file of the day (metric and
edge tables, the SLI file's ``ServiceName``, spans, logs; pod suffixes are kept) and in the fault
list the scorer reads. The mapping is the same for every run of a day.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from augur.evals.nezha.dataset import Fault, service_of_pod

__all__ = ["Anonymised", "anonymise_day"]


class Anonymised:
    """The renaming of one day: ``name(service)``, ``fault(f)``, and the copied day's folder."""

    def __init__(self, day_dir: Path, mapping: dict[str, str]) -> None:
        self.day_dir = day_dir
        self.mapping = mapping
        # Longest first, so a name inside another (none in Nezha, but cheap to be safe) is not cut.
        names = sorted(mapping, key=len, reverse=True)
        alternatives = "|".join(map(re.escape, names))
        self._pattern = re.compile(rf"(?<![A-Za-z0-9])({alternatives})(?![A-Za-z0-9])", re.IGNORECASE)

    def text(self, text: str) -> str:
        """``text`` with every service name replaced (case-insensitive: ``Frontend`` too)."""
        return self._pattern.sub(lambda m: self.mapping[m.group(1).lower()], text)

    def fault(self, fault: Fault) -> Fault:
        """The same fault on the renamed pod (what the scorer compares the report with)."""
        return Fault(fault.day, fault.inject_time, self.text(fault.pod), fault.fault_type)


def anonymise_day(day_dir: Path, out: Path) -> Anonymised:
    """Copy the unpacked ``day_dir`` to ``out`` with every service renamed (see the module docstring)."""
    services = sorted({service_of_pod(p.name.removesuffix("_metric.csv"))
                       for p in (day_dir / "metric").glob("*_metric.csv")})
    mapping = {name.lower(): f"svc{i:02d}" for i, name in enumerate(services, 1)}
    anon = Anonymised(out, mapping)
    if out.exists():
        shutil.rmtree(out)
    for path in sorted(day_dir.rglob("*")):
        if not path.is_file():
            continue
        target = out / anon.text(str(path.relative_to(day_dir)))
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix in (".csv", ".json"):
            target.write_text(anon.text(path.read_text(errors="replace")))
        else:
            shutil.copy2(path, target)
    return anon
