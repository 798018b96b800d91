"""kit.broker.wire: exact frame sizes, round trips, scaling, and clear errors."""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kit.broker import wire
from kit.broker.routes import FRAME_LENGTH, ExchangeType, Mode
from kit.errors import FrameError, KitError

PRICES = st.integers(min_value=0, max_value=10**9).map(lambda p: p / 100)
SIZES = st.integers(min_value=0, max_value=2**31 - 1)
ORDERS = st.integers(min_value=0, max_value=65_535)
TOKENS = st.text(alphabet="0123456789", min_size=1, max_size=25)
NSE = int(ExchangeType.NSE_CM)


def ltp_tick(**fields: object) -> wire.LtpTick:
    base = wire.LtpTick(1, NSE, "2885", 7, 1_764_733_500_000, 2845.55)
    return base._replace(**fields)


def quote_tick() -> wire.QuoteTick:
    return wire.QuoteTick(
        2, NSE, "3045", 8, 1_764_733_500_123, 812.35, 25, 811.9, 1_234_567,
        10_500.0, 9_800.0, 805.0, 815.5, 801.2, 806.45,
    )  # fmt: skip


def snap_tick() -> wire.SnapQuoteTick:
    return wire.SnapQuoteTick(
        3, NSE, "1594", 9, 1_764_733_500_456, 1500.1, 10, 1499.8, 999_999,
        5_000.0, 6_000.0, 1490.0, 1510.0, 1485.5, 1495.25, 1_764_733_500, 0, 0.0,
        (1500.05, 1500.0, 1499.95, 1499.9, 1499.85), (10, 20, 30, 40, 50),
        (1, 2, 3, 4, 5),
        (1500.1, 1500.15, 1500.2, 1500.25, 1500.3), (15, 25, 35, 45, 55),
        (6, 7, 8, 9, 10),
        1650.0, 1350.0, 1800.0, 1200.0,
    )  # fmt: skip


def depth_tick() -> wire.DepthTick:
    bids = tuple(round(100.0 - 0.05 * i, 2) for i in range(20))
    asks = tuple(round(100.05 + 0.05 * i, 2) for i in range(20))
    return wire.DepthTick(
        4, NSE, "2885", 1_764_733_500_000, 1_764_733_500_002,
        bids, tuple(range(1, 21)), tuple(range(20)),
        asks, tuple(range(21, 41)), tuple(range(20, 40)),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("tick", "mode"),
    [
        (ltp_tick(), Mode.LTP),
        (quote_tick(), Mode.QUOTE),
        (snap_tick(), Mode.SNAP_QUOTE),
        (depth_tick(), Mode.DEPTH),
    ],
)
def test_every_mode_encodes_to_its_exact_size_and_decodes_back(tick, mode):
    frame = wire.encode(tick)

    assert len(frame) == FRAME_LENGTH[mode]
    assert frame[0] == mode
    assert wire.decode(frame) == tick


def test_ltp_frame_layout_matches_the_protocol_offsets():
    frame = wire.encode(ltp_tick())

    assert frame[2:27] == b"2885" + b"\0" * 21
    assert struct.unpack_from("<q", frame, 27)[0] == 7
    assert struct.unpack_from("<q", frame, 35)[0] == 1_764_733_500_000
    assert struct.unpack_from("<q", frame, 43)[0] == 284_555  # paise


def test_snap_quote_best_five_are_read_by_position_buys_first():
    frame = bytearray(wire.encode(snap_tick()))
    # Swap every flag: the sides must not move, because position decides.
    for level in range(10):
        offset = 147 + 20 * level
        flag = struct.unpack_from("<h", frame, offset)[0]
        struct.pack_into("<h", frame, offset, 1 - flag)

    tick = wire.decode(bytes(frame))

    assert isinstance(tick, wire.SnapQuoteTick)
    assert tick.bids[0] == wire.DepthLevel(1500.05, 10, 1)
    assert tick.asks[0] == wire.DepthLevel(1500.1, 15, 6)
    assert tick.bid_prices[0] < tick.ask_prices[0]


def test_snap_quote_flags_are_one_for_buys_and_zero_for_sells():
    frame = wire.encode(snap_tick())

    flags = [struct.unpack_from("<h", frame, 147 + 20 * i)[0] for i in range(10)]

    assert flags == [1] * 5 + [0] * 5


def test_currency_segment_prices_are_scaled_by_ten_million():
    tick = ltp_tick(exchange_type=int(ExchangeType.CDE_FO), ltp=83.1234)
    frame = wire.encode(tick)

    assert struct.unpack_from("<q", frame, 43)[0] == 831_234_000
    assert wire.decode(frame).ltp == pytest.approx(83.1234)


def test_a_token_filling_all_25_bytes_has_no_terminator_and_still_decodes():
    tick = ltp_tick(token="1" * 25)

    assert wire.decode(wire.encode(tick)).token == "1" * 25


@pytest.mark.parametrize(
    ("frame", "length", "mode", "words"),
    [
        (b"", 0, None, "empty frame"),
        (b"\x01" + b"\0" * 49, 50, 1, "mode 1 frame of 50 bytes; mode 1 is 51"),
        (b"\x03" + b"\0" * 50, 51, 3, "mode 3 frame of 51 bytes; mode 3 is 379"),
        (b"\x09" + b"\0" * 50, 51, 9, "unknown mode 9 in a frame of 51 bytes"),
        (b"\x02" + b"\0" * 200, 201, 2, "mode 2 frame of 201 bytes"),
    ],
)
def test_a_bad_frame_raises_frame_error_naming_length_and_mode(
    frame, length, mode, words
):
    with pytest.raises(FrameError) as caught:
        wire.decode(frame)

    assert caught.value.length == length
    assert caught.value.mode == mode
    assert words in str(caught.value)
    assert isinstance(caught.value, KitError)


@given(st.binary(max_size=500))
def test_no_input_raises_anything_but_a_frame_error(data):
    with contextlib.suppress(FrameError):
        wire.decode(data)


def test_decode_accepts_bytearray_and_memoryview():
    frame = wire.encode(quote_tick())

    assert wire.decode(bytearray(frame)) == wire.decode(memoryview(frame))


def test_a_value_too_large_for_its_field_is_a_value_error_on_encode():
    tick = depth_tick()._replace(bid_orders=(70_000, *range(19)))

    with pytest.raises(ValueError, match="cannot encode DepthTick"):
        wire.encode(tick)


def test_a_snap_quote_needs_five_levels_a_side():
    tick = snap_tick()._replace(bid_prices=(1.0,) * 4)

    with pytest.raises(ValueError, match="5 levels a side"):
        wire.encode(tick)


@given(
    token=TOKENS,
    seq=st.integers(min_value=0, max_value=2**63 - 1),
    ts=st.integers(min_value=0, max_value=2**62),
    ltp=PRICES,
    qty=SIZES,
    volume=SIZES,
    ohlc=st.tuples(PRICES, PRICES, PRICES, PRICES),
)
def test_quote_round_trip_for_any_values(token, seq, ts, ltp, qty, volume, ohlc):
    tick = wire.QuoteTick(
        2, NSE, token, seq, ts, ltp, qty, ltp, volume, 1.5, 2.5, *ohlc
    )

    assert wire.decode(wire.encode(tick)) == tick


@given(
    prices=st.lists(PRICES, min_size=10, max_size=10),
    sizes=st.lists(SIZES, min_size=10, max_size=10),
    orders=st.lists(ORDERS, min_size=10, max_size=10),
)
def test_snap_quote_round_trip_for_any_book(prices, sizes, orders):
    tick = snap_tick()._replace(
        bid_prices=tuple(prices[:5]), bid_qtys=tuple(sizes[:5]),
        bid_orders=tuple(orders[:5]), ask_prices=tuple(prices[5:]),
        ask_qtys=tuple(sizes[5:]), ask_orders=tuple(orders[5:]),
    )  # fmt: skip

    assert wire.decode(wire.encode(tick)) == tick
