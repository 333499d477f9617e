"""Reading the times real logs write: ISO 8601, syslog, Apache, HDFS, Spark, logcat, glog, epochs.

:func:`parse_timestamp` turns the time text of one line into Unix seconds. It knows the layouts
below; a time without a zone is taken as UTC, and a time without a year (syslog, logcat, glog,
vLLM) takes the year it is given (``augur logs ingest --year``, else the file's modification year)
— :class:`YearGuess` does that and keeps year-less times from landing after the file was written.

========================================  ===========================================
``2026-11-24T02:10:03.123Z``, ``+01:00``  ISO 8601 / RFC 3339 (also ``,123`` and a space)
``2024/01/15 10:20:30``                   NGINX error log
``2005-06-03-15.42.50.675872``            BGL's local time
``081109 203615``                         HDFS (``yymmdd hhmmss``)
``17/06/09 20:10:40``                     Spark (``yy/mm/dd``)
``Jun 14 15:16:01`` (``Jun  7``, ``2024``)  syslog RFC 3164 (year optional)
``Sun Dec 04 04:47:44 2005``              Apache error log (C ``ctime``)
``10/Oct/2000:13:55:36 -0700``            Apache/NGINX access log
``03-17 16:13:38.811``, ``10.30 16:49:06``  Android logcat, vLLM, Proxifier (year-less)
``20171223-22:15:29:606``                 compact date, milliseconds (a count) after a colon
``1124 02:10:03.123456``                  glog (``mmdd``, after the level letter)
``1117838570``, ``1117838570.5``, ms      Unix epoch seconds, milli-, micro-, nanoseconds
========================================  ===========================================
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

__all__ = ["MONTHS", "YearGuess", "parse_timestamp"]

MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)}
_HMS = r"(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:[.,](?P<frac>\d{1,9}))?)?"
_TZ = r"(?:\s*(?P<tz>Z|UTC|GMT|[+-]\d{2}:?\d{2}))?"
_MON = r"(?P<mon>[A-Za-z]{3})[a-z]*\.?"


@dataclass(slots=True)
class YearGuess:
    """The year for times that carry none, and whether it was given or guessed.

    ``year`` is the flag's value or the file's modification year. With ``not_after`` (the file's
    modification time) a guessed year that puts a line more than a day after the file was last
    written is taken one year earlier: a file written in January holds December's lines too.
    """

    year: int
    given: bool = False
    not_after: float | None = None
    used: bool = False  # a line needed it (reported by ingest)

    def resolve(self, month: int, day: int, build: Callable[[int], datetime | None]) -> datetime | None:
        """The datetime ``build(year)`` makes, one year earlier when that lands after the file."""
        self.used = True
        moment = build(self.year)
        if moment is None or self.given or self.not_after is None:
            return moment
        if moment.timestamp() > self.not_after + 86400:
            return build(self.year - 1)
        return moment


def _frac(value: str | None) -> int:
    return int((value or "0").ljust(6, "0")[:6])


def _zone(value: str | None) -> timezone:
    if not value or value in ("Z", "UTC", "GMT"):
        return UTC
    sign = -1 if value[0] == "-" else 1
    digits = value[1:].replace(":", "")
    return timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:4])))


def _make(year: int, month: int, day: int, m: re.Match[str]) -> datetime | None:
    groups = m.groupdict()
    # A decimal fraction (".5", ",123") is read as one; milliseconds after a colon are a count that
    # some writers do not zero-pad (HH:MM:SS:96 is 96 ms, and comes before HH:MM:SS:104).
    micros = int(groups["ms"]) * 1000 if groups.get("ms") else _frac(groups.get("frac"))
    try:
        return datetime(year, month, day, int(m["H"]), int(m["M"]), int(groups.get("S") or 0),
                        micros, tzinfo=_zone(groups.get("tz")))
    except ValueError:
        return None


def _month(name: str) -> int | None:
    return MONTHS.get(name[:3].lower())


def _full(m: re.Match[str], guess: YearGuess) -> datetime | None:
    year = int(m["Y"])
    return _make(year + 2000 if year < 100 else year, int(m["m"]), int(m["d"]), m)


def _named_month(m: re.Match[str], guess: YearGuess) -> datetime | None:
    month = _month(m["mon"])
    if month is None:
        return None
    day = int(m["d"])
    if m.groupdict().get("Y"):
        return _make(int(m["Y"]), month, day, m)
    return guess.resolve(month, day, lambda y: _make(y, month, day, m))


def _yearless(m: re.Match[str], guess: YearGuess) -> datetime | None:
    month, day = int(m["m"]), int(m["d"])
    return guess.resolve(month, day, lambda y: _make(y, month, day, m))


def _hdfs(m: re.Match[str], guess: YearGuess) -> datetime | None:
    return _make(2000 + int(m["y"]), int(m["m"]), int(m["d"]), m)


_Builder = Callable[[re.Match[str], YearGuess], datetime | None]
#: (pattern, builder) in the order tried; the pattern must match the whole time text.
_LAYOUTS: tuple[tuple[re.Pattern[str], _Builder], ...] = tuple((re.compile(p + r"\Z"), b) for p, b in (
    # ISO 8601 / RFC 3339, NGINX's 2024/01/15, BGL's 2005-06-03-15.42.50.675872
    (r"(?P<Y>\d{4})[-/.](?P<m>\d{1,2})[-/.](?P<d>\d{1,2})(?:[T ]|-(?=\d\d\.))"
     r"(?P<H>\d{2})[:.](?P<M>\d{2})(?:[:.](?P<S>\d{2})(?:[.,](?P<frac>\d{1,9}))?)?" + _TZ, _full),
    (r"(?P<y>\d{2})(?P<m>\d{2})(?P<d>\d{2}) (?P<H>\d{2})(?P<M>\d{2})(?P<S>\d{2})", _hdfs),  # HDFS
    (r"(?P<Y>\d{2})/(?P<m>\d{2})/(?P<d>\d{2}) " + _HMS, _full),  # Spark yy/mm/dd
    (r"(?:[A-Za-z]{3},? )?" + _MON + r" +(?P<d>\d{1,2}),? " + _HMS + r"(?: (?P<Y>\d{4}))?" + _TZ,
     _named_month),  # syslog, ctime (Apache error)
    (r"(?P<d>\d{1,2})/" + _MON + r"/(?P<Y>\d{4}):" + _HMS + _TZ, _named_month),  # access log
    (r"(?P<m>\d{2})[-.](?P<d>\d{2}) " + _HMS + _TZ, _yearless),  # logcat, vLLM, Proxifier
    (r"(?P<Y>\d{4})(?P<m>\d{2})(?P<d>\d{2})-(?P<H>\d{2}):(?P<M>\d{2}):(?P<S>\d{2})"
     r"(?::(?P<ms>\d{1,3})|[.,](?P<frac>\d{1,6}))?",
     _full),  # 20171223-22:15:29:606; after a colon, a count of milliseconds: ":96" is 96 ms
    (r"(?P<m>\d{2})(?P<d>\d{2}) " + _HMS, _yearless),  # glog mmdd
    (r"(?P<d>\d{1,2}) " + _MON + r" (?P<Y>\d{4}) " + _HMS + _TZ, _named_month),  # 24 Nov 2026 ...
))
_EPOCH = re.compile(r"\d{9,19}(?:\.\d+)?\Z")


def _epoch(text: str) -> float | None:
    value = float(text)
    digits = len(text.split(".")[0])
    if digits >= 18:
        return value / 1e9
    if digits >= 15:
        return value / 1e6
    if digits >= 12:
        return value / 1e3
    return value


def parse_timestamp(text: str, guess: YearGuess | None = None) -> float | None:
    """Unix seconds from one of the layouts in the module docstring; None if it is none of them."""
    text = text.strip().strip("[]").strip()
    if not text:
        return None
    if _EPOCH.match(text):
        return _epoch(text)
    guess = guess or YearGuess(datetime.now(UTC).year)
    for pattern, build in _LAYOUTS:
        m = pattern.match(text)
        if m:
            moment = build(m, guess)
            return None if moment is None else moment.timestamp()
    return None
