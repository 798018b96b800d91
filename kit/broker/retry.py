"""Retry policies of the REST client, built from tenacity's parts.

Reads (history, LTP, books, positions, funds, search) retry transient failures
(network errors, timeouts, 5xx, AB1004, empty or garbled bodies, rate limits) a
bounded number of times with exponential, jittered delays (2 s, 4 s, 8 s as the
user's design asks) inside a total time budget; a rate-limit reply waits longer.
Auth errors and rejections are never retried here: they surface at once with the
broker's code and message. Each retry is one log line: the call, attempt n/max,
the delay and the cause. Time and randomness come from the injected clock and
random source, so tests run on a manual clock.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_any,
)
from tenacity.stop import stop_base

from kit.clock import Clock
from kit.errors import RateLimited, TransientError

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How a read is retried. Delays in seconds of the injected clock."""

    max_retries: int = 3
    base_delay_s: float = 2.0  # then 4 s, 8 s
    max_delay_s: float = 30.0
    jitter: float = 0.25  # each delay is scaled by 1 +- jitter
    rate_limit_delay_s: float = 10.0  # a rate-limit reply waits at least this
    budget_s: float = 60.0  # no retry starts after this much time has passed

    def delay_s(
        self, retry_number: int, cause: BaseException | None, rng: random.Random
    ) -> float:
        """The wait before retry ``retry_number`` (1-based) after ``cause``."""
        delay = min(self.max_delay_s, self.base_delay_s * 2 ** (retry_number - 1))
        if isinstance(cause, RateLimited):
            delay = max(delay, cause.retry_after_s or 0.0, self.rate_limit_delay_s)
        return float(delay * rng.uniform(1 - self.jitter, 1 + self.jitter))


NO_RETRY = RetryPolicy(max_retries=0)


def is_retryable(exc: BaseException) -> bool:
    """Transient failures only; auth errors and rejections never."""
    return isinstance(exc, TransientError)


def run_with_retry(
    call: Callable[[], T],
    *,
    name: str,
    policy: RetryPolicy,
    clock: Clock,
    rng: random.Random,
    retryable: Callable[[BaseException], bool] = is_retryable,
) -> T:
    """Run ``call`` under ``policy``; re-raise the last error when it gives up."""
    started = clock.monotonic()

    def wait(state: RetryCallState) -> float:
        cause = state.outcome.exception() if state.outcome else None
        delay = policy.delay_s(state.attempt_number, cause, rng)
        left = policy.budget_s - (clock.monotonic() - started)
        return max(0.0, min(delay, left))

    def log_retry(state: RetryCallState) -> None:
        cause = state.outcome.exception() if state.outcome else None
        delay = state.next_action.sleep if state.next_action else 0.0
        logger.warning(
            "%s: retry %d/%d in %.1f s after %s: %s",
            name,
            state.attempt_number,
            policy.max_retries,
            delay,
            type(cause).__name__,
            cause,
        )

    retrying = Retrying(
        stop=stop_any(
            stop_after_attempt(policy.max_retries + 1),
            _OutOfBudget(clock, started + policy.budget_s),
        ),
        wait=wait,
        retry=retry_if_exception(retryable),
        sleep=clock.sleep,
        before_sleep=log_retry,
        reraise=True,
    )
    return retrying(call)


class _OutOfBudget(stop_base):
    """Stop once the clock passes ``deadline_s`` (on its monotonic scale)."""

    def __init__(self, clock: Clock, deadline_s: float) -> None:
        self.clock = clock
        self.deadline_s = deadline_s

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self.clock.monotonic() >= self.deadline_s
