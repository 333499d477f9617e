"""The one duration grammar and the one time parser every tool, rule, eval and server path reads with."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from augur.tools.base import ToolError
from augur.tools.timeparse import TimeFormatError, parse_duration, parse_rfc3339, parse_time

T = datetime(2026, 11, 24, 2, 10, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(("text", "seconds"), [
    ("90s", 90.0), ("5m", 300.0), ("1h30m", 5400.0), ("250ms", 0.25), ("2d", 172800.0), ("1w", 604800.0),
    ("1.5h", 5400.0), ("42", 42.0), (" 15s ", 15.0),
])
def test_durations_are_prometheus_durations_or_seconds(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["ninety", "5 m", "1h-30m", "m5", "", "5M"])
def test_a_bad_duration_says_which_forms_work(text: str) -> None:
    with pytest.raises(TimeFormatError, match=r"e\.g\. 30s, 5m, 1h30m"):
        parse_duration(text)


@pytest.mark.parametrize("text", [
    "2026-11-24T02:10:00Z", "2026-11-24T02:10:00+00:00", "2026-11-24T03:10:00+01:00",
    "2026-11-24T02:10:00", "2026-11-24 02:10:00", "2026-11-24T02:10:00.000000000Z", str(T), T,
    datetime(2026, 11, 24, 2, 10), datetime(2026, 11, 24, 3, 10, tzinfo=timezone(timedelta(hours=1))),
])
def test_one_instant_written_every_accepted_way(text: str | float | datetime) -> None:
    assert parse_time(text) == T  # no offset: UTC


def test_nanoseconds_are_cut_to_microseconds_and_the_offset_kept() -> None:
    parsed = parse_rfc3339("2026-11-24T02:10:00.123456789+02:00")
    assert parsed.microsecond == 123456 and parsed.utcoffset() == timedelta(hours=2)
    assert parse_rfc3339("2026-11-24T02:10:00").tzinfo is None  # the caller decides about a naive time


def test_relative_times_read_against_the_given_now_unless_refused() -> None:
    assert parse_time("now", now=T) == T
    assert parse_time(None, now=T) == T
    assert parse_time("now-1h30m", now=T) == T - 5400
    assert parse_time("now+5m", now=T) == T + 300
    for fixed_only in ("now", "now-1h", None):
        with pytest.raises(TimeFormatError, match="RFC 3339"):
            parse_time(fixed_only, now=T, relative=False)


def test_a_bad_time_is_a_tool_error_listing_the_forms() -> None:
    with pytest.raises(ToolError, match="'now-30m', RFC 3339"):
        parse_time("yesterday-ish")
    with pytest.raises(TimeFormatError, match="1h5x"):
        parse_time("now-1h5x")
