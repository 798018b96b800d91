"""What the bootstrap's parts share: the state of every symbol, and a context.

:class:`SymbolBook` says, for each symbol, whether its history is loaded, its
candles are built from ticks while the history is asked again, or it is
skipped (the broker does not know it). It is read and written by the thread
that runs the start-up bootstrap, by the background thread, and by the feed's
thread (through backfill requests), so it is locked; no lock is held across a
request. :class:`BootstrapContext` carries the parts every step needs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from kit.clock import Clock, NseCalendar
from kit.market.backfill import JobBook
from kit.market.bootstrap_events import BootstrapEvent, SymbolSkipped
from kit.market.handoff import Handoff
from kit.market.history import BootstrapConfig, HistoryFetcher, Symbol
from kit.market.warmup import closed_minutes


class WarmupMode(StrEnum):
    NOT_STARTED = "not_started"
    LOADING = "loading"  # the start-up bootstrap is running
    HISTORY = "history"  # every symbol has its history
    TICKS = "ticks"  # some symbols build from ticks until their history comes


@dataclass(frozen=True)
class BootstrapStatus:
    """A snapshot for the status board and the health monitor (any thread).
    Symbols by their trading symbol."""

    mode: WarmupMode
    symbols: int
    with_history: tuple[str, ...]
    from_ticks: tuple[str, ...]
    skipped: tuple[str, ...]
    warm_at: datetime | None  # when the symbols built from ticks are warm
    jobs: int  # re-bootstraps and backfills waiting
    running: bool  # the background thread


class SymbolBook:
    """Every symbol's state; thread-safe."""

    def __init__(self, symbols: Iterable[Symbol]) -> None:
        self.symbols: dict[str, Symbol] = {s.token: s for s in symbols}
        self._lock = threading.Lock()
        self._mode = WarmupMode.NOT_STARTED
        self._with_history: set[str] = set()
        self._from_ticks: set[str] = set()
        self._skipped: dict[str, str] = {}
        self._warm_at: datetime | None = None
        self._ticks_since_s: float | None = None
        self._covered_through: datetime | None = None

    def loading(self) -> None:
        with self._lock:
            self._mode = WarmupMode.LOADING

    def loaded(self, token: str) -> None:
        """History of ``token`` came (at start or in the background)."""
        with self._lock:
            self._with_history.add(token)
            self._from_ticks.discard(token)
            if self._mode is WarmupMode.TICKS and not self._from_ticks:
                self._mode, self._warm_at = WarmupMode.HISTORY, None

    def all_loaded(self) -> int:
        """The start-up bootstrap loaded every symbol; how many have history."""
        with self._lock:
            self._mode = WarmupMode.HISTORY
            return len(self._with_history)

    def fell_back(self, tokens: Iterable[str], since_s: float, warm: datetime) -> None:
        """``tokens`` build from ticks from ``since_s``, warm at ``warm``."""
        with self._lock:
            self._from_ticks.update(tokens)
            self._ticks_since_s = since_s
            self._warm_at, self._mode = warm, WarmupMode.TICKS

    def skip(self, token: str, reason: str) -> None:
        with self._lock:
            self._skipped[token] = reason
            self._from_ticks.discard(token)

    def without_history(self, tokens: Iterable[str]) -> list[Symbol]:
        """Those of ``tokens`` still building from ticks."""
        with self._lock:
            wanted = [t for t in tokens if t in self._from_ticks]
        return [self.symbols[t] for t in sorted(wanted)]

    def repairable(self, tokens: Iterable[str]) -> list[Symbol]:
        """Those of ``tokens`` with history (the others wait for theirs)."""
        with self._lock:
            blocked = self._from_ticks | self._skipped.keys()
        return [self.symbols[t] for t in sorted(set(tokens) - blocked)]

    def known(self) -> set[str]:
        """Every token not skipped."""
        with self._lock:
            return set(self.symbols) - self._skipped.keys()

    def with_history(self) -> set[str]:
        with self._lock:
            return set(self._with_history)

    @property
    def ticks_since_s(self) -> float | None:
        with self._lock:
            return self._ticks_since_s

    @property
    def covered_through(self) -> datetime | None:
        """The last minute of the history loaded at start, if any."""
        with self._lock:
            return self._covered_through

    @covered_through.setter
    def covered_through(self, last: datetime) -> None:
        with self._lock:
            self._covered_through = last

    def status(self, *, jobs: int, running: bool) -> BootstrapStatus:
        with self._lock:
            return BootstrapStatus(
                mode=self._mode,
                symbols=len(self.symbols),
                with_history=self._names(self._with_history),
                from_ticks=self._names(self._from_ticks),
                skipped=self._names(self._skipped.keys()),
                warm_at=self._warm_at,
                jobs=jobs,
                running=running,
            )

    def _names(self, tokens: Iterable[str]) -> tuple[str, ...]:
        return tuple(sorted(self.symbols[t].symbol for t in tokens))


@dataclass
class BootstrapContext:
    """The parts the start-up bootstrap and the background thread share."""

    config: BootstrapConfig
    clock: Clock
    calendar: NseCalendar
    fetcher: HistoryFetcher
    handoff: Handoff
    book: SymbolBook
    log: logging.Logger
    on_event: Callable[[BootstrapEvent], None] | None
    jobs: JobBook = field(default_factory=JobBook)
    stop: threading.Event = field(default_factory=threading.Event)
    wake: threading.Event = field(default_factory=threading.Event)

    def emit(self, event: BootstrapEvent) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(event)
        except Exception:  # a failing callback never stops the bootstrap
            self.log.exception("bootstrap: Event callback failed on %s", event.kind)

    def skip(self, invalid: Sequence[tuple[Symbol, str]]) -> None:
        """Skip symbols the broker does not know, for good, each with an event."""
        for symbol, reason in invalid:
            self.book.skip(symbol.token, reason)
            self.jobs.drop_token(symbol.token)
            self.log.warning(
                "bootstrap: Skipping %s (token %s): %s",
                symbol.symbol, symbol.token, reason,
            )  # fmt: skip
            event = SymbolSkipped(
                self.clock.time(), symbol=symbol.symbol, token=symbol.token,
                reason=reason,
            )  # fmt: skip
            self.emit(event)

    def warmup_window(self) -> tuple[datetime, datetime]:
        """The first and last minute of the warm-up window ending now."""
        count = self.config.warmup_candles
        minutes = closed_minutes(self.calendar, self.clock.now(), count)
        return minutes[0], minutes[-1]
