"""kit.broker.wire reads every frame as the official SDK does (SMARTAPI.md §4.4).

Frames are random bytes of each mode's exact length (only the mode, the exchange
type and the best-5 side flags are set), not made by kit's encoder, so both
decoders meet bytes neither of them made. The SDK returns raw integers;
kit returns rupees, so prices are compared as the SDK's value over the divisor.
Known SDK quirks are compared as they are: it reads the OI-change field as int64
(the docs say float64), and on DEPTH frames it reports bytes 35-43 under both
``exchange_timestamp`` and ``packet_received_time``.
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kit.broker import wire
from kit.broker.routes import PRICE_DIVISOR, ExchangeType

pytestmark = pytest.mark.conformance

FRAMES_PER_MODE = 10_000
CHECK = settings(
    max_examples=FRAMES_PER_MODE,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
EXCHANGES = st.sampled_from([int(t) for t in ExchangeType])


def _div(exchange_type: int) -> float:
    return PRICE_DIVISOR[ExchangeType(exchange_type)]


def _same(ours: float, theirs: float) -> bool:
    # float64 fields may hold any bit pattern, NaN included.
    return struct.pack("<d", ours) == struct.pack("<d", theirs)


@st.composite
def frames(draw: st.DrawFn, mode: int, length: int) -> bytes:
    """Random bytes of the mode's length, with its mode and a real exchange type."""
    frame = bytearray(draw(st.binary(min_size=length, max_size=length)))
    frame[0] = mode
    frame[1] = int(ExchangeType.NSE_CM) if mode == 4 else draw(EXCHANGES)
    if mode == 3:  # best 5: buys flagged 1, then sells flagged 0, as Angel sends
        for level in range(10):
            struct.pack_into("<h", frame, 147 + 20 * level, 1 if level < 5 else 0)
    return bytes(frame)


def _assert_common(ours: wire.Tick, theirs: dict, div: float) -> None:
    assert ours.mode == theirs["subscription_mode"]
    assert ours.exchange_type == theirs["exchange_type"]
    assert ours.token == theirs["token"]
    if not isinstance(ours, wire.DepthTick):
        assert ours.sequence == theirs["sequence_number"]
        assert ours.exchange_ts_ms == theirs["exchange_timestamp"]
        assert ours.ltp == theirs["last_traded_price"] / div


def _assert_quote(ours: wire.QuoteTick | wire.SnapQuoteTick, theirs: dict) -> None:
    div = _div(ours.exchange_type)
    assert ours.last_traded_qty == theirs["last_traded_quantity"]
    assert ours.avg_price == theirs["average_traded_price"] / div
    assert ours.volume == theirs["volume_trade_for_the_day"]
    assert _same(ours.total_buy_qty, theirs["total_buy_quantity"])
    assert _same(ours.total_sell_qty, theirs["total_sell_quantity"])
    assert ours.open == theirs["open_price_of_the_day"] / div
    assert ours.high == theirs["high_price_of_the_day"] / div
    assert ours.low == theirs["low_price_of_the_day"] / div
    assert ours.close == theirs["closed_price"] / div


@CHECK
@given(frame=frames(1, 51))
def test_ltp_frames_decode_as_the_sdk_decodes_them(sdk_parse, frame):
    ours, theirs = wire.decode(frame), sdk_parse(frame)

    assert isinstance(ours, wire.LtpTick)
    _assert_common(ours, theirs, _div(ours.exchange_type))


@CHECK
@given(frame=frames(2, 123))
def test_quote_frames_decode_as_the_sdk_decodes_them(sdk_parse, frame):
    ours, theirs = wire.decode(frame), sdk_parse(frame)

    assert isinstance(ours, wire.QuoteTick)
    _assert_common(ours, theirs, _div(ours.exchange_type))
    _assert_quote(ours, theirs)


@CHECK
@given(frame=frames(3, 379))
def test_snap_quote_frames_decode_as_the_sdk_decodes_them(sdk_parse, frame):
    ours, theirs = wire.decode(frame), sdk_parse(frame)

    assert isinstance(ours, wire.SnapQuoteTick)
    div = _div(ours.exchange_type)
    _assert_common(ours, theirs, div)
    _assert_quote(ours, theirs)
    assert ours.last_traded_ts == theirs["last_traded_timestamp"]
    assert ours.open_interest == theirs["open_interest"]
    # Same eight bytes: float64 for kit (the docs), int64 for the SDK.
    oi_bits = struct.pack("<q", theirs["open_interest_change_percentage"])
    assert struct.pack("<d", ours.oi_change_pct) == oi_bits
    assert ours.upper_circuit == theirs["upper_circuit_limit"] / div
    assert ours.lower_circuit == theirs["lower_circuit_limit"] / div
    assert ours.high_52w == theirs["52_week_high_price"] / div
    assert ours.low_52w == theirs["52_week_low_price"] / div
    for side, key in ((ours.bids, "best_5_buy_data"), (ours.asks, "best_5_sell_data")):
        expected = [
            wire.DepthLevel(lv["price"] / div, lv["quantity"], lv["no of orders"])
            for lv in theirs[key]
        ]
        assert list(side) == expected


@CHECK
@given(frame=frames(4, 443))
def test_depth_frames_decode_as_the_sdk_decodes_them(sdk_parse, frame):
    ours, theirs = wire.decode(frame), sdk_parse(frame)

    assert isinstance(ours, wire.DepthTick)
    _assert_common(ours, theirs, 100.0)
    assert ours.received_ts_ms == theirs["packet_received_time"]
    for side, key in (
        (ours.bids, "depth_20_buy_data"),
        (ours.asks, "depth_20_sell_data"),
    ):
        expected = [
            wire.DepthLevel(lv["price"] / 100.0, lv["quantity"], lv["num_of_orders"])
            for lv in theirs[key]
        ]
        assert list(side) == expected
