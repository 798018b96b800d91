"""Reconnect backoff: a pure policy, and the attempt counter read with it.

:class:`BackoffPolicy` answers two questions and nothing else: how long to wait
before attempt ``n``, and whether attempt ``n`` may be made at all. The default
retries at once the first time, then waits a random time between zero and an
exponentially growing ceiling ("full jitter") capped at 30 s, and never gives
up. :meth:`BackoffPolicy.user_design` is the seed design: 1 s doubling to 300 s,
no jitter, 10 attempts. A refusal for the connection limit (HTTP 429) waits at
least ``limit_delay_s``.

:class:`AttemptCounter` counts consecutive failed connections. It goes back to
zero only after a connection has stayed up for ``stable_window_s`` with ticks
arriving, never on a bare handshake, so a feed that is accepted and dropped
again and again waits longer and longer.

Randomness comes from an injected :class:`RandomSource` (``random.Random``
fits), so tests choose the jitter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol


class RandomSource(Protocol):
    """Uniform floats in [0, 1); ``random.Random`` is one."""

    def random(self) -> float: ...


@dataclass(frozen=True)
class BackoffPolicy:
    """How long to wait before each reconnect attempt.

    - ``initial_delay_s``: the ceiling of the first delayed attempt.
    - ``multiplier``: the ceiling grows by this factor at every attempt.
    - ``max_delay_s``: the ceiling never goes above this.
    - ``max_attempts``: attempts allowed in a row; None never gives up.
    - ``first_retry_immediate``: attempt 1 is made at once, with no delay.
    - ``jitter``: full jitter, a uniform delay in [0, ceiling]; else the ceiling.
    - ``limit_delay_s``: the least wait after a 429 (too many connections).
    - ``alert_at_attempts``: attempts at which an alert is raised.
    - ``stable_window_s``: how long a connection must stay up with ticks
      arriving before the attempt counter goes back to zero.
    """

    initial_delay_s: float = 1.0
    multiplier: float = 2.0
    max_delay_s: float = 30.0
    max_attempts: int | None = None
    first_retry_immediate: bool = True
    jitter: bool = True
    limit_delay_s: float = 30.0
    alert_at_attempts: tuple[int, ...] = (5, 20, 100)
    stable_window_s: float = 30.0

    def __post_init__(self) -> None:
        if self.initial_delay_s <= 0 or self.max_delay_s < self.initial_delay_s:
            raise ValueError("need 0 < initial_delay_s <= max_delay_s")
        if self.multiplier < 1:
            raise ValueError(f"multiplier must be >= 1, got {self.multiplier}")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if self.limit_delay_s < 0 or self.stable_window_s <= 0:
            raise ValueError("need limit_delay_s >= 0 and stable_window_s > 0")
        if any(n < 1 for n in self.alert_at_attempts):
            raise ValueError("alert_at_attempts must be positive attempt numbers")

    @classmethod
    def user_design(cls) -> BackoffPolicy:
        """The seed design: 1, 2, 4 ... 256, 300 s; 10 attempts, then give up."""
        return cls(
            initial_delay_s=1.0,
            multiplier=2.0,
            max_delay_s=300.0,
            max_attempts=10,
            first_retry_immediate=False,
            jitter=False,
            alert_at_attempts=(5, 10),
        )

    def ceiling_s(self, attempt: int) -> float:
        """The longest wait before ``attempt`` (1 is the first retry)."""
        if attempt < 1:
            raise ValueError(f"attempts count from 1, got {attempt}")
        step = attempt - 2 if self.first_retry_immediate else attempt - 1
        if step < 0:
            return 0.0
        # Past about 1000 doublings the float overflows; the cap is long reached.
        growth = self.multiplier ** min(step, 1000)
        if math.isinf(growth):
            return self.max_delay_s
        return min(self.max_delay_s, self.initial_delay_s * growth)

    def delay_s(
        self, attempt: int, rng: RandomSource, *, limited: bool = False
    ) -> float:
        """The wait before ``attempt``; ``limited`` after a 429 refusal."""
        ceiling = self.ceiling_s(attempt)
        delay = ceiling * rng.random() if self.jitter else ceiling
        return max(delay, self.limit_delay_s) if limited else delay

    def allows(self, attempt: int) -> bool:
        """Whether ``attempt`` may be made at all."""
        return self.max_attempts is None or attempt <= self.max_attempts

    def alerts_at(self, attempt: int) -> bool:
        return attempt in self.alert_at_attempts

    def describe_attempt(self, attempt: int) -> str:
        """``3/10`` with a limit, ``3`` without."""
        if self.max_attempts is None:
            return str(attempt)
        return f"{attempt}/{self.max_attempts}"


class AttemptCounter:
    """Consecutive failed connections, reset only by a stable connection.

    Times are seconds on one monotonic clock. Not thread-safe: one supervisor
    owns it.
    """

    def __init__(self, stable_window_s: float) -> None:
        self.stable_window_s = stable_window_s
        self.attempt = 0
        self._up_since_s: float | None = None
        self._data_seen = False

    def failed(self) -> int:
        """A connection ended or could not be made; return the next attempt."""
        self.attempt += 1
        self._up_since_s = None
        return self.attempt

    def connected(self, now_s: float) -> None:
        """A handshake succeeded; this alone resets nothing."""
        self._up_since_s = now_s
        self._data_seen = False

    def data(self) -> None:
        """A tick arrived on the current connection."""
        self._data_seen = True

    def settle(self, now_s: float, *, ticks_expected: bool) -> bool:
        """Reset to zero once the connection is stable; True when it did."""
        if self.attempt == 0 or self._up_since_s is None:
            return False
        if now_s - self._up_since_s < self.stable_window_s:
            return False
        if ticks_expected and not self._data_seen:
            return False
        self.attempt = 0
        return True
