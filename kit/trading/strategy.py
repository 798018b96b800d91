"""The strategy interface, its signals and parameters.

The default strategy is :class:`~kit.trading.ema_cross.EmaCrossRsiAtr`.

A strategy looks at one symbol's closed candles and says whether to act::

    Strategy.on_candle(symbol, candles) -> Signal | None

The :class:`~kit.trading.scanner.Scanner` calls it on the engine thread for
every symbol whose 1-minute candle has just closed, once the symbol holds
``warmup`` closed candles. What it returns is a :class:`Signal`: an entry (BUY
long, SELL short) with its stop and target, or an EXIT of the open position.
Whether a signal becomes an order is for risk and the broker to decide.

Parameters are a frozen dataclass deriving from :class:`StrategyParams`: typed
fields with defaults, checked when built, so a wrong value fails in the cell
that set it with :class:`~kit.errors.ConfigurationError` naming the field.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import typing
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import pandas as pd

from kit.clock import IST
from kit.errors import ConfigurationError

MAX_REASON_CHARS = 200


class Side(StrEnum):
    """What a signal asks for."""

    BUY = "BUY"  # enter long
    SELL = "SELL"  # enter short
    EXIT = "EXIT"  # close the symbol's open position, whichever way it is


@dataclass(frozen=True, slots=True, kw_only=True)
class Signal:
    """One decision of a strategy for one symbol on one closed candle.

    - ``price``: the reference price, the close of the candle it was computed on.
    - ``candle_start``: that candle's start (aware; kept in IST).
    - ``stop``, ``target``: absolute prices, required for BUY and SELL and absent
      for EXIT. For BUY ``stop < price < target``; for SELL ``target < price <
      stop``: the stop on the losing side, the target on the winning side.
    - ``reason``: a short text for a person (at most 200 characters).

    A signal that breaks these rules cannot be built: :class:`ValueError`.
    """

    symbol: str
    side: Side
    price: float
    candle_start: datetime
    stop: float | None = None
    target: float | None = None
    reason: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.symbol, str) or not self.symbol:
            raise ValueError(f"a signal needs a symbol, got {self.symbol!r}")
        try:
            object.__setattr__(self, "side", Side(self.side))
        except ValueError:
            sides = ", ".join(s.value for s in Side)
            raise ValueError(
                f"{self.symbol}: side must be one of {sides}, got {self.side!r}"
            ) from None
        object.__setattr__(self, "price", self._positive("price", self.price))
        object.__setattr__(self, "candle_start", self._start(self.candle_start))
        if not isinstance(self.reason, str) or len(self.reason) > MAX_REASON_CHARS:
            raise ValueError(
                f"{self.symbol}: reason must be a text of at most "
                f"{MAX_REASON_CHARS} characters"
            )
        self._check_levels()

    @property
    def is_entry(self) -> bool:
        """True for BUY and SELL, False for EXIT."""
        return self.side is not Side.EXIT

    @property
    def risk_per_unit(self) -> float | None:
        """The distance from the price to the stop (None for an EXIT)."""
        return None if self.stop is None else abs(self.price - self.stop)

    def _check_levels(self) -> None:
        if self.side is Side.EXIT:
            if self.stop is not None or self.target is not None:
                raise ValueError(f"{self.symbol}: an EXIT has no stop or target")
            return
        if self.stop is None or self.target is None:
            raise ValueError(f"{self.symbol}: a {self.side} needs a stop and a target")

        stop = self._positive("stop", self.stop)
        target = self._positive("target", self.target)
        object.__setattr__(self, "stop", stop)
        object.__setattr__(self, "target", target)
        if self.side is Side.BUY and not stop < self.price < target:
            raise ValueError(
                f"{self.symbol}: a BUY needs stop < price < target, got "
                f"stop {stop}, price {self.price}, target {target}"
            )
        if self.side is Side.SELL and not target < self.price < stop:
            raise ValueError(
                f"{self.symbol}: a SELL needs target < price < stop, got "
                f"target {target}, price {self.price}, stop {stop}"
            )

    def _positive(self, name: str, value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValueError(f"{self.symbol}: {name} must be a number, got {value!r}")
        number = float(value)
        if not (math.isfinite(number) and number > 0):
            raise ValueError(f"{self.symbol}: {name} must be above 0, got {value}")
        return number

    def _start(self, value: object) -> datetime:
        if isinstance(value, pd.Timestamp):
            value = value.to_pydatetime()
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ValueError(
                f"{self.symbol}: candle_start must be an aware datetime, got {value!r}"
            )
        return value.astimezone(IST)


@dataclass(frozen=True)
class StrategyParams:
    """The base of a strategy's parameters: subclass it as a frozen dataclass.

    When an instance is built its fields are checked against their annotations:
    ``bool``, ``str``, ``int`` (numpy integers are stored as int) and ``float``
    (any finite real number, stored as a float); then :meth:`check` runs the
    subclass's own rules. A failure raises
    :class:`~kit.errors.ConfigurationError` naming the field.
    """

    def __post_init__(self) -> None:
        for name, kind in _field_types(type(self)).items():
            self._check_type(name, kind)
        self.check()

    def check(self) -> None:
        """The subclass's own rules, written with :meth:`require`."""

    def require(self, ok: bool, name: str, rule: str) -> None:
        """Raise ConfigurationError saying field ``name`` ``rule`` unless ``ok``."""
        if not ok:
            value = getattr(self, name)
            raise ConfigurationError(
                f"{type(self).__name__}.{name} {rule}, got {value!r}"
            )

    def as_dict(self) -> dict[str, Any]:
        """The fields and their values, for logs, events and the UI."""
        return dataclasses.asdict(self)

    def _check_type(self, name: str, kind: type) -> None:
        value = getattr(self, name)
        if kind is bool:
            self.require(isinstance(value, bool), name, "must be True or False")
        elif kind is int:
            ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
            self.require(ok, name, "must be a whole number")
            object.__setattr__(self, name, int(value))
        elif kind is float:
            ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
            self.require(ok and math.isfinite(value), name, "must be a finite number")
            object.__setattr__(self, name, float(value))
        elif kind is str:
            self.require(isinstance(value, str), name, "must be a text")


_FIELD_TYPES: dict[type, dict[str, type]] = {}


def _field_types(cls: type) -> dict[str, type]:
    """The simple types (bool, int, float, str) of a params class's fields."""
    if cls not in _FIELD_TYPES:
        try:
            hints = typing.get_type_hints(cls)
        except (NameError, TypeError):
            hints = {}  # annotations that cannot be resolved are not checked
        simple = (bool, int, float, str)
        _FIELD_TYPES[cls] = {
            f.name: hints[f.name]
            for f in dataclasses.fields(cls)
            if hints.get(f.name) in simple
        }
    return _FIELD_TYPES[cls]


class Strategy(ABC):
    """What a user implements: look at a symbol's closed candles, maybe signal.

    Set ``name`` (the class name by default) and ``warmup``, the closed candles
    needed before the first signal (a class attribute or a property), and write
    :meth:`on_candle`. Keep parameters in ``params``, a :class:`StrategyParams`.
    For example, in a notebook::

        @dataclass(frozen=True)
        class BreakoutParams(StrategyParams):
            lookback: int = 20
            stop_fraction: float = 0.005

            def check(self) -> None:
                self.require(self.lookback >= 2, "lookback", "must be at least 2")

        class Breakout(Strategy):
            name = "breakout"

            def __init__(self, params: BreakoutParams = BreakoutParams()) -> None:
                self.params = params

            @property
            def warmup(self) -> int:
                return self.params.lookback + 1

            def on_candle(self, symbol, candles):
                lookback, fraction = self.params.lookback, self.params.stop_fraction
                close = candles.close.iloc[-1]
                if close <= candles.high.iloc[-lookback - 1 : -1].max():
                    return None
                return Signal(
                    symbol=symbol, side=Side.BUY, price=close,
                    candle_start=candles.index[-1],
                    stop=close * (1 - fraction), target=close * (1 + 2 * fraction),
                    reason=f"close above the {lookback}-candle high",
                )

    ``candles`` is a pandas DataFrame of the symbol's closed candles, oldest
    first, indexed by ``start`` (aware, IST) with columns open, high, low, close
    (float64), volume (int64) and provenance (broker, ticks or mixed). It holds
    at least ``warmup`` rows and at most the scanner's window (see
    :class:`~kit.trading.scanner.Scanner`); it is built for this call, so
    changing it changes nothing elsewhere. One instance serves every symbol:
    keep any state keyed by symbol. An exception is caught, logged and counted
    by the scanner for this symbol alone.
    """

    params: StrategyParams = StrategyParams()

    @property
    def name(self) -> str:
        """A short name for logs, events and the board."""
        return type(self).__name__

    @property
    @abstractmethod
    def warmup(self) -> int:
        """How many closed candles the strategy needs before its first signal."""

    @abstractmethod
    def on_candle(self, symbol: str, candles: pd.DataFrame) -> Signal | None:
        """The signal for ``symbol`` on its newest closed candle, if any."""

    def describe(self) -> dict[str, Any]:
        """Name, warm-up and parameters, for the start-up summary."""
        return {
            "name": self.name,
            "warmup": self.warmup,
            "params": self.params.as_dict(),
        }
