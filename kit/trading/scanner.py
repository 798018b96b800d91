"""The scanner: runs the strategy on every symbol whose candle has just closed.

:meth:`Scanner.scan` runs on the caller's thread, the engine thread that owns
the candles (DESIGN.md, data flow). For each symbol given it:

1. Not warm (fewer closed candles than ``strategy.warmup``, or named by the
   caller in ``not_warm``): skipped and counted; no signal until warm.
2. Otherwise the strategy gets a DataFrame of the symbol's newest closed
   candles, at most ``max(warmup, window_candles)`` of them (300 by default:
   building that frame costs well under a millisecond, so 50 symbols a minute
   are cheap), and returns a :class:`~kit.trading.strategy.Signal` or None.
3. An exception, a result that is not a Signal or None, or a Signal for another
   symbol or another candle is a strategy error: logged with its traceback,
   counted, and reported as a :class:`StrategyFailure` through ``on_error``
   (the bot records it as a ``strategy_error`` event). The other symbols are
   scanned as usual.

When every symbol is done, the signals go to ``on_signal`` and the failures to
``on_error``, in the order of the symbols. A callback that raises is logged and
counted; it never stops the others.

Timing. A scan's duration is measured on a real timer (``time.perf_counter``,
injectable): it is the CPU cost of running the strategy, which a manual clock
(no time passes) or a scaled one (time passes faster) would misstate. The
callbacks are not part of it. When a scan happened is read from the injected
clock (``now()`` for the time, ``monotonic()`` for "how long ago"), so the
board's "Last scan: N seconds ago" follows the bot's clock, in drills and tests
too. :meth:`Scanner.stats` is safe to call from another thread (the health
monitor's); ``scan`` itself is for one thread only.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from kit.clock import IST, Clock
from kit.market.candle_book import CandleBook
from kit.market.candles import Candle
from kit.ops.events import ActivityEvent, EventKind, Severity
from kit.trading.strategy import Side, Signal, Strategy

log = logging.getLogger(__name__)

CandleSource = CandleBook | pd.DataFrame
"""A symbol's closed candles: its book, or a frame shaped like ``book.frame()``."""

DEFAULT_WINDOW_CANDLES = 300
DEFAULT_AVERAGE_OVER = 20  # scans
SLOW_SCAN_S = 10.0
_MESSAGE_CHARS = 200
_REQUIRED_COLUMNS = ("open", "high", "low", "close", "volume")


@dataclass(frozen=True)
class StrategyFailure:
    """A strategy that failed on one symbol during one scan."""

    at: datetime
    symbol: str
    strategy: str
    error: Exception
    candle_start: datetime | None  # the newest candle it was given, if any

    @property
    def text(self) -> str:
        """One line for a person: who failed where, and why."""
        error = f"{type(self.error).__name__}: {self.error}"[:_MESSAGE_CHARS]
        return f"{self.strategy} failed on {self.symbol}: {error}"

    def event(self) -> ActivityEvent:
        """The ``strategy_error`` event recording this failure."""
        candle = None if self.candle_start is None else self.candle_start.isoformat()
        return ActivityEvent(
            at=self.at,
            kind=EventKind.STRATEGY_ERROR,
            severity=Severity.ERROR,
            text=self.text,
            fields={
                "symbol": self.symbol,
                "strategy": self.strategy,
                "error": type(self.error).__name__,
                "candle_start": candle,
            },
        )


@dataclass(frozen=True)
class ScanReport:
    """What one scan did."""

    at: datetime
    duration_s: float  # on the real timer, the strategy's work only
    scanned: tuple[str, ...]  # the symbols the strategy ran on
    not_warm: tuple[str, ...]  # the symbols skipped, not warm yet
    signals: tuple[Signal, ...]
    failures: tuple[StrategyFailure, ...]


@dataclass(frozen=True)
class ScanStats:
    """The scanner's counters and timings, for the health board.

    ``last_scan_age_s`` is how long ago the last scan started, on the clock's
    monotonic time when :meth:`Scanner.stats` was called. ``average_scan_s`` is
    the mean duration of the last ``average_over`` scans. Durations are None
    before the first scan.
    """

    scans: int
    symbols_scanned: int  # strategy calls, over all scans
    signals: int
    errors: int  # strategy failures
    skipped_not_warm: int
    callback_errors: int  # on_signal or on_error raised
    last_scan_at: datetime | None
    last_scan_age_s: float | None
    last_scan_s: float | None
    average_scan_s: float | None
    average_over: int


class Scanner:
    """Runs ``strategy`` over closed candles, times it, and keeps it contained.

    ``window_candles`` bounds the candles given to the strategy (never fewer than
    its warm-up); ``average_over`` is how many recent scans the average covers;
    ``timer`` measures durations in seconds (``time.perf_counter``).
    """

    def __init__(
        self,
        strategy: Strategy,
        *,
        clock: Clock,
        on_signal: Callable[[Signal], None],
        on_error: Callable[[StrategyFailure], None] | None = None,
        window_candles: int = DEFAULT_WINDOW_CANDLES,
        average_over: int = DEFAULT_AVERAGE_OVER,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        _check_count("strategy.warmup", strategy.warmup)
        _check_count("window_candles", window_candles)
        _check_count("average_over", average_over)
        self.strategy = strategy
        self.window_candles = window_candles
        self._clock = clock
        self._on_signal = on_signal
        self._on_error = on_error
        self._timer = timer

        self._lock = threading.Lock()  # guards the counters below for stats()
        self._durations_s: deque[float] = deque(maxlen=average_over)
        self._scans = self._symbols = self._signals = self._errors = 0
        self._not_warm = self._callback_errors = 0
        self._last_at: datetime | None = None
        self._last_mono: float | None = None

    def scan(
        self, closed: Mapping[str, CandleSource], *, not_warm: Collection[str] = ()
    ) -> ScanReport:
        """Run the strategy for every symbol of ``closed`` (symbol -> candles).

        A value of the wrong kind, or a frame without the candle columns, is the
        caller's mistake: TypeError or ValueError before anything runs.
        """
        warmup = self.strategy.warmup
        warm, cold = _split_warm(closed, warmup, not_warm)
        at = self._clock.now()
        started_mono = self._clock.monotonic()
        started_s = self._timer()

        window = max(warmup, self.window_candles)
        outcomes = [
            self._run_one(symbol, closed[symbol], window, at) for symbol in warm
        ]
        duration_s = self._timer() - started_s

        signals = tuple(o for o in outcomes if isinstance(o, Signal))
        failures = tuple(o for o in outcomes if isinstance(o, StrategyFailure))
        report = ScanReport(at, duration_s, tuple(warm), tuple(cold), signals, failures)
        self._record(report, started_mono)
        self._dispatch(outcomes)
        return report

    def stats(self) -> ScanStats:
        """A consistent copy of the counters and timings (any thread)."""
        now_mono = self._clock.monotonic()
        with self._lock:
            durations = list(self._durations_s)
            last_mono = self._last_mono
            return ScanStats(
                scans=self._scans,
                symbols_scanned=self._symbols,
                signals=self._signals,
                errors=self._errors,
                skipped_not_warm=self._not_warm,
                callback_errors=self._callback_errors,
                last_scan_at=self._last_at,
                last_scan_age_s=None if last_mono is None else now_mono - last_mono,
                last_scan_s=durations[-1] if durations else None,
                average_scan_s=sum(durations) / len(durations) if durations else None,
                average_over=self._durations_s.maxlen or 0,
            )

    # One symbol.

    def _run_one(
        self, symbol: str, source: CandleSource, window: int, at: datetime
    ) -> Signal | StrategyFailure | None:
        """The strategy on one symbol, inside its own guard."""
        candles: pd.DataFrame | None = None
        try:
            candles = candle_window(source, window)
            result = self.strategy.on_candle(symbol, candles)
            return _checked(symbol, result, candles)
        except Exception as exc:
            name = self.strategy.name
            log.exception("scan: strategy %s failed on %s", name, symbol)
            newest = _newest_start(candles)
            return StrategyFailure(at, symbol, name, exc, newest)

    # Bookkeeping and callbacks.

    def _record(self, report: ScanReport, started_mono: float) -> None:
        with self._lock:
            self._scans += 1
            self._symbols += len(report.scanned)
            self._signals += len(report.signals)
            self._errors += len(report.failures)
            self._not_warm += len(report.not_warm)
            self._durations_s.append(report.duration_s)
            self._last_at, self._last_mono = report.at, started_mono

        log.debug(
            "scan: %d symbols in %.3f s, %d signals, %d errors, %d not warm",
            len(report.scanned), report.duration_s, len(report.signals),
            len(report.failures), len(report.not_warm),
        )  # fmt: skip
        if report.duration_s > SLOW_SCAN_S:
            log.warning(
                "scan: %d symbols took %.1f s (over %.0f s): the strategy is slow",
                len(report.scanned), report.duration_s, SLOW_SCAN_S,
            )  # fmt: skip

    def _dispatch(self, outcomes: Sequence[Signal | StrategyFailure | None]) -> None:
        """Hand each signal and failure to its callback, in the symbols' order."""
        for outcome in outcomes:
            if outcome is None:
                continue
            try:
                if isinstance(outcome, Signal):
                    log.info("scan: %s", describe_signal(outcome))
                    self._on_signal(outcome)
                elif self._on_error is not None:
                    self._on_error(outcome)
            except Exception:
                kind = "on_signal" if isinstance(outcome, Signal) else "on_error"
                log.exception("scan: %s failed for %s", kind, outcome.symbol)
                with self._lock:
                    self._callback_errors += 1


def candle_window(source: CandleSource, count: int) -> pd.DataFrame:
    """The newest ``count`` closed candles of ``source`` as a DataFrame, shaped
    like :meth:`CandleBook.frame` (indexed by start, IST)."""
    if isinstance(source, pd.DataFrame):
        return source.iloc[-count:]
    skip = max(0, len(source) - count)
    return _frame(list(itertools.islice(source, skip, None)))


def describe_signal(signal: Signal) -> str:
    """One line naming a signal, its levels and its reason."""
    text = f"{signal.side} {signal.symbol} at {signal.price:.2f}"
    if signal.side is not Side.EXIT:
        text += f", stop {signal.stop:.2f}, target {signal.target:.2f}"
    return f"{text} ({signal.reason})" if signal.reason else text


def _frame(candles: Sequence[Candle]) -> pd.DataFrame:
    """Candles as a frame, built column by column (cheaper than row objects)."""
    n = len(candles)
    starts_us = np.fromiter((c.start_ms * 1000 for c in candles), np.int64, n)
    index = pd.DatetimeIndex(starts_us.astype("datetime64[us]"), name="start")
    data = {
        "open": np.fromiter((c.open for c in candles), np.float64, n),
        "high": np.fromiter((c.high for c in candles), np.float64, n),
        "low": np.fromiter((c.low for c in candles), np.float64, n),
        "close": np.fromiter((c.close for c in candles), np.float64, n),
        "volume": np.fromiter((c.volume for c in candles), np.int64, n),
        "provenance": pd.array([c.provenance.value for c in candles], dtype="str"),
    }
    return pd.DataFrame(data, index=index.tz_localize("UTC").tz_convert(IST))


def _split_warm(
    closed: Mapping[str, CandleSource], warmup: int, not_warm: Collection[str]
) -> tuple[list[str], list[str]]:
    """The symbols to scan and those not warm yet, in the mapping's order."""
    warm: list[str] = []
    cold: list[str] = []
    for symbol, source in closed.items():
        if isinstance(source, pd.DataFrame):
            missing = [c for c in _REQUIRED_COLUMNS if c not in source.columns]
            if missing:
                raise ValueError(f"{symbol}: the candle frame lacks {missing}")
            if not isinstance(source.index, pd.DatetimeIndex):
                raise ValueError(f"{symbol}: the candle frame needs a DatetimeIndex")
        elif not isinstance(source, CandleBook):
            raise TypeError(
                f"{symbol}: give a CandleBook or a DataFrame, not "
                f"{type(source).__name__}"
            )
        is_cold = symbol in not_warm or len(source) < warmup
        (cold if is_cold else warm).append(symbol)
    return warm, cold


def _checked(symbol: str, result: object, candles: pd.DataFrame) -> Signal | None:
    """The strategy's result, or an error saying why it cannot be used."""
    if result is None:
        return None
    if not isinstance(result, Signal):
        raise TypeError(f"on_candle returned {type(result).__name__}, not a Signal")
    if result.symbol != symbol:
        raise ValueError(f"a signal for {result.symbol} returned for {symbol}")
    newest = _newest_start(candles)
    if result.candle_start != newest:
        raise ValueError(
            f"a signal on the candle of {result.candle_start.isoformat()}, "
            f"but the newest closed candle is of {newest}"
        )
    return result


def _newest_start(candles: pd.DataFrame | None) -> datetime | None:
    if candles is None or candles.empty:
        return None
    newest = candles.index[-1]
    return newest.to_pydatetime() if isinstance(newest, pd.Timestamp) else None


def _check_count(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a whole number of at least 1, got {value!r}")
