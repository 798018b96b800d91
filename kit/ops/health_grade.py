"""The health grade: one rule table, applied to a snapshot.

Each check looks at one section of a :class:`~kit.ops.health_snapshot.HealthSnapshot`
and finds nothing, or issues of a grade. The grade is the worst issue found;
with none it is EXCELLENT. A section that is unknown (its source missing or
silent) finds nothing: unknown is not a failure. Thresholds are the defaults
of :class:`~kit.ops.health_config.HealthConfig`; "market hours" is the NSE
session, 09:15 to 15:30 on a trading day.

=========  ========  =======================================================
check      grade     when
=========  ========  =======================================================
feed       CRITICAL  not connected for 300 s or more in market hours
           DEGRADED  not connected for less, in market hours; some of its
                     connections down, in market hours
           GOOD      not connected outside market hours
data flow  CRITICAL  live mode: no tick from any symbol for 60 s in market
                     hours (counted from the open)
           DEGRADED  under 90 % of the symbols ticked in the last 60 s
                     (market hours, from 60 s after the open)
           GOOD      90 % or more ticked, but not all
candles    DEGRADED  a symbol's book is not warm
token      CRITICAL  the session has expired
           DEGRADED  it expires within 1 h
           GOOD      it expires within 3 h
memory     DEGRADED  RSS over 90 % of the limit; RSS growing over 50 MiB an
                     hour (fitted over 15 min to 1 h of samples)
           GOOD      RSS over 75 % of the limit
threads    GOOD      over 100 threads; over 1000 open files
errors     DEGRADED  over 5 % of the operations of the last 10 min failed
                     (judged from 20 operations on)
           GOOD      over 1 % failed
scans      DEGRADED  no scan for 180 s in market hours (after the first scan;
                     quiet before the open does not count)
           GOOD      the average scan takes over 5 s
=========  ========  =======================================================

EXCELLENT: no issue at all. The reasons list every issue, worst first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kit.clock import IST, NseCalendar
from kit.ops.health_config import MIB, HealthConfig
from kit.ops.health_snapshot import Grade, HealthSnapshot

_SESSIONS = NseCalendar()  # session opening times; holidays do not matter here
Issue = tuple[Grade, str]
Check = Callable[[HealthSnapshot, HealthConfig], list[Issue]]


@dataclass(frozen=True)
class Assessment:
    """A grade and its reasons, worst first."""

    grade: Grade
    reasons: tuple[str, ...]


def assess(snapshot: HealthSnapshot, config: HealthConfig) -> Assessment:
    """The grade of ``snapshot`` by the rules of this module's table."""
    issues = [issue for check in CHECKS for issue in check(snapshot, config)]
    if not issues:
        return Assessment(Grade.EXCELLENT, ())
    issues.sort(key=lambda issue: -issue[0].rank)
    return Assessment(issues[0][0], tuple(reason for _, reason in issues))


def check_feed(s: HealthSnapshot, c: HealthConfig) -> list[Issue]:
    feed = s.feed
    if feed is None:
        return []
    if not feed.connected:
        if not s.market_open:
            return [(Grade.GOOD, f"feed {feed.state}, market closed")]
        down = f"feed {feed.state} for {duration(feed.down_s)}"
        if feed.down_s >= c.feed_down_critical_s:
            return [(Grade.CRITICAL, down)]
        return [(Grade.DEGRADED, down)]
    if feed.state == "degraded" and s.market_open:
        return [(Grade.DEGRADED, "feed: some connections down")]
    return []


def check_data_flow(s: HealthSnapshot, c: HealthConfig) -> list[Issue]:
    data = s.data
    if data is None or not s.market_open or data.subscribed == 0:
        return []
    silent_s = data.silent_s
    if s.mode == "live" and silent_s is not None and silent_s >= c.silent_window_s:
        return [(Grade.CRITICAL, f"live mode without data for {duration(silent_s)}")]

    since_open_s = data.since_open_s
    if since_open_s is None or since_open_s < data.window_s:
        return []  # the first minute of the session: symbols still waking
    flowing = f"data from {data.fresh}/{data.subscribed} symbols"
    ratio = data.fresh / data.subscribed
    if ratio < c.data_flow_degraded_ratio:
        return [(Grade.DEGRADED, flowing)]
    if ratio < 1:
        return [(Grade.GOOD, flowing)]
    return []


def check_candles(s: HealthSnapshot, c: HealthConfig) -> list[Issue]:
    candles = s.candles
    if candles is None or candles.warm >= candles.total:
        return []
    return [
        (Grade.DEGRADED, f"candles warm for {candles.warm}/{candles.total} symbols")
    ]


def check_token(s: HealthSnapshot, c: HealthConfig) -> list[Issue]:
    token = s.token
    if token is None or token.expires_in_s is None:
        return []
    left_s = token.expires_in_s
    if left_s <= 0:
        return [(Grade.CRITICAL, "session expired")]
    if left_s < c.token_warning_s:
        return [(Grade.DEGRADED, f"session expires in {duration(left_s)}")]
    if left_s < c.token_minor_s:
        return [(Grade.GOOD, f"session expires in {duration(left_s)}")]
    return []


def check_memory(s: HealthSnapshot, c: HealthConfig) -> list[Issue]:
    proc = s.process
    if proc is None:
        return []
    issues: list[Issue] = []
    trend = proc.rss_trend_bytes_h
    if trend is not None and trend > c.rss_growth_degraded_bytes_h:
        issues.append((Grade.DEGRADED, f"memory growing {trend / MIB:.0f} MB/h"))

    limit = proc.memory_limit_bytes
    if limit:
        used = proc.rss_bytes / limit
        if used > c.memory_degraded_ratio:
            issues.append((Grade.DEGRADED, f"memory at {used:.0%} of the limit"))
        elif used > c.memory_minor_ratio:
            issues.append((Grade.GOOD, f"memory at {used:.0%} of the limit"))
    return issues


def check_threads(s: HealthSnapshot, c: HealthConfig) -> list[Issue]:
    proc = s.process
    if proc is None:
        return []
    issues: list[Issue] = []
    if proc.threads > c.max_threads:
        issues.append((Grade.GOOD, f"{proc.threads} threads"))
    if proc.open_files is not None and proc.open_files > c.max_open_files:
        issues.append((Grade.GOOD, f"{proc.open_files} open files"))
    return issues


def check_errors(s: HealthSnapshot, c: HealthConfig) -> list[Issue]:
    errors = s.errors
    if errors is None or errors.operations < c.error_min_operations:
        return []
    rate = errors.errors / errors.operations
    text = f"error rate {rate:.1%} ({errors.errors}/{errors.operations})"
    if rate > c.error_rate_degraded:
        return [(Grade.DEGRADED, text)]
    if rate > c.error_rate_minor:
        return [(Grade.GOOD, text)]
    return []


def check_scans(s: HealthSnapshot, c: HealthConfig) -> list[Issue]:
    scans = s.scans
    if scans is None:
        return []
    issues: list[Issue] = []
    age_s = scans.last_scan_age_s
    if s.market_open and age_s is not None:
        since_open_s = s.at - _SESSIONS.session_open(s.at.astimezone(IST).date())
        age_s = min(age_s, since_open_s.total_seconds())
    if s.market_open and age_s is not None and age_s >= c.scan_stale_s:
        issues.append((Grade.DEGRADED, f"no scan for {duration(age_s)}"))
    average_s = scans.average_scan_s
    if average_s is not None and average_s > c.slow_scan_s:
        issues.append((Grade.GOOD, f"average scan {average_s:.1f} s"))
    return issues


CHECKS: tuple[Check, ...] = (
    check_feed,
    check_data_flow,
    check_candles,
    check_token,
    check_memory,
    check_threads,
    check_errors,
    check_scans,
)


def duration(seconds: float) -> str:
    """``45 s``, ``3m 20s``, ``2h 15m``: short, for reasons and the board."""
    total = max(0, int(seconds))
    if total < 60:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes}m {secs}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes}m"
