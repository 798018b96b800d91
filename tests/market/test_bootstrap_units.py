"""CandleBootstrap against a scripted history source on a manual clock: waits
by cause, skipped symbols, the progress bar, stopping, backfill retries, feed
events, and partial restores. The source serves the simulated market's true
candles and fails where a test says so."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import datetime, timedelta

import pandas as pd
import pytest

from kit.broker.client import candles_frame
from kit.broker.feed_events import Connected, Reconnected
from kit.broker.models import Quote
from kit.broker.routes import Interval
from kit.clock import IST, ManualClock
from kit.errors import InvalidSymbol, RateLimited, ServerError
from kit.market.bootstrap import CandleBootstrap, WarmupMode
from kit.market.bootstrap_events import (
    AttemptFailed,
    BackfillFailed,
    BackfillScheduled,
    BuildingFromTicks,
    HistoryRestored,
    RebootstrapFailed,
    SymbolSkipped,
)
from kit.market.history import BootstrapConfig, Symbol
from kit.sim.market import Market
from tests.market.bootstrap_helpers import MINUTE, Recorder, in_thread

MIDDAY = datetime(2026, 12, 3, 10, 0, tzinfo=IST)
EARLY = MIDDAY.replace(hour=9, minute=0)
A, B = Symbol("RELIANCE-EQ", "2885"), Symbol("TCS-EQ", "11536")


class Source:
    """History from the simulated market; scripted failures per token."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.market = Market(seed=7)
        self.failures: dict[str, list[Exception]] = {}
        self.always: dict[str, Exception] = {}
        self.calls: list[tuple[str, float]] = []

    def candles(
        self,
        token: str,
        interval: Interval,
        start: datetime,
        end: datetime,
        *,
        exchange: str = "NSE",
    ) -> pd.DataFrame:
        self.calls.append((token, self.clock.time()))
        if self.failures.get(token):
            raise self.failures[token].pop(0)
        if token in self.always:
            raise self.always[token]
        truth = self.market.candles(token, start, end + MINUTE)
        return candles_frame([c.broker_row() for c in truth])

    def quotes(
        self, tokens: Sequence[str], *, mode: str = "FULL", exchange: str = "NSE"
    ) -> list[Quote]:
        return [Quote(exchange, "", t, 1.0) for t in tokens]


def build(start: datetime = MIDDAY, *, auto: bool = True, **options):
    clock = ManualClock(start, auto_advance=auto)
    source, events = Source(clock), Recorder()
    options.setdefault("config", BootstrapConfig(check_symbols=False))
    boot = CandleBootstrap(source, [A, B], clock=clock, on_event=events, **options)
    return clock, source, boot, events


def server_error() -> ServerError:
    return ServerError("Something Went Wrong", code="AB1004")


def test_a_server_error_in_session_waits_5_s_and_the_round_goes_on():
    _, source, boot, _ = build()
    source.failures[A.token] = [server_error()]

    report = boot.run()

    assert [(token, at - MIDDAY.timestamp()) for token, at in source.calls] == [
        (A.token, 0.0), (B.token, 0.0), (A.token, 5.0),
    ]  # fmt: skip
    assert report.loaded == ("RELIANCE-EQ", "TCS-EQ")
    assert report.attempts == 2 and report.candles == 400


def test_a_symbol_history_calls_invalid_is_skipped_and_never_asked_again():
    _, source, boot, events = build()
    source.always[A.token] = InvalidSymbol("Symbol Not Found", code="AB1009")

    report = boot.run()
    again = boot.request_backfill(MIDDAY, MIDDAY, tokens=[A.token])

    assert report.skipped == ("RELIANCE-EQ",) and report.loaded == ("TCS-EQ",)
    assert report.attempts == 1
    skipped = events.of(SymbolSkipped)
    assert [(e.symbol, e.token) for e in skipped] == [("RELIANCE-EQ", "2885")]
    assert "AB1009" in skipped[0].reason
    assert again is False
    assert [token for token, _ in source.calls].count(A.token) == 1


def test_the_progress_bar_counts_the_symbols_loaded():
    made: list[FakeBar] = []

    class FakeBar:
        def __init__(self, total: int, desc: str) -> None:
            self.total, self.desc, self.done, self.closed = total, desc, 0, False
            made.append(self)

        def update(self, n: float = 1) -> None:
            self.done += int(n)

        def close(self) -> None:
            self.closed = True

    _, source, boot, _ = build(progress=FakeBar)
    source.failures[A.token] = [server_error()]

    boot.run()

    assert [(b.total, b.desc, b.done, b.closed) for b in made] == [
        (2, "history", 2, True)
    ]


def test_stop_cuts_a_wait_short_without_falling_back():
    clock, source, boot, events = build(EARLY, auto=False)
    source.always[A.token] = server_error()  # before the open: market closed

    thread, result = in_thread(boot.run)
    clock.wait_for_sleepers(1)
    began = time.monotonic()
    boot.stop()
    thread.join(2.0)

    assert not thread.is_alive() and time.monotonic() - began < 1.0
    assert clock.now() == EARLY  # the 30 s wait never ran its course
    assert result[0].attempts == 1
    assert events.of(BuildingFromTicks) == []


def test_the_background_thread_stops_promptly_and_says_so():
    clock, _, boot, _ = build(auto=False)
    boot.start()
    clock.wait_for_sleepers(1)
    running = boot.status().running

    began = time.monotonic()
    stopped = boot.stop(timeout_real_s=2.0)

    assert running and stopped
    assert time.monotonic() - began < 0.5
    assert not boot.status().running
    assert not any(t.name == "kit-bootstrap" for t in threading.enumerate())
    with pytest.raises(RuntimeError):
        boot.start()


def test_a_backfill_retries_by_cause_then_is_abandoned():
    config = BootstrapConfig(check_symbols=False, backfill_attempts=3)
    clock, source, boot, events = build(auto=False, config=config)
    thread, _ = in_thread(boot.run)
    thread.join(5.0)
    source.always[A.token] = RateLimited(
        "Access denied because of exceeding access rate"
    )
    source.always[B.token] = source.always[A.token]
    boot.request_backfill(MIDDAY, MIDDAY + MINUTE, reason="test")
    boot.start()

    due = MIDDAY + 2 * MINUTE + timedelta(seconds=10)
    clock.advance_to(due)
    for attempt in (1, 2, 3):
        events.wait_for(BackfillFailed, attempt)
        clock.wait_for_sleepers(1)
        clock.advance(10.0)

    failed = events.of(BackfillFailed)
    assert [(e.attempt, e.retry_in_s) for e in failed] == [
        (1, 10.0),
        (2, 10.0),
        (3, None),
    ]
    assert [e.at_s - due.timestamp() for e in failed] == [0.0, 10.0, 20.0]
    assert (failed[0].first, failed[0].last) == (MIDDAY, MIDDAY + MINUTE)
    assert boot.status().jobs == 0


def test_a_feed_reconnect_schedules_a_backfill_of_its_minutes():
    _, _, boot, events = build()
    boot.run()
    scheduled_at_start = len(events.of(BackfillScheduled))  # the start-up seam

    back_s = (MIDDAY + timedelta(minutes=20, seconds=30)).timestamp()
    boot.on_feed_event(Reconnected("feed-1", back_s, downtime_s=90.0, attempts=4))

    scheduled = events.of(BackfillScheduled)[scheduled_at_start:]
    assert len(scheduled) == 1
    event = scheduled[0]
    assert (event.first, event.last) == (
        MIDDAY + 18 * MINUTE, MIDDAY + 20 * MINUTE,
    )  # fmt: skip
    assert event.minutes == 3 and event.reason == "feed-1 down 90 s"
    assert event.due_at == MIDDAY + 21 * MINUTE + timedelta(seconds=10)


def test_a_failing_event_callback_never_stops_the_bootstrap(caplog):
    def broken(event: object) -> None:
        raise RuntimeError("callback bug")

    clock = ManualClock(MIDDAY, auto_advance=True)
    config = BootstrapConfig(check_symbols=False)
    boot = CandleBootstrap(Source(clock), [A, B], clock=clock, on_event=broken,
                           config=config)  # fmt: skip

    report = boot.run()

    assert report.loaded == ("RELIANCE-EQ", "TCS-EQ")
    assert "Event callback failed on AttemptStarted" in caplog.text


def test_a_restore_for_some_symbols_keeps_asking_for_the_others():
    clock, source, boot, events = build(auto=False)
    source.always[A.token] = server_error()
    source.failures[B.token] = [server_error()] * 3

    thread, _ = in_thread(boot.run)
    for attempt in (1, 2):
        events.wait_for(AttemptFailed, attempt)
        clock.wait_for_sleepers(1)
        clock.advance(5.0)
    thread.join(5.0)
    boot.start()
    clock.advance(120.0)
    events.wait_for(RebootstrapFailed)

    restored = events.wait_for(HistoryRestored)[0]
    failed = events.of(RebootstrapFailed)[0]
    status = boot.status()
    assert restored.symbols == ("TCS-EQ",)
    assert failed.symbols == ("RELIANCE-EQ",) and failed.retry_in_s == 120.0
    assert status.mode is WarmupMode.TICKS
    assert status.from_ticks == ("RELIANCE-EQ",)
    assert status.with_history == ("TCS-EQ",)


def test_a_first_connection_before_the_open_has_nothing_to_repair():
    _, _, boot, events = build(EARLY)
    report = boot.run()  # the previous session's history, before the open

    boot.on_feed_event(Connected("feed-1", (EARLY + MINUTE).timestamp()))

    assert report.loaded == ("RELIANCE-EQ", "TCS-EQ")
    assert events.of(BackfillScheduled) == []
    assert boot.status().jobs == 0
