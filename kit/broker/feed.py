"""ResilientFeed: Angel One's WebSocket 2.0 market feed, kept alive all day.

::

    feed = ResilientFeed(settings.feed_url, credentials, clock=clock)
    feed.subscribe(["2885", "3045"], mode=Mode.QUOTE)
    feed.start()
    tick = feed.ticks.get()          # the engine's thread, one consumer
    feed.status()                    # a frozen snapshot, from any thread
    feed.stop()

What it promises (DESIGN.md, "The feed"):

- One supervisor thread and loop per connection
  (:mod:`kit.broker.feed_connection`); no reconnect from inside a callback; no
  reconnect after :meth:`ResilientFeed.stop`, even during a backoff wait.
- Backoff with full jitter, first retry immediate, capped, the attempt counter
  reset only by a stable connection (:mod:`kit.broker.backoff`).
- A text ``ping`` every 10 s and a deadline of 20 s for a ``pong`` or data;
  tokens judged stale or silent only in market hours
  (:mod:`kit.broker.feed_watch`).
- One subscription registry, spread over at most 3 connections of at most 1000
  token-mode pairs, replayed after every reconnect, E1001/E1002 acted on
  (:mod:`kit.broker.feed_subscriptions`).
- An upgrade refused with 401 asks the credentials provider for fresh tokens;
  a 429 waits longer (:mod:`kit.broker.feed_credentials`).
- A bad frame or a failing callback is counted and logged, never fatal; ticks
  go to a bounded queue, drops counted and reported
  (:mod:`kit.broker.feed_output`).
- Typed events (:mod:`kit.broker.feed_events`) and a :class:`FeedStatus`.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
from collections.abc import Callable, Iterable
from types import TracebackType

from kit.broker.backoff import BackoffPolicy, RandomSource
from kit.broker.feed_config import FeedConfig
from kit.broker.feed_connection import ConnectionSupervisor
from kit.broker.feed_credentials import (
    CredentialCache,
    CredentialsProvider,
    FeedCredentials,
)
from kit.broker.feed_events import FeedEvent, SubscriptionsUnplaced
from kit.broker.feed_output import EventSink, TickOutput
from kit.broker.feed_session import FeedContext
from kit.broker.feed_state import ConnState, Counters, FeedState, FeedStatus, feed_state
from kit.broker.feed_subscriptions import Registry, SubKey, SubscriptionBook, sub_keys
from kit.broker.routes import ExchangeType, Mode
from kit.broker.wire import Tick
from kit.clock import Clock, NseCalendar, RealClock

__all__ = [
    "BackoffPolicy",
    "FeedConfig",
    "FeedCredentials",
    "FeedState",
    "FeedStatus",
    "ResilientFeed",
    "SubKey",
]

_logger = logging.getLogger(__name__)


class ResilientFeed:
    """The market feed: subscriptions in, ticks and events out; see the module."""

    def __init__(
        self,
        url: str,
        credentials: CredentialsProvider,
        *,
        config: FeedConfig | None = None,
        clock: Clock | None = None,
        calendar: NseCalendar | None = None,
        rng: RandomSource | None = None,
        on_tick: Callable[[Tick], None] | None = None,
        on_event: Callable[[FeedEvent], None] | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self.config = config or FeedConfig()
        clock = clock or RealClock()
        log = logger or _logger
        events = EventSink(
            on_event, keep=self.config.events_kept, logger=log, clock=clock
        )
        output = TickOutput(
            self.config.queue_maxsize, on_tick, events=events, logger=log, clock=clock
        )
        book = SubscriptionBook(
            max_connections=self.config.max_connections,
            max_per_connection=self.config.max_per_connection,
            on_change=self._book_changed,
        )
        self._ctx = FeedContext(
            url=url,
            config=self.config,
            clock=clock,
            calendar=calendar or NseCalendar(),
            rng=rng or random.Random(),
            credentials=CredentialCache(credentials),
            book=book,
            output=output,
            events=events,
            logger=log,
        )
        self._lock = threading.Lock()
        self._supervisors: list[ConnectionSupervisor] = []
        self._started_s: float | None = None
        self._stopped = False

    @property
    def ticks(self) -> queue.Queue[Tick]:
        """Decoded ticks, for one consumer; bounded by ``config.queue_maxsize``."""
        return self._ctx.output.queue

    # Subscriptions.

    def subscribe(
        self,
        tokens: Iterable[str],
        *,
        mode: Mode = Mode.LTP,
        exchange_type: ExchangeType = ExchangeType.NSE_CM,
    ) -> list[SubKey]:
        """Want ``tokens`` in ``mode``; return the pairs no connection has room for.

        Those wait, reported, and are placed as soon as room frees. Works before
        and after :meth:`start`; running connections subscribe within a poll.
        """
        unplaced = self._ctx.book.add(sub_keys(tokens, mode, exchange_type))
        if unplaced:
            cfg = self.config
            self._ctx.logger.warning(
                "feed: %d token-mode pairs beyond %d connections of %d; they wait",
                len(unplaced), cfg.max_connections, cfg.max_per_connection,
            )  # fmt: skip
            now_s = self._ctx.clock.time()
            self._ctx.events.emit(SubscriptionsUnplaced("feed", now_s, tuple(unplaced)))
        return unplaced

    def unsubscribe(
        self,
        tokens: Iterable[str],
        *,
        mode: Mode = Mode.LTP,
        exchange_type: ExchangeType = ExchangeType.NSE_CM,
    ) -> int:
        """Stop wanting ``tokens`` in ``mode``; return how many pairs went."""
        return self._ctx.book.remove(sub_keys(tokens, mode, exchange_type))

    def registry(self) -> Registry:
        """Every wanted pair as mode -> exchange type -> tokens."""
        return self._ctx.book.registry()

    # Life cycle.

    def start(self) -> None:
        """Start the connections the subscriptions need (at least one)."""
        with self._lock:
            if self._stopped:
                raise RuntimeError("a stopped feed cannot be started again")
            if self._started_s is not None:
                return
            self._started_s = self._ctx.clock.monotonic()
        self._log_settings()
        self._ensure_supervisors()

    def stop(self, timeout_real_s: float = 5.0) -> tuple[str, ...]:
        """Stop every connection and join its thread; idempotent.

        Returns the names of threads still running after ``timeout_real_s``
        (real seconds) each; they are daemons and are logged.
        """
        with self._lock:
            first = not self._stopped
            self._stopped = True
            supervisors = list(self._supervisors)
        if first:
            for supervisor in supervisors:
                supervisor.request_stop()
        stuck = tuple(s.thread_name for s in supervisors if not s.join(timeout_real_s))
        if stuck:
            self._ctx.logger.warning(
                "feed: threads still running after stop: %s", ", ".join(stuck)
            )
        elif first:
            self._ctx.logger.info("feed: Stopped")
        return stuck

    def reconnect(self) -> None:
        """Close every connection and make it again (the health monitor's lever)."""
        with self._lock:
            supervisors = list(self._supervisors)
        for supervisor in supervisors:
            supervisor.request_reconnect()

    def __enter__(self) -> ResilientFeed:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    # Observing.

    def status(self) -> FeedStatus:
        """A frozen snapshot of the feed and each connection."""
        with self._lock:
            supervisors = list(self._supervisors)
            started_s, stopped = self._started_s, self._stopped
        connections = tuple(s.status() for s in supervisors)
        states: list[ConnState] = [c.state for c in connections]
        counters = sum((c.counters for c in connections), Counters())
        now_s = self._ctx.clock.monotonic()
        return FeedStatus(
            state=feed_state(started_s is not None, stopped, states),
            uptime_s=0.0 if started_s is None else now_s - started_s,
            connections=connections,
            counters=counters,
            unplaced=len(self._ctx.book.unplaced()),
            queue_size=self.ticks.qsize(),
            queue_maxsize=self.ticks.maxsize,
        )

    def events(self) -> list[FeedEvent]:
        """The most recent events, oldest first."""
        return self._ctx.events.snapshot()

    # Inside.

    def _book_changed(self) -> None:
        self._ensure_supervisors()

    def _ensure_supervisors(self) -> None:
        """One supervisor for every slot in use, and at least one."""
        with self._lock:
            if self._stopped or self._started_s is None:
                return
            needed = max(self._ctx.book.slots_in_use(), default=0) + 1
            new = []
            while len(self._supervisors) < needed:
                supervisor = ConnectionSupervisor(len(self._supervisors), self._ctx)
                self._supervisors.append(supervisor)
                new.append(supervisor)
        for supervisor in new:
            supervisor.start()

    def _log_settings(self) -> None:
        cfg, policy = self.config, self.config.backoff
        attempts = "no limit" if policy.max_attempts is None else policy.max_attempts
        self._ctx.logger.info(
            "feed: Starting: %d token-mode pairs; ping every %.0f s, deadline "
            "%.0f s; backoff %.1f s x%.1f up to %.0f s, attempts %s",
            len(self._ctx.book), cfg.ping_interval_s, cfg.liveness_deadline_s,
            policy.initial_delay_s, policy.multiplier, policy.max_delay_s, attempts,
        )  # fmt: skip
