"""kit.clock.NseCalendar: phases of the day, weekends, exchange holidays."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise

import pytest

from kit.clock import IST, MarketPhase, NseCalendar

CAL = NseCalendar()
THURSDAY = date(2026, 12, 3)


def at(hour: int, minute: int, day: date = THURSDAY) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=IST)


@pytest.mark.parametrize(
    ("hour", "minute", "phase"),
    [
        (8, 59, MarketPhase.CLOSED),
        (9, 0, MarketPhase.PRE_OPEN),
        (9, 7, MarketPhase.PRE_OPEN),
        (9, 8, MarketPhase.PRE_OPEN_BUFFER),
        (9, 14, MarketPhase.PRE_OPEN_BUFFER),
        (9, 15, MarketPhase.OPEN),
        (15, 29, MarketPhase.OPEN),
        (15, 30, MarketPhase.POST_CLOSE),
        (16, 0, MarketPhase.CLOSED),
    ],
)
def test_phase_of_a_trading_day(hour, minute, phase):
    assert CAL.phase(at(hour, minute)) is phase


def test_phase_reads_any_timezone_as_ist():
    utc_0400 = datetime(2026, 12, 3, 4, 0, tzinfo=UTC)  # 09:30 IST

    assert CAL.is_open(utc_0400)


def test_weekends_are_closed():
    saturday = date(2026, 12, 5)

    assert not CAL.is_trading_day(saturday)
    assert CAL.phase(at(10, 0, saturday)) is MarketPhase.CLOSED


@pytest.mark.parametrize(
    "holiday",
    [date(2026, 1, 26), date(2026, 10, 2), date(2026, 12, 25), date(2025, 8, 15)],
)
def test_exchange_holidays_are_closed(holiday):
    assert CAL.holiday_name(holiday)
    assert not CAL.is_trading_day(holiday)
    assert not CAL.is_open(at(10, 0, holiday))


def test_extra_holidays_and_sessions_from_settings():
    cal = NseCalendar(extra_holidays=[THURSDAY], extra_sessions=[date(2026, 12, 25)])

    assert not cal.is_trading_day(THURSDAY)
    assert cal.is_trading_day(date(2026, 12, 25))


def test_next_open_skips_weekends_and_holidays():
    friday_evening = at(16, 0, date(2026, 12, 4))
    before_christmas = at(16, 0, date(2026, 12, 24))

    assert CAL.next_open(friday_evening) == at(9, 15, date(2026, 12, 7))
    assert CAL.next_open(before_christmas) == at(9, 15, date(2026, 12, 28))
    assert CAL.next_open(at(8, 0)) == at(9, 15)


def test_last_close_is_today_after_the_close_and_yesterday_before_it():
    assert CAL.last_close(at(15, 45)) == at(15, 30)
    assert CAL.last_close(at(10, 0)) == at(15, 30, date(2026, 12, 2))
    monday_morning = at(9, 0, date(2026, 12, 7))
    assert CAL.last_close(monday_morning) == at(15, 30, date(2026, 12, 4))


def test_previous_and_next_trading_day():
    assert CAL.previous_trading_day(date(2026, 12, 7)) == date(2026, 12, 4)
    assert CAL.next_trading_day(date(2026, 12, 24)) == date(2026, 12, 28)


def test_a_session_has_375_one_minute_candles():
    minutes = CAL.session_minutes(THURSDAY)

    assert len(minutes) == 375
    assert minutes[0] == at(9, 15)
    assert minutes[-1] == at(15, 29)
    assert all(b - a == timedelta(minutes=1) for a, b in pairwise(minutes))
    assert CAL.session_minutes(date(2026, 12, 5)) == []
