"""Where the feed's output goes: ticks to one bounded queue, events to a sink.

:class:`TickOutput` puts decoded ticks on a ``queue.Queue`` (a
:class:`TickQueue`, which takes the ticks of one read in one batch) for one
consumer (the engine), without ever blocking the feed: when the queue is full a
tick is dropped, counted, and reported (a warning and a
:class:`~kit.broker.feed_events.TicksDropped` event, at most one every
``REPORT_INTERVAL_S``). An optional ``on_tick`` callback runs on the feed thread
inside a guard: its exceptions are counted and logged with their traceback,
and never stop the feed.

:class:`EventSink` keeps the last events and hands each to an optional
callback, guarded the same way. :class:`Throttle` keeps repeated warnings to
one line per interval.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from collections.abc import Callable

from kit.broker.feed_events import FeedEvent, TicksDropped
from kit.broker.feed_state import ConnStats
from kit.broker.wire import Tick
from kit.clock import Clock

REPORT_INTERVAL_S = 10.0


class Throttle:
    """Lets one report through per ``interval_s``; counts the ones held back."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._next_s = float("-inf")
        self._held_back = 0
        self._lock = threading.Lock()

    def allow(self, now_s: float) -> int | None:
        """None to stay quiet; else how many were held back since the last one."""
        with self._lock:
            if now_s < self._next_s:
                self._held_back += 1
                return None
            held_back, self._held_back = self._held_back, 0
            self._next_s = now_s + self.interval_s
            return held_back


class EventSink:
    """The last ``keep`` events, and a guarded callback for each new one."""

    def __init__(
        self,
        callback: Callable[[FeedEvent], None] | None,
        *,
        keep: int,
        logger: logging.Logger,
        clock: Clock,
    ) -> None:
        self._callback = callback
        self._events: deque[FeedEvent] = deque(maxlen=keep)
        self._logger = logger
        self._clock = clock
        self._throttle = Throttle(REPORT_INTERVAL_S)
        self.callback_errors = 0

    def emit(self, event: FeedEvent) -> None:
        self._events.append(event)
        if self._callback is None:
            return
        try:
            self._callback(event)
        except Exception:
            self.callback_errors += 1
            held_back = self._throttle.allow(self._clock.monotonic())
            if held_back is not None:
                self._logger.exception(
                    "feed: event callback failed on %s (%d more failures not shown)",
                    event.kind, held_back,
                )  # fmt: skip

    def snapshot(self) -> list[FeedEvent]:
        return list(self._events)


class TickQueue(queue.Queue[Tick]):
    """A ``queue.Queue`` that also takes a batch under one lock, with one wake-up.

    Waking the consumer once per batch rather than once per tick saves a thread
    switch per tick (the GIL changes hands each time).
    """

    def put_batch(self, ticks: list[Tick]) -> int:
        """Put as many of ``ticks`` as there is room for; return how many not."""
        with self.not_full:
            room = len(ticks) if self.maxsize <= 0 else self.maxsize - self._qsize()
            taken = ticks if room >= len(ticks) else ticks[: max(0, room)]
            self.queue.extend(taken)
            self.unfinished_tasks += len(taken)
            if taken:
                self.not_empty.notify()
        return len(ticks) - len(taken)


class TickOutput:
    """The tick queue, the optional tick callback, and the drop count."""

    def __init__(
        self,
        maxsize: int,
        on_tick: Callable[[Tick], None] | None,
        *,
        events: EventSink,
        logger: logging.Logger,
        clock: Clock,
    ) -> None:
        self.queue = TickQueue(maxsize)
        self.on_tick = on_tick
        self._events = events
        self._logger = logger
        self._clock = clock
        self._lock = threading.Lock()
        self.drops = 0
        self._unreported = 0
        self._drop_throttle = Throttle(REPORT_INTERVAL_S)
        self._error_throttle = Throttle(REPORT_INTERVAL_S)

    def put(self, tick: Tick, stats: ConnStats, name: str) -> None:
        """Hand one tick to the queue and the callback; never blocks or raises."""
        self.enqueue([tick], stats, name)
        self.call(tick, stats, name)

    def enqueue(self, ticks: list[Tick], stats: ConnStats, name: str) -> None:
        """Queue ``ticks``; those beyond the bound are dropped and counted."""
        dropped = self.queue.put_batch(ticks)
        if dropped:
            stats.drops += dropped
            self._dropped(name, dropped)

    def call(self, tick: Tick, stats: ConnStats, name: str) -> None:
        """Run the tick callback, if any, inside a guard."""
        if self.on_tick is None:
            return
        try:
            self.on_tick(tick)
        except Exception:
            stats.callback_errors += 1
            held_back = self._error_throttle.allow(self._clock.monotonic())
            if held_back is not None:
                self._logger.exception(
                    "%s: Tick callback failed (%d more failures not shown)",
                    name, held_back,
                )  # fmt: skip

    def _dropped(self, name: str, count: int) -> None:
        with self._lock:
            self.drops += count
            self._unreported += count
            total = self.drops
            if self._drop_throttle.allow(self._clock.monotonic()) is None:
                return
            since_last, self._unreported = self._unreported, 0
        self._logger.warning(
            "%s: Tick queue full (maxsize %d): %d ticks dropped, %d in all",
            name, self.queue.maxsize, since_last, total,
        )  # fmt: skip
        self._events.emit(TicksDropped(name, self._clock.time(), total, since_last))
