"""Signals, strategy parameters, the Strategy interface and the default strategy:
its crossovers, filters, levels and warm-up."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from kit.clock import IST
from kit.errors import ConfigurationError
from kit.trading.ema_cross import EmaCrossRsiAtr, EmaCrossRsiAtrParams
from kit.trading.strategy import (
    Side,
    Signal,
    Strategy,
    StrategyParams,
)
from tests.trading.candles import START, first_cross, frame_of, v_shape
from tests.trading.reference import atr_loop, rsi_loop

# Signals.


def entry(side: Side | str = Side.BUY, **changes: object) -> Signal:
    fields: dict[str, object] = {
        "symbol": "SBIN-EQ",
        "side": side,
        "price": 100.0,
        "candle_start": START,
        "stop": 98.0 if side == Side.BUY else 102.0,
        "target": 104.0 if side == Side.BUY else 96.0,
        "reason": "test",
    }
    fields.update(changes)
    return Signal(**fields)  # type: ignore[arg-type]


def test_a_buy_has_its_stop_below_and_its_target_above_the_price():
    signal = entry(Side.BUY)

    assert signal.is_entry
    assert signal.risk_per_unit == 2.0
    with pytest.raises(ValueError, match="a BUY needs stop < price < target"):
        entry(Side.BUY, stop=101.0)
    with pytest.raises(ValueError, match="a BUY needs stop < price < target"):
        entry(Side.BUY, target=99.0)


def test_a_sell_has_its_stop_above_and_its_target_below_the_price():
    signal = entry(Side.SELL)

    assert (signal.target, signal.price, signal.stop) == (96.0, 100.0, 102.0)
    with pytest.raises(ValueError, match="a SELL needs target < price < stop"):
        entry(Side.SELL, stop=98.0, target=104.0)


def test_an_exit_has_no_levels_and_an_entry_needs_both():
    exit_ = Signal(symbol="TCS-EQ", side=Side.EXIT, price=3500.0, candle_start=START)

    assert not exit_.is_entry
    assert exit_.risk_per_unit is None
    with pytest.raises(ValueError, match="an EXIT has no stop or target"):
        entry(Side.EXIT, target=None)
    with pytest.raises(ValueError, match="a BUY needs a stop and a target"):
        entry(Side.BUY, stop=None)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"price": 0.0}, "price must be above 0"),
        ({"price": math.nan}, "price must be above 0"),
        ({"price": "100"}, "price must be a number"),
        ({"stop": -1.0}, "stop must be above 0"),
        ({"side": "LONG"}, "side must be one of BUY, SELL, EXIT"),
        ({"symbol": ""}, "a signal needs a symbol"),
        ({"candle_start": datetime(2025, 1, 6, 9, 15)}, "must be an aware datetime"),
        ({"reason": "x" * 201}, "at most 200 characters"),
    ],
)
def test_a_malformed_signal_cannot_be_built(changes, message):
    with pytest.raises(ValueError, match=message):
        entry(**changes)


def test_a_signal_normalises_its_side_numbers_and_start():
    utc_start = pd.Timestamp("2025-01-06 03:45", tz="UTC")

    signal = entry("BUY", price=np.float32(100.0), candle_start=utc_start)

    assert signal.side is Side.BUY
    assert type(signal.price) is float
    assert type(signal.candle_start) is datetime
    assert signal.candle_start == START
    assert signal.candle_start.tzinfo == IST


def test_a_signal_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry().price = 1.0  # type: ignore[misc]


# Parameters.


def test_the_default_parameters_are_valid_and_listed():
    params = EmaCrossRsiAtrParams()

    assert params.as_dict()["warmup_candles"] == 200
    assert (params.fast_period, params.slow_period) == (9, 21)
    assert (params.stop_atr, params.target_atr) == (1.5, 3.0)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"fast_period": 21}, r"slow_period must be above fast_period \(21\), got 21"),
        ({"fast_period": 0}, "fast_period must be at least 1, got 0"),
        ({"rsi_oversold": 75.0}, r"rsi_oversold must be in \(0, rsi_overbought"),
        ({"rsi_overbought": 100.0}, r"rsi_overbought must be in \(0, 100\)"),
        ({"stop_atr": 0.0}, "stop_atr must be above 0"),
        ({"warmup_candles": 21}, r"warmup_candles must be above the longest period"),
        ({"slow_period": "21"}, "slow_period must be a whole number, got '21'"),
        ({"fast_period": 9.0}, "fast_period must be a whole number"),
        ({"stop_atr": math.inf}, "stop_atr must be a finite number"),
        ({"target_atr": True}, "target_atr must be a finite number"),
    ],
)
def test_wrong_parameters_fail_with_the_field_named(changes, message):
    with pytest.raises(ConfigurationError, match=f"EmaCrossRsiAtrParams.{message}"):
        EmaCrossRsiAtrParams(**changes)


def test_parameters_take_numpy_and_int_values_as_their_declared_types():
    params = EmaCrossRsiAtrParams(slow_period=np.int64(30), stop_atr=2)

    assert type(params.slow_period) is int
    assert type(params.stop_atr) is float


# The interface.


@dataclass(frozen=True)
class LookbackParams(StrategyParams):
    lookback: int = 5
    label: str = "up"

    def check(self) -> None:
        self.require(self.lookback >= 2, "lookback", "must be at least 2")


class CloseAboveHigh(Strategy):
    """A small user strategy: buy when the close clears the lookback's highs."""

    name = "close_above_high"
    warmup = 6
    params: LookbackParams

    def __init__(self, params: LookbackParams | None = None) -> None:
        self.params = params or LookbackParams()

    def on_candle(self, symbol: str, candles: pd.DataFrame) -> Signal | None:
        close = float(candles["close"].iloc[-1])
        if close <= candles["high"].iloc[-self.params.lookback - 1 : -1].max():
            return None
        return Signal(
            symbol=symbol,
            side=Side.BUY,
            price=close,
            candle_start=candles.index[-1],
            stop=close - 1.0,
            target=close + 2.0,
            reason=self.params.label,
        )


def test_a_user_strategy_needs_only_warmup_and_on_candle():
    strategy = CloseAboveHigh()

    assert strategy.describe() == {
        "name": "close_above_high",
        "warmup": 6,
        "params": {"lookback": 5, "label": "up"},
    }
    signal = strategy.on_candle("X", frame_of([10, 10, 10, 10, 10, 10, 12]))
    assert signal is not None and signal.price == 12.0
    assert strategy.on_candle("X", frame_of([10, 10, 10, 10, 10, 10, 10.2])) is None
    with pytest.raises(ConfigurationError, match=r"LookbackParams\.lookback must be"):
        LookbackParams(lookback=1)
    with pytest.raises(
        ConfigurationError, match=r"LookbackParams\.label must be a text"
    ):
        LookbackParams(label=3)  # type: ignore[arg-type]


def test_a_strategy_without_on_candle_cannot_be_made():
    class Incomplete(Strategy):
        warmup = 3

    with pytest.raises(TypeError, match="on_candle"):
        Incomplete()  # type: ignore[abstract]


def test_the_name_defaults_to_the_class_name():
    class Quiet(Strategy):
        warmup = 1

        def on_candle(self, symbol: str, candles: pd.DataFrame) -> Signal | None:
            return None

    assert Quiet().name == "Quiet"
    assert Quiet().describe()["params"] == {}


# The default strategy.


def bullish() -> tuple[list[float], int]:
    """A falling then rising series, and the index of the upward crossing."""
    closes = v_shape()
    return closes, first_cross(closes, 9, 21, up=True)


def test_the_default_strategy_buys_on_the_candle_of_the_upward_crossing():
    closes, cross = bullish()
    candles = frame_of(closes[: cross + 1])

    signal = EmaCrossRsiAtr().on_candle("SBIN-EQ", candles)

    assert signal is not None
    assert signal.side is Side.BUY
    assert signal.symbol == "SBIN-EQ"
    assert signal.price == closes[cross]
    assert signal.candle_start == START + timedelta(minutes=cross)
    assert "EMA9 crossed above EMA21" in signal.reason


def test_its_stop_and_target_are_1_5_and_3_atr_on_the_right_sides():
    closes, cross = bullish()
    candles = frame_of(closes[: cross + 1])
    ranges = atr_loop(
        list(candles["high"]), list(candles["low"]), list(candles["close"]), 14
    )[-1]

    signal = EmaCrossRsiAtr().on_candle("SBIN-EQ", candles)

    assert signal is not None and signal.stop is not None and signal.target is not None
    assert signal.stop < signal.price < signal.target
    assert signal.stop == pytest.approx(closes[cross] - 1.5 * ranges, rel=1e-12)
    assert signal.target == pytest.approx(closes[cross] + 3.0 * ranges, rel=1e-12)


def test_it_sells_short_on_a_downward_crossing_with_the_levels_mirrored():
    closes = [1000.0 - c for c in v_shape()]  # rising, then falling
    cross = first_cross(closes, 9, 21, up=False)

    signal = EmaCrossRsiAtr().on_candle("TCS-EQ", frame_of(closes[: cross + 1]))

    assert signal is not None and signal.side is Side.SELL
    assert signal.target is not None and signal.stop is not None
    assert signal.target < signal.price < signal.stop
    assert "crossed below" in signal.reason


def test_no_signal_on_any_candle_without_a_crossing():
    closes, cross = bullish()
    strategy = EmaCrossRsiAtr()

    signalled = [
        end
        for end in range(200, len(closes) + 1)
        if strategy.on_candle("X", frame_of(closes[:end])) is not None
    ]

    assert signalled == [cross + 1]  # the one series ending on the crossing


def test_a_crossing_before_the_warm_up_gives_no_signal():
    closes = v_shape(fall=100, rise=60)
    cross = first_cross(closes, 9, 21, up=True)
    candles = frame_of(closes[: cross + 1])
    assert len(candles) < 200

    assert EmaCrossRsiAtr().on_candle("X", candles) is None
    shorter = EmaCrossRsiAtrParams(warmup_candles=100)
    assert EmaCrossRsiAtr(shorter).on_candle("X", candles) is not None


def test_the_rsi_filter_blocks_a_long_when_overbought():
    closes, cross = bullish()
    candles = frame_of(closes[: cross + 1])
    strength = rsi_loop(closes[: cross + 1], 14)[-1]  # about 55 on this series

    strict = EmaCrossRsiAtrParams(rsi_overbought=strength - 1, rsi_oversold=20.0)
    loose = EmaCrossRsiAtrParams(rsi_overbought=strength + 1, rsi_oversold=20.0)

    assert EmaCrossRsiAtr(strict).on_candle("X", candles) is None
    assert EmaCrossRsiAtr(loose).on_candle("X", candles) is not None


def test_the_rsi_filter_blocks_a_short_when_oversold():
    closes = [1000.0 - c for c in v_shape()]
    cross = first_cross(closes, 9, 21, up=False)
    candles = frame_of(closes[: cross + 1])
    strength = rsi_loop(closes[: cross + 1], 14)[-1]

    strict = EmaCrossRsiAtrParams(rsi_oversold=strength + 1, rsi_overbought=80.0)

    assert EmaCrossRsiAtr(strict).on_candle("X", candles) is None


def test_its_indicators_frame_lines_up_with_the_candles():
    closes, cross = bullish()
    candles = frame_of(closes[: cross + 1])

    table = EmaCrossRsiAtr().indicators(candles)

    assert list(table.columns) == ["ema_fast", "ema_slow", "rsi", "atr"]
    assert table.index.equals(candles.index)
    assert table["ema_fast"].iloc[-2] <= table["ema_slow"].iloc[-2]
    assert table["ema_fast"].iloc[-1] > table["ema_slow"].iloc[-1]


def test_no_signal_when_a_level_would_fall_to_zero_or_below():
    closes = [1000.0 - c for c in v_shape()]
    cross = first_cross(closes, 9, 21, up=False)
    candles = frame_of(closes[: cross + 1])
    price = closes[cross]
    ranges = atr_loop(
        list(candles["high"]), list(candles["low"]), list(candles["close"]), 14
    )[-1]
    reachable = EmaCrossRsiAtrParams(target_atr=0.9 * price / ranges)
    too_far = EmaCrossRsiAtrParams(target_atr=1.1 * price / ranges)

    assert EmaCrossRsiAtr(reachable).on_candle("X", candles) is not None
    assert EmaCrossRsiAtr(too_far).on_candle("X", candles) is None


def test_candle_start_is_kept_in_ist_whatever_the_frame_zone():
    closes, cross = bullish()
    candles = frame_of(closes[: cross + 1])
    utc = candles.tz_convert(UTC)

    signal = EmaCrossRsiAtr().on_candle("X", utc)

    assert signal is not None and signal.candle_start.tzinfo == IST
