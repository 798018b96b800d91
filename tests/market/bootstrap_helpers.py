"""Helpers for the bootstrap's tests: a broker client on the simulator with its
own retries off, an event recorder, an engine thread that owns the books, and
comparisons with the simulator's ground truth."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from kit.broker.retry import RetryPolicy
from kit.broker.session import Credentials
from kit.broker.stack import BrokerStack, open_stack
from kit.broker.wire import LtpTick, QuoteTick, SnapQuoteTick
from kit.clock import Clock
from kit.market.bootstrap import Applied, CandleBootstrap
from kit.market.bootstrap_events import BootstrapEvent
from kit.market.candle_book import CandleBook
from kit.market.candles import ClosePolicy, from_ms
from kit.market.history import Symbol
from kit.sim.instruments import NSE_INSTRUMENTS
from kit.store import SqliteStore
from tests.broker.feed_helpers import wait_until

E = TypeVar("E", bound=BootstrapEvent)

EQUITIES = [
    Symbol(i.symbol, i.token) for i in NSE_INSTRUMENTS if i.symbol.endswith("-EQ")
]
MINUTE = timedelta(minutes=1)


def open_client(sim: Any, path: Path, **options: Any) -> BrokerStack:
    """The REST stack on ``sim``, logged in, with the client's own retries off:
    the bootstrap's attempts are the only ones."""
    account = sim.account
    credentials = Credentials(
        api_key=account.api_key,
        client_code=account.client_code,
        mpin=account.mpin,
        totp_secret=account.totp_secret,
    )
    options.setdefault("pacer_margin_s", 0.3)
    return open_stack(
        sim.rest_url, credentials, SqliteStore(path, sim.clock), sim.clock,
        policy=RetryPolicy(max_retries=0), **options,
    )  # fmt: skip


class Recorder:
    """Every event, in order; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.events: list[Any] = []

    def __call__(self, event: Any) -> None:
        with self._lock:
            self.events.append(event)

    def of(self, kind: type[E]) -> list[E]:
        with self._lock:
            return [e for e in self.events if isinstance(e, kind)]

    def wait_for(
        self, kind: type[E], count: int = 1, timeout_real_s: float = 10.0
    ) -> list[E]:
        wait_until(lambda: len(self.of(kind)) >= count, timeout_real_s,
                   f"{count} {kind.__name__} events")  # fmt: skip
        return self.of(kind)


def in_thread(target: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    """Run ``target`` in a daemon thread; its result lands in the list."""
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(target()), daemon=True)
    thread.start()
    return thread, result


def books_for(
    symbols: Iterable[Symbol], policy: ClosePolicy | None = None
) -> dict[str, CandleBook]:
    return {
        s.token: CandleBook(s.token, symbol=s.symbol, policy=policy) for s in symbols
    }


def values(candle: Any) -> tuple[Any, ...]:
    return (candle.start, candle.open, candle.high, candle.low, candle.close,
            candle.volume)  # fmt: skip


def mismatches(sim: Any, book: CandleBook) -> list[tuple[Any, Any]]:
    """Every closed candle of ``book`` that differs from the simulator's truth,
    as (held, true) pairs; a held minute with no true candle pairs with None."""
    held = list(book)
    if not held:
        return []
    truth = sim.market.candles(book.token, held[0].start, held[-1].start + MINUTE)
    by_start = {c.start: c for c in truth}
    return [
        (c, by_start.get(c.start))
        for c in held
        if c.start not in by_start or values(c) != values(by_start[c.start])
    ]


PriceTick = LtpTick | QuoteTick | SnapQuoteTick


@dataclass
class Engine:
    """The engine thread of the tests: the only writer of the books.

    It takes ticks from ``ticks``, closes minutes by the clock, and applies what
    the bootstrap fetched. A tick that comes after its minute closed (the
    engine fell behind) asks the bootstrap to fetch that minute again.
    """

    ticks: queue.Queue[Any]
    books: dict[str, CandleBook]
    boot: CandleBootstrap
    clock: Clock
    stale_repairs: int = 0
    revisions: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    failure: BaseException | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="engine", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
            assert not self._thread.is_alive()
        if self.failure is not None:
            raise self.failure

    def step(self, now_ms: int | None = None) -> Applied:
        """Drain the queue, close by the clock, apply the bootstrap's candles."""
        while True:
            try:
                tick = self.ticks.get_nowait()
            except queue.Empty:
                break
            self.on_tick(tick)
        now_ms = self.clock.time_ms() if now_ms is None else now_ms
        for book in self.books.values():
            book.close_due(now_ms=now_ms)
        applied = self.boot.apply(self.books)
        self.revisions += len(applied.revisions)
        return applied

    def on_tick(self, tick: Any) -> None:
        book = self.books.get(tick.token)
        if book is None or not isinstance(tick, PriceTick):
            return
        stale = book.builder.counts.stale
        book.on_tick(tick)
        if book.builder.counts.stale > stale:
            self.stale_repairs += 1
            minute = from_ms(tick.exchange_ts_ms)
            self.boot.request_backfill(minute, minute, tokens=[tick.token],
                                       reason="stale tick")  # fmt: skip

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self.step()
                self._stop.wait(0.005)
        except BaseException as exc:  # reported by stop()
            self.failure = exc
