"""getCandleData on the simulated market (SMARTAPI.md §2.6).

Checks as Angel One does: a known interval, ``fromdate <= todate <= now``, at
most the interval's span of days, and a known token; a malformed request is
AB1004 like the real one. Candles are the market's ground truth, aggregated from
minutes for longer intervals, and only candles that have closed by ``now``:
nothing from before the open and nothing still forming.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from kit.broker.routes import CANDLE_TIME_FORMAT, Interval
from kit.clock import IST
from kit.sim.market import Candle, Market
from kit.sim.replies import SOMETHING_WENT_WRONG, SimError

TODATE_IN_FUTURE = "To datetime can't be greater than current datetime"


def candle_rows(market: Market, body: dict[str, Any], now_s: float) -> list[list[Any]]:
    """The ``data`` of a getCandleData reply for ``body`` at simulated ``now_s``."""
    interval = _interval(body.get("interval"))
    start, end = _time(body.get("fromdate")), _time(body.get("todate"))
    token = str(body.get("symboltoken", ""))
    now = datetime.fromtimestamp(now_s, IST)

    if body.get("exchange") != "NSE" or market.get(token) is None:
        raise SimError("AB1004", SOMETHING_WENT_WRONG)
    if start > end:
        raise SimError("AB1004", SOMETHING_WENT_WRONG)
    if end > now + timedelta(minutes=1):
        raise SimError("AB1004", TODATE_IN_FUTURE)
    if end - start > timedelta(days=interval.max_days):
        raise SimError("AB1004", SOMETHING_WENT_WRONG)

    # The minute named by todate is included; none may still be forming.
    minutes = market.candles(token, start, end + timedelta(minutes=1))
    candles = _aggregate(minutes, interval)
    closed = [c for c in candles if _end(c, interval) <= now]
    return [c.broker_row() for c in closed]


def _interval(value: Any) -> Interval:
    try:
        return Interval(value)
    except ValueError:
        raise SimError("AB1004", SOMETHING_WENT_WRONG) from None


def _time(value: Any) -> datetime:
    try:
        return datetime.strptime(str(value), CANDLE_TIME_FORMAT).replace(tzinfo=IST)
    except ValueError:
        raise SimError("AB1004", SOMETHING_WENT_WRONG) from None


def _end(candle: Candle, interval: Interval) -> datetime:
    if interval is Interval.ONE_DAY:
        return candle.start.replace(hour=15, minute=30)
    return candle.start + timedelta(minutes=interval.minutes)


def _aggregate(minutes: list[Candle], interval: Interval) -> list[Candle]:
    if interval is Interval.ONE_MINUTE:
        return minutes
    buckets: dict[datetime, list[Candle]] = {}
    for candle in minutes:
        buckets.setdefault(_bucket(candle.start, interval), []).append(candle)
    return [_merge(start, group) for start, group in buckets.items()]


def _bucket(start: datetime, interval: Interval) -> datetime:
    if interval is Interval.ONE_DAY:
        return start.replace(hour=0, minute=0)
    session_open = start.replace(hour=9, minute=15)
    offset = int((start - session_open).total_seconds() // 60)
    return session_open + timedelta(minutes=offset - offset % interval.minutes)


def _merge(start: datetime, group: list[Candle]) -> Candle:
    return Candle(
        start,
        group[0].open,
        max(c.high for c in group),
        min(c.low for c in group),
        group[-1].close,
        sum(c.volume for c in group),
    )
