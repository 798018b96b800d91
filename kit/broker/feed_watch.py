"""Is the feed alive, and is every token ticking? Pure bookkeeping, no I/O.

:class:`Liveness` keeps one connection's heartbeat: when the last message of
any kind arrived, when the last ``ping`` left, and whether the deadline for a
``pong`` or data has passed.

:class:`TokenWatch` keeps, per subscription, the time of its last tick and
judges, in market hours only:

- verification: after every (re)subscribe each pair must tick within
  ``window_s``; a silent one is requested again once, and reported silent when
  it stays silent for another window;
- staleness: a pair that ticked before and has been quiet for
  ``stale_after_s`` of market time is reported once, until it ticks again
  (quiet before the open does not count: the clock starts at the open).

Outside market hours nothing is judged, and the verification windows start
again from the moment of judging, so they run from the open.

Times are seconds on one monotonic clock, passed in by the caller.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from kit.broker.feed_subscriptions import SubKey


class Liveness:
    """One connection's heartbeat state; not thread-safe (its session owns it)."""

    def __init__(self, ping_interval_s: float, deadline_s: float, now_s: float) -> None:
        self.ping_interval_s = ping_interval_s
        self.deadline_s = deadline_s
        self.last_message_s = now_s
        self.last_ping_s = now_s

    def heard(self, now_s: float) -> None:
        """Anything arrived: a tick, a text frame, a control frame."""
        self.last_message_s = now_s

    def ping_due(self, now_s: float) -> bool:
        return now_s - self.last_ping_s >= self.ping_interval_s

    def pinged(self, now_s: float) -> None:
        self.last_ping_s = now_s

    def silent_for_s(self, now_s: float) -> float:
        return max(0.0, now_s - self.last_message_s)

    def expired(self, now_s: float) -> bool:
        """No pong and no data within the deadline."""
        return self.silent_for_s(now_s) >= self.deadline_s


@dataclass
class _Pending:
    since_s: float
    asked_again: bool = False


@dataclass(frozen=True)
class Verdict:
    """What one judgement found; every list may be empty."""

    ask_again: list[SubKey] = field(default_factory=list)
    silent: list[SubKey] = field(default_factory=list)
    stale: list[SubKey] = field(default_factory=list)


class TokenWatch:
    """Last tick per pair, verification after (re)subscribes, staleness.

    Thread-safe: the session thread writes, ``status()`` readers copy.
    """

    def __init__(self, window_s: float, stale_after_s: float) -> None:
        self.window_s = window_s
        self.stale_after_s = stale_after_s
        self._lock = threading.Lock()
        self._last_s: dict[SubKey, float] = {}
        self._pending: dict[SubKey, _Pending] = {}
        self._stale: set[SubKey] = set()
        self._silent: set[SubKey] = set()
        self._closed_seen = False  # the market was judged closed at least once
        self._open_since_s: float | None = None  # when it was then seen to open

    def expect(self, keys: Iterable[SubKey], now_s: float) -> None:
        """``keys`` were just (re)subscribed: each owes a tick within the window."""
        with self._lock:
            for key in keys:
                self._pending[key] = _Pending(now_s)

    def forget(self, keys: Iterable[SubKey]) -> None:
        """``keys`` are no longer held here: expect nothing of them."""
        with self._lock:
            for key in keys:
                self._pending.pop(key, None)
                self._stale.discard(key)
                self._silent.discard(key)

    def seen(self, key: SubKey, now_s: float) -> None:
        """A tick of ``key`` arrived."""
        with self._lock:
            self._last_s[key] = now_s
            if self._pending:
                self._pending.pop(key, None)
            if self._stale:
                self._stale.discard(key)
            if self._silent:
                self._silent.discard(key)

    def judge(
        self, now_s: float, *, market_open: bool, held: Iterable[SubKey]
    ) -> Verdict:
        """Verification and staleness of the pairs ``held``, in market hours."""
        with self._lock:
            if not market_open:
                self._closed_seen, self._open_since_s = True, None
                for pending in self._pending.values():
                    pending.since_s, pending.asked_again = now_s, False
                return Verdict()
            if self._closed_seen and self._open_since_s is None:
                self._open_since_s = now_s
            ask_again, silent = self._verify(now_s)
            stale = self._find_stale(now_s, held)
        return Verdict(ask_again, silent, stale)

    def last_tick_s(self) -> dict[SubKey, float]:
        """The monotonic time of each pair's last tick."""
        with self._lock:
            return dict(self._last_s)

    def counts(self) -> tuple[int, int, int]:
        """Pairs pending verification, silent, stale."""
        with self._lock:
            return len(self._pending), len(self._silent), len(self._stale)

    # Under the lock.

    def _verify(self, now_s: float) -> tuple[list[SubKey], list[SubKey]]:
        ask_again: list[SubKey] = []
        silent: list[SubKey] = []
        for key, pending in self._pending.items():
            if now_s - pending.since_s < self.window_s:
                continue
            if pending.asked_again:
                silent.append(key)
            else:
                pending.since_s, pending.asked_again = now_s, True
                ask_again.append(key)
        for key in silent:
            del self._pending[key]
            self._silent.add(key)
        return ask_again, silent

    def _find_stale(self, now_s: float, held: Iterable[SubKey]) -> list[SubKey]:
        stale = []
        for key in held:
            last_s = self._last_s.get(key)
            if last_s is None or self._judged_elsewhere(key):
                continue
            quiet_since_s = max(last_s, self._open_since_s or last_s)
            if now_s - quiet_since_s >= self.stale_after_s:
                stale.append(key)
        self._stale.update(stale)
        return stale

    def _judged_elsewhere(self, key: SubKey) -> bool:
        # Reported stale already, or owed a tick by verification.
        return key in self._stale or key in self._pending or key in self._silent
