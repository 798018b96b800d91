"""The engine: the one thread that owns trading state.

Each :meth:`Engine.step` does, in order:

1. take the ticks waiting in the feed's queue into the candle books (a tick
   for a minute already closed asks the bootstrap to backfill that minute);
2. close the minutes the clock says are over (symbols that stopped ticking
   close too), merge the broker's candles the bootstrap has fetched, and write
   the newly closed candles to the store;
3. run the strategy over the symbols whose candle closed, and turn its signals
   into orders through risk and the broker (paper or live);
4. apply live fills that came late, and protect the open positions: stops
   and targets on feed prices, or on prices polled over REST when the feed
   is down (degradation levels 3 and 4). Steps 3 and 4 run only while the
   market is open (09:15 to 15:30): no order goes out on the pre-open
   snapshot or on history merged before the open;
5. give the day's P&L to risk (the kill switch) and set the degradation
   level (:mod:`kit.trading.degradation`);
6. publish an :class:`EngineStatus` for the board and the UI.

Nothing here blocks for long: a REST poll happens at most every
``poll_interval_s``, and only while the feed is down with positions open. The
intraday square-off closes every position at ``square_off`` (15:15 IST) and
halts entries for the rest of the day.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any, Protocol

from kit.clock import IST, Clock, NseCalendar
from kit.market.bootstrap import CandleBootstrap
from kit.market.candle_book import CandleBook
from kit.market.candles import Candle, PriceTick, from_ms
from kit.ops.events import ActivityEvent, EventKind, Severity
from kit.store.base import PositionRecord, Store
from kit.trading.degradation import DegradationWatch, FeedView
from kit.trading.inbox import EngineInbox
from kit.trading.positions import (
    ExitRequest,
    Fill,
    Instrument,
    PositionBook,
    PositionMonitor,
    Side,
)
from kit.trading.risk import Risk, TradingState
from kit.trading.scanner import Scanner
from kit.trading.strategy import Signal

logger = logging.getLogger(__name__)


class TradingBroker(Protocol):
    """What the engine needs of the paper and the live broker."""

    def submit(
        self,
        instrument: Instrument,
        side: Side,
        quantity: int,
        last_price: float,
        *,
        reason: str,
        stop: float | None = None,
        target: float | None = None,
    ) -> Fill | None: ...

    def margin_available(self) -> float: ...


MIN_WAIT_REAL_S = 0.002  # a step's shortest wait for ticks, real seconds

PricePoller = Callable[[list[Instrument]], dict[str, float]]
"""Last prices (symbol -> price) of the given instruments, over REST."""


@dataclass(frozen=True)
class EngineConfig:
    poll_interval_s: float = 5.0  # REST prices while the feed is down
    tick_batch: int = 5_000  # ticks taken per step at most
    wait_s: float = 0.2  # how long a step waits for the first tick (clock time)
    square_off: time = time(15, 15)


@dataclass(frozen=True)
class EngineStatus:
    """What the engine publishes each step (read from any thread)."""

    at: datetime
    trading_state: str
    level: int
    level_reason: str
    positions: tuple[PositionRecord, ...]
    realised_pnl: float
    unrealised_pnl: float
    ticks: int
    candles_closed: int
    orders: int
    warm: int
    symbols: int
    last_prices: dict[str, float] = field(default_factory=dict)


class Engine:
    """Ticks to candles to signals to orders, and positions protected."""

    def __init__(
        self,
        *,
        clock: Clock,
        instruments: Mapping[str, Instrument],
        books: Mapping[str, CandleBook],
        ticks: queue.Queue[Any],
        scanner: Scanner,
        risk: Risk,
        broker: TradingBroker,
        positions: PositionBook,
        store: Store,
        emit: Callable[[ActivityEvent], object],
        degradation: DegradationWatch,
        feed: Callable[[], FeedView],
        bootstrap: CandleBootstrap | None = None,
        poll_prices: PricePoller | None = None,
        calendar: NseCalendar | None = None,
        config: EngineConfig | None = None,
    ) -> None:
        self.clock = clock
        self.instruments = dict(instruments)  # token -> instrument
        self.by_symbol = {i.symbol: i for i in self.instruments.values()}
        self.books = dict(books)  # token -> book
        self.ticks = ticks
        self.scanner, self.risk, self.broker = scanner, risk, broker
        self.positions = positions
        self.monitor = PositionMonitor(positions)
        self.store = store
        self.emit = emit
        self.degradation = degradation
        self.feed = feed
        self.bootstrap = bootstrap
        self.poll_prices = poll_prices
        self.calendar = calendar or NseCalendar()
        self.config = config or EngineConfig()
        self.last_prices: dict[str, float] = {}
        self.ticks_seen = self.candles_closed = self.orders = 0
        self._unsaved: dict[str, list[Candle]] = {}
        self._saved: dict[str, dict[int, Candle]] = {}  # token -> start_ms -> candle
        self._next_poll_mono = 0.0
        self._squared_off_day: str = ""
        self._day: date | None = None  # the trading day of the last step
        self._status_lock = threading.Lock()
        self._status: EngineStatus | None = None
        self.inbox = EngineInbox()

    # The loop.

    def run(self, stop: threading.Event) -> None:
        """Step until ``stop`` is set; a failing step is logged, never fatal."""
        while not stop.is_set():
            try:
                self.step()
            except Exception:
                logger.exception("Engine: step failed; going on")
                stop.wait(1.0)
        self.inbox.cancel_all()

    def step(self) -> EngineStatus:
        self.inbox.drain()  # what other threads asked of the engine's state
        feed = self.feed()  # one reading per step, for protection and the level
        closed = self._take_ticks()
        closed |= self._close_by_clock()
        self._save_candles()
        trading = self.calendar.is_open(self.clock.now())  # no order out of session
        if closed and trading:
            self._scan(closed)
        if trading:
            self._poll_open_orders()
            self._protect(feed_up=feed.connected)
        self._new_day_if_due()
        self.risk.on_day_pnl(self.positions.day_pnl())
        if trading:
            self._square_off_if_due()
        self.degradation.update(feed, self._warm_count(), len(self.books))
        return self._publish()

    def status(self) -> EngineStatus | None:
        with self._status_lock:
            return self._status

    # 1. Ticks.

    def _take_ticks(self) -> set[str]:
        closed: set[str] = set()
        try:
            tick = self.ticks.get(timeout=self._wait_real_s())
        except queue.Empty:
            return closed
        for _ in range(self.config.tick_batch):
            self._on_tick(tick, closed)
            try:
                tick = self.ticks.get_nowait()
            except queue.Empty:
                break
        return closed

    def _wait_real_s(self) -> float:
        """``wait_s`` of the clock in real seconds (a scaled clock's are
        shorter), so the steps keep pace with the clock; at least a few ms."""
        wait_s = self.config.wait_s
        if wait_s <= 0:
            return 0.0
        return max(wait_s / self.clock.speed, MIN_WAIT_REAL_S)

    def _on_tick(self, tick: Any, closed: set[str]) -> None:
        book = self.books.get(tick.token)
        if book is None or not isinstance(tick, PriceTick):
            return
        self.ticks_seen += 1
        self.last_prices[book.symbol] = tick.ltp
        stale = book.builder.counts.stale
        done = book.on_tick(tick)
        if done:
            self._closed(book, done, closed)
        if book.builder.counts.stale > stale and self.bootstrap is not None:
            minute = from_ms(tick.exchange_ts_ms)
            self.bootstrap.request_backfill(
                minute, minute, tokens=[tick.token], reason="late tick"
            )

    # 2. Closing, merging, saving.

    def _close_by_clock(self) -> set[str]:
        closed: set[str] = set()
        now_ms = self.clock.time_ms()
        for book in self.books.values():
            done = book.close_due(now_ms=now_ms)
            if done:
                self._closed(book, done, closed)
        if self.bootstrap is not None and self.bootstrap.apply(self.books).merged:
            self._mark_merged()
        return closed

    def _mark_merged(self) -> None:
        """Queue every held candle the store does not have as it is now."""
        for token, book in self.books.items():
            saved = self._saved.setdefault(token, {})
            changed = [c for c in book if saved.get(c.start_ms) != c]
            if changed:
                self._unsaved.setdefault(token, []).extend(changed)

    def _closed(
        self, book: CandleBook, candles: list[Candle], closed: set[str]
    ) -> None:
        self.candles_closed += len(candles)
        self._unsaved.setdefault(book.token, []).extend(candles)
        closed.add(book.token)

    def _save_candles(self) -> None:
        for token in list(self._unsaved):
            candles = self._unsaved[token]
            try:
                self.store.save_candles(token, candles)
            except Exception as exc:  # kept, and tried again next step
                logger.warning("Engine: candles of %s not saved yet: %s", token, exc)
                return
            del self._unsaved[token]
            saved = self._saved.setdefault(token, {})
            saved.update((c.start_ms, c) for c in candles)

    def restore_candles(self, since: datetime) -> int:
        """Load the store's candles from ``since`` into the books (after a
        restart), as already saved; the count loaded."""
        loaded = 0
        for token, book in self.books.items():
            candles = self.store.load_candles(token, since=since)
            book.restore(candles)
            self._saved.setdefault(token, {}).update((c.start_ms, c) for c in candles)
            loaded += len(candles)
        return loaded

    # 3. Signals.

    def _scan(self, tokens: set[str]) -> None:
        closed = {self.books[t].symbol: self.books[t] for t in sorted(tokens)}
        report = self.scanner.scan(closed)
        for signal in report.signals:
            self._on_signal(signal)

    def _on_signal(self, signal: Signal) -> None:
        instrument = self.by_symbol.get(signal.symbol)
        held = self.positions.get(signal.symbol)
        quantity = 0 if held is None else held.quantity
        if instrument is None:
            return
        if signal.side == "EXIT":
            if quantity and self.risk.check_exit(signal.symbol, protective=False):
                self._close(instrument, quantity, signal.price, "strategy exit")
            return
        if quantity:
            return  # one position per symbol; the monitor manages it
        price = self.last_prices.get(signal.symbol, signal.price)
        opened = len(self.positions.open_positions())
        decision = self.risk.check_entry(signal.symbol, price, opened)
        if not decision:
            return
        side: Side = "BUY" if signal.side == "BUY" else "SELL"
        self._send(
            instrument, side, decision.quantity, price,
            reason=signal.reason or "signal", stop=signal.stop, target=signal.target,
        )  # fmt: skip

    # 4. Late fills and protection.

    def _poll_open_orders(self) -> None:
        """Apply the fills of live orders accepted earlier and filled since
        (the live broker paces its own order-book reads; paper has none)."""
        poll = getattr(self.broker, "poll_open_orders", None)
        if poll is None:
            return
        try:
            poll()
        except Exception:
            logger.exception("Engine: open orders not polled")

    def _protect(self, *, feed_up: bool) -> None:
        open_positions = self.positions.open_positions()
        if not open_positions:
            return
        prices = self._protection_prices(open_positions, feed_up=feed_up)
        self.positions.mark(prices)
        for request in self.monitor.check(prices):
            self._exit(request)

    def _protection_prices(
        self, held: list[PositionRecord], *, feed_up: bool
    ) -> dict[str, float]:
        if feed_up or self.poll_prices is None:
            return dict(self.last_prices)
        now = self.clock.monotonic()
        if now < self._next_poll_mono:
            return dict(self.last_prices)
        self._next_poll_mono = now + self.config.poll_interval_s
        wanted = [self.by_symbol[p.symbol] for p in held if p.symbol in self.by_symbol]
        try:
            polled = self.poll_prices(wanted)
        except Exception as exc:
            logger.warning("Engine: REST prices unavailable: %s", exc)
            return dict(self.last_prices)
        self.last_prices.update(polled)
        return dict(self.last_prices)

    def _exit(self, request: ExitRequest) -> None:
        instrument = self.by_symbol.get(request.symbol)
        if instrument is None:
            return
        held = self.positions.get(request.symbol)
        if held is None or not held.quantity:
            return
        self._close(instrument, held.quantity, request.price, request.reason)

    def _close(
        self, instrument: Instrument, quantity: int, price: float, reason: str
    ) -> None:
        wait_s = self.risk.exit_wait_s()
        if wait_s > 0:
            self.clock.sleep(wait_s)
        side: Side = "SELL" if quantity > 0 else "BUY"
        self._send(instrument, side, abs(quantity), price, reason=reason)

    def _send(
        self,
        instrument: Instrument,
        side: Side,
        quantity: int,
        price: float,
        *,
        reason: str,
        stop: float | None = None,
        target: float | None = None,
    ) -> None:
        self.risk.order_sent()
        self.orders += 1
        try:
            self.broker.submit(
                instrument, side, quantity, price, reason=reason, stop=stop,
                target=target,
            )  # fmt: skip
        except Exception:
            logger.exception("Engine: order for %s failed", instrument.symbol)

    # 5. The end of the day.

    def _new_day_if_due(self) -> None:
        """At the first step of a new trading day: the kill switch, the
        square-off and the order windows reset, yesterday's flat positions go."""
        today = self.clock.now().astimezone(IST).date()
        if today == self._day or not self.calendar.is_trading_day(today):
            return
        first_day = self._day is None
        self._day = today
        opened = self.calendar.session_open(today).timestamp()
        self.positions.new_day(before_s=opened)  # flat ones of earlier days
        if first_day:
            return  # the bot's first day: the state it started with stands
        self.risk.new_day()
        self.risk.set_state(TradingState.ACTIVE, "a new day", source="square_off")
        logger.info("Engine: a new trading day, %s", today.isoformat())

    def _square_off_if_due(self) -> None:
        now = self.clock.now().astimezone(IST)
        day = now.date().isoformat()
        if now.time() < self.config.square_off or self._squared_off_day == day:
            return
        if not self.calendar.is_trading_day(now.date()):
            return
        self._squared_off_day = day
        self.risk.set_state(
            TradingState.REDUCING, "intraday square-off time", source="square_off"
        )
        held = self.positions.open_positions()
        text = f"square-off at {self.config.square_off:%H:%M}: {len(held)} to close"
        self._event(EventKind.TRADING_STATE_CHANGED, Severity.INFO, text)
        for position in held:
            instrument = self.by_symbol.get(position.symbol)
            price = self.last_prices.get(position.symbol, position.avg_price)
            if instrument is not None:
                self._close(instrument, position.quantity, price, "square-off")

    # 6. Status.

    def _warm_count(self) -> int:
        warmup = self.scanner.strategy.warmup
        return sum(1 for book in self.books.values() if len(book) >= warmup)

    def _publish(self) -> EngineStatus:
        status = EngineStatus(
            at=self.clock.now(),
            trading_state=self.risk.state.value,
            level=self.degradation.level,
            level_reason=self.degradation.reason,
            positions=tuple(self.positions),
            realised_pnl=self.positions.realised(),
            unrealised_pnl=self.positions.unrealised(),
            ticks=self.ticks_seen,
            candles_closed=self.candles_closed,
            orders=self.orders,
            warm=self._warm_count(),
            symbols=len(self.books),
            last_prices=dict(self.last_prices),
        )
        with self._status_lock:
            self._status = status
        return status

    def _event(self, kind: EventKind, severity: Severity, text: str) -> None:
        at = datetime.fromtimestamp(self.clock.time(), UTC)
        self.emit(ActivityEvent(at, kind, severity, text, {}))
