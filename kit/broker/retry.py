"""Retry policies of the REST client, built from tenacity's parts.

Reads (history, LTP, books, positions, funds, search) retry transient failures
(network errors, timeouts, 5xx, AB1004, empty or garbled bodies, rate limits) a
bounded number of times with exponential, jittered delays (2 s, 4 s, 8 s as the
user's design asks) inside a total time budget; a rate-limit reply waits longer.
Auth errors and rejections are never retried here: they surface at once with the
broker's code and message. Each retry is one log line: the call, attempt n/max,
the delay and the cause. Time and randomness come from the injected clock and
random source, so tests run on a manual clock.

An optional observer hears of each retry (:class:`RetryScheduled`) and of the
end of every call that needed one (:class:`RetryEnded`: recovered or gave up,
after how long). The activity feed turns these into incidents; an observer
that raises is logged and never disturbs the call.
"""

from __future__ import annotations

import itertools
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
from kit.errors import KitError, RateLimited, TransientError

logger = logging.getLogger(__name__)

T = TypeVar("T")

_call_ids = itertools.count(1)


@dataclass(frozen=True)
class RetryScheduled:
    """Attempt ``attempt`` of call ``call_id`` failed with ``cause`` (an
    exception class name, with the broker's ``code`` when there is one); the
    next attempt follows after ``delay_s``. Times are the clock's epoch seconds:
    ``started_s`` when the call began, ``at_s`` now."""

    call_id: int
    name: str
    attempt: int
    max_retries: int
    cause: str
    code: str | None
    message: str
    delay_s: float
    started_s: float
    at_s: float


@dataclass(frozen=True)
class RetryEnded:
    """Call ``call_id`` ended after ``attempts`` attempts: ``recovered`` (it
    answered) or not (it gave up with ``cause``), ``elapsed_s`` after it began
    on the clock. Only calls that needed a retry end with this notice."""

    call_id: int
    name: str
    recovered: bool
    attempts: int
    elapsed_s: float
    cause: str
    code: str | None
    message: str
    started_s: float
    at_s: float


RetryNotice = RetryScheduled | RetryEnded
RetryObserver = Callable[[RetryNotice], None]


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
    observer: RetryObserver | None = None,
) -> T:
    """Run ``call`` under ``policy``; re-raise the last error when it gives up.

    ``observer`` (optional) receives a :class:`RetryScheduled` before each
    retry and a :class:`RetryEnded` when a call that was retried ends.
    """
    started = clock.monotonic()
    tracker = _Tracker(name, policy, clock, observer)

    def wait(state: RetryCallState) -> float:
        cause = state.outcome.exception() if state.outcome else None
        delay = policy.delay_s(state.attempt_number, cause, rng)
        left = policy.budget_s - (clock.monotonic() - started)
        return max(0.0, min(delay, left))

    retrying = Retrying(
        stop=stop_any(
            stop_after_attempt(policy.max_retries + 1),
            _OutOfBudget(clock, started + policy.budget_s),
        ),
        wait=wait,
        retry=retry_if_exception(retryable),
        sleep=clock.sleep,
        before_sleep=tracker.before_sleep,
        reraise=True,
    )
    try:
        result = retrying(call)
    except BaseException as exc:
        tracker.ended(exc)
        raise
    tracker.ended(None)
    return result


class _Tracker:
    """One call's retries: the log line of each, and the observer's notices."""

    def __init__(
        self,
        name: str,
        policy: RetryPolicy,
        clock: Clock,
        observer: RetryObserver | None,
    ) -> None:
        self.name = name
        self.policy = policy
        self.clock = clock
        self.observer = observer
        self.call_id = next(_call_ids)
        self.started_mono_s = clock.monotonic()
        self.started_s = clock.time()
        self.retries = 0
        self.last_cause: BaseException | None = None

    def before_sleep(self, state: RetryCallState) -> None:
        cause = state.outcome.exception() if state.outcome else None
        delay = state.next_action.sleep if state.next_action else 0.0
        logger.warning(
            "%s: retry %d/%d in %.1f s after %s: %s",
            self.name,
            state.attempt_number,
            self.policy.max_retries,
            delay,
            type(cause).__name__,
            cause,
        )
        self.retries += 1
        self.last_cause = cause
        notice = RetryScheduled(
            call_id=self.call_id,
            name=self.name,
            attempt=state.attempt_number,
            max_retries=self.policy.max_retries,
            cause=type(cause).__name__,
            code=_code(cause),
            message=str(cause),
            delay_s=float(delay),
            started_s=self.started_s,
            at_s=self.clock.time(),
        )
        self._tell(notice)

    def ended(self, error: BaseException | None) -> None:
        """The call is over: answered (``error`` None) or gave up."""
        if self.retries == 0:
            return
        elapsed_s = self.clock.monotonic() - self.started_mono_s
        cause = error if error is not None else self.last_cause
        if error is None:
            logger.info(
                "%s: recovered after %d retries in %.1f s",
                self.name, self.retries, elapsed_s,
            )  # fmt: skip
        else:  # the caller hears of it from the error itself
            logger.info(
                "%s: gave up after %d retries in %.1f s: %s: %s",
                self.name, self.retries, elapsed_s, type(error).__name__, error,
            )  # fmt: skip
        notice = RetryEnded(
            call_id=self.call_id,
            name=self.name,
            recovered=error is None,
            attempts=self.retries + 1,
            elapsed_s=elapsed_s,
            cause=type(cause).__name__,
            code=_code(cause),
            message=str(cause),
            started_s=self.started_s,
            at_s=self.clock.time(),
        )
        self._tell(notice)

    def _tell(self, notice: RetryNotice) -> None:
        if self.observer is None:
            return
        try:
            self.observer(notice)
        except Exception:
            logger.exception("%s: the retry observer failed", self.name)


def _code(error: BaseException | None) -> str | None:
    return error.code if isinstance(error, KitError) else None


class _OutOfBudget(stop_base):
    """Stop once the clock passes ``deadline_s`` (on its monotonic scale)."""

    def __init__(self, clock: Clock, deadline_s: float) -> None:
        self.clock = clock
        self.deadline_s = deadline_s

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self.clock.monotonic() >= self.deadline_s
