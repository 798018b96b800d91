"""Straightforward loop versions of the indicators, written from the textbook
formulas (Wilder's running averages in their ``(prev * (n - 1) + x) / n`` form),
to check the vectorised ones against."""

from __future__ import annotations

import math
from collections.abc import Sequence

NAN = math.nan


def ema_loop(values: Sequence[float], period: int) -> list[float]:
    out = [NAN] * len(values)
    if len(values) < period:
        return out
    alpha = 2 / (period + 1)
    average = sum(values[:period]) / period
    out[period - 1] = average
    for i in range(period, len(values)):
        average = alpha * values[i] + (1 - alpha) * average
        out[i] = average
    return out


def rsi_loop(values: Sequence[float], period: int) -> list[float]:
    out = [NAN] * len(values)
    if len(values) <= period:
        return out
    gains, losses = [], []
    for i in range(1, len(values)):
        change = values[i] - values[i - 1]
        gains.append(change if change > 0 else 0.0)
        losses.append(-change if change < 0 else 0.0)

    average_gain = sum(gains[:period]) / period
    average_loss = sum(losses[:period]) / period
    out[period] = _rsi_value(average_gain, average_loss)
    for i in range(period + 1, len(values)):
        average_gain = (average_gain * (period - 1) + gains[i - 1]) / period
        average_loss = (average_loss * (period - 1) + losses[i - 1]) / period
        out[i] = _rsi_value(average_gain, average_loss)
    return out


def _rsi_value(average_gain: float, average_loss: float) -> float:
    if average_loss == 0:
        return 100.0 if average_gain > 0 else 50.0
    return 100 - 100 / (1 + average_gain / average_loss)


def atr_loop(
    high: Sequence[float], low: Sequence[float], close: Sequence[float], period: int
) -> list[float]:
    out = [NAN] * len(close)
    if len(close) <= period:
        return out
    ranges = [
        max(high[i] - low[i], abs(high[i] - close[i - 1]), abs(low[i] - close[i - 1]))
        for i in range(1, len(close))
    ]
    average = sum(ranges[:period]) / period
    out[period] = average
    for i in range(period + 1, len(close)):
        average = (average * (period - 1) + ranges[i - 1]) / period
        out[i] = average
    return out
