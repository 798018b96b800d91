"""kit.broker.pacing: calls are spread to fit every published window."""

from __future__ import annotations

import threading
from datetime import datetime

import pytest

from kit.broker.pacing import Pacer, paced_limits
from kit.broker.routes import RATE_LIMITS, RateLimit
from kit.clock import IST, ManualClock

START = datetime(2026, 12, 3, 9, 0, tzinfo=IST)


def test_three_calls_a_second_go_at_once_and_the_fourth_waits_a_window():
    pacer = Pacer(ManualClock(START), {"candles": RateLimit(per_second=3)}, margin_s=0)

    waits = [pacer.reserve("candles") for _ in range(7)]

    assert waits == [0, 0, 0, 1.0, 1.0, 1.0, 2.0]


def test_every_window_is_respected_at_once():
    limits = {"ltp": RateLimit(per_second=10, per_minute=12)}
    pacer = Pacer(ManualClock(START), limits, margin_s=0)

    waits = [pacer.reserve("ltp") for _ in range(13)]

    assert waits[:10] == [0] * 10
    assert waits[10] == 1.0 and waits[11] == 1.0
    assert waits[12] == 60.0  # the minute window is full


def test_the_margin_widens_each_window():
    pacer = Pacer(ManualClock(START), {"rms": RateLimit(per_second=2)}, margin_s=0.05)

    waits = [pacer.reserve("rms") for _ in range(3)]

    assert waits == [0, 0, pytest.approx(1.05)]


def test_time_passing_frees_slots():
    clock = ManualClock(START)
    pacer = Pacer(clock, {"search": RateLimit(per_second=1)}, margin_s=0)

    assert pacer.reserve("search") == 0
    clock.advance(1.0)

    assert pacer.reserve("search") == 0


def test_acquire_sleeps_on_the_clock():
    clock = ManualClock(START, auto_advance=True)
    pacer = Pacer(clock, {"search": RateLimit(per_second=1)}, margin_s=0)

    for _ in range(4):
        pacer.acquire("search")

    assert clock.monotonic() == 3.0
    assert pacer.waited_s["search"] == 3.0  # one second before each of three


def test_orders_are_held_to_the_safe_ten_a_second():
    assert RATE_LIMITS["orders"].per_second == 20
    assert paced_limits()["orders"] == RateLimit(10, 500, 1000)


def test_threads_share_one_budget():
    pacer = Pacer(ManualClock(START), {"ltp": RateLimit(per_second=10)}, margin_s=0)
    waits: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(10):
            wait = pacer.reserve("ltp")
            with lock:
                waits.append(wait)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(waits) == [float(n // 10) for n in range(40)]
