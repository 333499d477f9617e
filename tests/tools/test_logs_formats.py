"""Reading the common log layouts: one small line per layout, written for these tests, and a file
of each through ``augur logs ingest``'s reader (detection, continuations, refusals, --format, years)."""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from augur.tools.logs import (
    FormatError,
    LineError,
    ReadStats,
    SqliteLogStore,
    parse_lines,
    user_format,
)


def utc(*parts: int) -> float:
    return datetime(*parts, tzinfo=UTC).timestamp()  # type: ignore[misc]


#: (layout name, line, time, level, message, some fields that must be there)
CASES: list[tuple[str, str, float, str | None, str, dict[str, Any]]] = [
    ("leveled", "2026-11-24T02:10:03.250+01:00 WARN slow upstream call took 812 ms",
     utc(2026, 11, 24, 1, 10, 3, 250000), "warning", "slow upstream call took 812 ms", {}),
    ("syslog-rfc5424", '<163>1 2026-11-24T02:10:03.003Z gpu-1 vllm 4242 ID47 [meta x="1"] engine died',
     utc(2026, 11, 24, 2, 10, 3, 3000), "error", "engine died", {"component": "vllm", "pid": "4242"}),
    ("syslog", "<34>Nov 24 02:10:03 gpu-1 su[77]: 'su root' failed for lonvick",
     utc(2026, 11, 24, 2, 10, 3), "critical", "'su root' failed for lonvick",
     {"component": "su", "pid": "77"}),
    ("syslog-iso", "2026-11-24T02:10:03.123456+00:00 gpu-1 kernel: NVRM: Xid 79, GPU has fallen off the bus",
     utc(2026, 11, 24, 2, 10, 3, 123456), None, "NVRM: Xid 79, GPU has fallen off the bus",
     {"component": "kernel"}),
    ("access-log", '10.0.0.7 - - [24/Nov/2026:02:10:03 -0700] "GET /v1/rank HTTP/1.1" 503 19 "-" "curl/8.5"',
     utc(2026, 11, 24, 9, 10, 3), "error", '"GET /v1/rank HTTP/1.1" 503 19 "-" "curl/8.5"',
     {"client": "10.0.0.7"}),
    ("apache-error", "[Tue Nov 24 02:10:03.123456 2026] [proxy:error] [pid 4242:tid 7] [client "
     "10.0.0.7:5312] "
     "AH00898: Error reading from remote server",
     utc(2026, 11, 24, 2, 10, 3, 123456), "error", "AH00898: Error reading from remote server",
     {"component": "proxy", "pid": "4242", "client": "10.0.0.7:5312"}),
    ("nginx-error", "2026/11/24 02:10:03 [error] 31#31: *1 upstream timed out (110: Connection timed out)",
     utc(2026, 11, 24, 2, 10, 3), "error", "*1 upstream timed out (110: Connection timed out)",
     {"pid": "31"}),
    ("log4j", "2026-11-24 02:10:03,978 ERROR [main] org.apache.spark.SparkContext: Error initializing",
     utc(2026, 11, 24, 2, 10, 3, 978000), "error", "Error initializing",
     {"thread": "main", "component": "org.apache.spark.SparkContext"}),
    ("log4j", "081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 terminating",
     utc(2008, 11, 9, 20, 36, 15), "info", "PacketResponder 1 terminating", {"pid": "148"}),
    ("log4j", "17/06/09 20:10:40 WARN storage.BlockManager: Putting block rdd_2_3 failed",
     utc(2017, 6, 9, 20, 10, 40), "warning", "Putting block rdd_2_3 failed",
     {"component": "storage.BlockManager"}),
    ("logback", "2026-11-24 02:10:03.123 [http-nio-8080-exec-1] WARN  c.e.ranker.Scorer - feature missing",
     utc(2026, 11, 24, 2, 10, 3, 123000), "warning", "feature missing", {"thread": "http-nio-8080-exec-1"}),
    ("python", "2026-11-24 02:10:03,123 - ranker.serve - CRITICAL - model file unreadable",
     utc(2026, 11, 24, 2, 10, 3, 123000), "critical", "model file unreadable", {"component": "ranker.serve"}),
    ("glog", "E1124 02:10:03.123456  4242 engine.cc:152] EngineCore hit an exception",
     utc(2026, 11, 24, 2, 10, 3, 123456), "error", "EngineCore hit an exception",
     {"component": "engine.cc:152"}),
    ("vllm", "INFO 11-24 02:10:03 [loggers.py:116] Avg prompt throughput: 812.4 tokens/s",
     utc(2026, 11, 24, 2, 10, 3), "info", "Avg prompt throughput: 812.4 tokens/s",
     {"component": "loggers.py:116"}),
    ("logcat", "11-24 02:10:03.811  1702  2395 E ActivityManager: ANR in com.example.app",
     utc(2026, 11, 24, 2, 10, 3, 811000), "error", "ANR in com.example.app", {"tid": "2395"}),
    ("bgl", "APPREAD 1117838570 2005.06.03 R02-M1-N0-C:J12-U11 2005-06-03-15.42.50.675872 "
     "R02-M1-N0-C:J12-U11 "
     "RAS APP FATAL ciod: failed to read message prefix", 1117838570.0, "critical",
     "ciod: failed to read message prefix", {"label": "APPREAD", "component": "APP"}),
    ("thunderbird", "- 1131566461 2005.11.09 dn228 Nov 9 12:01:01 dn228/dn228 "
     "crond(pam_unix)[2915]: session closed",
     1131566461.0, None, "session closed", {"component": "crond(pam_unix)", "pid": "2915"}),
    ("openstack", "nova-compute.log.1 2017-05-16 00:00:04.500 2931 INFO nova.compute.manager "
     "[req-3ea4052c - - - - -] [instance: b9000564] VM Resumed (Lifecycle Event)",
     utc(2017, 5, 16, 0, 0, 4, 500000), "info", "[instance: b9000564] VM Resumed (Lifecycle Event)",
     {"file": "nova-compute.log.1", "context": "req-3ea4052c - - - - -"}),
    ("cri", "2026-11-24T02:10:03.123456789Z stderr F torch.OutOfMemoryError: CUDA out of memory",
     utc(2026, 11, 24, 2, 10, 3, 123456), None, "torch.OutOfMemoryError: CUDA out of memory",
     {"stream": "stderr"}),
    ("json", json.dumps({"time": "2026-11-24T02:10:03Z", "level": "warn", "msg": "slow", "trace_id": "ab"}),
     utc(2026, 11, 24, 2, 10, 3), "warning", "slow", {"trace_id": "ab"}),
    ("logfmt", 'ts=2026-11-24T02:10:03Z level=error msg="upstream \\"ranker\\" failed" attempt=3',
     utc(2026, 11, 24, 2, 10, 3), "error", 'upstream "ranker" failed', {"attempt": "3"}),
]


@pytest.mark.parametrize(("layout", "line", "ts", "level", "message", "fields"), CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_each_common_layout_is_split_into_time_level_and_message(
    layout: str, line: str, ts: float, level: str | None, message: str, fields: dict[str, Any]
) -> None:
    stats = ReadStats()
    (record,) = parse_lines([line], year=2026, stats=stats, service="svc")
    assert stats.formats == {layout: 1}
    assert record.ts == pytest.approx(ts, abs=1e-6)
    assert (record.level, record.message) == (level, message)
    assert fields.items() <= record.fields.items()
    assert record.service == "svc"


def test_cri_partial_lines_and_json_payloads_are_joined_and_read() -> None:
    lines = [
        '2026-11-24T02:10:03.1Z stdout P {"level":"error","msg":"OOM',
        '2026-11-24T02:10:03.2Z stdout F  on GPU 3"}',
        '2026-11-24T02:10:04Z stdout F {"level":"info","msg":"restarted","gpu":3}',
    ]
    stats = ReadStats()
    first, second = parse_lines(lines, stats=stats)
    assert (first.level, first.message, stats.merged) == ("error", "OOM on GPU 3", 1)
    assert first.fields["stream"] == "stdout"
    assert (second.level, second.message, second.fields["gpu"]) == ("info", "restarted", 3)


def write(path: Path, lines: list[str], mtime: float | None = None) -> Path:
    path.write_text("\n".join(lines) + "\n")
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def test_ingest_counts_stored_merged_and_refused_lines(tmp_path: Path) -> None:
    file = write(tmp_path / "app.log", [
        "garbage before any record",
        "2026-11-24 02:10:03,978 ERROR [main] org.example.Job: job failed",
        "java.lang.IllegalStateException: boom",
        "\tat org.example.Job.run(Job.java:42)",
        json.dumps({"msg": "no time here"}),
        "2026-11-24 02:10:04,001 INFO [main] org.example.Job: retrying",
    ])
    result = SqliteLogStore(tmp_path / "logs.db").ingest_file(file)
    assert result.stats is not None
    assert (result.lines, result.stats.merged) == (2, 3)
    assert result.stats.refused == {"no time, and no record before it to continue": 1}
    assert result.stats.first_refused["no time, and no record before it to continue"][0] == 1
    with sqlite3.connect(tmp_path / "logs.db") as conn:
        first = conn.execute("SELECT message FROM logs ORDER BY id").fetchone()[0]
    assert first.splitlines() == ["job failed", "java.lang.IllegalStateException: boom",
                                  "\tat org.example.Job.run(Job.java:42)", '{"msg": "no time here"}']
    # In a JSON-lines file an object without a time is refused, not glued to the one before.
    jsonl = write(tmp_path / "app.jsonl",
                  [json.dumps({"ts": 1795486203, "msg": "a"}), json.dumps({"msg": "b"})])
    again = SqliteLogStore(tmp_path / "logs.db").ingest_file(jsonl)
    assert again.stats is not None and again.lines == 1
    assert again.stats.refused == {"JSON without a time field": 1} and again.stats.merged == 0


def test_yearless_times_take_the_flag_or_the_files_year_and_never_land_after_it(tmp_path: Path) -> None:
    lines = ["Dec 31 23:59:58 host cron[1]: tick", "Jan  1 00:00:01 host cron[1]: tock"]
    written = utc(2026, 1, 1, 0, 5)  # a file written at new year holds last year's December
    result = SqliteLogStore(tmp_path / "a.db").ingest_file(write(tmp_path / "a.log", lines, written))
    assert result.stats is not None and (result.stats.year, result.stats.year_given) == (2026, False)
    with sqlite3.connect(tmp_path / "a.db") as conn:
        times = [ts for (ts,) in conn.execute("SELECT ts FROM logs ORDER BY id")]
    assert times == [utc(2025, 12, 31, 23, 59, 58), utc(2026, 1, 1, 0, 0, 1)]
    given = list(parse_lines(lines[:1], year=2019))
    assert given[0].ts == utc(2019, 12, 31, 23, 59, 58)


def test_user_format_as_logparser_template_or_regex() -> None:
    line = "2026.11.24|02:10:03|worker-7|E|queue full"
    template = user_format("<Date>\\|<Time>\\|<Node>\\|<Level>\\|<Content>")
    (a,) = parse_lines([line], fmt=template)
    (b,) = parse_lines([line.replace("|02", " 02", 1)], fmt=user_format(
        r"(?P<time>\S+ \d\d:\d\d:\d\d)\|(?P<host>[^|]+)\|(?P<level>\w)\|(?P<content>.*)"))
    for record in (a, b):
        assert (record.ts, record.host, record.level, record.message) == (
            utc(2026, 11, 24, 2, 10, 3), "worker-7", "error", "queue full")
    # A line the user's layout does not fit continues the record before, as a stack trace would.
    stats = ReadStats()
    (c,) = parse_lines([line, "2026-11-24T02:10:04Z INFO other layout"], fmt=template, stats=stats)
    assert stats.merged == 1 and c.message.endswith("other layout")
    with pytest.raises(FormatError, match="needs a time and a message"):
        user_format("<Level> <Content>")
    with pytest.raises(FormatError, match="not a valid regex"):
        user_format("(?P<time>[) (?P<content>.*)")


def test_a_file_with_no_readable_line_is_refused_with_the_reason(tmp_path: Path) -> None:
    file = write(tmp_path / "notes.txt", ["shopping list", "milk"])
    with pytest.raises(LineError, match=r"notes\.txt:1: not a log line.*--format"):
        SqliteLogStore(tmp_path / "logs.db").ingest_file(file)


#: Lines in the layouts of other systems (Zookeeper, Windows CBS, HPC, Proxifier, HealthApp, macOS,
#: OpenSSH), written for this test: (line, time, level, message).
MORE: list[tuple[str, float, str | None, str]] = [
    ("2026-07-29 17:41:44,747 - INFO  [QuorumPeer[myid=1]/0.0.0.0:2181:FastLeaderElection@774] - "
     "Notification time out: 3200", utc(2026, 7, 29, 17, 41, 44, 747000), "info",
     "Notification time out: 3200"),
    ("2026-09-28 04:30:30, Info                  CBS    Loaded Servicing Stack v6.1.7601.23505",
     utc(2026, 9, 28, 4, 30, 30), "info", "Loaded Servicing Stack v6.1.7601.23505"),
    ("134681 node-246 unix.hw state_change.unavailable 1077804742 1 Component State Change",
     1077804742.0, None, "1 Component State Change"),
    ("[10.30 16:49:06] chrome.exe - proxy.example.edu:5070 open through proxy proxy.example.edu:5070 HTTPS",
     utc(2026, 10, 30, 16, 49, 6), None,
     "proxy.example.edu:5070 open through proxy proxy.example.edu:5070 HTTPS"),
    ("20261124-02:10:03:606|Step_LSC|30002312|onStandStepChanged 3579",
     utc(2026, 11, 24, 2, 10, 3, 606000), None, "onStandStepChanged 3579"),
    ("Jul  1 09:00:55 calvisitor-10-105-160-95 kernel[0]: IOThunderboltSwitch<0>(0x0)::listenerCallback",
     utc(2026, 7, 1, 9, 0, 55), None, "IOThunderboltSwitch<0>(0x0)::listenerCallback"),
    ("Dec 10 06:55:46 LabSZ sshd[24200]: Invalid user webmaster from 173.234.31.186",
     utc(2026, 12, 10, 6, 55, 46), None, "Invalid user webmaster from 173.234.31.186"),
]


@pytest.mark.parametrize(("line", "ts", "level", "message"), MORE, ids=[m[0][:24] for m in MORE])
def test_layouts_of_other_systems_are_read(line: str, ts: float, level: str | None, message: str) -> None:
    stats = ReadStats()
    (record,) = parse_lines([line], year=2026, stats=stats)
    assert not stats.refused
    assert (record.ts, record.level, record.message) == (pytest.approx(ts), level, message)


#: Header fields that must not stay in the message, in lines written for this test:
#: (line, time, message, fields the header gives).
HEADERS: list[tuple[str, float, str, dict[str, str]]] = [
    # log4j "%d - %-5p [%t:%C{1}@%L] - %m": the location may hold brackets of its own
    ("2026-03-02 10:00:01,005 - WARN  [Sender[id=2]/10.0.0.1:3888:Channel@688] - peer 7 went away",
     utc(2026, 3, 2, 10, 0, 1, 5000), "peer 7 went away",
     {"thread": "Sender[id=2]/10.0.0.1:3888:Channel@688"}),
    # fixed-width columns: the level and a component, each padded with spaces
    ("2026-03-02 10:00:01, Error        DISM   Package store is locked by another process",
     utc(2026, 3, 2, 10, 0, 1), "Package store is locked by another process", {"component": "DISM"}),
    # a bracketed time, then "program - message"
    ("[03.02 10:00:01] backup.exe - share.example.org:445 close, 12 bytes sent",
     utc(2026, 3, 2, 10, 0, 1), "share.example.org:445 close, 12 bytes sent", {"component": "backup.exe"}),
    # macOS syslog: "name[pid] (address):"
    ("Mar  2 10:00:01 laptop-7 sandboxd[88] ([4242]): app(4242) deny file-read /etc/hosts",
     utc(2026, 3, 2, 10, 0, 1), "app(4242) deny file-read /etc/hosts",
     {"component": "sandboxd", "pid": "88", "address": "[4242]"}),
]


@pytest.mark.parametrize(("line", "ts", "message", "fields"), HEADERS, ids=[h[0][:28] for h in HEADERS])
def test_header_fields_are_split_off_the_message(line: str, ts: float, message: str,
                                                 fields: dict[str, str]) -> None:
    (record,) = parse_lines([line], year=2026)
    assert (record.ts, record.message) == (pytest.approx(ts), message)
    assert fields.items() <= record.fields.items()


def test_a_plain_leveled_line_keeps_its_first_word_in_the_message() -> None:
    """The column rule needs padding on both sides: one space after the first word is the message."""
    (record,) = parse_lines(["2026-03-02 10:00:01 WARN  disk almost full on /var"], year=2026)
    assert record.message == "disk almost full on /var"
    assert "component" not in record.fields


def test_milliseconds_after_a_colon_are_a_count_not_a_decimal_fraction() -> None:
    """``10:00:01:96`` is 96 ms and comes before ``10:00:01:104`` (writers that do not zero-pad)."""
    lines = ["20260302-10:00:01:96|Sync|7|flushed 3 rows", "20260302-10:00:01:104|Sync|7|flushed 4 rows",
             "20260302-10:00:01.5 flushed 5 rows"]
    first, second, third = parse_lines(lines, year=2026)
    assert first.ts == pytest.approx(utc(2026, 3, 2, 10, 0, 1, 96000))
    assert second.ts == pytest.approx(utc(2026, 3, 2, 10, 0, 1, 104000))
    assert third.ts == pytest.approx(utc(2026, 3, 2, 10, 0, 1, 500000))  # a decimal fraction stays one
