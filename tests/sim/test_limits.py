"""kit.sim.limits: SmartAPI's published limits as sliding windows per client code."""

from __future__ import annotations

import threading
from datetime import datetime

import pytest

from kit.broker.routes import RateLimit
from kit.clock import IST, ManualClock
from kit.sim.limits import RateLimiter

START = datetime(2025, 3, 3, 9, 15, tzinfo=IST)


_TABLE = {
    "search": RateLimit(per_second=1),
    "candles": RateLimit(per_second=3, per_minute=5, per_hour=7),
}


def _limiter() -> tuple[ManualClock, RateLimiter]:
    clock = ManualClock(START)
    return clock, RateLimiter(clock, _TABLE)


def _burst(limiter: RateLimiter, client: str, group: str, calls: int) -> list[bool]:
    return [limiter.allow(client, group) for _ in range(calls)]


def test_second_window_refuses_at_its_count_and_frees_after_one_second():
    clock, limiter = _limiter()

    assert _burst(limiter, "C1", "candles", 4) == [True, True, True, False]
    clock.advance(0.999)
    assert not limiter.allow("C1", "candles")
    clock.advance(0.001)
    assert limiter.allow("C1", "candles")


def test_minute_window_refuses_at_its_count_until_the_oldest_call_leaves():
    clock, limiter = _limiter()
    for _ in range(5):  # one call every 10 s: the second window never binds
        assert limiter.allow("C1", "candles")
        clock.advance(10.0)

    # Calls at 0, 10, 20, 30, 40 s; now 50 s.
    assert not limiter.allow("C1", "candles")
    clock.advance(9.5)
    assert not limiter.allow("C1", "candles")
    clock.advance(0.5)  # the call at 0 s is now exactly 60 s old
    assert limiter.count("C1", "candles", 60.0) == 4
    assert limiter.allow("C1", "candles")
    assert not limiter.allow("C1", "candles")


def test_hour_window_refuses_at_its_count_and_slides():
    clock, limiter = _limiter()
    for _ in range(7):  # one call every 61 s: the minute window never binds
        assert limiter.allow("C1", "candles")
        clock.advance(61.0)

    assert not limiter.allow("C1", "candles")
    clock.advance(3600.0 - 7 * 61.0 - 1.0)
    assert not limiter.allow("C1", "candles")
    clock.advance(1.0)
    assert limiter.allow("C1", "candles")
    assert limiter.count("C1", "candles", 3600.0) == 7


def test_published_limits_are_the_default():
    clock = ManualClock(START)
    limiter = RateLimiter(clock)

    assert _burst(limiter, "C1", "orders", 21).count(True) == 20
    assert limiter.windows("orders") == [(1.0, 20), (60.0, 500), (3600.0, 1000)]


def test_allow_route_uses_the_routes_limit_group():
    clock = ManualClock(START)
    limiter = RateLimiter(clock)

    assert limiter.allow_route("C1", "place_order")
    assert limiter.count("C1", "orders", 1.0) == 1
    assert limiter.allow_route("C1", "order_book")
    assert not limiter.allow_route("C1", "order_book")


def test_client_codes_and_groups_are_limited_apart():
    _, limiter = _limiter()

    assert limiter.allow("C1", "search")
    assert not limiter.allow("C1", "search")
    assert limiter.allow("C2", "search")
    assert limiter.allow("C1", "candles")


def test_refused_calls_are_not_counted():
    clock, limiter = _limiter()
    assert _burst(limiter, "C1", "candles", 3) == [True, True, True]
    assert _burst(limiter, "C1", "candles", 10) == [False] * 10

    clock.advance(1.0)

    assert limiter.count("C1", "candles", 60.0) == 3
    assert _burst(limiter, "C1", "candles", 3) == [True, True, False]


def test_retry_after_names_the_moment_the_next_call_is_allowed():
    clock, limiter = _limiter()
    assert limiter.retry_after_s("C1", "candles") == 0.0
    limiter.allow("C1", "candles")
    clock.advance(0.25)
    _burst(limiter, "C1", "candles", 2)

    wait_s = limiter.retry_after_s("C1", "candles")

    assert wait_s == pytest.approx(0.75)
    clock.advance(wait_s)
    assert limiter.retry_after_s("C1", "candles") == 0.0
    assert limiter.allow("C1", "candles")


def test_retry_after_takes_the_longest_wait_of_all_windows():
    clock, limiter = _limiter()
    for _ in range(5):
        limiter.allow("C1", "candles")
        clock.advance(2.0)

    # Second window free; minute window full until the first call is 60 s old.
    assert limiter.retry_after_s("C1", "candles") == pytest.approx(50.0)


def test_disabled_limiter_allows_everything_and_can_be_enabled_again():
    _, limiter = _limiter()
    limiter.enabled = False

    assert _burst(limiter, "C1", "search", 50) == [True] * 50
    assert limiter.retry_after_s("C1", "search") == 0.0

    limiter.enabled = True
    assert limiter.allow("C1", "search")
    assert not limiter.allow("C1", "search")


def test_scale_multiplies_every_count():
    _, limiter = _limiter()
    limiter.scale = 10.0

    assert limiter.windows("candles") == [(1.0, 30), (60.0, 50), (3600.0, 70)]
    assert _burst(limiter, "C1", "candles", 31).count(True) == 30


def test_scale_never_drops_a_limit_below_one_call():
    clock = ManualClock(START)
    limiter = RateLimiter(clock, _TABLE, scale=0.01)

    assert _burst(limiter, "C1", "search", 2) == [True, False]


@pytest.mark.parametrize("scale", [0.0, -1.0, float("inf"), float("nan")])
def test_scale_must_be_positive_and_finite(scale: float):
    clock = ManualClock(START)

    with pytest.raises(ValueError, match="scale"):
        RateLimiter(clock, _TABLE, scale=scale)


def test_unknown_group_is_a_programming_error():
    _, limiter = _limiter()

    with pytest.raises(KeyError, match="nosuch"):
        limiter.allow("C1", "nosuch")


def test_memory_holds_only_calls_within_the_longest_window():
    clock, limiter = _limiter()
    for _ in range(100):
        limiter.allow("C1", "search")
        limiter.allow("C2", "candles")
        clock.advance(100.0)

    # search keeps its last call until a sweep; candles an hour, 7 calls at most.
    assert limiter.tracked_calls() == 1 + 7
    clock.advance(3600.0 + 60.0)
    limiter.allow("C3", "search")
    assert limiter.tracked_calls() == 1


def test_a_call_as_old_as_the_longest_window_is_dropped():
    clock, limiter = _limiter()
    limiter.allow("C1", "search")
    clock.advance(1.0)

    limiter.allow("C1", "search")

    assert limiter.tracked_calls() == 1


def test_reset_forgets_one_client_or_everyone():
    _, limiter = _limiter()
    limiter.allow("C1", "search")
    limiter.allow("C2", "search")

    limiter.reset("C1")
    assert limiter.allow("C1", "search")
    assert not limiter.allow("C2", "search")

    limiter.reset()
    assert limiter.tracked_calls() == 0


def test_concurrent_callers_never_exceed_the_limit():
    clock = ManualClock(START)
    limiter = RateLimiter(clock, {"orders": RateLimit(per_second=20)})
    results: list[bool] = []
    lock = threading.Lock()

    def worker() -> None:
        mine = _burst(limiter, "C1", "orders", 25)
        with lock:
            results.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5.0)

    assert len(results) == 200
    assert results.count(True) == 20
