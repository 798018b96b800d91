"""What the simulated feed sends for an instrument at a trade: its tick per mode.

The order book around the last price is synthetic but steady: bids from the last
price down, asks one tick above it up, sizes and order counts derived from the
trade index so that the same instant always shows the same book.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kit.broker import wire
from kit.broker.routes import Mode

if TYPE_CHECKING:
    from kit.sim.instruments import Instrument
    from kit.sim.market import DayPath, Market

_CIRCUIT = 0.2  # price band: 20 % either side of the previous close


def build_tick(
    market: Market, instrument: Instrument, path: DayPath, index: int, mode: Mode
) -> wire.Tick:
    token, ex = instrument.token, instrument.exchange_type
    sequence = path.day.toordinal() * 100_000 + index + 1
    ts_ms = int((path.open_s + index) * 1000)
    ltp = float(path.prices[index])
    if mode is Mode.DEPTH:
        return _depth(instrument, index, ts_ms, ltp, 20)
    if mode is Mode.LTP:
        return wire.LtpTick(1, ex, token, sequence, ts_ms, ltp)

    volume = int(path.cum_volume[index])
    quote = (
        int(path.quantities[index]), path.vwap(index), volume,
        float(volume // 3 + 500), float(volume // 4 + 700), float(path.prices[0]),
        float(path.run_high[index]), float(path.run_low[index]), path.prev_close,
    )  # fmt: skip
    if mode is Mode.QUOTE:
        return wire.QuoteTick(2, ex, token, sequence, ts_ms, ltp, *quote)

    book = _book(instrument, index, ltp, 5)
    high_52w, low_52w = market.range_52w(token, path.day)
    tick = instrument.tick_size
    upper = round(round(path.prev_close * (1 + _CIRCUIT) / tick) * tick, 2)
    lower = round(round(path.prev_close * (1 - _CIRCUIT) / tick) * tick, 2)
    return wire.SnapQuoteTick(
        3, ex, token, sequence, ts_ms, ltp, *quote, int(path.open_s) + index, 0, 0.0,
        *book, upper, lower, max(high_52w, ltp), min(low_52w, ltp),
    )  # fmt: skip


def _book(
    instrument: Instrument, index: int, ltp: float, depth: int
) -> tuple[tuple[float, ...], tuple[int, ...], tuple[int, ...],
           tuple[float, ...], tuple[int, ...], tuple[int, ...]]:  # fmt: skip
    tick = instrument.tick_size
    seed = int(instrument.token) + index * 7919
    bid_prices = tuple(round(max(tick, ltp - k * tick), 2) for k in range(depth))
    ask_prices = tuple(round(ltp + (k + 1) * tick, 2) for k in range(depth))
    bid_qtys = tuple(50 + (seed * (k + 3)) % 1950 for k in range(depth))
    ask_qtys = tuple(50 + (seed * (k + 5)) % 1950 for k in range(depth))
    bid_orders = tuple(1 + (seed + k) % 40 for k in range(depth))
    ask_orders = tuple(1 + (seed + 2 * k) % 40 for k in range(depth))
    return bid_prices, bid_qtys, bid_orders, ask_prices, ask_qtys, ask_orders


def _depth(
    instrument: Instrument, index: int, ts_ms: int, ltp: float, depth: int
) -> wire.DepthTick:
    book = _book(instrument, index, ltp, depth)
    ex = instrument.exchange_type
    return wire.DepthTick(4, ex, instrument.token, ts_ms, ts_ms + 2, *book)
