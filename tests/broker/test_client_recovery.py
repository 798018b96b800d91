"""AngelClient against the simulator's chaos: one test per REST row of the user's
recovery matrix, each checking the recovery and what was logged."""

from __future__ import annotations

import logging
from datetime import datetime

import pytest

from kit.broker.routes import Interval
from kit.clock import IST
from kit.errors import AuthError, ConfigurationError, InvalidSymbol, ServerError
from kit.sim.chaos import FaultKind
from kit.sim.runner import SimConfig

SBIN = ("NSE", "SBIN-EQ", "3045")


@pytest.fixture
def stack(stack_factory):
    return stack_factory()


def retries(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "kit.broker.retry"]


@pytest.mark.parametrize(
    ("kind", "status", "cause"),
    [
        (FaultKind.SERVER_ERROR, 500, "ServerError"),
        (FaultKind.SERVER_ERROR, 502, "ServerError"),
        (FaultKind.SERVER_ERROR, 503, "ServerError"),
        (FaultKind.AB1004, None, "ServerError"),
        (FaultKind.EMPTY_BODY, None, "ServerError"),
        (FaultKind.HTML_REJECTION, None, ""),
        (FaultKind.RATE_LIMIT, None, "RateLimited"),
    ],
)
def test_a_transient_failure_of_a_read_is_retried_and_logged(
    stack, caplog, kind, status, cause
):
    caplog.set_level(logging.WARNING)
    stack.sim.chaos.inject(kind, "ltp", status=status)
    before = stack.sim.clock.time()

    ltp = stack.client.ltp(*SBIN)

    seconds = range(int(before), int(stack.sim.clock.time()) + 1)
    assert ltp.ltp in {stack.sim.market.price("3045", s) for s in seconds}
    (line,) = retries(caplog)
    assert line.startswith("ltp: retry 1/3 in ")
    assert cause in line


def test_a_rate_limit_waits_at_least_ten_seconds(stack, caplog):
    caplog.set_level(logging.WARNING)
    stack.sim.chaos.inject(FaultKind.RATE_LIMIT, "ltp")
    before = stack.sim.clock.monotonic()

    stack.client.ltp(*SBIN)

    assert stack.sim.clock.monotonic() - before >= 7.5  # 10 s less the jitter
    assert "RateLimited" in retries(caplog)[0]


def test_a_network_timeout_is_retried(stack_factory, caplog):
    caplog.set_level(logging.WARNING)
    stack = stack_factory(read_timeout_s=0.4)  # 60 simulated s are 1.2 s real
    stack.sim.chaos.inject(FaultKind.LATENCY, "ltp", duration_s=60)

    stack.client.ltp(*SBIN)

    assert "BrokerTimeout" in retries(caplog)[0]


def test_a_persistent_failure_surfaces_after_three_retries(stack, caplog):
    caplog.set_level(logging.WARNING)
    stack.sim.chaos.inject(FaultKind.AB1004, "rms", count=10)

    with pytest.raises(ServerError) as caught:
        stack.client.rms()

    assert caught.value.code == "AB1004"
    assert len(retries(caplog)) == 3


def test_an_invalid_token_mid_day_is_one_relogin_and_one_retry(stack, caplog):
    caplog.set_level(logging.WARNING)
    stack.sim.chaos.inject(FaultKind.INVALID_TOKEN, "position")

    assert stack.client.positions() == []

    assert retries(caplog) == []
    assert any("renewing it once" in m for m in caplog.messages)


def test_expired_tokens_with_a_totp_secret_heal_without_a_person(stack):
    stack.sim.chaos.inject(FaultKind.EXPIRE_TOKENS)

    funds = stack.client.rms()

    assert funds.net > 0


def test_expired_tokens_without_a_totp_secret_say_how_to_fix_it(stack_factory):
    stack = stack_factory(totp=False)
    stack.sim.chaos.inject(FaultKind.EXPIRE_TOKENS)

    with pytest.raises(AuthError) as caught:
        stack.client.rms()

    assert "kit login" in str(caught.value)


def test_an_invalid_symbol_is_reported_and_not_retried(stack, caplog):
    caplog.set_level(logging.WARNING)

    with pytest.raises(InvalidSymbol) as caught:
        stack.client.ltp("NSE", "NOSUCH-EQ", "999999")

    assert caught.value.code == "AB1009"
    assert retries(caplog) == []


def test_history_refused_before_the_open_is_retried_then_served(stack_factory, caplog):
    caplog.set_level(logging.WARNING)
    early = datetime(2026, 12, 3, 9, 0, tzinfo=IST)
    stack = stack_factory(SimConfig(start=early, speed=50.0))
    stack.sim.chaos.inject(FaultKind.HISTORY_BEFORE_OPEN, "candles")
    day_before = datetime(2026, 12, 2, 9, 15, tzinfo=IST)

    frame = stack.client.candles(
        "3045", Interval.ONE_MINUTE, day_before, day_before.replace(hour=15, minute=29)
    )

    assert len(frame) == 375
    assert "AB1004" in retries(caplog)[0]


def test_candles_equal_the_ground_truth_across_chunks(stack):
    start = datetime(2026, 10, 1, 9, 15, tzinfo=IST)
    end = datetime(2026, 12, 2, 15, 29, tzinfo=IST)

    frame = stack.client.candles("3045", Interval.ONE_MINUTE, start, end)

    truth = stack.sim.market.candles("3045", start, end.replace(minute=30))
    assert len(frame) == len(truth) > 30 * 375
    assert frame.index[0] == truth[0].start
    assert list(frame.iloc[-1]) == [
        truth[-1].open, truth[-1].high, truth[-1].low, truth[-1].close, truth[-1].volume
    ]  # fmt: skip


def test_quotes_go_fifty_tokens_to_a_request(stack):
    tokens = [i.token for i in stack.sim.market.instruments][:55]

    quotes = stack.client.quotes(tokens)

    assert {q.token for q in quotes} == set(tokens)
    assert stack.sim.chaos.counts["rest.quote"] == 2


def test_search_profile_and_books_read_typed_results(stack):
    assert [m.symbol for m in stack.client.search("INFY")] == ["INFY-EQ"]
    assert stack.client.profile().name == "SIMULATED TRADER"
    assert stack.client.order_book() == []
    assert stack.client.trade_book() == []


def test_a_firewall_page_that_persists_is_a_configuration_error(stack, caplog):
    caplog.set_level(logging.WARNING)
    stack.sim.chaos.inject(FaultKind.HTML_REJECTION, "rms", count=10)

    with pytest.raises(ConfigurationError) as caught:
        stack.client.rms()

    assert "Request Rejected" in str(caught.value) or caught.value.code == "WAF"
    assert len(retries(caplog)) == 3


def test_the_client_logs_in_refreshes_and_logs_out(stack):
    first = stack.session.jwt

    stack.client.refresh()
    renewed = stack.session.jwt
    stack.client.logout()
    stack.client.login()

    assert renewed != first
    assert stack.client.profile().name == "SIMULATED TRADER"
