"""What the health monitor reads, as narrow callables, and adapters for the
parts that exist.

:class:`HealthSources` holds one optional callable per part of the bot. The
monitor calls each at every sample from its own thread; a source that is
missing, or raises, leaves its section unknown for that sample. The Bot wires
the real parts; :func:`sources_for` wires those this module knows:

- a :class:`~kit.broker.feed.ResilientFeed` (or anything with ``status()``,
  ``registry()`` and ``reconnect()``): :func:`feed_reading`;
- a :class:`~kit.broker.session.BrokerSession`: its ``status``;
- a :class:`~kit.market.bootstrap.CandleBootstrap`: :func:`bootstrap_coverage`;
  or the engine's candle books: :func:`books_coverage`;
- stored positions: :func:`positions_health`.

Candle books belong to the engine thread and are not locked. Reading them
from the monitor's thread only looks up dictionary entries and lengths, which
is safe in CPython, but the figures may be a few ticks behind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from kit.broker.feed_state import ConnState, FeedState, FeedStatus, TokenId
from kit.broker.feed_subscriptions import Registry
from kit.broker.session_types import SessionStatus
from kit.clock import Clock, NseCalendar
from kit.market.bootstrap_state import BootstrapStatus, WarmupMode
from kit.market.candle_book import CandleBook
from kit.market.warmup import closed_minutes
from kit.ops.health_process import ProcessReading, sample_process
from kit.ops.health_snapshot import CandleHealth, PositionPnl, PositionsHealth
from kit.store.base import PositionRecord

_CONNECTED = (FeedState.CONNECTED, FeedState.DEGRADED)


@dataclass(frozen=True)
class FeedReading:
    """The feed as the monitor needs it.

    ``uptime_s``: how long the youngest connection has been up (0 when none);
    ``subscribed``: every token wanted, on its exchange segment;
    ``last_tick_at``: each token's last tick, epoch seconds.
    """

    state: str
    connected: bool
    uptime_s: float
    reconnects: int
    subscribed: frozenset[TokenId]
    last_tick_at: Mapping[TokenId, float]


@dataclass(frozen=True)
class ScanStats:
    """The scanner: when it last scanned (epoch seconds), its average scan time
    and how many scans it made."""

    last_scan_at_s: float | None
    average_scan_s: float | None
    scans: int = 0


@dataclass(frozen=True)
class OperationCounts:
    """Operations (REST calls, orders, frames) and failed ones since start; the
    monitor takes differences over its window."""

    operations: int
    errors: int


@dataclass(frozen=True)
class HealthSources:
    """The monitor's readings, each optional; see the module."""

    feed: Callable[[], FeedReading] | None = None
    reconnect: Callable[[], None] | None = None
    session: Callable[[], SessionStatus] | None = None
    candles: Callable[[], CandleHealth] | None = None
    positions: Callable[[], PositionsHealth] | None = None
    scans: Callable[[], ScanStats] | None = None
    operations: Callable[[], OperationCounts] | None = None
    process: Callable[[], ProcessReading] | None = sample_process


class WatchedFeed(Protocol):
    """What the monitor needs of a feed (ResilientFeed has it)."""

    def status(self) -> FeedStatus: ...

    def registry(self) -> Registry: ...

    def reconnect(self) -> None: ...


class HasStatus(Protocol):
    def status(self) -> SessionStatus: ...


class HasBootstrapStatus(Protocol):
    def status(self) -> BootstrapStatus: ...


def feed_reading(feed: WatchedFeed) -> FeedReading:
    """Read ``feed.status()`` and its registry into a :class:`FeedReading`."""
    status = feed.status()
    up = [c.uptime_s for c in status.connections if c.state is ConnState.CONNECTED]
    subscribed = {
        (exchange_type, token)
        for by_exchange in feed.registry().values()
        for exchange_type, tokens in by_exchange.items()
        for token in tokens
    }
    return FeedReading(
        state=status.state.value,
        connected=status.state in _CONNECTED,
        uptime_s=min(up) if up else 0.0,
        reconnects=status.counters.reconnects,
        subscribed=frozenset(subscribed),
        last_tick_at=dict(status.last_tick_at),
    )


def bootstrap_coverage(bootstrap: HasBootstrapStatus, now: datetime) -> CandleHealth:
    """Warm symbols by the bootstrap's account: those with history, and those
    built from ticks once their ``warm_at`` has passed. Skipped ones do not
    count."""
    status = bootstrap.status()
    total = status.symbols - len(status.skipped)
    warm = len(status.with_history)
    ticks_warm = status.warm_at is not None and now >= status.warm_at
    if status.mode is WarmupMode.TICKS and ticks_warm:
        warm += len(status.from_ticks)
    return CandleHealth(warm=min(warm, total), total=total)


BOOK_SETTLE_S = 20.0
"""A minute counts towards warmth this long after it ended (the close policy's
clock grace, 5 s, plus the engine's step and the monitor's sampling)."""


def books_coverage(
    books: Mapping[str, CandleBook],
    *,
    calendar: NseCalendar,
    now: datetime,
    warmup_candles: int,
    settle_s: float = BOOK_SETTLE_S,
) -> CandleHealth:
    """Warm books (a candle for each of the last ``warmup_candles`` session
    minutes that have ended ``settle_s`` ago: a book closes a minute a few
    seconds after it ends), candles held, and the fewest in one book."""
    window = closed_minutes(calendar, now - timedelta(seconds=settle_s), warmup_candles)
    held = [len(book) for book in books.values()]
    warm = sum(
        all(book.get(minute) is not None for minute in window)
        for book in books.values()
    )
    return CandleHealth(
        warm=warm,
        total=len(held),
        candles=sum(held),
        fewest=min(held) if held else None,
    )


def positions_health(records: Iterable[PositionRecord]) -> PositionsHealth:
    """Open positions (quantity not 0) and their P&L from stored records;
    unrealised P&L needs a ``last_price``, realised counts closed ones too."""
    open_pnl: list[PositionPnl] = []
    realised = 0.0
    for record in records:
        realised += record.realised_pnl
        if record.quantity == 0:
            continue
        last = record.last_price if record.last_price is not None else record.avg_price
        pnl = (last - record.avg_price) * record.quantity
        open_pnl.append(PositionPnl(record.symbol, record.quantity, pnl))
    return PositionsHealth(
        count=len(open_pnl),
        unrealised_pnl=sum(p.pnl for p in open_pnl),
        realised_pnl=realised,
        positions=tuple(open_pnl),
    )


def sources_for(
    *,
    clock: Clock,
    calendar: NseCalendar | None = None,
    feed: WatchedFeed | None = None,
    session: HasStatus | None = None,
    bootstrap: HasBootstrapStatus | None = None,
    books: Callable[[], Mapping[str, CandleBook]] | None = None,
    warmup_candles: int = 200,
    positions: Callable[[], PositionsHealth] | None = None,
    scans: Callable[[], ScanStats] | None = None,
    operations: Callable[[], OperationCounts] | None = None,
    process: Callable[[], ProcessReading] | None = sample_process,
) -> HealthSources:
    """Sources for the parts given; candle books, when given, win over the
    bootstrap's account (they are measured)."""
    calendar = calendar or NseCalendar()
    candles: Callable[[], CandleHealth] | None = None
    if books is not None:
        get_books = books

        def candles() -> CandleHealth:
            return books_coverage(
                get_books(), calendar=calendar, now=clock.now(),
                warmup_candles=warmup_candles,
            )  # fmt: skip

    elif bootstrap is not None:
        boot = bootstrap

        def candles() -> CandleHealth:
            return bootstrap_coverage(boot, clock.now())

    watched = feed
    return HealthSources(
        feed=None if watched is None else (lambda: feed_reading(watched)),
        reconnect=None if watched is None else watched.reconnect,
        session=None if session is None else session.status,
        candles=candles,
        positions=positions,
        scans=scans,
        operations=operations,
        process=process,
    )
