"""The retry observer of run_with_retry and AngelClient, and the client's counters."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from kit.broker.client import AngelClient, CallCounts
from kit.broker.retry import (
    RetryEnded,
    RetryNotice,
    RetryPolicy,
    RetryScheduled,
    run_with_retry,
)
from kit.clock import IST, ManualClock
from kit.errors import (
    BrokerTimeout,
    InvalidSymbol,
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

    def __call__(self, *args: Any, **kwargs: Any) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "data"


def run(
    call: Callable[[], str],
    notices: list[RetryNotice],
    clock: ManualClock,
    policy: RetryPolicy = NO_JITTER,
) -> str:
    return run_with_retry(
        call,
        name="candles",
        policy=policy,
        clock=clock,
        rng=random.Random(1),
        observer=notices.append,
    )


def test_each_retry_and_the_recovery_are_reported_with_causes_and_times():
    clock = ManualClock(START, auto_advance=True)
    notices: list[RetryNotice] = []
    limited = RateLimited("exceeding access rate")
    server = ServerError("Something Went Wrong", code="AB1004")

    assert run(Flaky(limited, server), notices, clock) == "data"

    first, second, end = notices
    assert isinstance(first, RetryScheduled) and isinstance(second, RetryScheduled)
    assert (first.attempt, first.cause, first.code, first.delay_s) == (
        1,
        "RateLimited",
        None,
        10.0,
    )
    assert (second.attempt, second.cause, second.code, second.delay_s) == (
        2,
        "ServerError",
        "AB1004",
        4.0,
    )
    assert first.started_s == second.started_s == START.timestamp()
    assert first.at_s == START.timestamp()
    assert second.at_s == START.timestamp() + 10
    assert isinstance(end, RetryEnded)
    assert end.recovered and end.attempts == 3 and end.elapsed_s == 14.0
    assert end.cause == "ServerError" and end.code == "AB1004"
    assert end.at_s == START.timestamp() + 14
    assert len({n.call_id for n in notices}) == 1
    assert {n.name for n in notices} == {"candles"}


def test_a_call_that_gives_up_ends_with_a_failed_notice():
    clock = ManualClock(START, auto_advance=True)
    notices: list[RetryNotice] = []
    call = Flaky(*[BrokerTimeout("read timed out", sent=True)] * 5)

    with pytest.raises(BrokerTimeout):
        run(call, notices, clock)

    *retries, end = notices
    assert [n.attempt for n in retries if isinstance(n, RetryScheduled)] == [1, 2, 3]
    assert isinstance(end, RetryEnded)
    assert not end.recovered
    assert (end.attempts, end.elapsed_s, end.cause) == (4, 14.0, "BrokerTimeout")


def test_an_auth_error_after_a_retry_ends_the_call_as_given_up():
    clock = ManualClock(START, auto_advance=True)
    notices: list[RetryNotice] = []
    call = Flaky(ServerError("down", status=503), TokenInvalid("bad", code="AG8001"))

    with pytest.raises(TokenInvalid):
        run(call, notices, clock)

    end = notices[-1]
    assert isinstance(end, RetryEnded)
    assert (end.recovered, end.cause, end.code, end.attempts) == (
        False,
        "TokenInvalid",
        "AG8001",
        2,
    )


@pytest.mark.parametrize("error", [None, InvalidSymbol("no such")])
def test_a_call_without_retries_reports_nothing(error):
    clock = ManualClock(START, auto_advance=True)
    notices: list[RetryNotice] = []
    call = Flaky(*([error] if error else []))

    if error is None:
        run(call, notices, clock)
    else:
        with pytest.raises(InvalidSymbol):
            run(call, notices, clock)

    assert notices == []


def test_separate_calls_have_separate_ids():
    clock = ManualClock(START, auto_advance=True)
    notices: list[RetryNotice] = []

    run(Flaky(ServerError("down", status=502)), notices, clock)
    run(Flaky(ServerError("down", status=502)), notices, clock)

    assert len({n.call_id for n in notices}) == 2


def test_an_observer_that_raises_is_logged_and_the_call_goes_on(caplog):
    clock = ManualClock(START, auto_advance=True)

    def broken(notice: RetryNotice) -> None:
        raise RuntimeError("observer bug")

    caplog.set_level(logging.ERROR, logger="kit.broker.retry")
    result = run_with_retry(
        Flaky(ServerError("down", status=502)),
        name="ltp",
        policy=NO_JITTER,
        clock=clock,
        rng=random.Random(1),
        observer=broken,
    )

    assert result == "data"
    assert "ltp: the retry observer failed" in caplog.messages


# AngelClient: the observer and the counters.


class ScriptedTransport:
    """Answers each request with the next scripted error, then with data."""

    def __init__(self, *errors: Exception) -> None:
        self.answer = Flaky(*errors)

    def request(self, route: Any, body: Any, **kwargs: Any) -> Any:
        self.answer()
        return {"ltp": 100.5}


class PlainSession:
    def call(self, request: Callable[[str], Any]) -> Any:
        return request("jwt")

    def login(self) -> None: ...

    def refresh(self) -> None: ...

    def logout(self) -> None: ...


def client_with(*errors: Exception, observer=None) -> AngelClient:
    clock = ManualClock(START, auto_advance=True)
    return AngelClient(
        ScriptedTransport(*errors),  # type: ignore[arg-type]
        PlainSession(),
        clock=clock,
        policy=NO_JITTER,
        rng=random.Random(1),
        observer=observer,
    )


def test_the_client_passes_every_notice_to_its_observer():
    notices: list[RetryNotice] = []
    client = client_with(
        ServerError("bad gateway", status=502), observer=notices.append
    )

    client.read("ltp", {"exchange": "NSE"})

    assert [type(n) for n in notices] == [RetryScheduled, RetryEnded]
    assert {n.name for n in notices} == {"ltp"}


def test_the_counters_count_attempts_errors_retries_and_failures():
    client = client_with(
        ServerError("bad gateway", status=502), RateLimited("exceeding access rate")
    )

    client.read("ltp", {})
    client.read("ltp", {})
    assert client.counters.snapshot() == CallCounts(
        calls=4, errors=2, retries=2, failed=0
    )

    down = [ServerError("down", status=503)] * 4
    client.transport = ScriptedTransport(*down)  # type: ignore[assignment]
    with pytest.raises(ServerError):
        client.read("ltp", {})

    counts = client.counters.snapshot()
    assert counts == CallCounts(calls=8, errors=6, retries=5, failed=1)
    assert counts.error_rate == 6 / 8
    assert (client.counters.calls, client.counters.errors) == (8, 6)


def test_a_rejection_counts_as_an_error_without_a_retry():
    client = client_with(InvalidSymbol("no such symbol", code="AB1009"))

    with pytest.raises(InvalidSymbol):
        client.read("ltp", {})

    assert client.counters.snapshot() == CallCounts(calls=1, errors=1, failed=1)


def test_counts_start_at_zero_and_the_error_rate_is_zero_without_calls():
    client = client_with()

    assert client.counters.snapshot() == CallCounts()
    assert client.counters.snapshot().error_rate == 0.0
