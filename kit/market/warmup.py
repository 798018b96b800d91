"""Warm-up arithmetic on the NSE calendar: which minutes a warm book holds, and
when a book built from ticks alone will be warm.

A book is *warm* when it holds a closed candle for each of the last ``count``
session minutes that have ended: the strategy's look-back. Only session minutes
count (09:15 to 15:29 of trading days), so before the open the warm-up window
is the tail of the previous session, and a book loaded with it is warm at 09:15.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from kit.clock import IST, NseCalendar
from kit.market.candle_book import CandleBook

MINUTE = timedelta(minutes=1)
_DAY = timedelta(days=1)
_MAX_DAYS = 3660  # ten years: far beyond any closure of the exchange


def floor_minute(when: datetime) -> datetime:
    """The start of the IST minute holding ``when``."""
    return when.astimezone(IST).replace(second=0, microsecond=0)


def closed_minutes(calendar: NseCalendar, now: datetime, count: int) -> list[datetime]:
    """The last ``count`` session minutes that have ended by ``now``, oldest first."""
    if count < 1:
        return []
    chunks: list[list[datetime]] = []
    needed = count
    day = now.astimezone(IST).date()
    for _ in range(_MAX_DAYS):
        ended = [m for m in calendar.session_minutes(day) if m + MINUTE <= now]
        if ended:
            chunks.append(ended[-needed:])
            needed -= len(chunks[-1])
            if needed == 0:
                return [minute for chunk in reversed(chunks) for minute in chunk]
        day -= _DAY
    raise ValueError(f"fewer than {count} session minutes in ten years before {now}")


def warm_at(calendar: NseCalendar, now: datetime, count: int) -> datetime:
    """When ``count`` whole session minutes starting at or after ``now`` will have
    ended: the moment a book built from ticks from ``now`` on is warm.

    The minute in progress at ``now`` does not count (its first ticks were
    missed); before the open the count starts at the open.
    """
    needed = max(1, count)
    day = now.astimezone(IST).date()
    for _ in range(_MAX_DAYS):
        ahead = [m for m in calendar.session_minutes(day) if m >= now]
        if len(ahead) >= needed:
            return ahead[needed - 1] + MINUTE
        needed -= len(ahead)
        day += _DAY
    raise ValueError(f"fewer than {count} session minutes in ten years after {now}")


def session_minutes_between(
    calendar: NseCalendar, first: datetime, last: datetime
) -> list[datetime]:
    """The session minutes from ``first`` to ``last``, both included."""
    found: list[datetime] = []
    day: date = first.astimezone(IST).date()
    end_day = last.astimezone(IST).date()
    while day <= end_day:
        found += [m for m in calendar.session_minutes(day) if first <= m <= last]
        day += _DAY
    return found


def warm_gaps(
    book: CandleBook, calendar: NseCalendar, now: datetime, count: int
) -> list[datetime]:
    """The minutes of the warm-up window ending at ``now`` that ``book`` lacks.

    Empty when the book is warm. A minute in which nothing traded has no
    candle at the broker either and stays listed: such a symbol is never
    fully warm by this measure.
    """
    return [m for m in closed_minutes(calendar, now, count) if book.get(m) is None]
