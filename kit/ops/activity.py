"""The activity feed: every event to its subscribers at once, and to the store.

:class:`ActivityFeed` takes :class:`~kit.ops.events.ActivityEvent` objects from
any thread (the feed's, the health monitor's, the engine's): :meth:`record`
makes one, :meth:`add` takes one made elsewhere, and the ``on_*`` methods take
the kit's own events (feed, session, bootstrap, orders, REST retries) and
translate them with :class:`~kit.ops.activity_adapters.EventAdapter`, which
pairs the events of one incident. Wiring::

    activity = ActivityFeed(store, clock, subscribers=[notifier.notify])
    ResilientFeed(..., on_event=activity.on_feed_event)
    BrokerSession(..., events=activity.on_session_event)
    AngelClient(..., observer=activity.on_retry)
    OrderPlacer(..., on_event=activity.on_order_event)
    CandleBootstrap(..., on_event=activity.on_bootstrap_event)

What happens to an event, in the caller's thread:

1. its text and string fields are masked (:mod:`kit.logsafe`): no secret
   reaches a subscriber or the store;
2. it is handed to every subscriber (the notifier, the UI), which must be
   quick; a subscriber that raises is logged and skipped;
3. it is kept in a ring of recent events (:meth:`recent`, for the board) and
   queued for the store (:mod:`kit.ops.activity_writer`): no store call is
   made on the caller's thread, so a slow or dead store never blocks it.
   While the store is down, events wait in a bounded buffer and are written,
   in order, when it answers again.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Collection, Iterable
from datetime import datetime
from typing import Any

from kit import logsafe
from kit.broker.feed_events import FeedEvent
from kit.broker.orders import OrderEvent
from kit.broker.retry import RetryNotice
from kit.broker.session_types import SessionEvent
from kit.clock import Clock
from kit.market.bootstrap_events import BootstrapEvent
from kit.ops.activity_adapters import EventAdapter
from kit.ops.activity_writer import EventStore, StoreWriter, WriterStatus
from kit.ops.events import ActivityEvent, EventKind, Severity

logger = logging.getLogger(__name__)

Subscriber = Callable[[ActivityEvent], None]

__all__ = ["ActivityFeed", "EventStore", "Subscriber", "WriterStatus", "mask_event"]


class ActivityFeed:
    """Typed events to subscribers and the store; see the module docstring.

    ``on_event`` and ``subscribers`` receive every event. ``buffer_limit``
    bounds the events kept while the store is down; ``batch_size`` the events
    of one write; ``retry_min_s`` to ``retry_max_s`` the waits between writes
    to a dead store; ``recent_limit`` the events :meth:`recent` remembers.
    """

    def __init__(
        self,
        store: EventStore,
        clock: Clock,
        *,
        on_event: Subscriber | None = None,
        subscribers: Iterable[Subscriber] = (),
        adapter: EventAdapter | None = None,
        buffer_limit: int = 10_000,
        batch_size: int = 200,
        retry_min_s: float = 1.0,
        retry_max_s: float = 30.0,
        recent_limit: int = 500,
    ) -> None:
        self.store = store
        self.clock = clock
        self.adapter = adapter or EventAdapter(clock)
        given = [*subscribers, *([on_event] if on_event else [])]
        self._subscribers: tuple[Subscriber, ...] = tuple(given)
        self._lock = threading.Lock()
        self._recent: deque[ActivityEvent] = deque(maxlen=recent_limit)
        self._told_closed = False
        self._writer = StoreWriter(
            store,
            clock,
            emit=self.record,
            buffer_limit=buffer_limit,
            batch_size=batch_size,
            retry_min_s=retry_min_s,
            retry_max_s=retry_max_s,
        )

    # Taking events.

    def record(
        self, kind: EventKind | str, severity: Severity, text: str, **fields: Any
    ) -> ActivityEvent:
        """Make an event now and :meth:`add` it; return it (masked)."""
        event = ActivityEvent(self.clock.now(), str(kind), severity, text, fields)
        return self.add(event)

    def add(self, event: ActivityEvent) -> ActivityEvent:
        """Mask ``event``, hand it to the subscribers and queue it for the store.

        Never blocks on the store and never raises for it. Returns the event as
        it was kept (masked).
        """
        event = mask_event(event)
        self.adapter.observe(event)
        with self._lock:
            self._recent.append(event)
        if not self._writer.push(event) and not self._told_closed:
            self._told_closed = True
            logger.warning(
                "activity: closed; %s and later events not stored", event.kind
            )
        self._deliver(event)
        return event

    def subscribe(self, subscriber: Subscriber) -> None:
        """Hand every later event to ``subscriber`` too."""
        with self._lock:
            self._subscribers = (*self._subscribers, subscriber)

    def unsubscribe(self, subscriber: Subscriber) -> None:
        with self._lock:
            self._subscribers = tuple(s for s in self._subscribers if s != subscriber)

    # The kit's own events, translated: callbacks for the parts that emit them.

    def on_feed_event(self, event: FeedEvent) -> None:
        self._translate(self.adapter.from_feed_event, event)

    def on_session_event(self, event: SessionEvent) -> None:
        self._translate(self.adapter.from_session_event, event)

    def on_bootstrap_event(self, event: BootstrapEvent) -> None:
        self._translate(self.adapter.from_bootstrap_event, event)

    def on_order_event(self, event: OrderEvent) -> None:
        self._translate(self.adapter.from_order_event, event)

    def on_retry(self, notice: RetryNotice) -> None:
        """The retry observer of :class:`~kit.broker.client.AngelClient`."""
        self._translate(self.adapter.from_retry_notice, notice)

    def reconnect_requested(
        self, reason: str, *, silent_s: float | None = None
    ) -> ActivityEvent:
        """Record that the health monitor asked the feed to reconnect (opens a
        ``ws_stale`` incident that the feed's reconnection closes)."""
        return self.add(self.adapter.reconnect_requested(reason, silent_s=silent_s))

    # Reading.

    def query(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        kinds: Collection[str] | None = None,
        limit: int | None = None,
    ) -> list[ActivityEvent]:
        """Events with ``since <= at < until`` of ``kinds``, oldest first: the
        store's and those still buffered. With ``limit``, the newest ``limit``.

        Raises :class:`~kit.errors.StoreUnavailable` when the store does not
        answer; :meth:`recent` needs no store.
        """
        held = self._writer.held()  # before the store, so nothing slips between
        stored = self.store.events(since=since, until=until, kinds=kinds, limit=limit)
        seen = {event.id for event in stored}
        wanted = set(kinds) if kinds is not None else None
        extra = [
            event
            for event in held
            if event.id not in seen
            and (since is None or event.at >= since)
            and (until is None or event.at < until)
            and (wanted is None or event.kind in wanted)
        ]
        merged = sorted([*stored, *extra], key=lambda event: event.at)
        return merged[-limit:] if limit is not None and limit > 0 else merged

    def recent(
        self,
        limit: int = 50,
        *,
        min_severity: Severity = Severity.INFO,
        kinds: Collection[str] | None = None,
    ) -> list[ActivityEvent]:
        """The newest events this process saw, from memory, oldest first."""
        with self._lock:
            events = list(self._recent)
        chosen = [
            event
            for event in events
            if event.severity.rank >= min_severity.rank
            and (kinds is None or event.kind in kinds)
        ]
        return chosen[-limit:] if limit > 0 else []

    def status(self) -> WriterStatus:
        """Buffered, dropped, written and rejected events; the store's outage."""
        return self._writer.status()

    # Flushing and closing.

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Write what is buffered now; True when everything is stored. Returns
        False at once when the store is down (see :meth:`StoreWriter.flush`)."""
        return self._writer.flush(timeout_s)

    def close(self, timeout_s: float = 10.0) -> None:
        """Write what the store takes, then stop. Later events still reach the
        subscribers but not the store. Idempotent."""
        self._writer.close(timeout_s)

    # Internals.

    def _translate(
        self, convert: Callable[[Any], ActivityEvent | None], item: object
    ) -> None:
        try:
            event = convert(item)
        except Exception:  # a translation bug must not reach the emitter
            logger.exception("activity: cannot translate %s", type(item).__name__)
            return
        if event is not None:
            self.add(event)

    def _deliver(self, event: ActivityEvent) -> None:
        for subscriber in self._subscribers:
            try:
                subscriber(event)
            except Exception:
                logger.exception("activity: a subscriber failed on %s", event.kind)


def mask_event(event: ActivityEvent) -> ActivityEvent:
    """``event`` with its text and every string in its fields masked."""
    text = logsafe.mask(event.text)
    fields = {key: _mask_value(value) for key, value in event.fields.items()}
    if text == event.text and fields == event.fields:
        return event
    return ActivityEvent(
        event.at, event.kind, event.severity, text, fields, id=event.id
    )


def _mask_value(value: Any) -> Any:
    if isinstance(value, str):
        return logsafe.mask(value)
    if isinstance(value, list | tuple):
        return [_mask_value(item) for item in value]
    if isinstance(value, dict):
        return {key: _mask_value(item) for key, item in value.items()}
    return value
