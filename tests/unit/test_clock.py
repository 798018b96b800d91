"""kit.clock: the three clocks behave alike where they should, and tests never sleep."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import datetime

import pytest

from kit.clock import IST, ManualClock, RealClock, ScaledClock

START = datetime(2026, 12, 3, 9, 15, tzinfo=IST)


def test_real_clock_reads_the_machine_time():
    clock = RealClock()

    assert abs(clock.time() - time.time()) < 1
    assert clock.now().tzinfo is IST
    assert clock.speed == 1.0


def test_scaled_clock_starts_at_its_start_and_runs_faster():
    clock = ScaledClock(START, speed=600)

    first = clock.time()
    time.sleep(0.05)  # 0.05 s of real time is 30 s of simulated time
    elapsed = clock.time() - first

    assert abs(first - START.timestamp()) < 5
    assert 25 <= elapsed <= 120


def test_scaled_clock_shortens_sleeps_and_waits_by_its_speed():
    clock = ScaledClock(START, speed=1000)
    event = threading.Event()

    began = time.monotonic()
    clock.sleep(20)  # 20 simulated seconds
    assert clock.wait(event, 20) is False
    real = time.monotonic() - began

    assert real < 1.0


def test_two_scaled_clocks_with_the_same_anchor_agree():
    anchor = time.time() - 10  # started ten real seconds ago
    a = ScaledClock(START, speed=60, anchor=anchor)
    b = ScaledClock(START, speed=60, anchor=anchor)

    assert abs(a.time() - b.time()) < 1
    assert a.time() - START.timestamp() == pytest.approx(600, abs=5)


@pytest.mark.parametrize("speed", [0, -1])
def test_scaled_clock_refuses_a_speed_that_is_not_positive(speed):
    with pytest.raises(ValueError, match="speed"):
        ScaledClock(START, speed=speed)


def test_scaled_clock_refuses_a_naive_start():
    with pytest.raises(ValueError, match="timezone-aware"):
        ScaledClock(datetime(2026, 12, 3, 9, 15), speed=2)


def test_manual_clock_moves_only_when_advanced():
    clock = ManualClock(START)

    assert clock.now() == START
    clock.advance(90)

    assert clock.now() == datetime(2026, 12, 3, 9, 16, 30, tzinfo=IST)
    assert clock.monotonic() == 90


def test_manual_clock_never_goes_back():
    with pytest.raises(ValueError):
        ManualClock(START).advance(-1)


def test_manual_clock_sleep_blocks_until_another_thread_advances_past_it():
    clock = ManualClock(START)
    woke = threading.Event()

    def sleeper() -> None:
        clock.sleep(30)
        woke.set()

    thread = threading.Thread(target=sleeper)
    thread.start()
    clock.wait_for_sleepers(1)
    clock.advance(29)
    assert not woke.wait(0.05)

    clock.advance(1)
    assert woke.wait(2)
    thread.join(2)


def test_manual_clock_wait_returns_true_when_the_event_is_set():
    clock = ManualClock(START)
    event = threading.Event()
    result: list[bool] = []

    thread = threading.Thread(target=lambda: result.append(clock.wait(event, 60)))
    thread.start()
    clock.wait_for_sleepers(1)
    event.set()
    thread.join(2)

    assert result == [True]
    assert clock.monotonic() == 0


def test_manual_clock_wait_times_out_when_advanced_past_the_timeout():
    clock = ManualClock(START)
    result: list[bool] = []

    thread = threading.Thread(
        target=lambda: result.append(clock.wait(threading.Event(), 10))
    )
    thread.start()
    clock.wait_for_sleepers(1)
    clock.advance(10)
    thread.join(2)

    assert result == [False]


def test_auto_advancing_manual_clock_moves_when_slept_on():
    clock = ManualClock(START, auto_advance=True)

    clock.sleep(1.5)
    assert clock.wait(threading.Event(), 2.5) is False

    assert clock.monotonic() == 4.0


def test_wait_for_sleepers_gives_up_after_its_real_timeout():
    with pytest.raises(TimeoutError, match="0 of 1"):
        ManualClock(START).wait_for_sleepers(1, timeout_real_s=0.05)


def test_manual_clock_async_sleep_resumes_when_advanced():
    clock = ManualClock(START)

    async def scenario() -> float:
        task = asyncio.create_task(clock.sleep_async(5))
        await asyncio.sleep(0)
        assert not task.done()
        clock.advance(5)
        await asyncio.wait_for(task, 2)
        return clock.monotonic()

    assert asyncio.run(scenario()) == 5


def test_time_ms_is_epoch_milliseconds():
    clock = ManualClock(1_764_733_500.25)

    assert clock.time_ms() == 1_764_733_500_250
