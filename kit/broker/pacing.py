"""Proactive pacing: never earn a rate-limit reply in the first place.

One :class:`Pacer` per process holds, for every limit group of
``kit.broker.routes``, the times of the calls it let through. ``acquire(group)``
reserves the earliest instant at which one more call fits in every window of the
group (1 s, 60 s, 3600 s) and sleeps on the injected clock until then, so callers
on any thread share the published budget. A small margin widens each window to
absorb jitter between the client's clock and the server's arrival times. Orders
are also held to SEBI's 10 a second, below Angel One's published 20.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Mapping

from kit.broker.routes import RATE_LIMITS, SAFE_ORDERS_PER_SECOND, RateLimit
from kit.clock import Clock

DEFAULT_MARGIN_S = 0.05


def paced_limits(limits: Mapping[str, RateLimit] = RATE_LIMITS) -> dict[str, RateLimit]:
    """The published limits, with orders capped at the safe rate."""
    paced = dict(limits)
    orders = paced["orders"]
    per_second = min(
        orders.per_second or SAFE_ORDERS_PER_SECOND, SAFE_ORDERS_PER_SECOND
    )
    paced["orders"] = RateLimit(per_second, orders.per_minute, orders.per_hour)
    return paced


class Pacer:
    """Sliding-window reservations per limit group, shared by every caller."""

    def __init__(
        self,
        clock: Clock,
        limits: Mapping[str, RateLimit] | None = None,
        *,
        margin_s: float = DEFAULT_MARGIN_S,
    ) -> None:
        self._clock = clock
        self._limits = dict(limits) if limits is not None else paced_limits()
        self._margin_s = margin_s
        self._lock = threading.Lock()
        self._calls: dict[str, list[float]] = {group: [] for group in self._limits}
        self.waited_s: dict[str, float] = dict.fromkeys(self._limits, 0.0)

    def reserve(self, group: str) -> float:
        """Book the next free slot of ``group``; return how long to wait for it."""
        windows = self._limits[group].windows()
        with self._lock:
            now = self._clock.monotonic()
            calls = self._calls[group]
            longest = max((length for length, _ in windows), default=0.0)
            del calls[: bisect.bisect_left(calls, now - longest - self._margin_s)]
            at = max([now, *(self._free_at(calls, w, n) for w, n in windows)])
            bisect.insort(calls, at)
            self.waited_s[group] += at - now
            return at - now

    def acquire(self, group: str) -> float:
        """Wait (on the clock) until a call of ``group`` fits; return the wait."""
        delay_s = self.reserve(group)
        if delay_s > 0:
            self._clock.sleep(delay_s)
        return delay_s

    def _free_at(self, calls: list[float], window_s: float, count: int) -> float:
        # The (count)-th latest call must have left the window (plus margin).
        if len(calls) < count:
            return 0.0
        return calls[-count] + window_s + self._margin_s
