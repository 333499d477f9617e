"""Grounding: every narrative sentence must rest on evidence it cites, numbers included.

A sentence is kept only if it cites at least one evidence id that exists, and every number in it
appears in the evidence it cites. "Appears" allows what a careful writer does with numbers:
rounding to the precision written (no more: ``98765`` does not match 98,000), percentages of
fractions (``30 %`` for ``0.30``), and the change between the before and after values **of one
series** in the evidence (``−6 pts`` from 0.80 and 0.74, ``×3`` from 0.3 and 0.9, ``−30 %`` from
0.08 and 0.056; an onset's reference level plus its delta is such a pair). Raw
points (a sparkline) and a tool's guard limits do not count: they would ground almost any
number. Clock times (``02:10``) must match a time in the cited evidence. Identifiers with
digits (``p99``, ``v7``, ``gpu-0``, ``5m``) are not numbers.

:func:`ground` returns the kept sentences and the dropped ones with the reason, so a report can
show what was removed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from augur.agent.report import Sentence

__all__ = ["Dropped", "evidence_numbers", "ground", "sentence_numbers"]

_EVIDENCE_ID = re.compile(r"\bev-[0-9a-f]{6,}\b")
_CLOCK = re.compile(r"(?<![\d:])(\d{1,2}):(\d{2})(?::\d{2})?(?![\d:])")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ][\d:.]+Z?)?")
# A number not glued to a word (p99, v7, 5m, gpu-0 and 1e-4 style tokens stay identifiers).
_NUMBER = re.compile(r"(?<![\w.\-])([−\-+]?\d+(?:[.,]\d+)?)(?![\w.]\d|[A-Za-z_]|-\w)(\s?%)?")
_MAX_NUMBERS = 4000


class Dropped(Sentence):
    """A sentence removed by the validator, with the reason."""

    reason: str


def _walk(value: Any, out: list[float], depth: int = 0) -> None:
    if len(out) >= _MAX_NUMBERS or depth > 8:
        return
    if isinstance(value, bool):
        return
    if isinstance(value, int | float):
        if math.isfinite(value):
            out.append(float(value))
    elif isinstance(value, str):
        out.extend(n for n, _ in sentence_numbers(value))
    elif isinstance(value, dict):
        for key, item in value.items():
            if key not in _NOT_OBSERVED:
                _walk(item, out, depth + 1)
    elif isinstance(value, list | tuple):
        if _is_raw_series(value):
            return  # a sentence quotes statistics of a series, not one of its thousands of points
        for item in value:
            _walk(item, out, depth + 1)


_RAW_SERIES_MIN = 20
# Keys of a tool's own configuration (its guard limits), not of what it observed.
_NOT_OBSERVED = frozenset({"guards"})


def _is_raw_series(value: list[Any] | tuple[Any, ...]) -> bool:
    """Whether ``value`` is a run of raw points (numbers or ``[time, value]`` pairs), e.g. a sparkline.

    Letting every point count would ground almost any invented number: a range query's points
    cover a whole range of values.
    """
    if len(value) < _RAW_SERIES_MIN:
        return False
    return all(
        isinstance(item, int | float)
        or (isinstance(item, list | tuple) and all(isinstance(x, int | float) for x in item))
        for item in value
    )


#: Keys of a record holding a series' level before and after (or during) a change.
_BEFORE_KEYS = ("before", "baseline_median", "baseline", "level_before", "median_before", "before_ms")
_AFTER_KEYS = ("after", "recent_median", "during", "level_after", "median_after", "after_ms", "current")
# "from 0.8 to 0.74", "0.0386 → 0.462": a before/after pair written in one phrase of the evidence.
_TEXT_PAIR = re.compile(
    r"(?:from\s+)?([−\-+]?\d+(?:\.\d+)?)\s*(?:→|->|\s+to\s+)\s*([−\-+]?\d+(?:\.\d+)?)(?![\w.]\d)"
)
_MAX_RECORDS = 400


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value) if abs(value) < 1e9 else None  # 1e9+ is a timestamp


def _record_pairs(rec: dict[str, Any]) -> list[tuple[float, float]]:
    """The (before, after) pairs of one series record: its own keys, or an onset's reference + delta."""
    befores = [n for k in _BEFORE_KEYS if (n := _number(rec.get(k))) is not None]
    afters = [n for k in _AFTER_KEYS if (n := _number(rec.get(k))) is not None]
    reference = rec.get("reference")
    if isinstance(reference, dict) and (median := _number(reference.get("median"))) is not None:
        befores.append(median)
        if (delta := _number(rec.get("delta"))) is not None:
            afters.append(median + delta)
    pairs = [(a, b) for a in befores for b in afters]
    during, after = _number(rec.get("during")), _number(rec.get("after"))
    if during is not None and after is not None:
        pairs.append((during, after))
    return pairs


def _series_pairs(value: Any, out: list[tuple[float, float]], depth: int = 0) -> None:
    """Before/after pairs of every record (and every "from X to Y" phrase) in ``value``."""
    if len(out) >= _MAX_RECORDS or depth > 8:
        return
    if isinstance(value, str):
        for a, b in _TEXT_PAIR.findall(value):
            out.append((float(a.replace("−", "-")), float(b.replace("−", "-"))))
    elif isinstance(value, dict):
        out.extend(_record_pairs(value))
        for key, item in value.items():
            if key not in _NOT_OBSERVED:
                _series_pairs(item, out, depth + 1)
    elif isinstance(value, list | tuple) and not _is_raw_series(value):
        for item in value:
            _series_pairs(item, out, depth + 1)


def evidence_numbers(ev: dict[str, Any]) -> set[float]:
    """Every number a sentence citing ``ev`` may use: its values, and changes within one series.

    A change is derived only from a before/after pair **of the same series**: the before and
    after (or during) keys of one record, an onset record's reference median and delta, or a
    "from X to Y" / "X → Y" phrase. From each pair: the difference (also in points, x100), the
    relative change in % and the ratio. Two unrelated numbers of the evidence never combine.
    """
    values: list[float] = []
    record = {"summary": ev.get("summary", ""), "data": ev.get("data", {})}
    _walk(record, values)
    found = set(values)
    pairs: list[tuple[float, float]] = []
    _series_pairs(record, pairs)
    for a, b in pairs:
        found.update((a, b, b - a, (b - a) * 100.0))
        if a:
            found.update(((b - a) / abs(a) * 100.0, b / a))
    return found


_ISO_CLOCK = re.compile(r"\d{4}-\d{2}-\d{2}[T ](\d{2}:\d{2})")


def _times(ev: dict[str, Any]) -> set[str]:
    """Clock times (UTC ``HH:MM``) in the evidence: Unix-time values, ISO times, times in text."""
    out: set[str] = set()

    def walk(value: Any, depth: int) -> None:
        if depth > 8 or isinstance(value, bool):
            return
        if isinstance(value, int | float):
            if 1e9 < value < 1e10:
                out.add(datetime.fromtimestamp(value, UTC).strftime("%H:%M"))
        elif isinstance(value, str):
            out.update(_ISO_CLOCK.findall(value))
            out.update(f"{int(h):02d}:{m}" for h, m in _CLOCK.findall(_ISO_DATE.sub(" ", value)))
        elif isinstance(value, dict):
            for item in value.values():
                walk(item, depth + 1)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item, depth + 1)

    walk({"summary": ev.get("summary", ""), "data": ev.get("data", {})}, 0)
    return out


def sentence_numbers(text: str) -> list[tuple[float, str]]:
    """Numbers written in ``text`` with their written form (ids, dates and clock times excluded)."""
    text = _EVIDENCE_ID.sub(" ", text)
    text = _ISO_DATE.sub(" ", text)
    text = _CLOCK.sub(" ", text)
    out = []
    for match in _NUMBER.finditer(text):
        raw = match.group(1).replace("−", "-").replace(",", ".")
        try:
            out.append((float(raw), match.group(0).strip()))
        except ValueError:
            continue
    return out


def _matches(number: float, written: str, pool: Iterable[float]) -> bool:
    digits = written.rstrip("% ").lstrip("−-+")
    decimals = len(digits.split(".")[1]) if "." in digits else 0
    # What rounding to the written precision allows (and a hair more, for binary fractions:
    # 0.455 written as 0.46 is 0.0050000000000000044 away).
    tolerance = 0.5 * 10 ** -decimals * (1 + 1e-9) + 1e-12
    percent = written.endswith("%")
    for value in pool:
        if abs(abs(value) - abs(number)) <= tolerance:
            return True
        if percent and abs(abs(value) * 100 - abs(number)) <= tolerance:
            return True
    return False


def ground(
    sentences: Iterable[Sentence], evidence: dict[str, dict[str, Any]]
) -> tuple[list[Sentence], list[Dropped]]:
    """Split ``sentences`` into those grounded in ``evidence`` and those dropped (with reasons)."""
    kept: list[Sentence] = []
    dropped: list[Dropped] = []
    numbers_of: dict[str, set[float]] = {}
    times_of: dict[str, set[str]] = {}
    for sentence in sentences:
        cited = [i for i in sentence.evidence_ids if i in evidence]
        unknown = [i for i in sentence.evidence_ids if i not in evidence]
        if not sentence.evidence_ids:
            dropped.append(Dropped(**sentence.model_dump(), reason="cites no evidence"))
            continue
        if not cited:
            dropped.append(Dropped(**sentence.model_dump(), reason=f"cites unknown evidence {unknown}"))
            continue
        written = sentence_numbers(sentence.text)
        clocks = [f"{int(h):02d}:{m}" for h, m in _CLOCK.findall(_ISO_DATE.sub(" ", sentence.text))]
        numbers: set[float] = set()
        times: set[str] = set()
        for i in cited:  # the evidence is read only when the sentence has numbers or times
            if written and i not in numbers_of:
                numbers_of[i] = evidence_numbers(evidence[i])
            if clocks and i not in times_of:
                times_of[i] = _times(evidence[i])
            numbers |= numbers_of.get(i, set())
            times |= times_of.get(i, set())
        ungrounded = [w for n, w in written if not _matches(n, w, numbers)]
        bad_times = [c for c in clocks if c not in times]
        if ungrounded or bad_times:
            what = ", ".join([*ungrounded, *bad_times])
            dropped.append(Dropped(text=sentence.text, evidence_ids=cited,
                                   reason=f"numbers not found in the cited evidence: {what}"))
            continue
        kept.append(Sentence(text=sentence.text, evidence_ids=cited))
    return kept, dropped
