"""The grade rules, table-driven: each check driven to each grade it can cause,
from a snapshot where everything else is nominal."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from kit.clock import IST
from kit.ops.health_config import MIB, HealthConfig
from kit.ops.health_grade import assess, duration
from kit.ops.health_snapshot import (
    CandleHealth,
    DataFlowHealth,
    ErrorRateHealth,
    FeedHealth,
    Grade,
    ScanHealth,
    TokenHealth,
)
from tests.ops.health_fakes import nominal

CONFIG = HealthConfig()
BASE = nominal()
PROC = BASE.process
assert PROC is not None


def data(fresh: int, silent_s: float = 1.0, since_open_s: float = 2700.0):
    return DataFlowHealth(fresh, 50, 60.0, silent_s=silent_s, since_open_s=since_open_s)


def down(state: str, down_s: float) -> FeedHealth:
    return FeedHealth(False, state, 0.0, 3, down_s=down_s)


CASES = [
    # feed
    ("feed down 5 min in market hours", {"feed": down("reconnecting", 300.0)},
     Grade.CRITICAL, "feed reconnecting for 5m 0s"),
    ("feed failed long ago", {"feed": down("failed", 900.0)},
     Grade.CRITICAL, "feed failed for 15m 0s"),
    ("feed down briefly", {"feed": down("reconnecting", 299.0)},
     Grade.DEGRADED, "feed reconnecting for 4m 59s"),
    ("feed partly connected", {"feed": FeedHealth(True, "degraded", 60.0, 1)},
     Grade.DEGRADED, "feed: some connections down"),
    ("feed down, market closed",
     {"feed": down("reconnecting", 3600.0), "market_open": False,
      "data": DataFlowHealth(0, 50, 60.0)},
     Grade.GOOD, "feed reconnecting, market closed"),
    # data flow
    ("live mode without data", {"mode": "live", "data": data(0, silent_s=60.0)},
     Grade.CRITICAL, "live mode without data for 1m 0s"),
    ("paper mode without data", {"data": data(0, silent_s=600.0)},
     Grade.DEGRADED, "data from 0/50 symbols"),
    ("data from 44 of 50", {"data": data(44)},
     Grade.DEGRADED, "data from 44/50 symbols"),
    ("data from 45 of 50", {"data": data(45)},
     Grade.GOOD, "data from 45/50 symbols"),
    # candles
    ("candles warming", {"candles": CandleHealth(47, 50, 9400, 12)},
     Grade.DEGRADED, "candles warm for 47/50 symbols"),
    # token
    ("session expired", {"token": TokenHealth(False, 24.2 * 3600, -600.0)},
     Grade.CRITICAL, "session expired"),
    ("session expires in 30 min", {"token": TokenHealth(True, 23.5 * 3600, 1800.0)},
     Grade.DEGRADED, "session expires in 30m 0s"),
    ("session expires in 2 h", {"token": TokenHealth(True, 22 * 3600, 7200.0)},
     Grade.GOOD, "session expires in 2h 0m"),
    # memory
    ("memory growing", {"process": replace(PROC, rss_trend_bytes_h=80 * MIB)},
     Grade.DEGRADED, "memory growing 80 MB/h"),
    ("memory near the limit", {"process": replace(PROC, rss_bytes=950 * MIB)},
     Grade.DEGRADED, "memory at 93% of the limit"),
    ("memory high", {"process": replace(PROC, rss_bytes=800 * MIB)},
     Grade.GOOD, "memory at 78% of the limit"),
    # threads and files
    ("many threads", {"process": replace(PROC, threads=150)},
     Grade.GOOD, "150 threads"),
    ("many open files", {"process": replace(PROC, open_files=1500)},
     Grade.GOOD, "1500 open files"),
    # errors
    ("error rate 6 %", {"errors": ErrorRateHealth(6, 100, 600.0)},
     Grade.DEGRADED, "error rate 6.0% (6/100)"),
    ("error rate 2 %", {"errors": ErrorRateHealth(2, 100, 600.0)},
     Grade.GOOD, "error rate 2.0% (2/100)"),
    # scans
    ("no scan for 3 min", {"scans": ScanHealth(180.0, 1.0, 10)},
     Grade.DEGRADED, "no scan for 3m 0s"),
    ("slow scans", {"scans": ScanHealth(2.0, 6.5, 10)},
     Grade.GOOD, "average scan 6.5 s"),
]  # fmt: skip


def test_a_nominal_snapshot_is_excellent_with_no_reasons():
    assessment = assess(BASE, CONFIG)

    assert assessment.grade is Grade.EXCELLENT
    assert assessment.reasons == ()


@pytest.mark.parametrize(
    ("changes", "grade", "reason"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_each_check_drives_the_grade_as_the_table_says(changes, grade, reason):
    snapshot = replace(BASE, **changes)

    assessment = assess(snapshot, CONFIG)

    assert assessment.grade is grade
    assert assessment.reasons == (reason,)


NOT_JUDGED = [
    # below the thresholds
    ("a session expiring in 3 h", {"token": TokenHealth(True, 21 * 3600, 3 * 3600.0)}),
    ("an error rate of 1 %", {"errors": ErrorRateHealth(1, 100, 600.0)}),
    ("memory at 75 %", {"process": replace(PROC, rss_bytes=768 * MIB)}),
    ("memory growing 50 MiB/h", {"process": replace(PROC, rss_trend_bytes_h=50 * MIB)}),
    ("a feed down 10 s", {"feed": down("reconnecting", 10.0), "mode": "paper"}),
    # not judged at all
    ("19 errors in too few operations", {"errors": ErrorRateHealth(19, 19, 600.0)}),
    ("the first minute of the session", {"data": data(10, since_open_s=59.0)}),
    ("live, no data yet, 59 s into the session",
     {"mode": "live", "data": data(0, silent_s=59.0, since_open_s=59.0)}),
    ("no scan for long, market closed",
     {"scans": ScanHealth(3600.0, 1.0, 10), "market_open": False}),
    ("no scan yet", {"scans": ScanHealth(None, None, 0)}),
    ("data missing outside market hours",
     {"data": DataFlowHealth(0, 50, 60.0), "market_open": False}),
]  # fmt: skip


@pytest.mark.parametrize(
    "changes", [case[1] for case in NOT_JUDGED], ids=[case[0] for case in NOT_JUDGED]
)
def test_below_a_threshold_or_out_of_hours_a_check_finds_no_more(changes):
    snapshot = replace(BASE, **changes)

    assessment = assess(snapshot, CONFIG)

    if "feed" in changes:  # a feed down briefly is still degraded, never worse
        assert assessment.grade is Grade.DEGRADED
    else:
        assert assessment.grade is Grade.EXCELLENT, assessment.reasons


def test_unknown_sections_are_not_failures():
    names = ("feed", "data", "candles", "positions", "token", "process", "errors")
    unknown = {name: None for name in (*names, "scans")}
    snapshot = replace(BASE, mode="live", **unknown)

    assert assess(snapshot, CONFIG) == assess(replace(BASE, **unknown), CONFIG)
    assert assess(snapshot, CONFIG).grade is Grade.EXCELLENT


def test_the_worst_issue_is_the_grade_and_every_reason_is_listed_worst_first():
    snapshot = replace(
        BASE,
        errors=ErrorRateHealth(2, 100, 600.0),  # GOOD
        candles=CandleHealth(10, 50),  # DEGRADED
        token=TokenHealth(False, 25 * 3600, -3600.0),  # CRITICAL
    )

    assessment = assess(snapshot, CONFIG)

    assert assessment.grade is Grade.CRITICAL
    assert assessment.reasons == (
        "session expired",
        "candles warm for 10/50 symbols",
        "error rate 2.0% (2/100)",
    )


def test_thresholds_come_from_the_config():
    strict = HealthConfig(feed_down_critical_s=30.0, error_rate_degraded=0.01,
                          error_rate_minor=0.005)  # fmt: skip

    brief_outage = replace(BASE, feed=down("reconnecting", 30.0))
    errors = replace(BASE, errors=ErrorRateHealth(2, 100, 600.0))

    assert assess(brief_outage, strict).grade is Grade.CRITICAL
    assert assess(errors, strict).grade is Grade.DEGRADED


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0 s"), (59.9, "59 s"), (60, "1m 0s"), (3599, "59m 59s"), (8100, "2h 15m")],
)
def test_durations_read_short(seconds, text):
    assert duration(seconds) == text


def test_a_config_that_contradicts_itself_is_refused():
    with pytest.raises(ValueError, match="publish_s"):
        HealthConfig(sample_s=60.0, publish_s=10.0)
    with pytest.raises(ValueError, match="sample_s must be positive"):
        HealthConfig(sample_s=0.0)
    with pytest.raises(ValueError, match="memory_minor_ratio"):
        HealthConfig(memory_minor_ratio=0.95)


def test_quiet_before_the_open_does_not_count_as_missed_scans():
    opened = datetime(2026, 12, 3, 9, 15, tzinfo=IST)
    last_scan_before_open = ScanHealth(400.0, 1.0, 10)  # 09:11:20

    early = replace(
        BASE, at=opened + timedelta(seconds=179), scans=last_scan_before_open
    )
    later = replace(
        BASE, at=opened + timedelta(seconds=180), scans=last_scan_before_open
    )

    assert assess(early, CONFIG).grade is Grade.EXCELLENT
    assert assess(later, CONFIG).reasons == ("no scan for 3m 0s",)
