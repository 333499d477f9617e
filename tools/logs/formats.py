"""The header layouts of plain-text logs, how a file's layout is detected, and user-given layouts.

A :class:`LineFormat` is a regex over one whole line whose named groups split it into fields:

- ``time`` (and ``time_2``, ``time_3``... joined with spaces) — read by
  :func:`~augur.tools.logs.timestamps.parse_timestamp`;
- ``level`` (or ``pri``, a syslog priority, or ``status``, an HTTP status) — the level;
- ``host``; ``content`` — the message, the part templates are mined from;
- every other group (``component``, ``pid``, ``thread``...) — a field of the record.

:data:`FORMATS` lists the layouts augur knows, most specific first, each with an example line.
:func:`detect_format` picks a file's layout from a sample of its lines; a line the file's layout
does not fit is tried against the others (per line). :func:`user_format` reads a layout given with
``augur logs ingest --format``: a regex with named groups, or a logparser-style template such as
``<Date> <Time> <Pid> <Level> <Component>: <Content>``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from augur.tools.errors import BadInput

__all__ = ["FORMATS", "FormatError", "LineFormat", "detect_format", "user_format"]


class FormatError(BadInput, ValueError):
    """A ``--format`` that cannot be used; the message says why and what to write instead."""


@dataclass(frozen=True, slots=True)
class LineFormat:
    """One header layout: a name, a whole-line regex with named groups, an example line."""

    name: str
    pattern: re.Pattern[str]
    example: str

    @property
    def time_groups(self) -> tuple[str, ...]:
        """The groups holding time text, in the order they are joined."""
        return tuple(g for g in self.pattern.groupindex if g == "time" or g.startswith("time_"))


_LEVEL_WORDS = (r"(?i:trace[1-8]?|debug|info|notice|warn(?:ing)?|error|err|crit(?:ical)?|fatal|severe|"
                r"panic|alert|emerg|failure|fine|finer|finest)")
LEVEL = rf"(?P<level>{_LEVEL_WORDS})\b"
_ISO = r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d{1,9})?(?:Z|[+-]\d{2}:?\d{2})?"
#: Dated times: ISO 8601, NGINX's 2024/01/15, HDFS's 081109 203615, Spark's 17/06/09.
_DATED = (rf"(?:{_ISO}|\d{{4}}/\d{{2}}/\d{{2}} \d{{2}}:\d{{2}}:\d{{2}}(?:[.,]\d+)?|\d{{6}} \d{{6}}|"
          r"\d{2}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}(?:[.,]\d+)?)")
_SYSLOG_TIME = r"[A-Z][a-z]{2} +\d{1,2} \d{2}:\d{2}:\d{2}(?:\.\d+)?"
#: Any leading time a generic layout accepts.
_ANY_TIME = (rf"(?:{_DATED}|{_SYSLOG_TIME}(?: \d{{4}})?|\d{{2}}[-.]\d{{2}} \d{{2}}:\d{{2}}:\d{{2}}(?:\.\d+)?|"
             r"\d{8}-\d{2}:\d{2}:\d{2}(?:[:.,]\d{1,6})?)")
#: ``name[pid]:`` (macOS may add `` (address)`` before the colon: ``sandboxd[129] ([31211]):``).
_PROGRAM = (r"(?P<component>[^\s\[:]+)(?:\[(?P<pid>\d+)\])?(?: \((?P<address>[^()\s]+)\))?"
            r":(?: (?P<content>.*))?")
#: Bracketed text that may hold one level of brackets: ``QuorumPeer[myid=1]/0.0.0.0:2181``.
_NESTED = r"(?:[^\[\]]|\[[^\[\]]*\])*"


def _fmt(name: str, pattern: str, example: str) -> LineFormat:
    return LineFormat(name, re.compile(pattern + r"\Z"), example)


#: The layouts augur recognises, most specific first (detection prefers the earlier on a near-tie).
FORMATS: tuple[LineFormat, ...] = (
    _fmt("cri", rf"(?P<time>{_ISO}) (?P<stream>stdout|stderr) (?P<tag>[FP]) (?P<content>.*)",
         "2026-11-24T02:10:03.123456789Z stderr F CUDA out of memory"),
    _fmt("syslog-rfc5424",
         r"<(?P<pri>\d{1,3})>1 (?P<time>\S+) (?P<host>\S+) (?P<component>\S+) (?P<pid>\S+) (?P<msgid>\S+) "
         r"(?P<sd>-|(?:\[(?:[^\]\\]|\\.)*\])+)(?: (?P<content>.*))?",
         '<165>1 2026-11-24T02:10:03.003Z gpu-1 vllm 4242 ID47 [meta x="1"] engine restarted'),
    _fmt("openstack",
         rf"(?:(?P<file>\S+\.log\S*) )?(?P<time>{_DATED}) (?P<pid>\d+) {LEVEL} (?P<component>\S+)"
         r" \[(?P<context>[^\]]*)\] (?P<content>.*)",
         "nova-api.log.1 2017-05-16 00:00:00.008 25746 INFO nova.osapi_compute.wsgi.server "
         '[req-38 - - -] 10.11.10.1 "GET /v2/servers/detail HTTP/1.1" status: 200'),
    _fmt("log4j",
         rf"\[?(?P<time>{_DATED})\]?\s+(?:(?P<pid>\d+)\s+)?{LEVEL}\s+(?:\[(?P<thread>[^\]]*)\]\s+)?"
         r"(?P<component>\S+?):(?:\s+(?P<content>.*))?",
         "2015-10-18 18:01:47,978 INFO [main] org.apache.hadoop.mapreduce.v2.app.MRAppMaster: Created"),
    _fmt("logback",
         rf"\[?(?P<time>{_DATED})\]?\s+\[(?P<thread>[^\]]*)\]\s+{LEVEL}\s+(?P<component>\S+)\s+-\s(?P<content>.*)",
         "2026-11-24 02:10:03.123 [main] INFO  com.example.Ranker - model loaded"),
    _fmt("python",
         rf"\[?(?P<time>{_DATED})\]?\s+-\s+(?P<component>\S+)\s+-\s+{LEVEL}\s+-\s(?P<content>.*)",
         "2026-11-24 02:10:03,123 - ranker.serve - WARNING - slow upstream call"),
    _fmt("python-flask", rf"\[(?P<time>{_DATED})\] {LEVEL} in (?P<component>\S+): (?P<content>.*)",
         "[2026-11-24 02:10:03,123] ERROR in app: feature fetch failed"),
    _fmt("nginx-error",
         rf"(?P<time>\d{{4}}/\d{{2}}/\d{{2}} \d{{2}}:\d{{2}}:\d{{2}}) \[{LEVEL}\] (?P<pid>\d+)#(?P<tid>\d+): "
         r"(?P<content>.*)",
         "2026/11/24 02:10:03 [error] 31#31: *1 upstream timed out while reading response header"),
    _fmt("apache-error",
         r"\[(?P<time>[A-Z][a-z]{2} [A-Z][a-z]{2} +\d{1,2} \d{2}:\d{2}:\d{2}(?:\.\d+)? \d{4})\] "
         rf"\[(?:(?P<component>[^\]:\s]+):)?{LEVEL}\](?: \[pid (?P<pid>\d+)(?::tid (?P<tid>\d+))?\])?"
         r"(?: \[client (?P<client>[^\]]+)\])? (?P<content>.*)",
         "[Sun Dec 04 04:47:44 2005] [error] mod_jk child workerEnv in error state 6"),
    _fmt("access-log",
         r"(?P<client>\S+) (?P<ident>\S+) (?P<user>\S+) "
         r"\[(?P<time>\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2}(?: [+-]\d{4})?)\] "
         r'(?P<content>"[^"]*" (?P<status>\d{3}) .*)',
         '10.0.0.7 - - [24/Nov/2026:02:10:03 +0000] "GET /v1/rank HTTP/1.1" 503 19 "-" "curl/8.5"'),
    _fmt("logcat",
         r"(?P<time>(?:\d{4}-)?\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3})\s+(?P<pid>\d+)\s+(?P<tid>\d+)\s+"
         r"(?P<level>[VDIWEFA])\s+(?P<component>[^:]*?)\s*:(?:\s(?P<content>.*))?",
         "03-17 16:13:38.811  1702  2395 D WindowManager: printFreezingDisplayLogs"),
    _fmt("glog",
         r"(?P<level>[IWEF])(?P<time>\d{4} \d{2}:\d{2}:\d{2}\.\d{6})\s+(?P<pid>\d+) "
         r"(?P<component>[^\s\]]+)\] (?P<content>.*)",
         "E1124 02:10:03.123456  4242 engine.cc:152] EngineCore hit an exception"),
    _fmt("vllm",
         rf"{LEVEL} (?P<time>\d{{2}}-\d{{2}} \d{{2}}:\d{{2}}:\d{{2}}(?:\.\d+)?) "
         r"(?:\[(?P<component>[^\]]+)\] )?(?P<content>.*)",
         "ERROR 11-24 02:10:03 [engine.py:152] EngineCore hit an exception"),
    _fmt("bgl",
         r"(?P<label>\S+) (?P<time>\d{10}) (?P<date>\d{4}\.\d{2}\.\d{2}) (?P<host>\S+) "
         r"(?P<local_time>\d{4}-\d{2}-\d{2}-\d{2}\.\d{2}\.\d{2}\.\d+) (?P<node>\S+) (?P<type>[A-Z]+) "
         rf"(?P<component>\S+) {LEVEL}(?: (?P<content>.*))?",
         "- 1117838570 2005.06.03 R02-M1-N0-C:J12-U11 2005-06-03-15.42.50.675872 R02-M1-N0-C:J12-U11 "
         "RAS KERNEL INFO instruction cache parity error corrected"),
    _fmt("thunderbird",
         r"(?P<label>\S+) (?P<time>\d{10}) (?P<date>\d{4}\.\d{2}\.\d{2}) (?P<host>\S+) "
         rf"(?P<local_time>{_SYSLOG_TIME}) (?P<location>\S+) {_PROGRAM}",
         "- 1131566461 2005.11.09 dn228 Nov 9 12:01:01 dn228/dn228 crond[2915]: session closed"),
    _fmt("syslog",
         rf"(?:<(?P<pri>\d{{1,3}})>)?(?P<time>{_SYSLOG_TIME}(?: \d{{4}})?) (?P<host>\S+) {_PROGRAM}",
         "Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure; rhost=218.188.2.4"),
    _fmt("syslog-iso", rf"(?:<(?P<pri>\d{{1,3}})>)?(?P<time>{_ISO}) (?P<host>\S+) {_PROGRAM}",
         "2026-11-24T02:10:03.123456+00:00 gpu-1 kernel: NVRM: Xid 79, GPU has fallen off the bus"),
    _fmt("pipes", rf"(?P<time>{_ANY_TIME})\|(?P<component>[^|]*)\|(?P<pid>[^|]*)\|(?P<content>.*)",
         "20261124-02:10:03:606|Step_LSC|30002312|onStandStepChanged 3579"),
    # After the level, two header fields are split off when present: log4j's bracketed location
    # followed by " - " ("[thread:Class@line] - ", Zookeeper's default pattern), and a column
    # padded with two or more spaces on both sides ("Info     CBS    message", Windows CBS).
    _fmt("leveled",
         rf"\[?(?P<time>{_ANY_TIME})\]?,?\s+(?:-\s+)?[\[(]?{LEVEL}[\])]?:?(?:\s+-)?"
         rf"(?:\s+\[(?P<thread>{_NESTED})\]\s+-(?=\s))?(?: {{2,}}(?P<component>[^\s\[]\S*)(?= {{2,}}\S))?"
         r"(?:\s+(?P<content>.*))?",
         "2026-11-24T02:10:04.250Z WARN slow upstream call took 812 ms"),
    _fmt("epoch", r"(?:(?P<label>\S+) )?(?P<time>\d{10}(?:\.\d{1,9})?|\d{13}) (?P<content>.*)",
         "1795486203 ranker: slow upstream call"),
    _fmt("epoch-inline", r"(?P<prefix>(?:\S+ ){1,5}?)(?P<time>1\d{9}(?:\.\d{1,9})?) (?P<content>.*)",
         "134681 node-246 unix.hw state_change.unavailable 1077804742 1 Component State Change"),
    _fmt("syslog-bare", rf"(?P<time>{_SYSLOG_TIME}) (?P<host>\S+) (?P<content>.*)",
         "Jun 14 15:16:01 combo ALERT exited abnormally"),
    _fmt("timed-component", rf"\[?(?P<time>{_ANY_TIME})\]?:?\s+(?P<component>[^\s\[\]]+) - (?P<content>.*)",
         "[11.24 02:10:03] ranker.exe - upstream timed out after 812 ms"),
    _fmt("timed", rf"\[?(?P<time>{_ANY_TIME})\]?:?\s+(?P<content>.*)",
         "2026-11-24 02:10:03 model loaded in 3.2 s"),
)
_BY_NAME = {f.name: f for f in FORMATS}
#: A specific layout wins detection when it fits at least this share of what the best one fits.
NEAR_TIE = 0.8


def detect_format(sample: Sequence[str]) -> tuple[LineFormat | None, int]:
    """The layout that fits most of ``sample`` (header lines), preferring the more specific.

    Returns the layout (None when none fits a line) and how many sample lines it fits.
    """
    counts = [(f, sum(1 for line in sample if f.pattern.match(line))) for f in FORMATS]
    best = max((n for _, n in counts), default=0)
    if best == 0:
        return None, 0
    for fmt, n in counts:  # table order: specific first
        if n >= NEAR_TIE * best:
            return fmt, n
    raise AssertionError("unreachable: the best layout is within its own near-tie")


_TEMPLATE_FIELD = re.compile(r"<([A-Za-z_][A-Za-z0-9_]*)>")
#: logparser field names that hold time text, mapped to time groups.
_TIME_NAMES = {"date", "time", "month", "day", "year", "timestamp", "datetime"}
_FIELD_NAMES = {"content": "content", "message": "content", "level": "level", "host": "host",
                "node": "host", "component": "component", "pid": "pid", "thread": "thread"}


def _from_template(spec: str) -> str:
    """A regex from a logparser-style template: ``<Field>`` parts, everything else literal.

    As in logparser (so its benchmark templates paste as they are), the text between fields is a
    regex (write ``\\[`` for a bracket), a run of spaces in it matches any run of whitespace,
    ``<Content>`` takes the rest of the line and any other field as few characters as fit.
    """
    out: list[str] = []
    times = 0
    seen: set[str] = set()
    for i, part in enumerate(_TEMPLATE_FIELD.split(spec)):
        if i % 2 == 0:
            out.append(re.sub(r" +", lambda _: r"\s+", part))
            continue
        key = part.lower()
        if key in _TIME_NAMES:
            times += 1
            group = "time" if times == 1 else f"time_{times}"
        else:
            group = _FIELD_NAMES.get(key, key)
        if group in seen:
            raise FormatError(f"--format names <{part}> twice: give each field once")
        seen.add(group)
        out.append(f"(?P<{group}>.*)" if group == "content" else f"(?P<{group}>.*?)")
    return "".join(out)


def user_format(spec: str) -> LineFormat:
    """The layout a user gave: a built-in name, a regex with named groups, or a logparser template.

    Raises :class:`FormatError` when it cannot be compiled or has no ``time``/``content``.
    """
    if spec in _BY_NAME:
        return _BY_NAME[spec]
    if "(?P<" in spec:
        source = spec
    elif _TEMPLATE_FIELD.search(spec):
        source = _from_template(spec)
    else:
        raise FormatError(
            f"--format {spec!r} is neither a known layout ({', '.join(_BY_NAME)}), a regex with named "
            "groups nor a template: write e.g. '<Date> <Time> <Level> <Component>: <Content>' or "
            r"'(?P<time>\S+ \S+) (?P<level>\w+) (?P<content>.*)'"
        )
    try:
        pattern = re.compile(source.removeprefix("^").removesuffix("$") + r"\Z")
    except re.error as exc:
        raise FormatError(
            f"--format {spec!r} is not a valid regex ({exc}): check brackets and escapes"
        ) from None
    fmt = LineFormat("user", pattern, spec)
    if not fmt.time_groups or "content" not in pattern.groupindex:
        raise FormatError(
            f"--format {spec!r} needs a time and a message: name them (?P<time>...) and "
            "(?P<content>...) in a regex, or <Date>/<Time> and <Content> in a template"
        )
    return fmt
