"""A strategy that trades often and predictably, for the crash trials.

Each symbol follows a fixed plan on the minute of its closed candle: with
``period`` 3 and the symbol's index ``i``, it enters on the minutes where
``(minute + i) % 3 == 0`` (BUY or SELL, alternating by cycle and symbol) and
asks to exit two minutes later. The same candles always give the same signals,
so two processes that saw the same candle would decide the same. A signal's
reason names its candle (``crash BUY 10:42``): one order per reason and
symbol, or the order was sent twice.

Stops and targets are far away (``band`` of the price) so that only the plan
trades, never the position monitor. While the file ``hold_path`` exists no
signal is given: the trial holds trading while it compares a restarted bot's
store with what it saw at the kill.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from kit.clock import IST
from kit.trading.strategy import Side, Signal, Strategy


class CrashPlan(Strategy):
    """Enter on one candle, exit ``hold_minutes`` later; see the module."""

    name = "crash-plan"

    def __init__(
        self,
        symbols: list[str],
        *,
        hold_path: Path | None = None,
        period: int = 3,
        hold_minutes: int = 2,
        band: float = 0.2,
    ) -> None:
        if not 0 < hold_minutes < period:
            raise ValueError("hold_minutes must be between 0 and period")
        self.index = {symbol: i for i, symbol in enumerate(symbols)}
        self.hold_path = hold_path
        self.period = period
        self.hold_minutes = hold_minutes
        self.band = band

    @property
    def warmup(self) -> int:
        return 2

    def on_candle(self, symbol: str, candles: pd.DataFrame) -> Signal | None:
        if self.hold_path is not None and self.hold_path.exists():
            return None
        start = candles.index[-1].to_pydatetime().astimezone(IST)
        close = float(candles["close"].iloc[-1])
        minute = int(start.timestamp() // 60) + self.index.get(symbol, 0)
        phase = minute % self.period
        if phase == self.hold_minutes:
            return Signal(
                symbol=symbol, side=Side.EXIT, price=close, candle_start=start,
                reason=f"crash EXIT {start:%H:%M}",
            )  # fmt: skip
        if phase != 0:
            return None
        side = Side.BUY if (minute // self.period) % 2 == 0 else Side.SELL
        away = close * self.band
        stop, target = (close - away, close + away)
        if side is Side.SELL:
            stop, target = target, stop
        return Signal(
            symbol=symbol, side=side, price=close, candle_start=start,
            stop=stop, target=target, reason=f"crash {side} {start:%H:%M}",
        )  # fmt: skip
