"""History requests for the bootstrap: settings, failure causes, one round of
fetches over many symbols, and the check that the broker knows each symbol.

The broker client paces, chunks and (if its policy says so) retries each
request; this module decides what one *round* does: every symbol in turn, a
symbol the broker does not know set aside, and the round cut short at the
first rate-limit or market-closed refusal, since the symbols after it would
only meet the same answer and spend the request budget.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import pandas as pd

from kit.broker.models import Quote
from kit.broker.routes import Interval
from kit.errors import InvalidSymbol, KitError, MarketClosed, RateLimited, ServerError
from kit.market.bootstrap_events import FailureCause
from kit.market.candle_book import broker_candles
from kit.market.candles import Candle


@dataclass(frozen=True)
class Symbol:
    """One instrument to keep candles of: its trading symbol, token and exchange."""

    symbol: str
    token: str
    exchange: str = "NSE"


class HistorySource(Protocol):
    """What the bootstrap needs of :class:`~kit.broker.client.AngelClient`."""

    def candles(
        self,
        token: str,
        interval: Interval,
        start: datetime,
        end: datetime,
        *,
        exchange: str = "NSE",
    ) -> pd.DataFrame: ...

    def quotes(
        self, tokens: Sequence[str], *, mode: str = "FULL", exchange: str = "NSE"
    ) -> list[Quote]: ...


@dataclass(frozen=True)
class BootstrapConfig:
    """How the bootstrap loads, retries and repairs history.

    Times are seconds of the injected clock.

    - ``warmup_candles``: the strategy's look-back, in 1-minute candles (200).
    - ``max_attempts``: attempts of the start-up bootstrap (3), waiting between
      them by cause: ``rate_limit_delay_s`` (10), ``market_closed_delay_s``
      (30), ``other_delay_s`` (5), as the user's design says.
    - ``rebootstrap_interval_s``: while symbols have no history, it is asked
      again this often in the background (120).
    - ``backfill_before_s``, ``backfill_after_s``: a feed outage is repaired from
      this long before it was noticed (a silent feed is noticed late) to this
      long after it ended (the resubscription takes a moment) (60, 15).
    - ``settle_s``: a backfill waits until its last minute ended this long ago,
      so the broker has the candle (10).
    - ``dropped_ticks_window_s``: ticks dropped on a full queue are reported at
      most this often, so the repair reaches this far past a report (10).
    - ``backfill_attempts``: a backfill is abandoned after this many failures (10).
    - ``check_symbols``: ask one quote per 50 symbols first and skip the symbols
      the broker does not know (True).
    """

    warmup_candles: int = 200
    max_attempts: int = 3
    rate_limit_delay_s: float = 10.0
    market_closed_delay_s: float = 30.0
    other_delay_s: float = 5.0
    rebootstrap_interval_s: float = 120.0
    backfill_before_s: float = 60.0
    backfill_after_s: float = 15.0
    settle_s: float = 10.0
    dropped_ticks_window_s: float = 10.0
    backfill_attempts: int = 10
    check_symbols: bool = True

    def __post_init__(self) -> None:
        for name in ("warmup_candles", "max_attempts", "backfill_attempts"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.rebootstrap_interval_s <= 0:
            raise ValueError("rebootstrap_interval_s must be positive")
        waits = (
            "rate_limit_delay_s", "market_closed_delay_s", "other_delay_s",
            "backfill_before_s", "backfill_after_s", "settle_s",
            "dropped_ticks_window_s",
        )  # fmt: skip
        for name in waits:
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")

    def delay_s(self, cause: FailureCause) -> float:
        """The wait before the next attempt after a failure of ``cause``."""
        if cause is FailureCause.RATE_LIMIT:
            return self.rate_limit_delay_s
        if cause is FailureCause.MARKET_CLOSED:
            return self.market_closed_delay_s
        return self.other_delay_s


def classify(error: BaseException, *, market_open: bool) -> FailureCause:
    """The cause of a failed history request.

    Outside the session a server error is how the broker refuses history
    (AB1004 before the open), so it counts as the market being closed.
    """
    if isinstance(error, RateLimited):
        return FailureCause.RATE_LIMIT
    if isinstance(error, MarketClosed):
        return FailureCause.MARKET_CLOSED
    if isinstance(error, ServerError) and not market_open:
        return FailureCause.MARKET_CLOSED
    return FailureCause.OTHER


def describe(cause: FailureCause) -> str:
    """The cause as the log lines say it."""
    if cause is FailureCause.RATE_LIMIT:
        return "Rate limited"
    if cause is FailureCause.MARKET_CLOSED:
        return "History not available, market not open"
    return "History request failed"


@dataclass
class Round:
    """What one round of history requests did."""

    loaded: int = 0  # symbols
    candles: int = 0
    failed: list[Symbol] = field(default_factory=list)
    invalid: list[tuple[Symbol, str]] = field(default_factory=list)
    cause: FailureCause = FailureCause.OTHER  # of the last failure, if any
    error: str = ""


OnLoaded = Callable[[Symbol, list[Candle]], None]


class HistoryFetcher:
    """Fetches 1-minute history symbol by symbol through a :class:`HistorySource`."""

    def __init__(
        self,
        source: HistorySource,
        *,
        market_open: Callable[[], bool],
        logger: logging.Logger,
    ) -> None:
        self.source = source
        self.market_open = market_open
        self.log = logger

    def fetch(self, symbol: Symbol, first: datetime, last: datetime) -> list[Candle]:
        """The broker's candles of ``symbol`` from ``first`` to ``last`` (minutes,
        both included)."""
        frame = self.source.candles(
            symbol.token, Interval.ONE_MINUTE, first, last, exchange=symbol.exchange
        )
        return broker_candles(frame)

    def fetch_round(
        self,
        symbols: Sequence[Symbol],
        first: datetime,
        last: datetime,
        *,
        on_loaded: OnLoaded,
        stop: threading.Event,
    ) -> Round:
        """Fetch every symbol once; ``on_loaded`` gets each one's candles.

        A rate-limit or market-closed refusal ends the round: the symbols not
        asked yet are counted as failed. A stop request does the same.
        """
        result = Round()
        for n, symbol in enumerate(symbols):
            if stop.is_set():
                result.failed += symbols[n:]
                break
            try:
                candles = self.fetch(symbol, first, last)
            except InvalidSymbol as exc:
                result.invalid.append((symbol, f"{type(exc).__name__}: {exc}"))
                continue
            except Exception as exc:
                self._failed(result, symbol, exc)
                if result.cause is not FailureCause.OTHER:
                    result.failed += symbols[n + 1 :]
                    break
                continue
            on_loaded(symbol, candles)
            result.loaded += 1
            result.candles += len(candles)
        return result

    def _failed(self, result: Round, symbol: Symbol, exc: Exception) -> None:
        if not isinstance(exc, KitError):  # a bug, not the broker: keep its trace
            self.log.exception("bootstrap: history of %s failed", symbol.symbol)
        result.failed.append(symbol)
        result.cause = classify(exc, market_open=self.market_open())
        result.error = f"{type(exc).__name__}: {exc}"

    def unknown(self, symbols: Sequence[Symbol]) -> list[Symbol]:
        """The symbols the broker has no quote for (one request per 50 symbols).

        When the check itself fails, or no quote comes back at all, nothing is
        reported unknown: a broken check must not skip every symbol.
        """
        known: set[str] = set()
        exchanges = sorted({s.exchange for s in symbols})
        try:
            for exchange in exchanges:
                tokens = [s.token for s in symbols if s.exchange == exchange]
                quotes = self.source.quotes(tokens, mode="LTP", exchange=exchange)
                known |= {q.token for q in quotes}
        except KitError as exc:
            self.log.warning("bootstrap: Symbol check skipped: %s", exc)
            return []
        if symbols and not known:
            self.log.warning("bootstrap: Symbol check skipped: no quote came back")
            return []
        return [s for s in symbols if s.token not in known]
