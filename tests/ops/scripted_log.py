"""A scripted trading day of activity events whose figures are known by hand
(see tests/ops/test_metrics.py for the answers)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from kit.clock import IST
from kit.ops.events import ActivityEvent, EventKind, FaultKind, Severity

DAY = date(2026, 12, 3)  # a Thursday, a trading day
NEXT = DAY + timedelta(days=1)


def at(clock: str, day: date = DAY) -> datetime:
    return datetime.combine(day, time.fromisoformat(clock), IST)


def ev(
    clock: str, kind: str, severity: Severity = Severity.INFO, day: date = DAY, **fields
) -> ActivityEvent:
    return ActivityEvent(at(clock, day), kind, severity, f"{kind} at {clock}", fields)


def incident(
    name: str,
    fault: FaultKind,
    phase: str | None,
    began: str | None = None,
    day: date = DAY,
) -> dict[str, Any]:
    fields: dict[str, Any] = {"incident": name, "fault": fault.value}
    if phase:
        fields["phase"] = phase
    if began:
        fields["began_s"] = at(began, day).timestamp()
    return fields


def detected(clock, kind, name, fault, began=None, severity=Severity.WARNING, day=DAY):
    return ev(
        clock, kind, severity, day, **incident(name, fault, "detected", began, day)
    )


def closed(
    clock, kind, name, fault, phase="recovered", day=DAY, severity=Severity.INFO
):
    return ev(clock, kind, severity, day, **incident(name, fault, phase, day=day))


WS, STALE = FaultKind.WS_DISCONNECT, FaultKind.WS_STALE
CRITICAL = Severity.CRITICAL
K = EventKind


def scripted_day() -> list[ActivityEvent]:
    """One trading day with every kind of incident; see the expected figures."""
    margin = incident("m1", FaultKind.INSUFFICIENT_MARGIN, "recovered", "11:50:00")
    symbol = incident("sym", FaultKind.INVALID_SYMBOL, "recovered", "09:01:00")
    return [
        ev("09:00:00", K.BOT_STARTED),
        detected("09:00:30", K.MARKET_CLOSED_WAIT, "mc", FaultKind.MARKET_CLOSED,
                 began="09:00:00"),
        ev("09:01:00", K.SYMBOL_SKIPPED, Severity.WARNING, **symbol),
        closed("09:02:00", K.BUILDING_FROM_TICKS, "mc", FaultKind.MARKET_CLOSED),
        # Two connections drop together, and a silence overlaps them.
        detected("10:00:00", K.FEED_DISCONNECTED, "a", WS, began="10:00:00"),
        detected("10:00:05", K.FEED_DISCONNECTED, "a2", WS, began="10:00:05"),
        ev("10:00:06", K.FEED_RECONNECTING, **incident("a", WS, None)),
        closed("10:00:10", K.FEED_RECONNECTED, "a", WS),
        closed("10:00:15", K.FEED_RECONNECTED, "a2", WS),
        detected("10:00:25", K.FEED_STALE, "s2", STALE, began="10:00:05"),
        closed("10:00:40", K.FEED_RECONNECTED, "s2", STALE),
        detected("10:30:20", K.FEED_STALE, "s1", STALE, began="10:30:00"),
        closed("10:30:50", K.FEED_RECONNECTED, "s1", STALE),
        detected("11:00:00", K.FEED_DISCONNECTED, "b", WS, began="11:00:00"),
        closed("11:00:45", K.FEED_RECONNECTED, "b", WS),
        # REST calls.
        detected("11:10:01", K.API_RETRY, "r1", FaultKind.API_RATE_LIMIT, "11:10:00"),
        closed("11:10:11", K.API_RECOVERED, "r1", FaultKind.API_RATE_LIMIT),
        detected("11:20:02", K.API_RETRY, "r2", FaultKind.API_RATE_LIMIT, "11:20:00"),
        ev("11:20:12", K.API_RETRY, **incident("r2", FaultKind.API_RATE_LIMIT, None)),
        closed("11:20:22", K.API_RECOVERED, "r2", FaultKind.API_RATE_LIMIT),
        detected("11:30:07", K.API_RETRY, "t1", FaultKind.NETWORK_TIMEOUT, "11:30:00"),
        closed("11:30:30", K.API_FAILED, "t1", FaultKind.NETWORK_TIMEOUT, "failed"),
        detected("11:40:01", K.API_RETRY, "e1", FaultKind.SERVER_ERROR, "11:40:00"),
        closed("11:40:05", K.API_RECOVERED, "e1", FaultKind.SERVER_ERROR),
        ev("11:50:00", K.TRADE_SKIPPED, Severity.WARNING, **margin),
        # The session: warned an hour ahead, expired, renewed by a person.
        detected("12:00:00", K.TOKEN_EXPIRY_WARNING, "k1", FaultKind.TOKEN_EXPIRY,
                 began="13:00:00"),
        ev("13:00:00", K.SESSION_EXPIRED, Severity.CRITICAL,
           **incident("k1", FaultKind.TOKEN_EXPIRY, None)),
        ev("13:01:30", K.MANUAL_ACTION, text="kit login"),
        closed("13:02:00", K.SESSION_RENEWED, "k1", FaultKind.TOKEN_EXPIRY),
        # The feed gives up; the process dies; a supervisor restarts it.
        detected("14:00:00", K.FEED_DISCONNECTED, "c", WS, began="14:00:00"),
        closed("14:05:00", K.FEED_GAVE_UP, "c", WS, "failed", severity=CRITICAL),
        ev("14:10:00", K.HEALTH_GRADE_CHANGED),
        ev("14:20:00", K.BOT_STARTED),
        ev("14:20:01", K.CRASH_DETECTED, Severity.ERROR,
           last_seen_s=at("14:12:00").timestamp()),
        # Silent at the end of the day, never closed, then a clean stop.
        detected("15:00:00", K.FEED_STALE, "u", STALE, began="14:59:30"),
        ev("15:40:00", K.BOT_STOPPED),
    ]  # fmt: skip
