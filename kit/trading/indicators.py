"""Indicators for strategies: EMA, RSI and ATR (both Wilder's), vectorised.

Each function takes a price series (a pandas Series, a numpy array or a list)
and returns one value per input value: a Series with the input's index when
given a Series, otherwise a float64 numpy array. Values that cannot be computed
yet (too few inputs) are NaN, so "not enough data" is never mistaken for a
number. Inputs must be finite: a NaN or an infinity raises :class:`ValueError`.

All three are seeded recursive means. With a period ``n``, a smoothing factor
``a`` and the first usable input at index ``f``::

    y[f + n - 1] = mean(x[f], ..., x[f + n - 1])      the seed: a simple mean
    y[t]         = y[t - 1] + a * (x[t] - y[t - 1])    every later t
    y[t]         = NaN                                 every earlier t

- :func:`ema`: ``x`` the prices, ``a = 2 / (n + 1)``, ``f = 0``; the first
  value is at index ``n - 1``.
- :func:`rsi`: the price changes ``d[t] = p[t] - p[t - 1]`` (``f = 1``) split
  into gains ``max(d, 0)`` and losses ``max(-d, 0)``, each smoothed with Wilder's
  ``a = 1 / n``; ``RSI = 100 * G / (G + L)``, the same as ``100 - 100 / (1 + G /
  L)``, which is 100 when nothing was lost and 50 when nothing moved. The first
  value is at index ``n``.
- :func:`atr`: the true range ``TR[t] = max(high[t] - low[t], |high[t] -
  close[t - 1]|, |low[t] - close[t - 1]|)`` (``f = 1``: the first candle has no
  previous close) smoothed with ``a = 1 / n``; the first value is at index ``n``.

The seed's weight in ``y[t]`` is ``(1 - a) ** (t - seed)``: it fades, so after a
few times the period the values no longer depend on where the series began.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeAlias, overload

import numpy as np
import numpy.typing as npt
import pandas as pd

FloatArray: TypeAlias = npt.NDArray[np.float64]
Prices: TypeAlias = "pd.Series[float] | FloatArray | Sequence[float]"


@overload
def ema(values: pd.Series[float], period: int) -> pd.Series[float]: ...
@overload
def ema(values: FloatArray | Sequence[float], period: int) -> FloatArray: ...
def ema(values: Prices, period: int) -> pd.Series[float] | FloatArray:
    """The exponential moving average, ``a = 2 / (period + 1)``, seeded with
    the simple mean of the first ``period`` values (see the module)."""
    _check_period(period)
    prices = _as_array(values, "values")
    result = _seeded_mean(prices, period, 2.0 / (period + 1), first=0)
    return _like(values, result)


@overload
def rsi(values: pd.Series[float], period: int = 14) -> pd.Series[float]: ...
@overload
def rsi(values: FloatArray | Sequence[float], period: int = 14) -> FloatArray: ...
def rsi(values: Prices, period: int = 14) -> pd.Series[float] | FloatArray:
    """Wilder's relative strength index, 0 to 100 (see the module)."""
    _check_period(period)
    prices = _as_array(values, "values")

    change = np.zeros_like(prices)
    change[1:] = np.diff(prices)
    gains = _seeded_mean(np.maximum(change, 0.0), period, 1.0 / period, first=1)
    losses = _seeded_mean(np.maximum(-change, 0.0), period, 1.0 / period, first=1)

    moved = gains + losses
    with np.errstate(invalid="ignore", divide="ignore"):
        result = np.where(moved > 0.0, 100.0 * gains / moved, 50.0)
    result[np.isnan(moved)] = np.nan
    return _like(values, result)


def true_range(high: Prices, low: Prices, close: Prices) -> FloatArray:
    """The true range of every candle; NaN for the first (no previous close)."""
    highs, lows, closes = _as_candles(high, low, close)
    result = np.full(len(closes), np.nan)
    if len(closes) > 1:
        previous = closes[:-1]
        result[1:] = np.maximum.reduce(
            [
                highs[1:] - lows[1:],
                np.abs(highs[1:] - previous),
                np.abs(lows[1:] - previous),
            ]
        )
    return result


@overload
def atr(
    high: Prices, low: Prices, close: pd.Series[float], period: int = 14
) -> pd.Series[float]: ...
@overload
def atr(
    high: Prices, low: Prices, close: FloatArray | Sequence[float], period: int = 14
) -> FloatArray: ...
def atr(
    high: Prices, low: Prices, close: Prices, period: int = 14
) -> pd.Series[float] | FloatArray:
    """Wilder's average true range (see the module); shaped like ``close``."""
    _check_period(period)
    ranges = true_range(high, low, close)
    ranges[:1] = 0.0  # never read: the seed starts at index 1
    result = _seeded_mean(ranges, period, 1.0 / period, first=1)
    return _like(close, result)


def _seeded_mean(x: FloatArray, period: int, alpha: float, *, first: int) -> FloatArray:
    """The recursive mean of the module's formula; NaN before the seed."""
    result = np.full(len(x), np.nan)
    seed_at = first + period - 1
    if seed_at >= len(x):
        return result

    tail = x[seed_at:].copy()
    tail[0] = x[first : seed_at + 1].mean()
    # adjust=False is exactly y[t] = (1 - a) * y[t - 1] + a * x[t], y[0] = x[0].
    smoothed = pd.Series(tail).ewm(alpha=alpha, adjust=False).mean()
    result[seed_at:] = smoothed.to_numpy(dtype=np.float64)
    return result


def _check_period(period: int) -> None:
    if isinstance(period, bool) or not isinstance(period, int | np.integer):
        raise TypeError(f"period must be an int, got {period!r}")
    if period < 1:
        raise ValueError(f"period must be at least 1, got {period}")


def _as_array(values: Prices, name: str) -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    bad = np.flatnonzero(~np.isfinite(array))
    if bad.size:
        raise ValueError(f"{name} must be finite: {array[bad[0]]} at position {bad[0]}")
    return array


def _as_candles(
    high: Prices, low: Prices, close: Prices
) -> tuple[FloatArray, FloatArray, FloatArray]:
    arrays = (_as_array(high, "high"), _as_array(low, "low"), _as_array(close, "close"))
    lengths = {len(a) for a in arrays}
    if len(lengths) > 1:
        sizes = ", ".join(str(len(a)) for a in arrays)
        raise ValueError(f"high, low and close differ in length: {sizes}")
    return arrays


def _like(template: Prices, result: FloatArray) -> pd.Series[float] | FloatArray:
    """``result`` as a Series on the template's index when it is a Series."""
    if isinstance(template, pd.Series):
        return pd.Series(result, index=template.index, name=template.name)
    return result
