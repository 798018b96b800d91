"""kit.broker.retry: bounded, jittered retries of transient failures only."""

from __future__ import annotations

import logging
import random
from datetime import datetime

import pytest

from kit.broker.retry import NO_RETRY, RetryPolicy, run_with_retry
from kit.clock import IST, ManualClock
from kit.errors import (
    BrokerTimeout,
    InvalidSymbol,
    NetworkError,
    RateLimited,
    ServerError,
    TokenInvalid,
)

START = datetime(2026, 12, 3, 10, 0, tzinfo=IST)
NO_JITTER = RetryPolicy(jitter=0.0)


class Flaky:
    """Fails with the given errors in turn, then answers."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "data"


def run(call, policy=NO_JITTER, clock=None):
    clock = clock or ManualClock(START, auto_advance=True)
    return run_with_retry(
        call, name="candles", policy=policy, clock=clock, rng=random.Random(1)
    )


@pytest.mark.parametrize(
    "error",
    [
        NetworkError("refused", sent=False),
        BrokerTimeout("read timed out", sent=True),
        ServerError("Something Went Wrong", code="AB1004"),
        ServerError("empty body", status=200),
        ServerError("bad gateway", status=502),
    ],
)
def test_transient_failures_are_retried_after_2_4_8_seconds(error):
    clock = ManualClock(START, auto_advance=True)
    call = Flaky(error, error, error)

    assert run(call, clock=clock) == "data"

    assert call.calls == 4
    assert clock.monotonic() == 2 + 4 + 8


def test_it_gives_up_after_three_retries_with_the_last_error():
    call = Flaky(*[ServerError("down", status=503)] * 5)

    with pytest.raises(ServerError, match="down"):
        run(call)

    assert call.calls == 4


@pytest.mark.parametrize(
    "error", [TokenInvalid("Invalid Token", code="AG8001"), InvalidSymbol("no such")]
)
def test_auth_errors_and_rejections_are_never_retried(error):
    call = Flaky(error)

    with pytest.raises(type(error)):
        run(call)

    assert call.calls == 1


def test_a_rate_limit_waits_longer():
    clock = ManualClock(START, auto_advance=True)

    run(Flaky(RateLimited("exceeding access rate")), clock=clock)

    assert clock.monotonic() == 10.0


def test_the_total_budget_stops_retries_early():
    clock = ManualClock(START, auto_advance=True)
    policy = RetryPolicy(jitter=0.0, budget_s=5.0)
    call = Flaky(*[ServerError("down", status=503)] * 5)

    with pytest.raises(ServerError):
        run(call, policy=policy, clock=clock)

    assert call.calls == 3  # waits of 2 s and then the 3 s left
    assert clock.monotonic() == 5.0


def test_jitter_stays_within_its_bounds():
    policy = RetryPolicy(jitter=0.25)
    rng = random.Random(3)

    delays = [policy.delay_s(2, None, rng) for _ in range(200)]

    assert min(delays) >= 3.0 and max(delays) <= 5.0
    assert len(set(delays)) > 100


def test_each_retry_is_one_log_line_with_attempt_delay_and_cause(caplog):
    caplog.set_level(logging.WARNING, logger="kit.broker.retry")

    run(Flaky(ServerError("Something Went Wrong", code="AB1004")))

    (line,) = caplog.messages
    assert (
        line
        == "candles: retry 1/3 in 2.0 s after ServerError: AB1004: Something Went Wrong"
    )


def test_no_retry_policy_fails_at_once():
    call = Flaky(ServerError("down", status=503))

    with pytest.raises(ServerError):
        run(call, policy=NO_RETRY)

    assert call.calls == 1
