"""Indicators: values worked out by hand on short series, agreement with the loop
references on long random ones, shapes, edges and refused inputs."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from kit.trading.indicators import atr, ema, rsi, true_range
from tests.trading.candles import random_walk
from tests.trading.reference import atr_loop, ema_loop, rsi_loop

nan = math.nan


def close_to(actual: object, expected: list[float]) -> None:
    np.testing.assert_allclose(np.asarray(actual), expected, rtol=1e-12, atol=1e-12)


# By hand.


def test_ema_is_seeded_with_the_mean_of_the_first_period_then_recursive():
    # Period 2: a = 2/3. Seed at index 1: (10 + 11) / 2 = 10.5.
    # Then 10.5 + 2/3 * (13 - 10.5) = 73/6; 73/6 + 2/3 * (12 - 73/6) = 217/18;
    # 217/18 + 2/3 * (15 - 217/18) = 757/54.
    result = ema([10, 11, 13, 12, 15], 2)

    close_to(result, [nan, 10.5, 73 / 6, 217 / 18, 757 / 54])


def test_ema_of_period_one_is_the_series_itself():
    close_to(ema([3.0, 1.0, 4.0, 1.5], 1), [3.0, 1.0, 4.0, 1.5])


def test_rsi_by_hand_on_a_short_series():
    # Changes +1 +1 -1 +2 +1, period 3, a = 1/3.
    # Index 3: G = 2/3, L = 1/3 -> 100 * (2/3) / 1 = 200/3.
    # Index 4: G = 2/3 + (2 - 2/3)/3 = 10/9, L = 1/3 - (1/3)/3 = 2/9 -> 250/3.
    # Index 5: G = 10/9 + (1 - 10/9)/3 = 29/27, L = 2/9 - (2/9)/3 = 4/27 -> 2900/33.
    result = rsi([1, 2, 3, 2, 4, 5], 3)

    close_to(result, [nan, nan, nan, 200 / 3, 250 / 3, 2900 / 33])


def test_rsi_is_100_when_nothing_was_lost_0_when_nothing_gained_50_when_flat():
    assert rsi([1, 2, 3, 4, 5], 2)[-1] == 100.0
    assert rsi([5, 4, 3, 2, 1], 2)[-1] == 0.0
    assert rsi([7, 7, 7, 7, 7], 2)[-1] == 50.0


def test_true_range_takes_the_gap_from_the_previous_close():
    high = [11.0, 12.0, 15.0, 14.0]
    low = [9.0, 10.0, 13.0, 8.0]
    close = [10.0, 11.0, 14.0, 9.0]

    # Index 1: max(2, |12-10|, |10-10|) = 2; index 2: max(2, |15-11|, |13-11|) = 4;
    # index 3: max(6, |14-14|, |8-14|) = 6.
    close_to(true_range(high, low, close), [nan, 2.0, 4.0, 6.0])


def test_atr_by_hand_with_wilder_smoothing():
    high = [11.0, 12.0, 15.0, 14.0, 10.0]
    low = [9.0, 10.0, 13.0, 8.0, 9.0]
    close = [10.0, 11.0, 14.0, 9.0, 9.5]
    # True ranges from index 1: 2, 4, 6, then max(1, |10-9|, |9-9|) = 1.
    # Period 2: seed at index 2 = (2 + 4) / 2 = 3; then 3 + (6 - 3)/2 = 4.5;
    # then 4.5 + (1 - 4.5)/2 = 2.75.
    close_to(atr(high, low, close, 2), [nan, nan, 3.0, 4.5, 2.75])


def test_first_values_appear_exactly_when_enough_data_exists():
    prices = list(range(1, 31))

    assert np.isnan(ema(prices, 10)[8]) and not np.isnan(ema(prices, 10)[9])
    assert np.isnan(rsi(prices, 14)[13]) and not np.isnan(rsi(prices, 14)[14])
    ranges = atr(prices, prices, prices, 14)
    assert np.isnan(ranges[13]) and not np.isnan(ranges[14])


def test_too_short_a_series_gives_only_nan():
    assert np.isnan(ema([1.0, 2.0], 3)).all()
    assert np.isnan(rsi([1.0, 2.0, 3.0], 3)).all()
    assert np.isnan(atr([2.0], [1.0], [1.5], 1)).all()
    assert len(ema([], 3)) == 0


# Against the loop references.


@pytest.mark.parametrize("period", [1, 2, 9, 21, 50])
def test_ema_agrees_with_the_loop_reference(period):
    prices = random_walk(400, seed=period)

    np.testing.assert_allclose(
        ema(prices, period), ema_loop(prices, period), rtol=1e-10
    )


@pytest.mark.parametrize("period", [2, 7, 14, 30])
def test_rsi_agrees_with_the_loop_reference(period):
    prices = random_walk(400, seed=100 + period)

    np.testing.assert_allclose(rsi(prices, period), rsi_loop(prices, period), rtol=1e-9)


@pytest.mark.parametrize("period", [1, 5, 14, 30])
def test_atr_agrees_with_the_loop_reference(period):
    rng = np.random.default_rng(period)
    close = np.array(random_walk(400, seed=200 + period))
    high = close + rng.uniform(0.0, 2.0, close.size)
    low = close - rng.uniform(0.0, 2.0, close.size)

    expected = atr_loop(list(high), list(low), list(close), period)
    np.testing.assert_allclose(atr(high, low, close, period), expected, rtol=1e-10)


def test_after_200_candles_the_start_of_the_series_no_longer_matters():
    prices = random_walk(2000, seed=7)
    window = prices[-200:]

    # Prices near 1000 and RSI in 0-100: a millionth of the scale, or better.
    assert abs(ema(prices, 21)[-1] - ema(window, 21)[-1]) < 1e-6
    assert abs(rsi(prices, 14)[-1] - rsi(window, 14)[-1]) < 1e-4


# Shapes and refusals.


def test_a_series_in_gives_a_series_on_the_same_index_out():
    index = pd.date_range("2025-01-06 09:15", periods=5, freq="min", tz="Asia/Kolkata")
    close = pd.Series([1.0, 2.0, 3.0, 2.5, 3.5], index=index, name="close")

    for result in (ema(close, 2), rsi(close, 2), atr(close + 1, close - 1, close, 2)):
        assert isinstance(result, pd.Series)
        assert result.index.equals(index)
    assert ema(close, 2).name == "close"
    assert isinstance(ema([1.0, 2.0, 3.0], 2), np.ndarray)


@pytest.mark.parametrize("period", [0, -3])
def test_a_period_below_one_is_refused(period):
    with pytest.raises(ValueError, match="period must be at least 1"):
        ema([1.0, 2.0], period)


@pytest.mark.parametrize("period", [2.5, True, "14"])
def test_a_period_that_is_not_an_int_is_refused(period):
    with pytest.raises(TypeError, match="period must be an int"):
        rsi([1.0, 2.0, 3.0], period)


def test_nan_or_infinite_prices_are_refused_with_their_position():
    with pytest.raises(ValueError, match="values must be finite: nan at position 2"):
        ema([1.0, 2.0, nan, 4.0], 2)
    with pytest.raises(ValueError, match="high must be finite: inf at position 0"):
        atr([math.inf, 2.0], [1.0, 1.0], [1.0, 1.5], 1)


def test_other_shapes_are_refused():
    with pytest.raises(ValueError, match="one-dimensional"):
        ema(np.ones((3, 2)), 2)
    with pytest.raises(ValueError, match="differ in length: 3, 2, 3"):
        atr([2.0, 2.0, 2.0], [1.0, 1.0], [1.5, 1.5, 1.5], 2)
