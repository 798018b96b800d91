"""A scripted strategy and a scanner harness on a manual clock and a hand-moved
timer, shared by the scanner tests."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd

from kit.clock import ManualClock
from kit.market.candle_book import CandleBook
from kit.trading.scanner import Scanner, StrategyFailure
from kit.trading.strategy import Side, Signal, Strategy
from tests.trading.candles import START, book_of, random_walk


class Scripted(Strategy):
    """Behaves per symbol as told: ``raise``, ``buy``, or anything else: None.

    Records every call as (symbol, number of candles seen)."""

    name = "scripted"

    def __init__(self, plan: dict[str, object] | None = None, warmup: int = 5) -> None:
        self.plan = plan or {}
        self._warmup = warmup
        self.calls: list[tuple[str, int]] = []
        self.seen: dict[str, pd.DataFrame] = {}

    @property
    def warmup(self) -> int:
        return self._warmup

    def on_candle(self, symbol: str, candles: pd.DataFrame) -> Signal | None:
        self.calls.append((symbol, len(candles)))
        self.seen[symbol] = candles
        action = self.plan.get(symbol)
        if action == "raise":
            raise ZeroDivisionError(f"division by zero for {symbol}")
        if action == "buy":
            return buy(symbol, candles)
        if callable(action):
            return action(symbol, candles)  # type: ignore[no-any-return]
        return None


def buy(symbol: str, candles: pd.DataFrame) -> Signal:
    close = float(candles["close"].iloc[-1])
    return Signal(
        symbol=symbol,
        side=Side.BUY,
        price=close,
        candle_start=candles.index[-1],
        stop=close - 1.0,
        target=close + 2.0,
        reason="scripted",
    )


class Harness:
    """A scanner on a manual clock, with a timer the test moves by hand."""

    def __init__(self, strategy: Strategy, **options: object) -> None:
        self.clock = ManualClock(START + timedelta(minutes=30))
        self.signals: list[Signal] = []
        self.failures: list[StrategyFailure] = []
        self.timer_s = 100.0
        self.scan_cost_s = 0.25  # how far the timer moves during each scan
        self.scanner = Scanner(
            strategy,
            clock=self.clock,
            on_signal=self.signals.append,
            on_error=self.failures.append,
            timer=self._timer,
            **options,  # type: ignore[arg-type]
        )
        self._started = False

    def _timer(self) -> float:
        # Called twice a scan: at its start and at its end.
        if self._started:
            self.timer_s += self.scan_cost_s
        self._started = not self._started
        return self.timer_s


def books(count: int, **lengths: int) -> dict[str, CandleBook]:
    """Books S0..S{count-1} of 30 candles, then books of the lengths named."""
    closes = random_walk(400, seed=3)
    symbols = [f"S{i}" for i in range(count)] + list(lengths)
    return {s: book_of(closes[: lengths.get(s, 30)], symbol=s) for s in symbols}
