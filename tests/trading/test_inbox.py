"""The engine's inbox: work posted from other threads runs in order on the
thread that drains it; a failure reaches the asker, never the engine."""

from __future__ import annotations

import threading

import pytest

from kit.trading.inbox import EngineInbox


def test_posted_work_runs_in_order_on_the_draining_thread():
    inbox = EngineInbox()
    ran_on: list[str] = []

    def work(n: int) -> int:
        ran_on.append(threading.current_thread().name)
        return n * 2

    futures = [inbox.post(lambda n=n: work(n)) for n in range(3)]
    drainer = threading.Thread(target=inbox.drain, name="engine")
    drainer.start()
    drainer.join()

    assert [f.result(1.0) for f in futures] == [0, 2, 4]
    assert ran_on == ["engine"] * 3
    assert inbox.drain() == 0


def test_a_failure_goes_to_the_asker_and_the_rest_still_runs():
    inbox = EngineInbox()

    def fail() -> None:
        raise ValueError("no such book")

    failed = inbox.post(fail)
    after = inbox.post(lambda: "ran")

    assert inbox.drain() == 2
    with pytest.raises(ValueError, match="no such book"):
        failed.result(1.0)
    assert after.result(1.0) == "ran"


def test_work_left_when_the_engine_stops_fails_clearly():
    inbox = EngineInbox()
    left = inbox.post(lambda: 1)

    inbox.cancel_all()

    with pytest.raises(RuntimeError, match="the engine stopped"):
        left.result(1.0)
