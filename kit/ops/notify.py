"""Notifications: activity events sent to people, queued and flood-controlled.

:class:`Notifier` takes :class:`~kit.ops.events.ActivityEvent` objects from any
thread. :meth:`Notifier.notify` only filters and enqueues: no I/O, no waiting,
never an exception. Each channel (:mod:`kit.ops.notify_channels`: the console,
Telegram) has a lane of its own, a bounded queue and a daemon worker thread,
so a slow Telegram never delays the console.

Which events notify: severity at least ``min_severity`` (warning by default);
when ``kinds`` is given, only those kinds; never those in ``exclude_kinds``.

Flood control, per channel (one Telegram channel is one chat):

- pacing: sends start at least the channel's ``min_interval_s`` apart on the
  injected clock (1 s for Telegram, none for the console);
- coalescing: an event with the same kind and text as a message still queued
  joins that message instead of queueing another; the message then ends in
  ``(xN)`` and carries the highest severity and the last time seen. A message
  already being sent takes no more events;
- a bounded queue of ``max_queued`` messages: when full, the oldest message of
  the lowest severity goes (the new one, when it is less severe than all
  queued), counted as dropped. The caller never waits.

Retries: a 429 waits the ``retry_after`` Telegram asked for (capped at
``max_retry_after_s``) before the channel sends again; other transient failures
(5xx, refused, timeout) wait ``backoff_s``, then twice that, and so on up to
``max_backoff_s`` (no jitter: one sender per chat has no herd to spread);
``max_attempts`` bounds the attempts of a message, 429s included. A refusal
(another 4xx) is not retried. A message given up on is counted, logged in one
line (never with the token) and reported to ``on_failure`` as a
:class:`DeliveryFailure`, unless it is itself a ``notification_failed`` event:
a failure report cannot loop back into another.

Time: pacing and retry waits are on the injected clock. :meth:`Notifier.drain`
delivers in the calling thread (instant and exact on a
:class:`~kit.clock.ManualClock` with ``auto_advance=True``); :meth:`Notifier.start`
runs the workers; :meth:`Notifier.stop` refuses new events, lets the workers
deliver what they can within a deadline in real seconds, then leaves the rest
(counted as unsent) and any worker stuck in a request (a daemon, it ends with
the request's own timeout).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, TextIO

from kit.clock import Clock
from kit.errors import DeliveryError
from kit.ops.events import ActivityEvent, Severity
from kit.ops.notify_channels import (
    Channel,
    ConsoleChannel,
    Notification,
    TelegramChannel,
)
from kit.ops.notify_lane import (
    ChannelStats,
    DeliveryFailure,
    FailureHandler,
    Lane,
    RetryPolicy,
)

if TYPE_CHECKING:
    import requests

    from kit.config import Settings

__all__ = [
    "Channel",
    "ChannelStats",
    "ConsoleChannel",
    "DeliveryError",
    "DeliveryFailure",
    "Notification",
    "Notifier",
    "RetryPolicy",
    "TelegramChannel",
]

logger = logging.getLogger(__name__)


class Notifier:
    """Filters activity events and delivers them through its channels.

    ``min_severity``, ``kinds`` and ``exclude_kinds`` choose the events (see
    the module docstring); ``max_queued`` bounds each channel's queue;
    ``retry`` sets attempts and waits; ``on_failure`` hears of every message
    given up on (it is called on a worker thread and must not block).
    """

    def __init__(
        self,
        channels: Iterable[Channel],
        *,
        clock: Clock,
        min_severity: Severity | str = Severity.WARNING,
        kinds: Iterable[str] | None = None,
        exclude_kinds: Iterable[str] = (),
        max_queued: int = 100,
        retry: RetryPolicy | None = None,
        on_failure: FailureHandler | None = None,
    ) -> None:
        chosen = list(channels)
        names = [channel.name for channel in chosen]
        if len(set(names)) != len(names):
            raise ValueError(f"channel names must differ: {names}")
        if max_queued < 1:
            raise ValueError("max_queued must be at least 1")

        self.min_severity = Severity(min_severity)
        self.kinds = None if kinds is None else frozenset(str(k) for k in kinds)
        self.exclude_kinds = frozenset(str(k) for k in exclude_kinds)
        self._clock = clock
        self._lanes = [
            Lane(
                channel,
                clock,
                max_queued=max_queued,
                retry=retry or RetryPolicy(),
                on_failure=on_failure,
            )
            for channel in chosen
        ]
        self._state_lock = threading.Lock()
        self._started = self._stopped = False

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        clock: Clock,
        *,
        console: bool = True,
        console_stream: TextIO | None = None,
        on_failure: FailureHandler | None = None,
        session: requests.Session | None = None,
        kinds: Iterable[str] | None = None,
        exclude_kinds: Iterable[str] = (),
        max_queued: int = 100,
        retry: RetryPolicy | None = None,
    ) -> Notifier:
        """A notifier on the console (unless ``console`` is False) and, when
        both a bot token and a chat id are set, on Telegram, with the least
        severity of ``settings.notify_min_severity``."""
        channels: list[Channel] = []
        if console:
            channels.append(ConsoleChannel(console_stream))
        token, chat_id = settings.telegram_bot_token, settings.telegram_chat_id
        if token is not None and chat_id:
            telegram = TelegramChannel(
                token,
                chat_id,
                api_url=settings.telegram_api_url,
                connect_timeout_s=settings.connect_timeout_s,
                read_timeout_s=settings.read_timeout_s,
                session=session,
            )
            channels.append(telegram)
        return cls(
            channels,
            clock=clock,
            min_severity=Severity(settings.notify_min_severity),
            kinds=kinds,
            exclude_kinds=exclude_kinds,
            max_queued=max_queued,
            retry=retry,
            on_failure=on_failure,
        )

    def __repr__(self) -> str:
        channels = ", ".join(repr(lane.channel) for lane in self._lanes)
        return f"Notifier([{channels}], min_severity={self.min_severity.value})"

    @property
    def channel_names(self) -> list[str]:
        return [lane.channel.name for lane in self._lanes]

    def wants(self, event: ActivityEvent) -> bool:
        """Whether ``event`` passes the severity and kind filters."""
        if event.severity.rank < self.min_severity.rank:
            return False
        if self.kinds is not None and event.kind not in self.kinds:
            return False
        return event.kind not in self.exclude_kinds

    def notify(self, event: ActivityEvent) -> bool:
        """Queue ``event`` on every channel if it passes the filters.

        Returns whether it was queued. Never blocks and never raises.
        """
        try:
            if self._stopped or not self.wants(event):
                return False
            offered = [lane.offer(event) for lane in self._lanes]
            return any(offered)
        except Exception:
            logger.exception("Notification not queued")
            return False

    __call__ = notify

    def start(self) -> Notifier:
        """Start a worker thread per channel. Idempotent; not after stop()."""
        with self._state_lock:
            if self._stopped:
                raise RuntimeError("a stopped Notifier cannot start again")
            self._started = True
        for lane in self._lanes:
            lane.start()
        return self

    def drain(self) -> int:
        """Deliver everything queued in the calling thread, waiting on the
        clock for pacing and retries; returns the number of send attempts.

        Only without workers (before :meth:`start`). On a ManualClock that does
        not auto-advance, another thread must advance it.
        """
        if self._started:
            raise RuntimeError(
                "drain() is for a notifier whose workers are not running"
            )
        attempts = 0
        while True:
            waits: list[float] = []
            for lane in self._lanes:
                delivered, wait_s = lane.step()
                attempts += delivered
                if wait_s is not None:
                    waits.append(wait_s)
            if not waits:
                return attempts
            if min(waits) > 0:
                self._clock.sleep(min(waits))

    def wait_idle(self, timeout_real_s: float = 5.0) -> bool:
        """Block until every queue is empty and no send is in flight, at most
        ``timeout_real_s`` real seconds; True when idle."""
        deadline = time.monotonic() + timeout_real_s
        return all(lane.wait_idle(deadline) for lane in self._lanes)

    def stop(self, timeout_s: float = 3.0) -> bool:
        """Take no more events, deliver what can be within ``timeout_s`` real
        seconds, then give up the rest. True when every worker has ended.

        Idempotent: a second call only reports whether the workers have ended.
        """
        with self._state_lock:
            again, self._stopped = self._stopped, True
        if again:
            return not any(t.is_alive() for t in self._threads())

        deadline = time.monotonic() + timeout_s
        for lane in self._lanes:
            lane.close()
        for lane in self._lanes:
            if lane.thread is not None:
                lane.thread.join(max(0.0, deadline - time.monotonic()))

        stuck = []
        for lane in self._lanes:
            lane.abandon()
            if lane.thread is None:
                lane.channel.close()  # a running worker closes its own channel
            elif lane.thread.is_alive():
                stuck.append(lane.thread.name)
        self._log_stop(stuck, timeout_s)
        return not stuck

    def _log_stop(self, stuck: list[str], timeout_s: float) -> None:
        if stuck:
            logger.warning(
                "Notifier did not stop within %.1f s: %s still sending",
                timeout_s,
                ", ".join(stuck),
            )
        unsent = {name: s.unsent for name, s in self.stats().items() if s.unsent}
        if unsent:
            logger.warning("Notifier stopped with messages unsent: %s", unsent)

    def _threads(self) -> list[threading.Thread]:
        return [lane.thread for lane in self._lanes if lane.thread is not None]

    def stats(self) -> dict[str, ChannelStats]:
        """Counts per channel name (copies)."""
        return {lane.channel.name: lane.stats() for lane in self._lanes}
