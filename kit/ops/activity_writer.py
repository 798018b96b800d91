"""The activity feed's writer: events to the store, off the callers' threads.

:class:`StoreWriter` keeps events in an :class:`~kit.ops.activity_buffer.EventBuffer`
and a thread of its own appends them to the store in batches, oldest first.
:meth:`StoreWriter.push` does no I/O, so a slow or dead store never blocks
the thread that records an event.

When the store raises :class:`~kit.errors.StoreUnavailable`, the batch goes
back to the front of the buffer, a ``store_unavailable`` event opens a
``store_down`` incident (once per outage), and the writer tries again after
1 s, 2 s, 4 s ... (capped at ``retry_max_s``, on the injected clock), or at
once when :meth:`StoreWriter.flush` asks. The first write that succeeds
records ``store_restored`` with the outage's length; it queues behind the
backlog, so the store receives every buffered event in order, then the
restore. Writes are idempotent by event id (the store's promise), so a batch
written twice is stored once. A store that rejects a record
(:class:`~kit.errors.StoreError`) has that one event logged and skipped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from kit.clock import IST, Clock
from kit.errors import StoreError, StoreUnavailable
from kit.ops.activity_buffer import EventBuffer
from kit.ops.events import (
    ActivityEvent,
    EventKind,
    FaultKind,
    Phase,
    Severity,
    new_incident_id,
)

logger = logging.getLogger(__name__)

Emit = Callable[..., Any]
"""How the writer records its own events: ``emit(kind, severity, text, **fields)``."""


class EventStore(Protocol):
    """What the activity feed needs of a :class:`~kit.store.base.Store`."""

    def append_events(self, events: Sequence[ActivityEvent]) -> None: ...

    def events(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        kinds: Collection[str] | None = None,
        limit: int | None = None,
    ) -> list[ActivityEvent]: ...


@dataclass(frozen=True)
class WriterStatus:
    """Events ``buffered`` (not yet stored), ``dropped`` from a full buffer,
    ``written`` to the store, ``rejected`` by it, and since when the store has
    been down (None: it answers)."""

    buffered: int
    dropped: int
    written: int
    rejected: int
    store_down_since: datetime | None


@dataclass(frozen=True)
class _Outage:
    began_s: float
    incident: str
    dropped_before: int


class StoreWriter:
    """A bounded buffer and the thread that empties it into the store."""

    def __init__(
        self,
        store: EventStore,
        clock: Clock,
        *,
        emit: Emit,
        buffer_limit: int = 10_000,
        batch_size: int = 200,
        retry_min_s: float = 1.0,
        retry_max_s: float = 30.0,
    ) -> None:
        if batch_size < 1 or retry_min_s <= 0 or retry_max_s < retry_min_s:
            raise ValueError("need batch_size >= 1 and 0 < retry_min_s <= retry_max_s")
        self.store = store
        self.clock = clock
        self.batch_size = batch_size
        self.retry_min_s = retry_min_s
        self.retry_max_s = retry_max_s
        self._emit = emit

        self._cond = threading.Condition()
        self._buffer = EventBuffer(buffer_limit)
        self._poke = threading.Event()
        self._outage: _Outage | None = None
        self._failures = 0  # failed writes, ever
        self._failures_in_row = 0
        self._written = 0
        self._rejected = 0
        self._closing = False
        self._busy = False  # a batch is being written, or its outcome told

        self._thread = threading.Thread(
            target=self._run, name="kit-activity-writer", daemon=True
        )
        self._thread.start()

    # The callers' side.

    def push(self, event: ActivityEvent) -> bool:
        """Queue ``event`` for the store; False once the writer is closed."""
        with self._cond:
            if self._closing:
                return False
            dropped = self._buffer.push(event)
            self._cond.notify_all()
            first_drop = dropped is not None and self._buffer.dropped_total == 1
        if first_drop:
            logger.warning("activity: buffer full; dropping the oldest info events")
        return True

    def held(self) -> list[ActivityEvent]:
        """The events not stored yet, in order of arrival."""
        with self._cond:
            return self._buffer.events()

    def status(self) -> WriterStatus:
        with self._cond:
            outage = self._outage
            down = (
                None if outage is None else datetime.fromtimestamp(outage.began_s, IST)
            )
            return WriterStatus(
                buffered=len(self._buffer),
                dropped=self._buffer.dropped_total,
                written=self._written,
                rejected=self._rejected,
                store_down_since=down,
            )

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Write what is buffered now; True when the buffer is empty.

        Waits at most ``timeout_s`` real seconds, and returns False at once
        when a write fails (the store is down; the events stay buffered).
        """
        deadline = time.monotonic() + timeout_s
        with self._cond:
            failures = self._failures
            self._poke.set()
            self._cond.notify_all()
            while len(self._buffer) or self._busy:
                left = deadline - time.monotonic()
                stopped = not self._thread.is_alive()
                failed = self._failures > failures and not self._busy
                if failed or left <= 0 or stopped:
                    return False
                self._cond.wait(left)
            return True

    def close(self, timeout_s: float = 10.0) -> None:
        """Write what the store takes, then stop the thread. Idempotent."""
        with self._cond:
            if self._closing:
                return
            self._closing = True
            self._poke.set()
            self._cond.notify_all()
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            logger.warning(
                "activity: writer thread did not stop within %.1f s", timeout_s
            )
        left = len(self._buffer)
        if left:
            logger.warning("activity: %d events were not stored (store down)", left)

    # The writer's thread.

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._buffer.waiting and not self._closing:
                    self._cond.wait()
                batch = self._buffer.take(self.batch_size)
                self._busy = bool(batch)
            if not batch:
                return  # closing, and nothing left
            written = self._write(batch)
            with self._cond:
                self._busy = False
                self._cond.notify_all()
            if written:
                continue
            if self._closing:
                return
            delay_s = self.retry_min_s * 2 ** (self._failures_in_row - 1)
            self.clock.wait(self._poke, min(self.retry_max_s, delay_s))
            self._poke.clear()

    def _write(self, batch: list[ActivityEvent]) -> bool:
        """Append ``batch``; False (and the batch back in the buffer) on failure."""
        try:
            self.store.append_events(batch)
        except StoreUnavailable as exc:
            self._failed(exc)
            return False
        except StoreError as exc:
            logger.warning("activity: the store refused a batch (%s)", exc)
            return self._write_each(batch)
        except Exception as exc:  # a store that did not translate its error
            logger.exception("activity: the store failed")
            self._failed(StoreUnavailable(f"{type(exc).__name__}: {exc}"))
            return False
        self._stored(len(batch))
        return True

    def _write_each(self, batch: list[ActivityEvent]) -> bool:
        rejected = 0
        for event in batch:
            try:
                self.store.append_events([event])
            except StoreUnavailable as exc:
                self._failed(exc)
                return False
            except StoreError as exc:
                rejected += 1
                logger.error(
                    "activity: the store rejected %s %s: %s", event.kind, event.id, exc
                )
        with self._cond:
            self._rejected += rejected
        self._stored(len(batch) - rejected)
        return True

    def _failed(self, error: StoreUnavailable) -> None:
        now_s = self.clock.time()
        with self._cond:
            self._buffer.put_back()
            self._failures += 1
            self._failures_in_row += 1
            first = self._outage is None
            if self._outage is None:
                incident = new_incident_id(FaultKind.STORE_DOWN)
                self._outage = _Outage(now_s, incident, self._buffer.dropped_total)
            outage, buffered = self._outage, len(self._buffer)
            self._cond.notify_all()
        if not first:
            return  # told once per outage

        logger.warning("activity: store unavailable (%s); events kept in memory", error)
        self._emit(
            EventKind.STORE_UNAVAILABLE,
            Severity.WARNING,
            f"store unavailable ({error}); events kept in memory until it answers",
            fault=FaultKind.STORE_DOWN.value,
            incident=outage.incident,
            phase=Phase.DETECTED.value,
            began_s=outage.began_s,
            buffered=buffered,
        )

    def _stored(self, count: int) -> None:
        with self._cond:
            self._buffer.confirm()
            self._written += count
            self._failures_in_row = 0
            outage, self._outage = self._outage, None
            backlog = len(self._buffer)
            dropped = self._buffer.dropped_total
            self._cond.notify_all()
        if outage is None:
            return

        outage_s = self.clock.time() - outage.began_s
        lost = dropped - outage.dropped_before
        logger.info(
            "activity: store answers again after %.1f s; writing %d buffered events",
            outage_s, backlog,
        )  # fmt: skip
        self._emit(
            EventKind.STORE_RESTORED,
            Severity.INFO,
            f"store answers again after {outage_s:.1f} s; writing {backlog} "
            f"buffered events ({lost} dropped while it was down)",
            fault=FaultKind.STORE_DOWN.value,
            incident=outage.incident,
            phase=Phase.RECOVERED.value,
            began_s=outage.began_s,
            outage_s=round(outage_s, 3),
            backlog=backlog,
            dropped=lost,
        )
