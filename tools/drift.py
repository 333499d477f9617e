"""The ``drift`` tool: did a feature's distribution move, by Evidently's own measures, and can we trust it?

Three sources, one answer shape:

- ``reference`` and ``current`` as inline lists of values;
- a feature table: ``reference_path`` and ``current_path`` (CSV or Parquet), or one ``path`` split
  at ``split_at`` by ``timestamp_column``, with one ``column`` or several ``columns``; windows of
  more than ``max_rows`` rows a side are streamed into KLL quantile sketches
  (:mod:`augur.tools.quantile_sketch`) instead of being held in memory;
- a Prometheus histogram: the bucket counts' increase over a reference window and over a current
  window become two distributions over the same buckets, so drift comes from what is already
  scraped.

Values equal Evidently 0.7.23's (:mod:`augur.tools.stattests`). Beyond Evidently: PSI's p-value
under no drift, a ``low_confidence`` flag below :data:`LOW_CONFIDENCE_ROWS` rows a side (PSI > 0.2
fires on pure noise about 40 % of the time at 100 rows a side), the change in missing rate and,
with a timestamp column, the table's freshness.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field, model_validator

from augur.tools.base import Tool, ToolError, Unavailable
from augur.tools.evidence import Evidence, EvidenceStatus, Meaning, compact_args
from augur.tools.histogram_drift import histogram_drift
from augur.tools.prometheus_api import PromLimits
from augur.tools.quantile_sketch import StreamedColumn, sketch_compare
from augur.tools.results import DriftResult
from augur.tools.stattests import METHODS, ColumnKind, Sample, StatResult, compare
from augur.tools.timeparse import TIME_HELP, parse_time

if TYPE_CHECKING:
    from augur.tools.prometheus_api import PrometheusClient

__all__ = ["LOW_CONFIDENCE_ROWS", "DriftArgs", "DriftTool", "column_drift", "compare_frames"]

#: Below this many rows on either side a verdict is flagged low-confidence.
LOW_CONFIDENCE_ROWS = 500
MethodName = Literal["auto", "psi", "ks", "wasserstein", "jensenshannon", "chisquare", "z"]
_CHUNK_ROWS = 1_000_000


class DriftArgs(BaseModel):
    """Arguments of ``drift``: one source (inline lists, file(s) + column, or a Prometheus histogram)."""

    reference: list[float | str | bool | None] | None = Field(
        default=None, max_length=1_000_000, description="Inline reference values (null = missing).")
    current: list[float | str | bool | None] | None = Field(
        default=None, max_length=1_000_000, description="Inline current values (null = missing).")
    reference_path: str | None = Field(default=None, description="Reference table, .csv or .parquet.")
    current_path: str | None = Field(default=None, description="Current table, .csv or .parquet.")
    path: str | None = Field(default=None, description="One table split into reference (before "
                             "`split_at`) and current by `timestamp_column`.")
    split_at: str | float | None = Field(default=None, description=f"With `path`: {TIME_HELP}.")
    column: str | None = Field(default=None, description="Feature column to compare.")
    columns: list[str] | None = Field(default=None, max_length=100, description="Several columns.")
    timestamp_column: str | None = Field(default=None, description="Event-time column: gives the "
                                         "current table's freshness (and the split for `path`).")
    histogram: str | None = Field(default=None, description="Prometheus histogram bucket selector, e.g. "
                                  "`http_request_duration_seconds_bucket{service=\"ranker-serving\"}`.")
    current_start: str | float = Field(default="now-1h",
                                       description=f"Histogram current window start: {TIME_HELP}.")
    current_end: str | float = Field(default="now", description="Histogram current window end.")
    reference_start: str | float | None = Field(
        default=None,
        description="Histogram reference window start (default: the current window a day earlier).")
    reference_end: str | float | None = Field(default=None, description="Histogram reference window end.")
    baseline_end: str | float | None = Field(
        default=None, description="Histogram, instead of the four window bounds: one range `start`..`end` "
        "split here into reference (before) and current (after).")
    start: str | float | None = Field(default=None, description="With `baseline_end`: range start "
                                      "(default: as long before baseline_end as end is after it).")
    end: str | float | None = Field(default=None, description="With `baseline_end`: range end (default now).")
    method: MethodName = Field(default="auto", description="psi, ks, wasserstein, jensenshannon, chisquare, "
                               "z, or auto (Evidently's choice by column type and row count).")
    threshold: float | None = Field(default=None, gt=0, description="Drift threshold (default: the "
                                    "method's, e.g. PSI 0.1; the article's 'significant' PSI is 0.2).")
    kind: Literal["auto", "numerical", "categorical"] = Field(
        default="auto", description="Column type; auto: numbers are numerical, the rest categorical.")
    max_rows: int = Field(default=5_000_000, ge=1000, le=100_000_000, description="Rows a side held in "
                          "memory; larger windows are summarised by quantile sketches (approximate).")

    @model_validator(mode="before")
    @classmethod
    def _paths_given_as_sides(cls, data: Any) -> Any:
        """``reference``/``current`` given as strings are file paths (the catalog's drift sources)."""
        if isinstance(data, dict):
            for side in ("reference", "current"):
                if isinstance(data.get(side), str) and data.get(f"{side}_path") is None:
                    data = {**data, f"{side}_path": data[side]}
                    del data[side]
        return data

    @model_validator(mode="after")
    def _one_source(self) -> DriftArgs:
        inline = self.reference is not None or self.current is not None
        files = self.reference_path is not None or self.current_path is not None or self.path is not None
        sources = sum([inline, files, self.histogram is not None])
        if sources != 1:
            raise ValueError("give exactly one source: reference+current lists, reference_path+current_path "
                             "(or path+split_at) with column, or a Prometheus histogram")
        if inline and (self.reference is None or self.current is None):
            raise ValueError("give both `reference` and `current`")
        if files:
            if self.path is not None and (self.split_at is None or self.timestamp_column is None):
                raise ValueError("`path` needs `split_at` and `timestamp_column` to split it in two")
            if self.path is None and (self.reference_path is None or self.current_path is None):
                raise ValueError("give both `reference_path` and `current_path` (or `path` + `split_at`)")
            if not self.column and not self.columns:
                raise ValueError("name the feature `column` (or `columns`) to compare")
        return self


def column_drift(reference: Sample, current: Sample, method: str, threshold: float | None) -> dict[str, Any]:
    """One column's drift as evidence data (value, p_value, drifted, sizes, missing rates...)."""
    result = compare(reference, current, method, threshold=threshold)
    return _row(result, reference.kind.value, len(reference), len(current),
                (reference.missing, reference.raw_rows), (current.missing, current.raw_rows))


def compare_frames(
    reference: pd.DataFrame, current: pd.DataFrame, columns: list[str] | None = None, method: str = "auto",
    threshold: float | None = None, kind: str = "auto",
) -> list[dict[str, Any]]:
    """Drift of each column of two in-memory tables (all shared columns by default)."""
    names = columns or [c for c in reference.columns if c in current.columns]
    forced = None if kind == "auto" else ColumnKind(kind)
    return [{"column": c, **column_drift(Sample(reference[c], forced), Sample(current[c], forced), method,
                                         threshold)} for c in names]


def _row(result: StatResult, kind: str, n_ref: int, n_cur: int, ref_missing: tuple[int, int],
         cur_missing: tuple[int, int]) -> dict[str, Any]:
    def clean(x: float | None) -> float | None:
        return None if x is None or not math.isfinite(x) else float(x)

    ref_rate = ref_missing[0] / ref_missing[1] if ref_missing[1] else None
    cur_rate = cur_missing[0] / cur_missing[1] if cur_missing[1] else None
    row: dict[str, Any] = {
        "kind": kind, "method": result.method, "method_name": METHODS[result.method].display_name,
        "value": clean(result.value), "p_value": clean(result.p_value), "statistic": clean(result.statistic),
        "threshold": result.threshold, "drifted": result.drifted,
        "reference_rows": n_ref, "current_rows": n_cur,
        "low_confidence": min(n_ref, n_cur) < LOW_CONFIDENCE_ROWS,
        "missing": {"reference_rate": ref_rate, "current_rate": cur_rate,
                    "change": None if ref_rate is None or cur_rate is None else cur_rate - ref_rate},
    }
    for key, value in result.details.items():
        row[key] = clean(value) if isinstance(value, float) else value
    return row


def confined(path: str, roots: Sequence[Path] | None) -> Path:
    """``path`` resolved (symlinks and ``..`` followed) if it lies under one of ``roots``; a
    :class:`ToolError` otherwise. ``roots=None`` confines nothing (a library caller's choice); the
    server always passes its configured roots, so a model cannot name ``/etc`` or ``~/.ssh``."""
    file = Path(path).expanduser()
    if roots is None:
        return file
    real = file.resolve()
    for root in roots:
        base = Path(root).expanduser().resolve()
        if real == base or base in real.parents:
            return real
    allowed = ", ".join(str(r) for r in roots) or "none"
    raise ToolError(f"{path} is outside the directories drift may read ({allowed}): put the table "
                    "there or add its directory to AUGUR_DATA_ROOTS")


def _read_chunks(path: str, columns: list[str],
                 roots: Sequence[Path] | None = None) -> Iterator[pd.DataFrame]:
    file = confined(path, roots)
    if not file.is_file():
        raise ToolError(f"{path} is not a readable file: check the path (it is read on the augur host)")
    name = file.name.lower()
    try:
        if name.endswith((".parquet", ".pq")):
            import pyarrow.parquet as pq

            table = pq.ParquetFile(file)
            missing = [c for c in columns if c not in table.schema_arrow.names]
            if missing:
                raise ToolError(f"{path} has no column {', '.join(missing)}; it has: "
                                f"{', '.join(table.schema_arrow.names[:30])}")
            for batch in table.iter_batches(batch_size=_CHUNK_ROWS, columns=columns):
                yield batch.to_pandas()
        elif name.endswith((".csv", ".csv.gz", ".tsv")):
            header = pd.read_csv(file, nrows=0, sep="\t" if name.endswith(".tsv") else ",").columns
            missing = [c for c in columns if c not in header]
            if missing:
                raise ToolError(f"{path} has no column {', '.join(missing)}; it has: "
                                f"{', '.join(header[:30])}")
            yield from pd.read_csv(file, usecols=columns, chunksize=_CHUNK_ROWS,
                                   sep="\t" if name.endswith(".tsv") else ",")
        else:
            raise ToolError(f"cannot read {file.name}: use a .csv, .tsv or .parquet file")
    except ToolError:
        raise
    except Exception as exc:  # pyarrow/pandas parse errors: a corrupt or mislabelled file
        raise ToolError(f"cannot parse {path} ({type(exc).__name__}: {str(exc)[:200]}): check that it is a "
                        "valid CSV/Parquet file") from None


def _timestamps(values: pd.Series) -> pd.Series:
    """Event times as UTC timestamps; numbers are Unix seconds (or milliseconds when that large)."""
    if pd.api.types.is_numeric_dtype(values):
        millis = bool(values.dropna().abs().max() > 1e11)
        return pd.Series(pd.to_datetime(values, unit="ms" if millis else "s", utc=True, errors="coerce"))
    return pd.Series(pd.to_datetime(values, utc=True, errors="coerce"))


class _Side:
    """One side of a table comparison: in memory up to ``max_rows``, sketched beyond."""

    def __init__(self, columns: list[str], max_rows: int) -> None:
        self.columns, self.max_rows = columns, max_rows
        self.frames: list[pd.DataFrame] = []
        self.rows = 0
        self.streams: dict[str, StreamedColumn] | None = None
        self.latest: pd.Timestamp | None = None

    def add(self, frame: pd.DataFrame, timestamp_column: str | None) -> None:
        if timestamp_column:
            stamps = _timestamps(frame[timestamp_column]).max()
            if pd.notna(stamps) and (self.latest is None or stamps > self.latest):
                self.latest = stamps
        self.rows += int(frame.shape[0])
        if self.streams is None and self.rows <= self.max_rows:
            self.frames.append(frame[self.columns])
            return
        if self.streams is None:
            self.streams = {c: StreamedColumn() for c in self.columns}
            for old in self.frames:
                self._stream(old)
            self.frames = []
        self._stream(frame)

    def _stream(self, frame: pd.DataFrame) -> None:
        assert self.streams is not None
        for c in self.columns:
            if not pd.api.types.is_numeric_dtype(frame[c]):
                raise ToolError(f"column {c} is categorical and its window has more than {self.max_rows} "
                                "rows: raise max_rows or sample the table")
            self.streams[c].update(frame[c].to_numpy(dtype=np.float64))

    def frame(self) -> pd.DataFrame:
        if not self.frames:
            return pd.DataFrame(columns=self.columns)
        return pd.concat(self.frames, ignore_index=True)


class DriftTool(Tool):
    """Compare a feature's reference and current distributions (PSI, K-S, Wasserstein, JS, chi-square, z).

    Values and verdicts equal Evidently 0.7.23's; the evidence adds sample sizes, a
    low-confidence flag, PSI's p-value under no drift, missing-rate change and freshness.
    """

    name = "drift"
    meaning = Meaning.DRIFT
    Result = DriftResult
    description = (
        "Data drift between a reference and a current window: PSI, K-S, Wasserstein (normed), "
        "Jensen-Shannon, chi-square or z-test (auto: Evidently's choice), equal to Evidently's values. "
        "Sources: inline lists; CSV/Parquet paths + column(s) (also missing-rate change and freshness "
        "with timestamp_column); or a Prometheus histogram's buckets over two windows."
    )
    Args = DriftArgs

    def __init__(self, prometheus: PrometheusClient | None = None, limits: PromLimits | None = None,
                 roots: Sequence[Path] | None = None) -> None:
        self.prom = prometheus
        #: Tables are read only under these directories (None: anywhere; the server always sets them).
        self.roots = list(roots) if roots is not None else None
        self.limits = limits or PromLimits()
        self.timeout_s = 120.0

    async def _run(self, args: DriftArgs) -> Evidence:
        canonical = compact_args(args.model_dump(mode="json"))
        if args.histogram is not None:
            if self.prom is None:
                raise Unavailable("no Prometheus is configured for histogram drift: set "
                                  "AUGUR_PROMETHEUS_URL, or compare values inline or from files")
            data, link = await asyncio.to_thread(self._histogram, args)
            return self._evidence(canonical, [data], {"source": "prometheus"}, link)
        if args.reference is not None and args.current is not None:
            forced = None if args.kind == "auto" else ColumnKind(args.kind)
            ref = [math.nan if v is None else v for v in args.reference]
            cur = [math.nan if v is None else v for v in args.current]
            try:
                row = column_drift(Sample(_inline(ref), forced), Sample(_inline(cur), forced), args.method,
                                   args.threshold)
            except ValueError as exc:
                raise ToolError(str(exc)) from None
            return self._evidence(canonical, [{"column": "inline", **row}], {"source": "inline"}, None)
        rows, extra = await asyncio.to_thread(self._tables, args)
        return self._evidence(canonical, rows, extra, None)

    def _histogram(self, args: DriftArgs) -> tuple[dict[str, Any], str]:
        now = parse_time(None)
        if args.baseline_end is not None:  # one range split in two
            split = parse_time(args.baseline_end, now=now)
            end = parse_time(args.end if args.end is not None else "now", now=now)
            start = parse_time(args.start, now=now) if args.start is not None else split - (end - split)
            cur, ref_start, ref_end = (split, end), start, split
        else:
            cur = (parse_time(args.current_start, now=now), parse_time(args.current_end, now=now))
            day = 86400.0
            ref_start = (cur[0] - day if args.reference_start is None
                         else parse_time(args.reference_start, now=now))
            ref_end = cur[1] - day if args.reference_end is None else parse_time(args.reference_end, now=now)
        assert args.histogram is not None
        return histogram_drift(self.prom, args.histogram, (ref_start, ref_end), cur,  # type: ignore[arg-type]
                               args.method, args.threshold, self.limits.request_timeout_s)

    def _tables(self, args: DriftArgs) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        columns = list(dict.fromkeys((args.columns or []) + ([args.column] if args.column else [])))
        wanted = columns + ([args.timestamp_column] if args.timestamp_column and
                            args.timestamp_column not in columns else [])
        ref, cur = _Side(columns, args.max_rows), _Side(columns, args.max_rows)
        if args.path is not None:
            assert args.timestamp_column is not None and args.split_at is not None
            split = pd.Timestamp(parse_time(args.split_at), unit="s", tz="UTC")
            for chunk in _read_chunks(args.path, wanted, self.roots):
                stamps = _timestamps(chunk[args.timestamp_column])
                ref.add(chunk[stamps < split], args.timestamp_column)
                cur.add(chunk[stamps >= split], args.timestamp_column)
        else:
            assert args.reference_path is not None and args.current_path is not None
            for chunk in _read_chunks(args.reference_path, wanted, self.roots):
                ref.add(chunk, args.timestamp_column)
            for chunk in _read_chunks(args.current_path, wanted, self.roots):
                cur.add(chunk, args.timestamp_column)
        rows: list[dict[str, Any]] = []
        forced = None if args.kind == "auto" else ColumnKind(args.kind)
        ref_frame = ref.frame() if ref.streams is None else None
        cur_frame = cur.frame() if cur.streams is None else None
        for c in columns:
            try:
                if ref_frame is not None and cur_frame is not None:
                    row = column_drift(Sample(ref_frame[c], forced), Sample(cur_frame[c], forced),
                                       args.method, args.threshold)
                else:
                    rs = ref.streams[c] if ref.streams else _stream_of(ref_frame, c)
                    cs = cur.streams[c] if cur.streams else _stream_of(cur_frame, c)
                    result = sketch_compare(rs, cs, args.method, args.threshold)
                    row = _row(result, "numerical", rs.count, cs.count, (rs.missing, rs.count + rs.missing),
                               (cs.missing, cs.count + cs.missing))
            except ValueError as exc:
                raise ToolError(f"column {c}: {exc}") from None
            rows.append({"column": c, **row})
        extra: dict[str, Any] = {"source": "table"}
        if args.timestamp_column:
            latest = cur.latest
            extra["freshness"] = {
                "latest": latest.isoformat() if latest is not None else None,
                "age_s": None if latest is None else round(time.time() - latest.timestamp(), 3),
            }
        return rows, extra

    def _evidence(self, args: dict[str, Any], rows: list[dict[str, Any]], extra: dict[str, Any],
                  link: str | None) -> Evidence:
        drifted = [r for r in rows if r["drifted"]]
        parts = []
        for r in (drifted or rows)[:5]:
            text = f"{r['column']}: {r['method']} {_num(r['value'])}"
            text += f" ({'≥' if not METHODS[r['method']].value_is_p else '<'} {r['threshold']:g}: drift)" \
                if r["drifted"] else " (no drift)"
            if r.get("p_value_no_drift") is not None:
                text += f", p(no drift) {_num(r['p_value_no_drift'])}"
            if r["low_confidence"]:
                text += f", LOW CONFIDENCE ({r['reference_rows']} vs {r['current_rows']} rows)"
            if r.get("approximate"):
                text += ", approximate (sketched)"
            parts.append(text)
        head = (f"{len(drifted)} of {len(rows)} columns drifted: " if len(rows) > 1 else "")
        summary = head + "; ".join(parts)
        fresh = extra.get("freshness")
        if fresh and fresh.get("age_s") is not None:
            summary += f"; newest current row {fresh['latest']} ({fresh['age_s']:.0f} s old)"
        data: dict[str, Any] = {**extra, "columns": rows}
        if len(rows) == 1:
            data.update({k: v for k, v in rows[0].items() if k != "column"})
        return Evidence.make(self.name, args, EvidenceStatus.OK, summary, data=data, source_url=link)


def _inline(values: list[Any]) -> pd.Series:
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    return pd.Series(values, dtype=np.float64 if numeric else object)


def _stream_of(frame: pd.DataFrame | None, column: str) -> StreamedColumn:
    stream = StreamedColumn()
    if frame is not None:
        stream.update(frame[column].to_numpy(dtype=np.float64))
    return stream


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"

