"""WebSocket 2.0 binary frames: decode for the feed, encode for the simulator.

The layout is SMARTAPI.md §4.4, all little-endian:

========  ====  ==========================================================
mode      size  content
========  ====  ==========================================================
LTP       51    mode, exchange type, token (25 B, NUL padded), sequence,
                exchange time (epoch ms), last traded price
QUOTE     123   LTP + last traded qty, average price, day volume, total buy
                and sell qty (float64), open, high, low, previous close
SNAP      379   QUOTE + last traded time, open interest, OI change (float64,
                "garbage" per the docs), best 5 buys then best 5 sells
                (flag int16, qty int64, price int64, orders int16), upper
                and lower circuit, 52-week high and low
DEPTH     443   mode, exchange type, token, exchange time, received time,
                20 buys then 20 sells (qty int32, price int32, orders int16)
========  ====  ==========================================================

Prices travel as integers in paise (1e-7 rupee for the currency segment) and are
returned here in rupees. Best-5 levels are read by position, buys first: the
flag's meaning is contested (SMARTAPI.md §4.4), the position is not. Each mode is
one precompiled :class:`struct.Struct`, so a frame costs one unpack.
"""

from __future__ import annotations

import operator
import struct
from itertools import repeat
from typing import NamedTuple

from kit.broker.routes import FRAME_LENGTH, PRICE_DIVISOR, ExchangeType
from kit.errors import FrameError

_HEAD = "<BB25sqqq"  # mode, exchange type, token, sequence, exchange ms, ltp
_QUOTE_TAIL = "qqqddqqqq"  # ltq, avg price, volume, buy qty, sell qty, o, h, l, c
_SNAP_TAIL = "qqd" + "2xqqH" * 10 + "qqqq"  # ltt, oi, oi chg, 10 levels, limits
_SNAP_PACK_TAIL = "qqd" + "hqqH" * 10 + "qqqq"  # the same with the level flags
_DEPTH = "<BB25sqq" + "iih" * 40

_LTP_STRUCT = struct.Struct(_HEAD)
_QUOTE_STRUCT = struct.Struct(_HEAD + _QUOTE_TAIL)
_SNAP_STRUCT = struct.Struct(_HEAD + _QUOTE_TAIL + _SNAP_TAIL)
_SNAP_PACK_STRUCT = struct.Struct(_HEAD + _QUOTE_TAIL + _SNAP_PACK_TAIL)
_DEPTH_STRUCT = struct.Struct(_DEPTH)

_BUY_FLAG = 1
_SELL_FLAG = 0
_CURRENCY = int(ExchangeType.CDE_FO)
_CURRENCY_DIVISOR = PRICE_DIVISOR[ExchangeType.CDE_FO]
_FRAME_LENGTHS = {int(mode): length for mode, length in FRAME_LENGTH.items()}

# Raw 25-byte token fields seen so far, decoded once. A feed carries at most a
# few thousand tokens; the bound only guards against garbage.
_TOKENS: dict[bytes, str] = {}
_TOKENS_MAX = 50_000


class DepthLevel(NamedTuple):
    """One level of the order book: price in rupees, quantity, number of orders."""

    price: float
    quantity: int
    orders: int


class LtpTick(NamedTuple):
    mode: int
    exchange_type: int
    token: str
    sequence: int
    exchange_ts_ms: int
    ltp: float


class QuoteTick(NamedTuple):
    mode: int
    exchange_type: int
    token: str
    sequence: int
    exchange_ts_ms: int
    ltp: float
    last_traded_qty: int
    avg_price: float
    volume: int
    total_buy_qty: float
    total_sell_qty: float
    open: float
    high: float
    low: float
    close: float  # the previous session's close


def _levels(
    prices: tuple[float, ...], qtys: tuple[int, ...], orders: tuple[int, ...]
) -> tuple[DepthLevel, ...]:
    return tuple(map(DepthLevel, prices, qtys, orders))


class SnapQuoteTick(NamedTuple):
    """A SNAP_QUOTE tick. The best 5 are kept as columns, best first; ``bids``
    and ``asks`` give them as :class:`DepthLevel` rows."""

    mode: int
    exchange_type: int
    token: str
    sequence: int
    exchange_ts_ms: int
    ltp: float
    last_traded_qty: int
    avg_price: float
    volume: int
    total_buy_qty: float
    total_sell_qty: float
    open: float
    high: float
    low: float
    close: float
    last_traded_ts: int  # unit undocumented by Angel One
    open_interest: int
    oi_change_pct: float  # "a dummy field" per the docs
    bid_prices: tuple[float, ...]
    bid_qtys: tuple[int, ...]
    bid_orders: tuple[int, ...]
    ask_prices: tuple[float, ...]
    ask_qtys: tuple[int, ...]
    ask_orders: tuple[int, ...]
    upper_circuit: float
    lower_circuit: float
    high_52w: float
    low_52w: float

    @property
    def bids(self) -> tuple[DepthLevel, ...]:
        """The buy side as levels, best first."""
        return _levels(self.bid_prices, self.bid_qtys, self.bid_orders)

    @property
    def asks(self) -> tuple[DepthLevel, ...]:
        """The sell side as levels, best first."""
        return _levels(self.ask_prices, self.ask_qtys, self.ask_orders)


class DepthTick(NamedTuple):
    """A 20-level DEPTH tick (mode 4, deprecated by Angel One), as columns."""

    mode: int
    exchange_type: int
    token: str
    exchange_ts_ms: int
    received_ts_ms: int
    bid_prices: tuple[float, ...]
    bid_qtys: tuple[int, ...]
    bid_orders: tuple[int, ...]
    ask_prices: tuple[float, ...]
    ask_qtys: tuple[int, ...]
    ask_orders: tuple[int, ...]

    @property
    def bids(self) -> tuple[DepthLevel, ...]:
        """The buy side as levels, best first."""
        return _levels(self.bid_prices, self.bid_qtys, self.bid_orders)

    @property
    def asks(self) -> tuple[DepthLevel, ...]:
        """The sell side as levels, best first."""
        return _levels(self.ask_prices, self.ask_qtys, self.ask_orders)


Tick = LtpTick | QuoteTick | SnapQuoteTick | DepthTick

_new = tuple.__new__
_div = operator.truediv
_unpack_ltp = _LTP_STRUCT.unpack
_known_token = _TOKENS.get


def decode(frame: bytes | bytearray | memoryview) -> Tick:
    """Decode one binary frame into a tick with prices in rupees.

    Raises :class:`~kit.errors.FrameError` naming the length and the mode when the
    frame is not exactly as long as its mode says, or its mode is unknown.
    """
    length = len(frame)
    if length == 51:  # the hot path: LTP
        mode, ex, raw, seq, ts, ltp = _unpack_ltp(frame)
        if mode == 1:
            token = _known_token(raw) or _token(raw)
            if ex == _CURRENCY:
                ltp /= _CURRENCY_DIVISOR
                return _new(LtpTick, (1, ex, token, seq, ts, ltp))
            return _new(LtpTick, (1, ex, token, seq, ts, ltp / 100.0))

    mode = frame[0] if length else 0
    if _FRAME_LENGTHS.get(mode) != length:
        raise _frame_error(frame)

    if mode == 2:
        (_, ex, raw, seq, ts, ltp, ltq, avg, vol, tbq, tsq, o, h, lo, c) = (
            _QUOTE_STRUCT.unpack(frame)
        )
        token = _known_token(raw) or _token(raw)
        div = _CURRENCY_DIVISOR if ex == _CURRENCY else 100.0
        return _new(
            QuoteTick,
            (2, ex, token, seq, ts, ltp / div, ltq, avg / div, vol, tbq, tsq,
             o / div, h / div, lo / div, c / div),
        )  # fmt: skip

    if mode == 3:
        return _decode_snap(frame)
    return _decode_depth(frame)


def _decode_snap(frame: bytes | bytearray | memoryview) -> SnapQuoteTick:
    # Unpacking straight into names is twice as fast as slicing the tuple.
    # Levels are (qty, price, orders): bq1 bp1 bn1 .. buys, aq1 ap1 an1 .. sells.
    (_, ex, raw, seq, ts, ltp, ltq, avg, vol, tbq, tsq, o, h, lo, c, ltt, oi, oic,
     bq1, bp1, bn1, bq2, bp2, bn2, bq3, bp3, bn3, bq4, bp4, bn4, bq5, bp5, bn5,
     aq1, ap1, an1, aq2, ap2, an2, aq3, ap3, an3, aq4, ap4, an4, aq5, ap5, an5,
     upper, lower, high52, low52) = _SNAP_STRUCT.unpack(frame)  # fmt: skip
    d = _CURRENCY_DIVISOR if ex == _CURRENCY else 100.0
    return _new(
        SnapQuoteTick,
        (3, ex, _known_token(raw) or _token(raw), seq, ts, ltp / d, ltq, avg / d,
         vol, tbq, tsq, o / d, h / d, lo / d, c / d, ltt, oi, oic,
         (bp1 / d, bp2 / d, bp3 / d, bp4 / d, bp5 / d), (bq1, bq2, bq3, bq4, bq5),
         (bn1, bn2, bn3, bn4, bn5),
         (ap1 / d, ap2 / d, ap3 / d, ap4 / d, ap5 / d), (aq1, aq2, aq3, aq4, aq5),
         (an1, an2, an3, an4, an5),
         upper / d, lower / d, high52 / d, low52 / d),
    )  # fmt: skip


def _decode_depth(frame: bytes | bytearray | memoryview) -> DepthTick:
    v = _DEPTH_STRUCT.unpack(frame)
    div = _CURRENCY_DIVISOR if v[1] == _CURRENCY else 100.0
    # Fields 5-124: (qty, price, orders) x 40, buys first.
    return _new(
        DepthTick,
        (4, v[1], _known_token(v[2]) or _token(v[2]), v[3], v[4],
         tuple(map(_div, v[6:65:3], repeat(div, 20))), v[5:65:3], v[7:65:3],
         tuple(map(_div, v[66:125:3], repeat(div, 20))), v[65:125:3], v[67:125:3]),
    )  # fmt: skip


def _token(raw: bytes) -> str:
    # NUL-terminated within 25 bytes; a token is ASCII digits in practice, and
    # latin-1 maps every byte to one character as the official SDK does.
    token = raw.partition(b"\0")[0].decode("latin-1")
    if len(_TOKENS) >= _TOKENS_MAX:
        _TOKENS.clear()
    _TOKENS[raw] = token
    return token


def _frame_error(frame: bytes | bytearray | memoryview) -> FrameError:
    length = len(frame)
    mode = frame[0] if length else None
    expected = _FRAME_LENGTHS.get(mode) if mode is not None else None
    if mode is None:
        reason = "an empty frame"
    elif expected is None:
        reason = f"unknown mode {mode} in a frame of {length} bytes"
    else:
        reason = (
            f"a mode {mode} frame of {length} bytes; mode {mode} is {expected} bytes"
        )
    return FrameError(f"cannot decode {reason}", length=length, mode=mode)


# Encoding, for the simulator and for tests.


def _paise(value: float, exchange_type: int) -> int:
    return round(value * PRICE_DIVISOR.get(exchange_type, 100.0))


def _token_bytes(token: str) -> bytes:
    raw = token.encode("latin-1")
    if len(raw) > 25:
        raise ValueError(f"token {token!r} is longer than 25 bytes")
    return raw


def _book_fields(
    tick: SnapQuoteTick | DepthTick, depth: int, ex: int, *, flags: bool
) -> list[int]:
    fields: list[int] = []
    sides = (
        (_BUY_FLAG, tick.bid_prices, tick.bid_qtys, tick.bid_orders),
        (_SELL_FLAG, tick.ask_prices, tick.ask_qtys, tick.ask_orders),
    )
    for flag, prices, qtys, orders in sides:
        if not len(prices) == len(qtys) == len(orders) == depth:
            raise ValueError(f"expected {depth} levels a side, got {len(prices)}")
        for price, qty, count in zip(prices, qtys, orders, strict=True):
            fields += [flag] if flags else []
            fields += [qty, _paise(price, ex), count]
    return fields


def encode(tick: Tick) -> bytes:
    """Encode a tick into the exact binary frame Angel One would send for it.

    SNAP_QUOTE levels carry flag 1 on the buy side and 0 on the sell side, the
    arrangement every official SDK reads the same way. A value that does not fit
    its field raises ValueError.
    """
    try:
        return _encode(tick)
    except struct.error as exc:
        raise ValueError(f"cannot encode {type(tick).__name__}: {exc}") from exc


def _encode(tick: Tick) -> bytes:
    ex = tick.exchange_type
    token = _token_bytes(tick.token)
    if isinstance(tick, DepthTick):
        book = _book_fields(tick, 20, ex, flags=False)
        return _DEPTH_STRUCT.pack(
            4, ex, token, tick.exchange_ts_ms, tick.received_ts_ms, *book
        )

    head = [tick.mode, ex, token, tick.sequence, tick.exchange_ts_ms]
    head.append(_paise(tick.ltp, ex))
    if isinstance(tick, LtpTick):
        return _LTP_STRUCT.pack(*head)

    quote = [
        tick.last_traded_qty, _paise(tick.avg_price, ex), tick.volume,
        tick.total_buy_qty, tick.total_sell_qty, _paise(tick.open, ex),
        _paise(tick.high, ex), _paise(tick.low, ex), _paise(tick.close, ex),
    ]  # fmt: skip
    if isinstance(tick, QuoteTick):
        return _QUOTE_STRUCT.pack(*head, *quote)

    book = _book_fields(tick, 5, ex, flags=True)
    tail = [
        _paise(tick.upper_circuit, ex), _paise(tick.lower_circuit, ex),
        _paise(tick.high_52w, ex), _paise(tick.low_52w, ex),
    ]  # fmt: skip
    return _SNAP_PACK_STRUCT.pack(
        *head, *quote, tick.last_traded_ts, tick.open_interest, tick.oi_change_pct,
        *book, *tail,
    )  # fmt: skip
