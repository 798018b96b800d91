"""Ticks and ground-truth candles from the simulator's market, for candle tests."""

from __future__ import annotations

import functools
import random
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from kit.broker.routes import Mode
from kit.broker.wire import LtpTick, QuoteTick, SnapQuoteTick
from kit.clock import NseCalendar
from kit.market.candle_book import CandleBook
from kit.market.candles import Candle, PriceTick
from kit.sim.market import Candle as TrueCandle
from kit.sim.market import Market

DAY = date(2026, 3, 2)  # a Monday, a trading day
TOKEN = "2885"  # RELIANCE-EQ
INDEX_TOKEN = "99926000"  # Nifty 50: no volume
OPEN = NseCalendar().session_open(DAY)
OPEN_S = int(OPEN.timestamp())


@functools.cache
def market() -> Market:
    return Market(seed=7)


def at(hour: int, minute: int, second: int = 0) -> datetime:
    return OPEN.replace(hour=hour, minute=minute, second=second)


def ms(when: datetime) -> int:
    return int(when.timestamp()) * 1000


def ticks(
    first: int, count: int, mode: Mode = Mode.QUOTE, token: str = TOKEN
) -> list[PriceTick]:
    """The ticks of trades ``first`` .. ``first + count - 1`` (seconds after the
    open), one a second, as the feed would send them in ``mode``."""
    found: list[PriceTick] = []
    for i in range(first, first + count):
        tick = market().tick(token, mode, OPEN_S + i)
        assert isinstance(tick, LtpTick | QuoteTick | SnapQuoteTick)
        found.append(tick)
    return found


def truth(start: datetime, end: datetime, token: str = TOKEN) -> list[TrueCandle]:
    return market().candles(token, start, end)


def broker_rows(candles: Iterable[TrueCandle]) -> list[list[Any]]:
    return [c.broker_row() for c in candles]


def ohlcv(candle: Candle | TrueCandle) -> tuple[Any, ...]:
    c = candle
    return (c.start, c.open, c.high, c.low, c.close, c.volume)


def ohlc(candle: Candle | TrueCandle) -> tuple[Any, ...]:
    c = candle
    return (c.start, c.open, c.high, c.low, c.close)


def feed(book: CandleBook, stream: Iterable[PriceTick]) -> list[Candle]:
    """Every tick to the book; the candles it closed, in the order it closed them."""
    closed: list[Candle] = []
    for tick in stream:
        closed += book.on_tick(tick)
    return closed


def finish(book: CandleBook, after: datetime) -> list[Candle]:
    """Close what is left by the clock, well after ``after``."""
    return book.close_due(now_ms=ms(after + timedelta(minutes=1)))


def shuffled(stream: Sequence[PriceTick], window_s: float, seed: int) -> list[Any]:
    """The ticks in an arrival order where each may be overtaken by the ticks of
    the next ``window_s`` seconds (one tick a second), never by later ones."""
    rng = random.Random(seed)
    keyed = [(n + rng.uniform(0, window_s), n) for n in range(len(stream))]
    return [stream[n] for _, n in sorted(keyed)]
