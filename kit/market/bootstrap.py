"""History for the candle books: at start, in the background, after outages.

::

    boot = CandleBootstrap(client, symbols, clock=clock, on_event=activity.add)
    report = boot.run()            # the engine thread, before its loop: blocks
    boot.start()                   # the background thread: re-bootstrap, backfills
    feed = ResilientFeed(..., on_event=boot.on_feed_event)
    while running:                 # the engine loop
        book.on_tick(tick) ...
        book.close_due(now_ms=clock.time_ms())
        boot.apply(books)          # merge what the bootstrap fetched
    boot.stop()

What it does (DESIGN.md, "Candles and bootstrap"; the user's design, section 2):

- :meth:`CandleBootstrap.run` loads the warm-up history of every symbol (the
  last ``warmup_candles`` session minutes that have ended) through the broker
  client, which paces and chunks the requests. Up to 3 attempts, waiting by
  cause: 10 s after a rate limit, 30 s when the market is not open, 5 s
  otherwise. A progress bar shows it in a terminal or a notebook.
- Before the open the window is the end of the previous session, so a bot
  started early is warm at 09:15.
- Symbols the broker does not know are skipped, each with an event.
- When attempts run out, those symbols build their candles from ticks; the time
  they will be warm is announced, and a background re-bootstrap asks for their
  history every ``rebootstrap_interval_s`` until it comes.
- Every feed (re)connection and every report of dropped ticks schedules a
  backfill of the minutes that may be incomplete, fetched once they have ended
  (:mod:`kit.market.backfill`).

How results reach the books. The engine thread owns the books, so nothing here
writes to one. Fetched candles wait in a queue until the engine calls
:meth:`CandleBootstrap.apply` with its books; a broker candle is merged only
once its book has closed that minute, and each candle it replaces is a
:class:`~kit.market.bootstrap_events.CandleRevised` event (see
:mod:`kit.market.handoff`). The engine decides when; the bootstrap never waits
for the engine and holds no lock across a request.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from kit.broker.feed_events import Connected, FeedEvent
from kit.clock import IST, Clock, NseCalendar, RealClock
from kit.market.backfill import outage_span
from kit.market.bootstrap_events import (
    AttemptFailed,
    AttemptStarted,
    BootstrapEvent,
    BuildingFromTicks,
    HistoryLoaded,
)
from kit.market.bootstrap_state import (
    BootstrapContext,
    BootstrapStatus,
    SymbolBook,
    WarmupMode,
)
from kit.market.candle_book import CandleBook
from kit.market.candles import Candle
from kit.market.handoff import Applied, Batch, Handoff
from kit.market.history import (
    BootstrapConfig,
    HistoryFetcher,
    HistorySource,
    Round,
    Symbol,
    describe,
)
from kit.market.progress import ProgressBar, ProgressFactory, auto_progress
from kit.market.repair import RepairWorker
from kit.market.warmup import MINUTE, floor_minute, warm_at, warm_gaps

__all__ = [
    "Applied",
    "BootstrapConfig",
    "BootstrapReport",
    "BootstrapStatus",
    "CandleBootstrap",
    "Symbol",
    "WarmupMode",
]

_logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BootstrapReport:
    """What :meth:`CandleBootstrap.run` did; symbols by their trading symbol."""

    loaded: tuple[str, ...]
    from_ticks: tuple[str, ...]
    skipped: tuple[str, ...]
    attempts: int
    candles: int
    elapsed_s: float
    warm_at: datetime | None  # when the symbols built from ticks are warm


class CandleBootstrap:
    """Loads, re-loads and repairs history for the candle books; see the module."""

    def __init__(
        self,
        source: HistorySource,
        symbols: Iterable[Symbol],
        *,
        config: BootstrapConfig | None = None,
        clock: Clock | None = None,
        calendar: NseCalendar | None = None,
        on_event: Callable[[BootstrapEvent], None] | None = None,
        progress: ProgressFactory | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        clock = clock or RealClock()
        calendar = calendar or NseCalendar()
        log = logger or _logger
        book = SymbolBook(symbols)
        fetcher = HistoryFetcher(
            source, market_open=lambda: calendar.is_open(clock.now()), logger=log
        )
        self._ctx = ctx = BootstrapContext(
            config=config or BootstrapConfig(),
            clock=clock,
            calendar=calendar,
            fetcher=fetcher,
            handoff=Handoff(clock=clock, emit=self._emit, logger=log),
            book=book,
            log=log,
            on_event=on_event,
        )
        self.config, self.clock, self.calendar = ctx.config, clock, calendar
        self._progress = progress or auto_progress
        self._worker = RepairWorker(ctx)
        self._connected = threading.Event()  # the feed's first connection seen

    # At start.

    def run(self) -> BootstrapReport:
        """Load the warm-up history of every symbol; the symbols still without
        it after the attempts build from ticks. Blocks (waits on the clock);
        never raises for a broker failure; :meth:`stop` cuts a wait short."""
        ctx, started_s = self._ctx, self.clock.monotonic()
        ctx.book.loading()
        self._log_settings()
        symbols = self._checked(list(ctx.book.symbols.values()))

        bar = self._progress(len(symbols), "history")
        try:
            pending, attempts, candles = self._attempts(symbols, bar)
        finally:
            bar.close()
        elapsed_s = self.clock.monotonic() - started_s

        if pending and not ctx.stop.is_set():
            self._fall_back(pending, attempts)
        elif not pending:
            self._loaded_all(candles, elapsed_s)
        seam_from, loaded = ctx.book.covered_through, ctx.book.with_history()
        self._worker.request_seam(seam_from, loaded, "start-up seam")

        status = self.status()
        return BootstrapReport(
            loaded=status.with_history,
            from_ticks=status.from_ticks,
            skipped=status.skipped,
            attempts=attempts,
            candles=candles,
            elapsed_s=elapsed_s,
            warm_at=status.warm_at,
        )

    def _attempts(
        self, symbols: list[Symbol], bar: ProgressBar
    ) -> tuple[list[Symbol], int, int]:
        """The attempts: the symbols still pending, attempts made, candles."""
        pending, attempt, candles = symbols, 0, 0
        while pending and attempt < self.config.max_attempts:
            if self._ctx.stop.is_set():
                break
            attempt += 1
            result = self._attempt(attempt, pending, bar)
            pending, candles = result.failed, candles + result.candles
            if pending and not self._ctx.stop.is_set():
                self._attempt_failed(attempt, result)
        return pending, attempt, candles

    def _attempt(self, attempt: int, pending: list[Symbol], bar: ProgressBar) -> Round:
        ctx, cfg = self._ctx, self.config
        first, last = ctx.warmup_window()
        ctx.log.info(
            "bootstrap: Loading history of %d symbols, %d candles each "
            "(attempt %d/%d)...",
            len(pending), cfg.warmup_candles, attempt, cfg.max_attempts,
        )  # fmt: skip
        event = AttemptStarted(
            self.clock.time(), attempt=attempt, max_attempts=cfg.max_attempts,
            symbols=len(pending),
        )  # fmt: skip
        ctx.emit(event)
        result = ctx.fetcher.fetch_round(
            pending, first, last, on_loaded=partial(self._loaded, bar), stop=ctx.stop
        )
        ctx.skip(result.invalid)
        if result.loaded:
            ctx.book.covered_through = last
        return result

    def _attempt_failed(self, attempt: int, result: Round) -> None:
        ctx, cfg = self._ctx, self.config
        delay_s = cfg.delay_s(result.cause) if attempt < cfg.max_attempts else None
        ctx.log.warning(
            "bootstrap: %s (attempt %d/%d): %s",
            describe(result.cause), attempt, cfg.max_attempts, result.error,
        )  # fmt: skip
        event = AttemptFailed(
            self.clock.time(), attempt=attempt, max_attempts=cfg.max_attempts,
            cause=result.cause, error=result.error, pending=len(result.failed),
            retry_in_s=delay_s,
        )  # fmt: skip
        ctx.emit(event)
        if delay_s is not None:
            ctx.log.info(
                "bootstrap: Retrying in %.1f s (attempt %d/%d)",
                delay_s, attempt + 1, cfg.max_attempts,
            )  # fmt: skip
            self.clock.wait(ctx.stop, delay_s)

    def _loaded(self, bar: ProgressBar, symbol: Symbol, candles: list[Candle]) -> None:
        self._ctx.handoff.put(Batch(symbol, tuple(candles), "bootstrap"))
        self._ctx.book.loaded(symbol.token)
        bar.update(1)

    def _fall_back(self, pending: list[Symbol], attempts: int) -> None:
        """Build ``pending`` from ticks; say when they are warm; ask again later."""
        ctx, cfg, now = self._ctx, self.config, self.clock.now()
        warm = warm_at(self.calendar, now, cfg.warmup_candles)
        ctx.book.fell_back((s.token for s in pending), now.timestamp(), warm)
        ctx.log.warning(
            "bootstrap: Failed after %d attempts; building candles from ticks "
            "for %d symbols",
            attempts, len(pending),
        )  # fmt: skip
        ctx.log.info(
            "bootstrap: Building from ticks: %d candles, warm at %s; history "
            "asked again every %.0f s",
            cfg.warmup_candles, _when(warm, now), cfg.rebootstrap_interval_s,
        )  # fmt: skip
        event = BuildingFromTicks(
            now.timestamp(), symbols=tuple(sorted(s.symbol for s in pending)),
            candles_needed=cfg.warmup_candles, warm_at=warm,
            retry_every_s=cfg.rebootstrap_interval_s,
        )  # fmt: skip
        ctx.emit(event)
        self._worker.schedule_rebootstrap({s.token for s in pending})

    def _loaded_all(self, candles: int, elapsed_s: float) -> None:
        count = self._ctx.book.all_loaded()
        self._ctx.log.info(
            "bootstrap: Loaded %d candles of %d symbols in %.1f s",
            candles, count, elapsed_s,
        )  # fmt: skip
        event = HistoryLoaded(
            self.clock.time(), symbols=count, candles=candles, elapsed_s=elapsed_s
        )
        self._ctx.emit(event)

    def _checked(self, symbols: list[Symbol]) -> list[Symbol]:
        """``symbols`` without the ones the broker does not know."""
        if not self.config.check_symbols or not symbols:
            return symbols
        unknown = self._ctx.fetcher.unknown(symbols)
        self._ctx.skip([(s, "the broker has no quote for it") for s in unknown])
        return [s for s in symbols if s not in unknown]

    # In the background.

    def start(self) -> None:
        """Start the background thread (re-bootstrap, backfills); idempotent."""
        self._worker.start()

    def stop(self, timeout_real_s: float = 5.0) -> bool:
        """End waits, rounds and the thread (after a request in flight); True
        when the thread has ended. Idempotent."""
        self._ctx.stop.set()
        self._ctx.wake.set()
        return self._worker.join(timeout_real_s)

    # From other threads.

    def on_feed_event(self, event: FeedEvent) -> None:
        """Give the feed's events here (any thread): each (re)connection and
        each report of dropped ticks schedules a backfill of the minutes it may
        have left incomplete."""
        covered = None
        if isinstance(event, Connected) and not self._connected.is_set():
            # The feed's first connection: every minute since the history
            # loaded at start went unseen. Later connections add slots only.
            self._connected.set()
            covered = self._ctx.book.covered_through
        span = outage_span(event, self.config, covered_through=covered)
        if span is not None:
            first, last, reason = span
            self._worker.request_backfill(first, last, self._ctx.book.known(), reason)

    def request_backfill(
        self,
        first: datetime,
        last: datetime,
        *,
        tokens: Iterable[str] | None = None,
        reason: str = "requested",
    ) -> bool:
        """Fetch the minutes ``first`` to ``last`` (both included) again once
        they have ended, for ``tokens`` (default: every symbol); False when the
        range holds no session minute. Any thread: the engine asks this for a
        minute that dropped a stale tick, for instance."""
        known = self._ctx.book.known()
        wanted = known if tokens is None else known.intersection(tokens)
        return self._worker.request_backfill(first, last, wanted, reason)

    # The engine thread.

    def apply(self, books: Mapping[str, CandleBook]) -> Applied:
        """Merge the fetched candles whose minutes the books have closed.

        Call it from the thread that owns ``books`` (token -> book), after
        ``close_due``; candles of minutes still open wait for a later call.
        """
        return self._ctx.handoff.apply(books)

    def repair_gaps(self, books: Mapping[str, CandleBook], since: datetime) -> int:
        """Ask history for every session minute from a book's first candle
        since ``since`` to now that the book lacks (a restart after a crash
        finds the minutes the last run was still backfilling, or was down
        for); how many ranges were asked. Call it
        from the thread that owns ``books`` (token -> book)."""
        now = floor_minute(self.clock.now())
        asked = 0
        for token, book in books.items():
            held = next((c.start for c in book if c.start >= since), None)
            if held is None:
                continue
            for first, last in _runs(book.gaps(held, now)):
                asked += self.request_backfill(
                    first, last, tokens=[token], reason="gap in the stored candles"
                )
        return asked

    def warm_gaps(self, book: CandleBook) -> list[datetime]:
        """The minutes of the warm-up window ending now that ``book`` lacks."""
        count = self.config.warmup_candles
        return warm_gaps(book, self.calendar, self.clock.now(), count)

    # Any thread.

    def status(self) -> BootstrapStatus:
        running = self._worker.running
        return self._ctx.book.status(jobs=len(self._ctx.jobs), running=running)

    def _emit(self, event: BootstrapEvent) -> None:
        self._ctx.emit(event)

    def _log_settings(self) -> None:
        cfg = self.config
        self._ctx.log.info(
            "bootstrap: Starting: %d symbols, %d candles each; %d attempts, "
            "waiting %.0f s after a rate limit, %.0f s while the market is "
            "closed, %.0f s otherwise; re-bootstrap every %.0f s",
            len(self._ctx.book.symbols), cfg.warmup_candles, cfg.max_attempts,
            cfg.rate_limit_delay_s, cfg.market_closed_delay_s, cfg.other_delay_s,
            cfg.rebootstrap_interval_s,
        )  # fmt: skip


def _when(moment: datetime, now: datetime) -> str:
    """``12:35 IST`` today, ``2026-12-04 11:05 IST`` on another day."""
    local = moment.astimezone(IST)
    if local.date() == now.astimezone(IST).date():
        return local.strftime("%H:%M IST")
    return local.strftime("%Y-%m-%d %H:%M IST")


def _runs(minutes: list[datetime]) -> list[tuple[datetime, datetime]]:
    """Consecutive minutes as (first, last) ranges."""
    runs: list[tuple[datetime, datetime]] = []
    for minute in minutes:
        if runs and minute - runs[-1][1] == MINUTE:
            runs[-1] = (runs[-1][0], minute)
        else:
            runs.append((minute, minute))
    return runs
