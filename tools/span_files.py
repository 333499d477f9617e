"""Reading span files into :class:`~augur.tools.spans.Span`: Jaeger JSON, OTLP JSON, CSV, JSON lines.

:func:`read_span_file` detects the format from the content, not the file name:

- **Jaeger JSON**: the query service's ``GET /api/traces`` answer ``{"data": [trace, ...]}``, the
  Jaeger UI's "Download JSON" export (the same shape), a list of traces or one trace
  ``{"traceID", "spans", "processes"}``; times in microseconds; the service is the process's
  ``serviceName``, the pod its ``hostname`` / ``k8s.pod.name`` tag.
- **OTLP JSON**: ``{"resourceSpans": [{"resource", "scopeSpans": [{"spans": [...]}]}]}`` (the
  OpenTelemetry collector's file exporter writes one such object per line; ``instrumentationLibrarySpans``
  of older exporters is read too); ids in hex (base64 ids are converted); times in nanoseconds.
- **CSV** (``,``, ``;``, tab) and **JSON lines** of flat spans: columns are found by their common
  names, compared lower-cased without punctuation — trace id (``TraceID``, ``trace_id``), span id
  (``SpanID``, ``span_id``, ``id``), parent (``ParentID``, ``parent_span_id``, ``parent``; empty,
  ``root``, ``0`` or all zeros is a root), service (``service``, ``service.name``, ``ServiceName``)
  or pod (``PodName``, ``pod``, ``k8s.pod.name``: the service is the pod name minus its Kubernetes
  ``-<replicaset>-<pod>`` suffix, see :func:`service_of_pod`), operation (``OperationName``,
  ``operation``, ``name``), start (``StartTimeUnixNano``, ``start_time``, ``start``, ``timestamp``),
  end (``EndTimeUnixNano``, ``end_time``, ``end``) and duration (``Duration``, ``duration_ms``...).
  Nezha's trace CSVs (``TraceID, SpanID, ParentID, PodName, OperationName, StartTimeUnixNano,
  EndTimeUnixNano, Duration``) are read as they are.

Units: a column name that says its unit (``...UnixNano``, ``..._ns``, ``..._us``, ``..._ms``,
``..._s``) is read in it; otherwise a timestamp's unit comes from its magnitude (seconds,
milliseconds, microseconds or nanoseconds since 1970, or RFC 3339 text) and a bare duration is
read in microseconds (Jaeger's unit). When both start and end are given, the duration is end − start.

A record that cannot be a span (no trace id, no time, end before start...) becomes a
:class:`~augur.tools.spans.Refusal` with its line and reason; the rest of the file is still
read. A file that is none of these formats raises :class:`SpanFormatError`.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from augur.tools.errors import BadInput
from augur.tools.spans import Refusal, Span
from augur.tools.timeparse import TimeFormatError, parse_time

__all__ = ["SpanFormatError", "SpanReader", "read_spans", "service_of_pod"]

Progress = Callable[[int, int], None]  # (bytes read, file size)

#: How a record's keys are compared: lower-cased, without ``_ . - space``.
_CANON = re.compile(r"[^a-z0-9]")
_TRACE_KEYS = ("traceid", "trace")
_SPAN_KEYS = ("spanid", "span", "id")
_PARENT_KEYS = ("parentid", "parentspanid", "parent", "parentspan", "references")
_SERVICE_KEYS = ("servicename", "service", "resourceservicename", "processservicename", "app")
_POD_KEYS = ("podname", "pod", "k8spodname", "resourcek8spodname", "hostname", "host", "instance")
_OPERATION_KEYS = ("operationname", "operation", "spanname", "name", "endpoint")
_START_KEYS = (
    "starttimeunixnano",
    "starttime",
    "start",
    "starttimestamp",
    "startts",
    "timestamp",
    "ts",
    "time",
)
_END_KEYS = ("endtimeunixnano", "endtime", "end", "endtimestamp", "endts", "finishtime")
_DURATION_KEYS = (
    "duration",
    "durationns",
    "durationnano",
    "durationus",
    "durationmicros",
    "durationms",
    "durationmillis",
    "durations",
    "durationsec",
    "elapsed",
    "elapsedms",
    "latency",
    "latencyms",
)
_ERROR_KEYS = ("error", "iserror", "haserror")
_STATUS_KEYS = (
    "statuscode",
    "status",
    "httpstatuscode",
    "httpresponsestatuscode",
    "otelstatuscode",
    "statusstatuscode",
)
_ROOT = {"", "root", "0", "null", "none", "nil", "-", "undefined"}
_VOWELS = set("aeiou")
_POD_PART = re.compile(r"^[0-9a-z]+$")


class SpanFormatError(BadInput, ValueError):
    """A file is not spans in any format augur reads; the message says what was seen and what to do."""


def _hashlike(part: str) -> bool:
    """A generated name part: letters and digits, with a digit or without vowels (``t2dbm``, ``fnmft``)."""
    return bool(_POD_PART.match(part)) and (any(c.isdigit() for c in part) or not (_VOWELS & set(part)))


def service_of_pod(pod: str) -> str:
    """The workload a Kubernetes pod belongs to: ``frontend-579b9bff58-t2dbm`` -> ``frontend``.

    Strips a Deployment's ``-<replicaset hash (5-10)>-<pod suffix (5)>``, else a DaemonSet's or
    Job's ``-<5 characters with a digit>``, else a StatefulSet's ``-<ordinal>``. A name part that
    reads like a word (``proxy``, ``cache``) is not a generated suffix and is kept.
    """
    parts = pod.split("-")
    if (
        len(parts) >= 3
        and 5 <= len(parts[-2]) <= 10
        and len(parts[-1]) == 5
        and _hashlike(parts[-2])
        and _hashlike(parts[-1])
    ):
        return "-".join(parts[:-2])
    if (
        len(parts) >= 2
        and len(parts[-1]) == 5
        and _hashlike(parts[-1])
        and any(c.isdigit() for c in parts[-1])
    ):
        return "-".join(parts[:-1])
    if len(parts) >= 2 and parts[-1].isdigit() and len(parts[-1]) <= 4:
        return "-".join(parts[:-1])
    return pod


def _canon(key: str) -> str:
    return _CANON.sub("", key.lower())


_UNIT_WORDS = {
    "ns": "ns",
    "nano": "ns",
    "nanos": "ns",
    "nanoseconds": "ns",
    "us": "us",
    "micro": "us",
    "micros": "us",
    "microseconds": "us",
    "ms": "ms",
    "milli": "ms",
    "millis": "ms",
    "milliseconds": "ms",
    "s": "s",
    "sec": "s",
    "secs": "s",
    "seconds": "s",
}


def _unit_of(key: str | None) -> str | None:
    """``ns``/``us``/``ms``/``s`` when a column's name says its unit (``StartTimeUnixNano``, ``x_ms``)."""
    if key is None:
        return None
    words = re.findall(r"[a-z]+|[0-9]+", re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", key).lower())
    for word in reversed(words[1:] if len(words) > 1 else []):
        if word in _UNIT_WORDS:
            return _UNIT_WORDS[word]
    canon = _canon(key)
    for base in ("duration", "elapsed", "latency", "starttime", "endtime", "start", "end", "time"):
        if canon.startswith(base) and canon[len(base) :] in _UNIT_WORDS:
            return _UNIT_WORDS[canon[len(base) :]]
    return None


_TO_US = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}


def _epoch_us(value: Any, unit: str | None) -> int | None:
    """Microseconds since 1970 from a number (in ``unit``, else guessed by magnitude) or RFC 3339 text."""
    if value is None or isinstance(value, bool):
        return None
    number: float | None = None
    if isinstance(value, int | float):
        number = float(value)
    else:
        text = str(value).strip()
        if not text:
            return None
        try:
            number = float(text)
        except ValueError:
            try:
                return int(parse_time(text, relative=False) * 1e6)
            except TimeFormatError:
                return None
    if number != number or number <= 0:  # NaN or not a time
        return None
    if unit is None:
        unit = "ns" if number > 1e17 else "us" if number > 1e14 else "ms" if number > 1e11 else "s"
    if unit == "ns" and isinstance(value, str) and value.strip().isdigit():
        return int(value.strip()) // 1000  # exact: a float loses the nanoseconds' last digits
    return round(number * _TO_US[unit])


def _duration_us(value: Any, unit: str | None) -> int | None:
    if value is None or isinstance(value, bool) or str(value).strip() == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if number != number or number < 0:
        return None
    return round(number * _TO_US[unit or "us"])


def _norm_id(value: Any) -> str:
    """Ids as lower-case hex; a base64 OTLP id (16 or 8 bytes) becomes its hex."""
    text = str(value).strip()
    if text and not re.fullmatch(r"[0-9a-fA-F]+", text) and len(text) in (12, 24):
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            return text
        if len(raw) in (8, 16):
            return raw.hex()
    return text.lower() if re.fullmatch(r"[0-9a-fA-F]+", text) else text


def _is_root(parent: Any) -> bool:
    text = str(parent).strip().lower() if parent is not None else ""
    return text in _ROOT or bool(re.fullmatch(r"0+", text))


def _status_error(value: Any) -> bool:
    text = str(value).strip().upper()
    if text in ("ERROR", "STATUS_CODE_ERROR", "TRUE"):
        return True
    try:
        return int(float(text)) >= 500
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class _Columns:
    """Which key of a flat record holds which span field (``None``: absent)."""

    trace: str | None
    span: str | None
    parent: str | None
    service: str | None
    pod: str | None
    operation: str | None
    start: str | None
    end: str | None
    duration: str | None
    error: str | None
    status: str | None

    @classmethod
    def find(cls, keys: Iterable[str]) -> _Columns:
        by_canon: dict[str, str] = {}
        for key in keys:
            by_canon.setdefault(_canon(key), key)

        def pick(names: tuple[str, ...], taken: set[str]) -> str | None:
            for name in names:
                key = by_canon.get(name)
                if key is not None and key not in taken:
                    taken.add(key)
                    return key
            return None

        taken: set[str] = set()
        trace = pick(_TRACE_KEYS, taken)
        span = pick(_SPAN_KEYS, taken)
        parent = pick(_PARENT_KEYS, taken)
        end = pick(_END_KEYS, taken)
        duration = pick(_DURATION_KEYS, taken)
        start = pick(_START_KEYS, taken)
        service = pick(_SERVICE_KEYS, taken)
        pod = pick(_POD_KEYS, taken)
        operation = pick(_OPERATION_KEYS, taken)
        return cls(
            trace,
            span,
            parent,
            service,
            pod,
            operation,
            start,
            end,
            duration,
            pick(_ERROR_KEYS, taken),
            pick(_STATUS_KEYS, taken),
        )

    def missing(self) -> list[str]:
        """The span fields no key supplies (what a file needs and lacks)."""
        out = [
            name
            for name, key in (
                ("trace id", self.trace),
                ("span id", self.span),
                ("operation", self.operation),
                ("start", self.start),
            )
            if key is None
        ]
        if self.service is None and self.pod is None:
            out.append("service or pod")
        if self.end is None and self.duration is None:
            out.append("end or duration")
        return out

    def span_of(self, rec: dict[str, Any], where: str) -> Span | Refusal:
        """The span a flat record describes, or why it cannot be one."""

        def get(key: str | None) -> Any:
            value = rec.get(key) if key is not None else None
            return value.strip() if isinstance(value, str) else value

        trace, span_id = get(self.trace), get(self.span)
        if trace in (None, ""):
            return Refusal(where, "no trace id")
        if span_id in (None, ""):
            return Refusal(where, "no span id")
        pod = get(self.pod)
        pod = str(pod) if pod not in (None, "") else None
        service = get(self.service)
        service = str(service) if service not in (None, "") else (service_of_pod(pod) if pod else None)
        if not service:
            return Refusal(where, "no service or pod")
        operation = get(self.operation)
        if operation in (None, ""):
            return Refusal(where, "no operation name")
        raw_start = get(self.start)
        start = _epoch_us(raw_start, _unit_of(self.start))
        if start is None:
            return Refusal(where, f"start time is not a time ({str(raw_start)[:40]!r})")
        duration: int | None = None
        raw_end = get(self.end)
        if raw_end not in (None, ""):
            end = _epoch_us(raw_end, _unit_of(self.end))
            if end is None:
                return Refusal(where, f"end time is not a time ({str(raw_end)[:40]!r})")
            if end < start:
                return Refusal(where, "end time is before the start")
            duration = end - start
        else:
            raw = get(self.duration)
            duration = _duration_us(raw, _unit_of(self.duration))
            if duration is None:
                return Refusal(where, f"no end time and no readable duration ({str(raw)[:40]!r})")
        parent = get(self.parent)
        error_flag = get(self.error)
        error = (
            (str(error_flag).strip().lower() in ("true", "1", "yes", "error"))
            if error_flag is not None
            else False
        )
        status = get(self.status)
        if status not in (None, ""):
            error = error or _status_error(status)
        used = {
            k
            for k in (
                self.trace,
                self.span,
                self.parent,
                self.service,
                self.pod,
                self.operation,
                self.start,
                self.end,
                self.duration,
            )
            if k
        }
        attributes = {
            k: v
            for k, v in rec.items()
            if k not in used and isinstance(v, str | int | float | bool) and v != ""
        }
        return Span(
            trace_id=_norm_id(trace),
            span_id=_norm_id(span_id),
            parent_id=None if _is_root(parent) else _norm_id(parent),
            service=service,
            operation=str(operation),
            start_us=start,
            duration_us=duration,
            pod=pod,
            error=error,
            attributes=dict(list(attributes.items())[:32]),
        )


# ---------------------------------------------------------------------------------------- Jaeger


def _tags(tags: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for tag in tags if isinstance(tags, list) else []:
        if isinstance(tag, dict) and "key" in tag and isinstance(tag.get("value"), str | int | float | bool):
            out[str(tag["key"])] = tag["value"]
    return out


def _tag_error(tags: dict[str, Any]) -> bool:
    if str(tags.get("error", "")).lower() == "true":
        return True
    if str(tags.get("otel.status_code", "")).upper() == "ERROR":
        return True
    return any(_status_error(tags[k]) for k in ("http.status_code", "http.response.status_code") if k in tags)


def _jaeger_spans(trace: dict[str, Any], where: str) -> Iterator[Span | Refusal]:
    found_processes = trace.get("processes")
    processes: dict[str, Any] = found_processes if isinstance(found_processes, dict) else {}
    spans = trace.get("spans")
    if not isinstance(spans, list):
        yield Refusal(where, "a Jaeger trace without a `spans` list")
        return
    for n, raw in enumerate(spans):
        at = f"{where} span {n}"
        if not isinstance(raw, dict):
            yield Refusal(at, "a span that is not an object")
            continue
        found = raw.get("process") or processes.get(str(raw.get("processID")))
        proc: dict[str, Any] = found if isinstance(found, dict) else {}
        ptags = _tags(proc.get("tags"))
        tags = _tags(raw.get("tags"))
        service = proc.get("serviceName")
        parent = next(
            (
                r.get("spanID")
                for r in raw.get("references") or []
                if isinstance(r, dict) and r.get("refType", "CHILD_OF") == "CHILD_OF"
            ),
            None,
        )
        parent = parent or next(
            (r.get("spanID") for r in raw.get("references") or [] if isinstance(r, dict)), None
        )
        pod = ptags.get("k8s.pod.name") or ptags.get("hostname") or ptags.get("pod")
        trace_id = raw.get("traceID") or trace.get("traceID")
        if not trace_id or not raw.get("spanID"):
            yield Refusal(at, "no trace id" if not trace_id else "no span id")
            continue
        if not service:
            yield Refusal(at, f"no process with a serviceName for processID {raw.get('processID')!r}")
            continue
        start, duration = raw.get("startTime"), raw.get("duration")
        if not isinstance(start, int | float) or isinstance(start, bool) or start <= 0:
            yield Refusal(at, f"start time is not a time ({str(start)[:40]!r})")
            continue
        if not isinstance(duration, int | float) or isinstance(duration, bool) or duration < 0:
            yield Refusal(at, f"no readable duration ({str(duration)[:40]!r})")
            continue
        yield Span(
            trace_id=_norm_id(trace_id),
            span_id=_norm_id(raw["spanID"]),
            parent_id=None if parent is None or _is_root(parent) else _norm_id(parent),
            service=str(service),
            operation=str(raw.get("operationName") or "?"),
            start_us=int(start),
            duration_us=int(duration),
            pod=None if pod is None else str(pod),
            error=_tag_error(tags),
            attributes=dict(list(tags.items())[:32]),
        )


# ------------------------------------------------------------------------------------------ OTLP


def _any_value(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    for key in ("stringValue", "boolValue", "doubleValue"):
        if key in value:
            return value[key]
    if "intValue" in value:
        try:
            return int(value["intValue"])
        except (TypeError, ValueError):
            return None
    return None


def _attrs(attributes: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for attr in attributes if isinstance(attributes, list) else []:
        if isinstance(attr, dict) and "key" in attr:
            value = _any_value(attr.get("value"))
            if isinstance(value, str | int | float | bool):
                out[str(attr["key"])] = value
    return out


def _otlp_spans(request: dict[str, Any], where: str) -> Iterator[Span | Refusal]:
    for r, rs in enumerate(request.get("resourceSpans") or []):
        if not isinstance(rs, dict):
            yield Refusal(f"{where} resourceSpans[{r}]", "not an object")
            continue
        resource = _attrs((rs.get("resource") or {}).get("attributes"))
        service = resource.get("service.name")
        pod = resource.get("k8s.pod.name") or resource.get("host.name")
        if not service and pod:
            service = service_of_pod(str(pod))
        scopes = rs.get("scopeSpans") or rs.get("instrumentationLibrarySpans") or []
        for s, scope in enumerate(scopes if isinstance(scopes, list) else []):
            for n, raw in enumerate((scope or {}).get("spans") or []):
                at = f"{where} resourceSpans[{r}].scopeSpans[{s}].spans[{n}]"
                if not isinstance(raw, dict):
                    yield Refusal(at, "a span that is not an object")
                    continue
                if not service:
                    yield Refusal(at, "no service.name (or k8s.pod.name) resource attribute")
                    continue
                if not raw.get("traceId") or not raw.get("spanId"):
                    yield Refusal(at, "no trace id" if not raw.get("traceId") else "no span id")
                    continue
                start = _epoch_us(raw.get("startTimeUnixNano"), "ns")
                end = _epoch_us(raw.get("endTimeUnixNano"), "ns")
                if start is None or end is None:
                    yield Refusal(at, "start or end time is not a time")
                    continue
                if end < start:
                    yield Refusal(at, "end time is before the start")
                    continue
                attributes = _attrs(raw.get("attributes"))
                status = raw.get("status") or {}
                code = status.get("code") if isinstance(status, dict) else None
                error = str(code).upper() in ("2", "STATUS_CODE_ERROR") or _tag_error(attributes)
                kind = raw.get("kind")
                if kind is not None:
                    attributes["span.kind"] = kind
                parent = raw.get("parentSpanId")
                yield Span(
                    trace_id=_norm_id(raw["traceId"]),
                    span_id=_norm_id(raw["spanId"]),
                    parent_id=None if _is_root(parent) else _norm_id(parent),
                    service=str(service),
                    operation=str(raw.get("name") or "?"),
                    start_us=start,
                    duration_us=end - start,
                    pod=None if pod is None else str(pod),
                    error=error,
                    attributes=dict(list(attributes.items())[:32]),
                )


# ----------------------------------------------------------------------------------- documents


def _flatten(obj: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _document_kind(obj: Any) -> str | None:
    """``jaeger``, ``otlp`` or ``None`` for a decoded JSON value."""
    if isinstance(obj, dict):
        if "resourceSpans" in obj:
            return "otlp"
        if isinstance(obj.get("data"), list) or ("spans" in obj and ("traceID" in obj or "processes" in obj)):
            return "jaeger"
    if isinstance(obj, list) and obj and all(isinstance(t, dict) and "spans" in t for t in obj):
        return "jaeger"
    return None


def _document_spans(obj: Any, kind: str, where: str) -> Iterator[Span | Refusal]:
    if kind == "otlp":
        yield from _otlp_spans(obj, where)
        return
    traces = obj.get("data") if isinstance(obj, dict) and "data" in obj else obj
    for n, trace in enumerate(traces if isinstance(traces, list) else [traces]):
        if isinstance(trace, dict):
            yield from _jaeger_spans(trace, f"{where} trace {n}")
        else:
            yield Refusal(f"{where} trace {n}", "a trace that is not an object")


def _json_lines(first: str, rest: Iterable[str], source: str) -> Iterator[Span | Refusal]:
    by_keys: dict[frozenset[str], _Columns] = {}
    for number, line in enumerate(_chain_first(first, rest), start=1):
        if not line.strip():
            continue
        where = f"{source}:{number}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            yield Refusal(where, f"not JSON ({exc.msg})")
            continue
        kind = _document_kind(obj)
        if kind is not None:
            yield from _document_spans(obj, kind, where)
            continue
        if not isinstance(obj, dict):
            yield Refusal(where, "not a JSON object")
            continue
        flat = _flatten(obj)
        keys = frozenset(flat)
        columns = by_keys.get(keys)
        if columns is None:  # lines may differ in the keys they carry: find the columns per key set
            columns = _Columns.find(flat)
            if len(by_keys) < 1000:
                by_keys[keys] = columns
        missing = columns.missing()
        if missing:
            yield Refusal(where, "a span needs " + ", ".join(missing))
            continue
        yield columns.span_of(flat, where)


def _chain_first(first: str, rest: Iterable[str]) -> Iterator[str]:
    yield first
    yield from rest


def _csv_spans(fh: IO[str], source: str) -> Iterator[Span | Refusal]:
    """Check the header now (raising :class:`SpanFormatError`), then read the rows lazily."""
    sample = fh.read(64 * 1024)
    fh.seek(0)
    try:
        dialect: Any = csv.Sniffer().sniff(sample.split("\n", 1)[0] or sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(fh, dialect=dialect)
    header = list(reader.fieldnames or [])
    columns = _Columns.find(header)
    missing = columns.missing()
    if missing:
        raise SpanFormatError(
            f"{source}: the header {', '.join(header[:12]) or '(none)'} has no column for "
            f"{', '.join(missing)}: name them e.g. trace_id, span_id, parent_id, service (or pod), "
            "operation, start, end (or duration)"
        )
    return _csv_rows(reader, columns, len(header), source)


def _csv_rows(
    reader: csv.DictReader[str],
    columns: _Columns,
    width: int,
    source: str,
) -> Iterator[Span | Refusal]:
    for row in reader:
        where = f"{source}:{reader.line_num}"
        extra = row.pop(None, None)  # type: ignore[call-overload]
        if extra:
            yield Refusal(where, f"{width + len(extra)} cells, the header has {width}")
        elif any(v is None for v in row.values()):
            yield Refusal(where, f"fewer cells than the header's {width}")
        else:
            yield columns.span_of(row, where)


class _Counting(io.RawIOBase):
    """A binary reader that reports how far it has read (for progress on big files)."""

    def __init__(self, raw: IO[bytes], total: int, progress: Progress | None) -> None:
        self.raw, self.total, self.progress, self.done, self._next = raw, total, progress, 0, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        self.done = self.raw.seek(offset, whence)
        return self.done

    def tell(self) -> int:
        return self.raw.tell()

    def readinto(self, buffer: Any) -> int:
        data = self.raw.read(len(buffer))
        buffer[: len(data)] = data
        self.done += len(data)
        if self.progress is not None and self.done >= self._next:
            self.progress(self.done, self.total)
            self._next = self.done + max(self.total // 20, 1 << 20)
        return len(data)

    def close(self) -> None:
        self.raw.close()
        super().close()


class SpanReader:
    """The spans and refusals of one file, in whichever format it holds (see the module docstring).

    Iterating opens the file, detects its format (then :attr:`format` says which) and yields as it
    reads; it raises :class:`SpanFormatError` before yielding anything when the file is none of the
    formats, and ``OSError`` when it cannot be read. ``progress(bytes read, size)`` is called about
    every 5 % (at least every MiB) and at the end.
    """

    def __init__(self, path: str | Path, *, progress: Progress | None = None) -> None:
        self.path = Path(path)
        self.progress = progress
        self.format: str | None = None

    def __iter__(self) -> Iterator[Span | Refusal]:
        size = self.path.stat().st_size
        raw = _Counting(self.path.open("rb"), size, self.progress)
        with io.TextIOWrapper(
            io.BufferedReader(raw, 1 << 16), encoding="utf-8", errors="replace", newline=""
        ) as fh:
            self.format, records = _detect(fh, str(self.path))
            yield from records
        if self.progress is not None:
            self.progress(size, size)


def read_spans(fh: IO[str], *, source: str = "<input>") -> Iterator[Span | Refusal]:
    """Spans and refusals from an open, seekable text file; see :class:`SpanReader`."""
    return _detect(fh, source)[1]


def _detect(fh: IO[str], source: str) -> tuple[str, Iterator[Span | Refusal]]:
    """The format of ``fh`` and a lazy reader of its records; JSON documents are parsed here."""
    head = fh.read(4096)
    fh.seek(0)
    stripped = head.lstrip("\ufeff \t\r\n")
    if not stripped:
        raise SpanFormatError(f"{source}: the file is empty")
    if stripped[0] not in "[{":
        return "csv", _csv_spans(fh, source)
    first = fh.readline()
    while first and not first.strip():
        first = fh.readline()
    try:
        single = json.loads(first)
    except json.JSONDecodeError:
        single = None
    if isinstance(single, dict):  # a whole line is an object: JSON lines (or a one-line document)
        kind = _document_kind(single)
        name = "jsonl" if kind is None else f"{kind}-json"
        return name, _json_lines(first, fh, source)
    fh.seek(0)
    try:
        obj = json.load(fh)
    except json.JSONDecodeError as exc:
        raise SpanFormatError(
            f"{source}: starts like JSON but is not valid JSON ({exc.msg} at line {exc.lineno}): "
            "give a Jaeger /api/traces answer, an OTLP JSON export, or one span per line"
        ) from None
    kind = _document_kind(obj)
    if kind is None:
        raise SpanFormatError(
            f'{source}: JSON but neither Jaeger\'s trace list ({{"data": [...]}}) nor OTLP '
            '({"resourceSpans": [...]}): export traces in one of those shapes'
        )
    return f"{kind}-json", _document_spans(obj, kind, source)
