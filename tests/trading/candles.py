"""Candle series for the trading tests: frames and books from closing prices."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from kit.clock import IST
from kit.market.candle_book import CandleBook
from tests.trading.reference import ema_loop

START = datetime(2025, 1, 6, 9, 15, tzinfo=IST)  # a Monday's open
SPREAD = 0.4  # how far high and low reach beyond open and close


def ohlc_rows(closes: Sequence[float]) -> list[list[object]]:
    """getCandleData-like rows: each candle opens at the previous close."""
    rows: list[list[object]] = []
    for i, close in enumerate(closes):
        open_ = closes[i - 1] if i else close
        high, low = max(open_, close) + SPREAD, min(open_, close) - SPREAD
        start = START + timedelta(minutes=i)
        rows.append([start, float(open_), high, low, float(close), 1000 + i])
    return rows


def frame_of(closes: Sequence[float]) -> pd.DataFrame:
    """A frame like ``CandleBook.frame()`` of these closes."""
    return book_of(closes).frame()


def book_of(closes: Sequence[float], symbol: str = "TEST-EQ") -> CandleBook:
    """A candle book holding these closes as broker candles."""
    book = CandleBook("1", symbol=symbol)
    book.merge_broker(ohlc_rows(closes))
    return book


def zigzag(count: int, slope: float, *, start: float = 500.0) -> list[float]:
    """A drift of ``slope`` a candle with a wiggle of +/-0.3, so that both gains
    and losses exist and the RSI stays away from its ends."""
    return [start + slope * i + (0.3 if i % 2 else -0.3) for i in range(count)]


def v_shape(fall: int = 260, rise: int = 80) -> list[float]:
    """Falling then rising: the 9 EMA crosses above the 21 EMA during the rise."""
    down = zigzag(fall, -0.2)
    return down + zigzag(rise, 0.2, start=down[-1])[1:]


def first_cross(closes: Sequence[float], fast: int, slow: int, *, up: bool) -> int:
    """The first index where the fast EMA crosses the slow one (by the loop
    reference), upwards or downwards."""
    spread = np.array(ema_loop(closes, fast)) - np.array(ema_loop(closes, slow))
    for i in range(1, len(closes)):
        before, now = spread[i - 1], spread[i]
        if (up and before <= 0 < now) or (not up and before >= 0 > now):
            return i
    raise AssertionError("no crossing in the series")


def random_walk(count: int, seed: int, *, start: float = 1000.0) -> list[float]:
    rng = np.random.default_rng(seed)
    steps = rng.normal(0.0, 1.0, count)
    return list(np.maximum(start + np.cumsum(steps), 1.0))
