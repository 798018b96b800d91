"""The simulator's rate limits: SmartAPI's published per-user limits, sliding windows.

Angel One counts calls per client code (not per API key) and per endpoint group,
and refuses a call when any of its windows (1 s, 60 s, 3600 s) already holds the
published count of calls (SMARTAPI.md §7). :class:`RateLimiter` does the same:

- a window is the ``window_s`` seconds ending now; a call made exactly
  ``window_s`` ago no longer counts;
- an allowed call is recorded in every window of its group; a refused one is not;
- timestamps older than the group's longest window are dropped, so memory stays
  bounded by the largest count of the group, per client code;
- ``scale`` multiplies every count (a drill may want ten times the headroom) and
  ``enabled=False`` switches limiting off without forgetting the recorded calls.

Time comes from the injected clock's ``monotonic()``, so a test moves the windows
with ``ManualClock.advance`` and a drill's windows shrink with a ScaledClock.
"""

from __future__ import annotations

import bisect
import logging
import math
import threading
from collections import deque
from collections.abc import Mapping

from kit.broker.routes import RATE_LIMITS, ROUTES, RateLimit
from kit.clock import Clock

logger = logging.getLogger(__name__)

# How often, in clock seconds, idle client codes are swept out of memory.
_SWEEP_INTERVAL_S = 60.0

_Key = tuple[str, str]


class RateLimiter:
    """Sliding-window limits per client code and limit group.

    ``limits`` maps a group name (``Route.limit_group``) to its published
    :class:`~kit.broker.routes.RateLimit`; a group missing from it is a
    programming error and raises KeyError. Safe to call from any thread.
    """

    def __init__(
        self,
        clock: Clock,
        limits: Mapping[str, RateLimit] = RATE_LIMITS,
        *,
        enabled: bool = True,
        scale: float = 1.0,
    ) -> None:
        self._clock = clock
        self._limits = dict(limits)
        self._lock = threading.Lock()
        self._calls: dict[_Key, deque[float]] = {}
        self._enabled = enabled
        self._scale = _checked_scale(scale)
        self._next_sweep_s = clock.monotonic() + _SWEEP_INTERVAL_S

    @property
    def enabled(self) -> bool:
        """False lets every call through (and records none)."""
        with self._lock:
            return self._enabled

    @enabled.setter
    def enabled(self, value: bool) -> None:
        with self._lock:
            self._enabled = value
        logger.info("Rate limits %s", "enabled" if value else "disabled")

    @property
    def scale(self) -> float:
        """The factor applied to every published count (1.0: as published)."""
        with self._lock:
            return self._scale

    @scale.setter
    def scale(self, value: float) -> None:
        checked = _checked_scale(value)
        with self._lock:
            self._scale = checked
        logger.info("Rate limits scaled by %.2f", checked)

    def windows(self, group: str) -> list[tuple[float, int]]:
        """(window length in seconds, allowed calls) of ``group``, after scaling."""
        with self._lock:
            return self._windows(group)

    def allow(self, client_code: str, group: str) -> bool:
        """True, and the call is recorded, when every window of ``group`` has room."""
        with self._lock:
            windows = self._windows(group)
            if not self._enabled:
                return True
            now_s = self._clock.monotonic()
            self._sweep(now_s)
            calls = self._pruned(client_code, group, windows, now_s)
            if _wait_s(calls, windows, now_s) > 0:
                return False
            calls.append(now_s)
            self._calls[(client_code, group)] = calls
            return True

    def allow_route(self, client_code: str, route_name: str) -> bool:
        """:meth:`allow` for the limit group of the route named ``route_name``."""
        return self.allow(client_code, ROUTES[route_name].limit_group)

    def retry_after_s(self, client_code: str, group: str) -> float:
        """Seconds until a call of ``group`` would be allowed; 0.0 when it is now."""
        with self._lock:
            windows = self._windows(group)
            if not self._enabled:
                return 0.0
            now_s = self._clock.monotonic()
            calls = self._pruned(client_code, group, windows, now_s)
            return _wait_s(calls, windows, now_s)

    def count(self, client_code: str, group: str, window_s: float) -> int:
        """Recorded calls of ``group`` within the ``window_s`` seconds ending now."""
        with self._lock:
            calls = self._calls.get((client_code, group), deque())
            return _in_window(calls, window_s, self._clock.monotonic())

    def tracked_calls(self) -> int:
        """How many timestamps are held in memory, over all client codes."""
        with self._lock:
            return sum(len(calls) for calls in self._calls.values())

    def reset(self, client_code: str | None = None) -> None:
        """Forget the recorded calls of ``client_code``, or of everyone."""
        with self._lock:
            if client_code is None:
                self._calls.clear()
                return
            for key in [k for k in self._calls if k[0] == client_code]:
                del self._calls[key]

    def _windows(self, group: str) -> list[tuple[float, int]]:
        try:
            published = self._limits[group].windows()
        except KeyError:
            raise KeyError(f"no rate limit for group {group!r}") from None
        return [(length_s, _scaled(n, self._scale)) for length_s, n in published]

    def _pruned(
        self,
        client_code: str,
        group: str,
        windows: list[tuple[float, int]],
        now_s: float,
    ) -> deque[float]:
        """The calls of one client and group, without those past every window."""
        calls = self._calls.get((client_code, group), deque())
        longest_s = max((length_s for length_s, _ in windows), default=0.0)
        while calls and calls[0] <= now_s - longest_s:
            calls.popleft()
        return calls

    def _sweep(self, now_s: float) -> None:
        """Drop every timestamp older than its group's longest window."""
        if now_s < self._next_sweep_s:
            return
        self._next_sweep_s = now_s + _SWEEP_INTERVAL_S
        for key in list(self._calls):
            windows = self._windows(key[1])
            if not self._pruned(key[0], key[1], windows, now_s):
                del self._calls[key]


def _wait_s(
    calls: deque[float], windows: list[tuple[float, int]], now_s: float
) -> float:
    """Seconds until every window has room for one more call (0.0: it has now)."""
    wait_s = 0.0
    for length_s, allowed in windows:
        inside = _in_window(calls, length_s, now_s)
        if inside < allowed:
            continue
        # Room comes when the oldest of the newest ``allowed`` calls leaves.
        leaving = calls[len(calls) - allowed]
        wait_s = max(wait_s, leaving + length_s - now_s)
    return wait_s


def _in_window(calls: deque[float], length_s: float, now_s: float) -> int:
    """How many of the sorted ``calls`` fall in the ``length_s`` ending at now_s."""
    return len(calls) - bisect.bisect_right(calls, now_s - length_s)


def _scaled(count: int, scale: float) -> int:
    return max(1, math.floor(count * scale))


def _checked_scale(scale: float) -> float:
    if not scale > 0 or math.isinf(scale):
        raise ValueError(f"scale must be a positive finite number, got {scale}")
    return float(scale)
