"""The simulated market: seeded price paths and their ground-truth candles.

Every instrument trades once a second through the session, 09:15:00 to 15:29:59
IST: trade ``i`` of a day happens at the open plus ``i`` seconds, at a price on
the instrument's tick grid and with a random quantity. Everything is a pure
function of (seed, token, day), so the feed, the REST routes and a test asking
for the truth all see the same market, and two simulators with one seed agree.

How a day is made:

- Daily closes follow a random walk per instrument (its ``daily_vol``), anchored
  so that the close of 2026-01-01 is the instrument's ``base_price``.
- A day opens at the previous session's close times a small random gap, and its
  intraday path is a Brownian bridge in log price from that open to the day's
  close, so the close of every day is known without building the day before.
- The ground-truth 1-minute candle of minute ``m`` is the open, high, low, close
  and summed quantity of trades ``60 m`` to ``60 m + 59``. A feed that sends a
  tick for every trade lets a candle builder reproduce these exactly.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cached_property

import numpy as np
import numpy.typing as npt

from kit.broker import wire
from kit.broker.routes import Mode
from kit.clock import IST, NseCalendar
from kit.sim.instruments import NSE_INSTRUMENTS, Instrument
from kit.sim.quotes import build_tick

SESSION_SECONDS = 22_500  # 09:15:00 to 15:29:59, one trade a second
MINUTES = SESSION_SECONDS // 60
_ANCHOR_DAY = date(2026, 1, 1)  # the close here is the instrument's base price
_FIRST_DAY = date(2016, 1, 1)  # daily walks cover 2016 to 2035
_WALK_DAYS = 20 * 366
_GAP_SHARE = 0.3  # overnight gap, as a share of the daily volatility
_PATHS_CACHED = 160  # about 1 MB each


@dataclass(frozen=True)
class Candle:
    """One ground-truth candle; ``start`` is the minute's first second, in IST."""

    start: datetime
    open: float
    high: float
    low: float
    close: float
    volume: int

    def broker_row(self) -> list[str | float | int]:
        """The candle as getCandleData returns it."""
        stamp = self.start.strftime("%Y-%m-%dT%H:%M:%S+05:30")
        return [stamp, self.open, self.high, self.low, self.close, self.volume]


class DayPath:
    """One instrument's trades on one trading day, with running aggregates."""

    def __init__(
        self,
        day: date,
        open_s: float,
        prices: npt.NDArray[np.float64],
        quantities: npt.NDArray[np.int64],
        prev_close: float,
    ) -> None:
        self.day = day
        self.open_s = open_s
        self.prices = prices
        self.quantities = quantities
        self.prev_close = prev_close
        self.cum_volume = np.cumsum(quantities)
        self.run_high = np.maximum.accumulate(prices)
        self.run_low = np.minimum.accumulate(prices)
        self._cum_value = np.cumsum(prices * quantities)

    def index_at(self, at_s: float) -> int:
        """The last trade at or before ``at_s`` (the first one before the open)."""
        return int(min(max(at_s - self.open_s, 0), SESSION_SECONDS - 1))

    def vwap(self, index: int) -> float:
        volume = int(self.cum_volume[index])
        value = float(self._cum_value[index])
        return round(value / volume, 2) if volume else float(self.prices[index])

    @cached_property
    def minute_bars(self) -> npt.NDArray[np.float64]:
        """(375, 5) open, high, low, close, volume of every minute."""
        prices = self.prices.reshape(MINUTES, 60)
        volume = self.quantities.reshape(MINUTES, 60).sum(axis=1)
        columns = (prices[:, 0], prices.max(axis=1), prices.min(axis=1), prices[:, -1])
        return np.column_stack((*columns, volume.astype(np.float64)))


class Market:
    """Seeded prices for every instrument of the master, on the NSE calendar."""

    def __init__(
        self,
        *,
        seed: int = 7,
        calendar: NseCalendar | None = None,
        instruments: tuple[Instrument, ...] = NSE_INSTRUMENTS,
    ) -> None:
        self.seed = seed
        self.calendar = calendar or NseCalendar()
        self.instruments = instruments
        self._by_token = {i.token: i for i in instruments}
        self._by_symbol = {i.symbol.upper(): i for i in instruments}
        self._closes: dict[str, npt.NDArray[np.float64]] = {}
        self._paths: OrderedDict[tuple[str, date], DayPath] = OrderedDict()
        self._lock = threading.Lock()

    # Instruments.

    def get(self, token: str) -> Instrument | None:
        return self._by_token.get(token)

    def by_symbol(self, symbol: str) -> Instrument | None:
        return self._by_symbol.get(symbol.upper())

    def search(self, text: str) -> list[Instrument]:
        """Instruments whose symbol or name contains ``text`` (any case)."""
        needle = text.upper()
        return [
            i
            for i in self.instruments
            if needle in i.symbol.upper() or needle in i.name
        ]

    # Daily closes.

    def daily_close(self, token: str, day: date) -> float:
        """The close of ``day`` (defined for every calendar day, traded or not)."""
        instrument = self._instrument(token)
        walk = self._close_walk(instrument)
        index = (day - _FIRST_DAY).days
        if not 0 <= index < _WALK_DAYS:
            raise ValueError(f"the simulated market covers 2016 to 2035, not {day}")
        return _on_tick(float(walk[index]), instrument.tick_size)

    def prev_close(self, token: str, day: date) -> float:
        """The close of the last trading day before ``day``."""
        return self.daily_close(token, self.calendar.previous_trading_day(day))

    def _close_walk(self, instrument: Instrument) -> npt.NDArray[np.float64]:
        with self._lock:
            walk = self._closes.get(instrument.token)
            if walk is None:
                rng = self._rng(instrument, 0, 0)
                steps = rng.normal(0.0, instrument.daily_vol, _WALK_DAYS)
                log_walk = np.cumsum(steps)
                log_walk -= log_walk[(_ANCHOR_DAY - _FIRST_DAY).days]
                walk = instrument.base_price * np.exp(log_walk)
                self._closes[instrument.token] = walk
            return walk

    # Intraday paths.

    def day_path(self, token: str, day: date) -> DayPath:
        """The trades of ``token`` on the trading day ``day``."""
        if not self.calendar.is_trading_day(day):
            raise ValueError(f"{day} is not a trading day")
        key = (token, day)
        with self._lock:
            path = self._paths.get(key)
            if path is not None:
                self._paths.move_to_end(key)
                return path
        path = self._build_path(self._instrument(token), day)
        with self._lock:
            self._paths[key] = path
            while len(self._paths) > _PATHS_CACHED:
                self._paths.popitem(last=False)
        return path

    def _build_path(self, instrument: Instrument, day: date) -> DayPath:
        rng = self._rng(instrument, 1, day.toordinal())
        tick = instrument.tick_size
        prev_close = self.prev_close(instrument.token, day)
        close = self.daily_close(instrument.token, day)
        gap = rng.normal(0.0, instrument.daily_vol * _GAP_SHARE)
        start, end = np.log(prev_close) + gap, np.log(close)

        # A Brownian bridge from the open to the close, one step a second.
        sigma = instrument.daily_vol / np.sqrt(SESSION_SECONDS)
        walk = np.cumsum(rng.normal(0.0, sigma, SESSION_SECONDS))
        share = np.arange(1, SESSION_SECONDS + 1) / SESSION_SECONDS
        log_prices = start + (end - start) * share + walk - share * walk[-1]
        prices = np.round(np.round(np.exp(log_prices) / tick) * tick, 2)

        if instrument.is_index:
            quantities = np.zeros(SESSION_SECONDS, dtype=np.int64)
        else:
            typical = max(1.0, 2_000_000.0 / instrument.base_price / 60)
            sizes = rng.lognormal(np.log(typical), 1.0, SESSION_SECONDS)
            quantities = np.maximum(1, sizes.astype(np.int64))
        open_s = self.calendar.session_open(day).timestamp()
        return DayPath(day, open_s, prices, quantities, prev_close)

    def _rng(
        self, instrument: Instrument, stream: int, day: int
    ) -> np.random.Generator:
        return np.random.default_rng([self.seed, int(instrument.token), stream, day])

    def _instrument(self, token: str) -> Instrument:
        instrument = self._by_token.get(token)
        if instrument is None:
            raise KeyError(f"unknown token {token}")
        return instrument

    # What the feed and the REST routes ask.

    def session_day(self, at_s: float) -> date:
        """The trading day whose trades are the latest at ``at_s``: today once the
        session has opened, else the last trading day before."""
        when = datetime.fromtimestamp(at_s, IST)
        day = when.date()
        if self.calendar.is_trading_day(day) and when >= self.calendar.session_open(
            day
        ):
            return day
        return self.calendar.previous_trading_day(day)

    def last_trade(self, token: str, at_s: float) -> tuple[DayPath, int]:
        """The path and index of the last trade at or before ``at_s``."""
        path = self.day_path(token, self.session_day(at_s))
        return path, path.index_at(at_s)

    def range_52w(self, token: str, day: date) -> tuple[float, float]:
        """The highest and lowest daily close of the year before ``day``."""
        instrument = self._instrument(token)
        walk = self._close_walk(instrument)
        end = (day - _FIRST_DAY).days
        window = walk[max(0, end - 365) : max(1, end)]
        tick = instrument.tick_size
        return _on_tick(float(window.max()), tick), _on_tick(float(window.min()), tick)

    def price(self, token: str, at_s: float) -> float:
        """The last traded price at ``at_s``."""
        path, index = self.last_trade(token, at_s)
        return float(path.prices[index])

    def candles(self, token: str, start: datetime, end: datetime) -> list[Candle]:
        """Ground-truth 1-minute candles whose minute starts in ``[start, end)``."""
        self._instrument(token)
        found: list[Candle] = []
        day = start.astimezone(IST).date()
        while day <= end.astimezone(IST).date():
            if self.calendar.is_trading_day(day):
                found += self._day_candles(token, day, start, end)
            day += timedelta(days=1)
        return found

    def _day_candles(
        self, token: str, day: date, start: datetime, end: datetime
    ) -> list[Candle]:
        first = self.calendar.session_open(day)
        lo = max(0, _ceil_minutes(start - first))
        hi = min(MINUTES, _ceil_minutes(end - first))
        if lo >= hi:
            return []
        bars = self.day_path(token, day).minute_bars[lo:hi]
        return [
            Candle(first + timedelta(minutes=lo + n), float(o), float(h), float(low),
                   float(c), int(v))
            for n, (o, h, low, c, v) in enumerate(bars.tolist())
        ]  # fmt: skip

    def tick(self, token: str, mode: Mode, at_s: float) -> wire.Tick:
        """The feed's frame content for ``token`` in ``mode`` at ``at_s``."""
        instrument = self._instrument(token)
        path, index = self.last_trade(token, at_s)
        return build_tick(self, instrument, path, index, mode)


def _on_tick(price: float, tick: float) -> float:
    return round(round(price / tick) * tick, 2)


def _ceil_minutes(delta: timedelta) -> int:
    seconds = delta.total_seconds()
    whole = int(seconds // 60)
    return whole if seconds == whole * 60 else whole + 1
