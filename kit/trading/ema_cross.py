"""The default strategy: an EMA crossover with an RSI filter, ATR stop and target."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from kit.trading.indicators import FloatArray, atr, ema, rsi
from kit.trading.strategy import Side, Signal, Strategy, StrategyParams


@dataclass(frozen=True)
class EmaCrossRsiAtrParams(StrategyParams):
    """The parameters of :class:`EmaCrossRsiAtr`; periods are in candles.

    - ``fast_period``, ``slow_period``: the two EMAs (1 <= fast < slow).
    - ``rsi_period``: Wilder's RSI (at least 2); ``rsi_oversold`` <
      ``rsi_overbought``, both strictly between 0 and 100.
    - ``atr_period``: Wilder's ATR (at least 1).
    - ``stop_atr``, ``target_atr``: the stop's and the target's distance from
      the price, in ATRs (both above 0).
    - ``warmup_candles``: closed candles needed before the first signal; at least
      one more than the longest period, so the previous candle's EMAs exist.
    """

    fast_period: int = 9
    slow_period: int = 21
    rsi_period: int = 14
    rsi_overbought: float = 70.0
    rsi_oversold: float = 30.0
    atr_period: int = 14
    stop_atr: float = 1.5
    target_atr: float = 3.0
    warmup_candles: int = 200

    def check(self) -> None:
        self.require(self.fast_period >= 1, "fast_period", "must be at least 1")
        self.require(
            self.slow_period > self.fast_period,
            "slow_period",
            f"must be above fast_period ({self.fast_period})",
        )
        self.require(self.rsi_period >= 2, "rsi_period", "must be at least 2")
        self.require(
            0 < self.rsi_overbought < 100, "rsi_overbought", "must be in (0, 100)"
        )
        self.require(
            0 < self.rsi_oversold < self.rsi_overbought,
            "rsi_oversold",
            f"must be in (0, rsi_overbought = {self.rsi_overbought:g})",
        )
        self.require(self.atr_period >= 1, "atr_period", "must be at least 1")
        self.require(self.stop_atr > 0, "stop_atr", "must be above 0")
        self.require(self.target_atr > 0, "target_atr", "must be above 0")
        longest = max(self.slow_period, self.rsi_period, self.atr_period)
        self.require(
            self.warmup_candles > longest,
            "warmup_candles",
            f"must be above the longest period ({longest})",
        )


class EmaCrossRsiAtr(Strategy):
    """The default strategy: an EMA crossover, filtered by RSI, with ATR exits.

    On each closed candle, with ``fast`` and ``slow`` the two EMAs of the close:

    - BUY when ``fast`` crosses above ``slow`` (``fast - slow`` was at or below 0
      on the previous candle and is above 0 now) and RSI < ``rsi_overbought``;
    - SELL (enter short) when ``fast`` crosses below ``slow`` and RSI >
      ``rsi_oversold``;
    - the stop ``stop_atr`` ATRs from the close on the losing side, the target
      ``target_atr`` ATRs on the winning side (1.5 and 3 by default: two to one);
    - nothing when the ATR is 0 (a flat market leaves no room for a stop) or a
      level would fall to 0 or below. It never emits EXIT: its positions end at
      their stop or target, or by the risk manager's rules.

    It needs 200 closed candles, a warm-up chosen for stability rather than a
    200-candle EMA (EMAs of 9 and 21 suit 1-minute candles; a 200-minute EMA
    crosses a couple of times a day). The indicators are recursive, and the
    seed's weight after 200 candles is below 1e-6 for these periods (the slow
    EMA's ``(20/22) ** 180`` and Wilder's ``(13/14) ** 186``), so the values no
    longer depend on where the candles began: a book loaded from the broker's
    history and one built from ticks since the open signal alike once warm, and
    so do the scanner's bounded window and the full history.
    """

    name = "ema_cross_rsi_atr"
    params: EmaCrossRsiAtrParams

    def __init__(self, params: EmaCrossRsiAtrParams | None = None) -> None:
        self.params = params if params is not None else EmaCrossRsiAtrParams()

    @property
    def warmup(self) -> int:
        return self.params.warmup_candles

    def on_candle(self, symbol: str, candles: pd.DataFrame) -> Signal | None:
        p = self.params
        if len(candles) < max(self.warmup, 2):
            return None
        close = candles["close"].to_numpy(dtype="float64")
        side = self._crossing(close)
        if side is None:
            return None

        # The filters, computed only on a crossover: most candles stop above.
        strength = float(rsi(close, p.rsi_period)[-1])
        if not self._rsi_allows(side, strength):
            return None
        high = candles["high"].to_numpy(dtype="float64")
        low = candles["low"].to_numpy(dtype="float64")
        volatility = float(atr(high, low, close, p.atr_period)[-1])
        price = float(close[-1])
        levels = self._levels(side, price, volatility)
        if levels is None:
            return None

        words = "above" if side is Side.BUY else "below"
        return Signal(
            symbol=symbol,
            side=side,
            price=price,
            candle_start=candles.index[-1],
            stop=levels[0],
            target=levels[1],
            reason=(
                f"EMA{p.fast_period} crossed {words} EMA{p.slow_period}, "
                f"RSI {strength:.1f}, ATR {volatility:.4g}"
            ),
        )

    def _crossing(self, close: FloatArray) -> Side | None:
        """BUY or SELL when the fast EMA crossed the slow one on the last candle."""
        fast = ema(close, self.params.fast_period)
        slow = ema(close, self.params.slow_period)
        spread_before, spread_now = fast[-2] - slow[-2], fast[-1] - slow[-1]
        if spread_before <= 0 < spread_now:
            return Side.BUY
        if spread_before >= 0 > spread_now:
            return Side.SELL
        return None  # no crossing, or an EMA not computable yet (NaN)

    def _rsi_allows(self, side: Side, strength: float) -> bool:
        if side is Side.BUY:
            return strength < self.params.rsi_overbought
        return strength > self.params.rsi_oversold

    def _levels(
        self, side: Side, price: float, volatility: float
    ) -> tuple[float, float] | None:
        """(stop, target), or None when the ATR or a level is not above 0."""
        if not volatility > 0:
            return None  # a flat market leaves no room for a stop
        direction = 1.0 if side is Side.BUY else -1.0
        stop = price - direction * self.params.stop_atr * volatility
        target = price + direction * self.params.target_atr * volatility
        return None if min(stop, target) <= 0 else (stop, target)

    def indicators(self, candles: pd.DataFrame) -> pd.DataFrame:
        """The strategy's indicators on ``candles`` (for research and charts):
        columns ema_fast, ema_slow, rsi and atr on the candles' index."""
        p = self.params
        close = candles["close"]
        return pd.DataFrame(
            {
                "ema_fast": ema(close, p.fast_period),
                "ema_slow": ema(close, p.slow_period),
                "rsi": rsi(close, p.rsi_period),
                "atr": atr(candles["high"], candles["low"], close, p.atr_period),
            },
            index=candles.index,
        )
