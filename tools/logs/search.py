"""``log_search``: what the logs say about a time window, as counts and templates, not raw lines.

The tool asks its :class:`~augur.tools.logs.backend.LogBackend` (the embedded SQLite store or
Elasticsearch) for the matching lines' counts over time, the top values of level, service and
host, and a bounded scan of the lines, then collapses the lines into Drain templates. A template
with no line before the baseline cut is flagged *new*: the error template that appeared at 02:10
is the evidence, not 40,000 raw lines.

Guards: at most ``max_buckets`` buckets, at most ``max_docs`` lines scanned for templates (plus
``max_baseline_docs`` from the baseline), at most ``limit`` templates; the summary and
``truncated`` say what was cut. A window of any length is counted whole; when it holds more lines
than a scan takes, the scan is spread over ``scan_slices`` slices of about equal line counts
(from the counts over time), so a 26-day window is templated from all 26 days, not the last hours.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import BaseModel, Field

from augur.tools.base import Tool, ToolError
from augur.tools.evidence import Evidence, EvidenceStatus, Meaning
from augur.tools.logs.backend import LOGICAL_FIELDS, LogBackend, LogPage, LogQuery, LogRecord
from augur.tools.logs.templates import (
    LogTemplate,
    masked,
    mine_templates,
    template_pattern,
    template_words,
)
from augur.tools.results import LogTemplatesResult
from augur.tools.timeparse import TIME_HELP, parse_duration, parse_time

__all__ = ["LogLimits", "LogSearchArgs", "LogSearchTool"]

#: Bucket widths the tool picks from, in seconds.
_NICE_BUCKETS = (1, 5, 10, 30, 60, 300, 600, 900, 1800, 3600, 10800, 21600, 43200, 86400, 2 * 86400,
                 7 * 86400, 14 * 86400, 30 * 86400)


@dataclass(frozen=True, slots=True)
class LogLimits:
    """The guards of ``log_search``."""

    max_buckets: int = 120
    max_docs: int = 5000
    max_baseline_docs: int = 2000
    #: A cut scan is spread over this many slices of the window after the baseline.
    scan_slices: int = 16
    max_templates: int = 200
    max_samples: int = 3
    top_n: int = 5
    #: When the scan was cut, the new templates whose true first line is looked up (one query each)...
    max_confirm: int = 5
    #: ...reading at most this many of the oldest lines that share the template's words.
    confirm_docs: int = 200


class LogSearchArgs(BaseModel):
    """Arguments of ``log_search``."""

    query: str = Field(
        default="", max_length=1000,
        description='Full-text query over the message: words (all must match), "quoted phrases", '
        "AND/OR/NOT, prefix*. Empty matches every line. Put field conditions in `filters`.",
    )
    start: str | float = Field(default="now-1h", description=f"Window start: {TIME_HELP}.")
    end: str | float = Field(default="now", description=f"Window end: {TIME_HELP}.")
    filters: dict[str, str] = Field(
        default_factory=dict,
        description="Exact field values, case-insensitive, e.g. {\"service\": \"ranker-serving\", "
        "\"level\": \"error\"}. Fields: level, service, host, or any other field of the log documents.",
    )
    limit: int = Field(default=20, ge=1, le=200, description="Most templates to return (new ones first).")
    baseline_end: str | float | None = Field(
        default=None,
        description="Lines before this time are the baseline; templates with no baseline line are "
        "flagged new. Default: the end of the window's first quarter.",
    )
    bucket: str | None = Field(
        default=None, description="Width of the count buckets, e.g. '1m'; default: at most 120 buckets."
    )


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _hm(ts: float, dated: bool = False) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S" if dated else "%H:%M:%S")


def _bucket_width(span: float, requested: float | None, max_buckets: int) -> float:
    needed = span / max(max_buckets - 1, 1)
    if requested is not None and requested >= needed:
        return requested
    nice = next((b for b in _NICE_BUCKETS if b >= needed), None)
    return float(nice if nice is not None else math.ceil(needed / 86400) * 86400)


def _equal_count_cuts(
    buckets: list[tuple[float, int]], width: float, lo: float, hi: float, slices: int
) -> list[tuple[float, float]]:
    """``[lo, hi]`` cut at bucket edges into at most ``slices`` ranges holding about equal line counts."""
    inside = [(t, n) for t, n in buckets if t + width > lo and t < hi and n]
    total = sum(n for _, n in inside)
    if not inside or slices <= 1:
        return [(lo, hi)]
    cuts: list[tuple[float, float]] = []
    edge, seen = lo, 0
    for t, n in inside:
        seen += n
        if seen * slices >= total * (len(cuts) + 1) and len(cuts) < slices - 1:
            stop = min(t + width, hi)
            cuts.append((edge, stop))
            edge = stop
    cuts.append((edge, hi))
    return [(a, b) for a, b in cuts if b > a]


def _template_json(t: LogTemplate) -> dict[str, Any]:
    return {
        "template": t.template, "count": t.count, "baseline_count": t.baseline_count, "new": t.new,
        "first_seen": _iso(t.first_seen), "first_seen_exact": t.first_seen_exact,
        "last_seen": _iso(t.last_seen),
        "levels": t.levels, "services": t.services, "samples": t.samples,
    }


class LogSearchTool(Tool):
    """Log search over a :class:`~augur.tools.logs.backend.LogBackend`, answered as templates.

    The same tool runs over SQLite or Elasticsearch; only the backend passed in differs.
    """

    name: ClassVar[str] = "log_search"
    meaning: ClassVar[Meaning] = Meaning.LOG_TEMPLATES
    Result: ClassVar[type[BaseModel]] = LogTemplatesResult
    description: ClassVar[str] = (
        "Search logs in a time window and return counts over time, top levels/services/hosts, and the "
        "lines collapsed into templates (Drain) with counts and first/last-seen times; templates that "
        "first appear after the baseline (default: the window's first quarter) are flagged new. Use it "
        "to find the error that started an incident: filter to the affected service around the anomaly "
        "onset and read the new templates first."
    )
    Args: ClassVar[type[BaseModel]] = LogSearchArgs

    def __init__(self, backend: LogBackend, limits: LogLimits | None = None) -> None:
        self.backend = backend
        self.limits = limits or LogLimits()

    async def _run(self, args: LogSearchArgs) -> Evidence:
        lim = self.limits
        canonical = args.model_dump(mode="json")
        truncated: list[str] = []
        now = time.time()
        end = parse_time(args.end, now=now)
        start = parse_time(args.start, now=now)
        if start >= end:
            raise ToolError(f"start ({_iso(start)}) is not before end ({_iso(end)}): swap or widen them")
        span = end - start
        baseline_end = start + span / 4
        if args.baseline_end is not None:
            baseline_end = parse_time(args.baseline_end, now=now)
        baseline_end = min(max(baseline_end, start), end)
        requested = parse_duration(args.bucket) if args.bucket else None
        bucket_s = _bucket_width(span, requested, lim.max_buckets)
        if requested is not None and bucket_s != requested:
            truncated.append(f"bucket: {requested:g} s -> {bucket_s:g} s (at most {lim.max_buckets} buckets)")
        top_fields = tuple(dict.fromkeys([*LOGICAL_FIELDS, *args.filters]))
        query = LogQuery(
            text=args.query.strip(), start=start, end=end, filters=dict(args.filters), max_docs=lim.max_docs,
            bucket_s=bucket_s, top_fields=top_fields, top_n=lim.top_n,
        )
        page = await self.backend.search(query)
        records = {r.id or f"#{i}": r for i, r in enumerate(page.records)}
        if page.total > len(page.records):
            records = await self._spread(query, page, baseline_end)
            truncated.append(f"lines scanned for templates: {page.total} -> {len(records)} (sampled across "
                             f"the whole window, in slices of about equal line counts)")
        scanned = list(records.values())
        baseline_lines = sum(1 for r in scanned if r.ts < baseline_end)
        # No matching line before the cut says "new" only if the backend holds lines from then at
        # all: logs shipped from a later time (a file ingested from the incident on, a retention
        # cut) leave nothing to compare with, and every template would read as new.
        covered = baseline_lines > 0 or baseline_end <= start or (await self.backend.search(LogQuery(
            text="", start=start, end=baseline_end - 1e-6, max_docs=1, aggregate=False))).total > 0
        mined = mine_templates(
            # The baseline window is always covered: fully by the first scan, or by the second one.
            scanned, baseline_end=baseline_end if baseline_end > start and covered else None,
            max_templates=min(args.limit, lim.max_templates), max_samples=lim.max_samples,
        )
        scan_cut = page.total > len(page.records)
        if scan_cut:
            for t in mined.templates:
                t.first_seen_exact = False
            candidates = [t for t in mined.templates if t.new][: lim.max_confirm]
            await asyncio.gather(*(self._confirm(t, query, baseline_end) for t in candidates))
            mined.templates.sort(key=lambda t: (not t.new, -t.count, t.first_seen))
        if mined.total_templates > len(mined.templates):
            truncated.append(f"templates: {mined.total_templates} -> {len(mined.templates)} (the "
                             f"{mined.total_templates - len(mined.templates)} left out hold "
                             f"{mined.left_out_lines} of the {len(scanned)} lines scanned)")
        data: dict[str, Any] = {
            "backend": self.backend.description,
            "window": {"start": _iso(start), "end": _iso(end), "baseline_end": _iso(baseline_end),
                       "bucket_s": bucket_s},
            "total": page.total,
            "total_is_lower_bound": page.total_is_lower_bound,
            "scanned": len(scanned),
            "counts": [{"t": _iso(t), "count": n} for t, n in page.buckets],
            "top_values": {
                f: [{"value": v, "count": n} for v, n in vals] for f, vals in page.top_values.items()
            },
            "templates": [_template_json(t) for t in mined.templates],
            "total_templates": mined.total_templates,
            "new_templates": sum(1 for t in mined.templates if t.new),
            "baseline_scanned": baseline_lines,
            "baseline_covered": covered,
        }
        source_url = self.backend.source_url(query)
        summary = self._summary(args, page, mined.templates, mined.total_templates, start, end, baseline_end,
                                baseline_lines, truncated, covered)
        if page.total == 0:
            return Evidence.make(
                self.name, canonical, EvidenceStatus.EMPTY, summary, data=data, truncated=truncated,
                source_url=source_url,
                reason="no line matches: widen the window, loosen the query or filters, or check that "
                "the service's logs are shipped to this backend",
            )
        return Evidence.make(self.name, canonical, EvidenceStatus.OK, summary, data=data,
                             truncated=truncated, source_url=source_url)

    async def _spread(self, query: LogQuery, page: LogPage, baseline_end: float) -> dict[str, LogRecord]:
        """A scan spread over the whole window, for when one scan cannot hold every line.

        The baseline (before ``baseline_end``) and the rest of the window are each cut at bucket
        edges into slices of about equal line counts (``scan_slices`` after the baseline, a
        quarter as many in it); each slice is scanned for an equal share of ``max_baseline_docs``
        or ``max_docs`` lines (the best or newest of the slice, as the first scan orders them).
        """
        lim = self.limits
        ranges: list[tuple[float, float, int]] = []
        parts = ((query.start, baseline_end, max(1, lim.scan_slices // 4), lim.max_baseline_docs),
                 (baseline_end, query.end, lim.scan_slices, lim.max_docs))
        for lo, hi, slices, budget in parts:
            if hi <= lo:
                continue
            cuts = _equal_count_cuts(page.buckets, query.bucket_s, lo, hi, slices)
            ranges += [(a, b, max(1, budget // len(cuts))) for a, b in cuts]
        pages = await asyncio.gather(*(self.backend.search(LogQuery(
            text=query.text, start=lo, end=hi, filters=query.filters, max_docs=docs, bucket_s=query.bucket_s,
            top_fields=(), aggregate=False,
        )) for lo, hi, docs in ranges))
        records: dict[str, LogRecord] = {}
        for n, part in enumerate(pages):
            for i, r in enumerate(part.records):
                records.setdefault(r.id or f"{n}#{i}", r)
        return records

    async def _confirm(self, t: LogTemplate, query: LogQuery, baseline_end: float) -> None:
        """Look up a template's true first line in the window (the scan missed older ones).

        Asks the backend for the oldest lines with the template's constant words (and the user's
        query) before the first scanned one, and takes the first whose masked text fits the
        template. A template first seen before the baseline cut is no longer new.
        """
        words = template_words(t.template)
        if not words:
            return
        text = " AND ".join(words)
        if query.text:
            text = f"({query.text}) AND {text}"
        page = await self.backend.search(LogQuery(
            text=text, start=query.start, end=t.first_seen, filters=query.filters,
            max_docs=self.limits.confirm_docs, top_fields=(), aggregate=False, oldest_first=True,
        ))
        pattern = template_pattern(t.template)
        first = next((r.ts for r in page.records if pattern.match(masked(r.message))), None)
        if first is not None and first < t.first_seen:
            t.first_seen = first
        # Exact when the look-up saw every earlier line that has the words, or found one that fits.
        t.first_seen_exact = first is not None or len(page.records) < self.limits.confirm_docs
        if t.first_seen < baseline_end:
            t.new = False
            t.baseline_count = max(t.baseline_count, 1)

    def _summary(
        self, args: LogSearchArgs, page: LogPage, templates: list[LogTemplate], total_templates: int,
        start: float, end: float, baseline_end: float, baseline_lines: int, truncated: list[str],
        covered: bool = True,
    ) -> str:
        # Times of day alone, unless the window spans more than one UTC day (a month of logs).
        dated = datetime.fromtimestamp(start, UTC).date() != datetime.fromtimestamp(end, UTC).date()

        def hm(ts: float) -> str:
            return _hm(ts, dated)

        what = f"lines match `{args.query}`" if args.query.strip() else "lines"
        if args.filters:
            what += " with " + ", ".join(f"{k}={v}" for k, v in sorted(args.filters.items()))
        plus = "+" if page.total_is_lower_bound else ""
        head = (f"{page.total}{plus} {what} in {_iso(start)}..{_iso(end)} "
                f"({self.backend.description})")
        if page.total == 0:
            return head + "."
        parts = [head + f"; {total_templates} templates"]
        new = [t for t in templates if t.new]
        if new:
            shown = "; ".join(f"'{t.template[:120]}' x{t.count} from {hm(t.first_seen)}" for t in new[:3])
            quiet = f" (no matching line before {hm(baseline_end)})" if not baseline_lines else ""
            if any(not t.first_seen_exact for t in new):  # the scan was cut and a look-up failed
                quiet = f" (absent from the {baseline_lines} baseline lines scanned)"
            parts.append(f"NEW since {hm(baseline_end)}{quiet}: {shown}")
        elif not covered:
            parts.append(f"{self.backend.description} holds no line at all before {hm(baseline_end)} in "
                         "this window (its logs start later), so nothing can be compared and no template "
                         "is flagged new: ingest or ship the logs from before the incident to compare")
        elif baseline_end > start:
            parts.append(f"no template is new since {hm(baseline_end)}")
        else:
            parts.append("the baseline window is empty (baseline_end = start), so no template is flagged new")
        if page.buckets:
            t, n = max(page.buckets, key=lambda b: b[1])
            parts.append(f"busiest bucket {hm(t)} ({n} lines)")
        if truncated:
            parts.append("cut: " + ", ".join(truncated))
        return ". ".join(parts) + "."
