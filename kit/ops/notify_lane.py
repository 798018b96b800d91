"""A channel's lane: its bounded queue, pacing, retries and worker thread.

:class:`Lane` is the machinery behind :class:`kit.ops.notify.Notifier` (read
its module docstring for the rules): offers coalesce or queue under a lock and
never wait; :meth:`Lane.step` delivers the next message when the channel's
pacing and retry waits allow, with the I/O outside the lock; the worker loops on
``step`` and waits on the injected clock in between. :class:`RetryPolicy` says
how long to wait after a failed attempt and how many attempts a message gets.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from kit import logsafe
from kit.clock import Clock
from kit.errors import DeliveryError
from kit.ops.events import ActivityEvent, EventKind, Severity
from kit.ops.notify_channels import Channel, Notification

logger = logging.getLogger(__name__)

FailureHandler = Callable[["DeliveryFailure"], None]


@dataclass(frozen=True)
class DeliveryFailure:
    """A message given up on: what it was, where, why. Never holds a secret."""

    channel: str
    kind: str
    severity: Severity
    reason: str
    attempts: int
    count: int
    event_id: str
    status: int | None = None

    def to_event(self, at: datetime) -> ActivityEvent:
        """The ``notification_failed`` event the kit records for this failure."""
        text = (
            f"{self.channel} notification of {self.kind} not delivered after "
            f"{self.attempts} attempt(s): {self.reason}"
        )
        fields = {
            "channel": self.channel,
            "failed_kind": self.kind,
            "attempts": self.attempts,
            "status": self.status,
            "event_id": self.event_id,
        }
        kind = EventKind.NOTIFICATION_FAILED
        return ActivityEvent(at, kind, Severity.WARNING, text, fields)


@dataclass
class ChannelStats:
    """Counts of one channel since the notifier was made."""

    queued: int = 0  # waiting now
    sent: int = 0
    coalesced: int = 0  # events merged into a queued message
    dropped: int = 0  # pushed out of a full queue
    retried: int = 0  # attempts that failed and were scheduled again
    failed: int = 0  # given up after the last attempt, or refused
    unsent: int = 0  # still queued when the notifier stopped


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts per message and the waits between them (see the module doc)."""

    max_attempts: int = 4
    backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    max_retry_after_s: float = 300.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.backoff_s < 0 or self.max_backoff_s < self.backoff_s:
            raise ValueError("need 0 <= backoff_s <= max_backoff_s")
        if self.max_retry_after_s < 0:
            raise ValueError("max_retry_after_s must be >= 0")

    def delay_s(self, attempts: int, error: DeliveryError) -> float:
        """The wait after the ``attempts``-th attempt failed with ``error``."""
        if error.retry_after_s is not None:
            return min(error.retry_after_s, self.max_retry_after_s)
        return min(self.max_backoff_s, self.backoff_s * 2.0 ** (attempts - 1))


class Lane:
    """One channel's queue, pacing, retries and worker thread."""

    def __init__(
        self,
        channel: Channel,
        clock: Clock,
        *,
        max_queued: int,
        retry: RetryPolicy,
        on_failure: FailureHandler | None,
    ) -> None:
        self.channel = channel
        self._clock = clock
        self._max_queued = max_queued
        self._retry = retry
        self._on_failure = on_failure

        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._wake = threading.Event()
        self._queue: deque[Notification] = deque()
        self._index: dict[tuple[str, str], Notification] = {}
        self._next_at = -float("inf")  # on clock.monotonic()
        self._busy = False
        self._closing = False
        self._abandoned = False
        self.thread: threading.Thread | None = None
        self._stats = ChannelStats()

    # Taking events in: under the lock, never waiting.

    def offer(self, event: ActivityEvent) -> bool:
        with self._lock:
            if self._closing:
                return False
            dropped = self._enqueue(Notification(event))
            total_dropped = self._stats.dropped
        self._wake.set()

        if dropped is not None and _is_power_of_ten(total_dropped):
            logger.warning(
                "Notification queue of %s full: dropped a %s %s message "
                "(%d dropped so far)",
                self.channel.name,
                dropped.severity.value,
                dropped.event.kind,
                total_dropped,
            )
        return True

    def _enqueue(self, message: Notification) -> Notification | None:
        same = self._index.get(message.key)
        if same is not None:
            same.merge(message)
            self._stats.coalesced += 1
            return None

        dropped = None
        if len(self._queue) >= self._max_queued:
            # min() keeps the first of equals: the oldest of the least severe.
            candidates = [*self._queue, message]
            dropped = min(candidates, key=lambda m: m.severity.rank)
            self._stats.dropped += 1
            if dropped is message:
                return dropped
            self._queue.remove(dropped)
            del self._index[dropped.key]
        self._queue.append(message)
        self._index[message.key] = message
        return dropped

    # Delivering: one message at a time, the I/O outside the lock.

    def step(self) -> tuple[bool, float | None]:
        """Deliver the next message if it is due: (delivered one, wait before
        the next is due, None when nothing is queued or the lane is done)."""
        with self._lock:
            if self._abandoned or self._busy or not self._queue:
                return False, None
            wait_s = self._next_at - self._clock.monotonic()
            if wait_s > 0:
                return False, wait_s
            message = self._queue.popleft()
            del self._index[message.key]
            self._busy = True

        self._deliver(message)
        return True, 0.0

    def _deliver(self, message: Notification) -> None:
        started = self._clock.monotonic()
        message.attempts += 1
        error = None
        try:
            self.channel.send(message)
        except DeliveryError as exc:
            error = exc
        except Exception as exc:  # a channel's bug must not end the lane
            text = logsafe.mask(str(exc))[:200]
            error = DeliveryError(f"{type(exc).__name__}: {text}", retryable=False)

        outcome = self._settle(message, started, error)
        if isinstance(outcome, DeliveryFailure):
            self._report(outcome)
        elif outcome is not None:
            logger.info(
                "Notification on %s failed (%s); retrying in %.1f s (attempt %d/%d)",
                self.channel.name,
                error,
                outcome,
                message.attempts + 1,
                self._retry.max_attempts,
            )

    def _settle(
        self, message: Notification, started: float, error: DeliveryError | None
    ) -> DeliveryFailure | float | None:
        """Count the attempt; the failure given up on, the wait before a retry,
        or None (delivered)."""
        with self._lock:
            self._busy = False
            self._next_at = max(self._next_at, started + self.channel.min_interval_s)
            try:
                return self._outcome(message, error)
            finally:
                self._changed.notify_all()

    def _outcome(
        self, message: Notification, error: DeliveryError | None
    ) -> DeliveryFailure | float | None:
        if error is None:
            self._stats.sent += 1
            return None
        if self._abandoned:
            self._stats.unsent += 1
            return None

        if error.retryable and message.attempts < self._retry.max_attempts:
            delay_s = self._retry.delay_s(message.attempts, error)
            self._next_at = max(self._next_at, self._clock.monotonic() + delay_s)
            self._requeue(message)
            self._stats.retried += 1
            return delay_s

        self._stats.failed += 1
        return DeliveryFailure(
            channel=self.channel.name,
            kind=message.event.kind,
            severity=message.severity,
            reason=str(error),
            attempts=message.attempts,
            count=message.count,
            event_id=message.event.id,
            status=error.status,
        )

    def _requeue(self, message: Notification) -> None:
        same = self._index.get(message.key)
        if same is not None:  # a twin arrived while this one was being sent
            message.merge(same)
            self._queue.remove(same)
            self._stats.coalesced += 1
        self._queue.appendleft(message)
        self._index[message.key] = message

    def _report(self, failure: DeliveryFailure) -> None:
        logger.warning(
            "Notification on %s not delivered after %d attempt(s): %s (%s %s)",
            failure.channel,
            failure.attempts,
            failure.reason,
            failure.severity.value,
            failure.kind,
        )
        if self._on_failure is None or failure.kind == EventKind.NOTIFICATION_FAILED:
            return
        try:
            self._on_failure(failure)
        except Exception:
            logger.exception("on_failure raised for a %s failure", failure.channel)

    # The worker and its end.

    def start(self) -> None:
        with self._lock:
            if self.thread is not None or self._closing:
                return
            name = f"kit-notify-{self.channel.name}"
            self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            while True:
                self._wake.clear()  # before looking, so no offer is missed
                delivered, wait_s = self.step()
                if delivered:
                    continue
                if self._done():
                    return
                self._clock.wait(self._wake, wait_s)
        except Exception:
            logger.exception("Notification worker of %s stopped", self.channel.name)
        finally:
            self.channel.close()
            with self._lock:
                self._changed.notify_all()

    def _done(self) -> bool:
        with self._lock:
            return self._abandoned or (self._closing and not self._queue)

    def close(self) -> None:
        """Take no more events; the worker ends once the queue is empty."""
        with self._lock:
            self._closing = True
        self._wake.set()

    def abandon(self) -> None:
        """Count what is still queued as unsent, and end the worker now."""
        with self._lock:
            self._abandoned = self._closing = True
            self._stats.unsent += len(self._queue)
            self._queue.clear()
            self._index.clear()
            self._changed.notify_all()
        self._wake.set()

    def wait_idle(self, deadline: float) -> bool:
        with self._changed:
            while self._queue or self._busy:
                left_s = deadline - time.monotonic()
                if left_s <= 0:
                    return False
                self._changed.wait(left_s)
            return True

    def stats(self) -> ChannelStats:
        with self._lock:
            return replace(self._stats, queued=len(self._queue))


def _is_power_of_ten(count: int) -> bool:
    while count >= 10 and count % 10 == 0:
        count //= 10
    return count == 1
