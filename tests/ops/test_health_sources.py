"""The monitor's sources and measures: the adapters for the feed, the
bootstrap, the candle books and stored positions; the process sampler; the
least-squares trend and the error window; and the snapshot's round trip
through a store record."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from kit.broker.feed import FeedCredentials, ResilientFeed
from kit.broker.routes import Mode
from kit.clock import ManualClock, NseCalendar
from kit.market.bootstrap_state import BootstrapStatus, WarmupMode
from kit.market.candle_book import CandleBook
from kit.market.warmup import closed_minutes
from kit.ops.health_config import MIB
from kit.ops.health_process import sample_process
from kit.ops.health_snapshot import (
    CandleHealth,
    FeedHealth,
    Grade,
    HealthSnapshot,
    PositionPnl,
)
from kit.ops.health_sources import (
    OperationCounts,
    books_coverage,
    bootstrap_coverage,
    feed_reading,
    positions_health,
    sources_for,
)
from kit.ops.health_windows import ErrorWindow, RssTrend, least_squares_slope
from kit.store.base import HealthRecord, PositionRecord
from tests.ops.health_fakes import MIDDAY, FakeFeed, FakeSession, nominal


def no_credentials(*, refresh: bool = False) -> FeedCredentials:
    raise AssertionError("an idle feed asks for no credentials")


def test_an_idle_resilient_feed_reads_as_not_connected_with_its_subscriptions():
    feed = ResilientFeed("ws://127.0.0.1:9/feed", no_credentials)
    feed.subscribe(["2885", "3045"])
    feed.subscribe(["2885"], mode=Mode.QUOTE)  # the same token in a second mode

    reading = feed_reading(feed)

    assert (reading.state, reading.connected, reading.uptime_s) == ("idle", False, 0.0)
    assert reading.subscribed == {(1, "2885"), (1, "3045")}
    assert reading.reconnects == 0 and dict(reading.last_tick_at) == {}


def test_a_connected_feed_reads_its_youngest_connection_and_its_ticks():
    clock = ManualClock(MIDDAY)
    feed = FakeFeed(clock)
    feed.tick(["3000"])

    reading = feed_reading(feed)

    assert (reading.state, reading.connected) == ("connected", True)
    assert reading.uptime_s == 3600.0
    assert reading.reconnects == 2
    assert dict(reading.last_tick_at) == {(1, "3000"): MIDDAY.timestamp()}
    assert len(reading.subscribed) == 10


def boot_status(mode: WarmupMode, warm_at=None) -> BootstrapStatus:
    return BootstrapStatus(
        mode=mode, symbols=5, with_history=("A", "B"), from_ticks=("C", "D"),
        skipped=("E",), warm_at=warm_at, jobs=1, running=True,
    )  # fmt: skip


class Boot:
    def __init__(self, status: BootstrapStatus) -> None:
        self.value = status

    def status(self) -> BootstrapStatus:
        return self.value


@pytest.mark.parametrize(
    ("mode", "warm_in_min", "warm"),
    [
        (WarmupMode.LOADING, None, 2),
        (WarmupMode.TICKS, 30, 2),  # built from ticks, not warm yet
        (WarmupMode.TICKS, -1, 4),  # their warm-up time has passed
    ],
)
def test_the_bootstrap_counts_symbols_with_history_and_those_warmed_by_ticks(
    mode, warm_in_min, warm
):
    warm_at = None if warm_in_min is None else MIDDAY + timedelta(minutes=warm_in_min)

    coverage = bootstrap_coverage(Boot(boot_status(mode, warm_at)), MIDDAY)

    assert coverage == CandleHealth(warm=warm, total=4)


def test_candle_books_are_warm_when_they_hold_every_minute_of_the_window():
    calendar = NseCalendar()
    window = closed_minutes(calendar, MIDDAY, 200)
    full, holed = CandleBook("1", calendar=calendar), CandleBook("2", calendar=calendar)
    rows = [[m.isoformat(), 10.0, 11.0, 9.0, 10.5, 100] for m in window]
    full.merge_broker(rows)
    holed.merge_broker(rows[:50] + rows[51:])

    later = MIDDAY + timedelta(seconds=30)  # 11:59 ended 30 s ago
    coverage = books_coverage(
        {"1": full, "2": holed}, calendar=calendar, now=later, warmup_candles=200
    )

    assert coverage == CandleHealth(warm=1, total=2, candles=399, fewest=199)


def test_a_minute_that_just_ended_does_not_cool_a_book_yet():
    calendar = NseCalendar()
    window = closed_minutes(calendar, MIDDAY - timedelta(minutes=1), 200)
    book = CandleBook("1", calendar=calendar)
    book.merge_broker([[m.isoformat(), 10.0, 11.0, 9.0, 10.5, 100] for m in window])

    def warm(now: datetime) -> int:
        found = books_coverage(
            {"1": book}, calendar=calendar, now=now, warmup_candles=200
        )
        return found.warm

    # 11:59 ended at 12:00:00; the book closes it a few seconds later.
    assert warm(MIDDAY + timedelta(seconds=5)) == 1
    assert warm(MIDDAY + timedelta(seconds=25)) == 0


def test_sources_for_prefers_the_measured_books_to_the_bootstrap():
    clock = ManualClock(MIDDAY)
    empty = CandleBook("1")
    boot = Boot(boot_status(WarmupMode.HISTORY))

    both = sources_for(clock=clock, bootstrap=boot, books=lambda: {"1": empty})
    boot_only = sources_for(clock=clock, bootstrap=boot)

    assert both.candles is not None and boot_only.candles is not None
    assert both.candles() == CandleHealth(0, 1, candles=0, fewest=0)
    assert boot_only.candles() == CandleHealth(2, 4)


def test_sources_for_wires_the_feed_lever_and_the_session():
    clock = ManualClock(MIDDAY)
    feed, session = FakeFeed(clock), FakeSession(clock)

    sources = sources_for(clock=clock, feed=feed, session=session, process=None)

    assert sources.reconnect is not None and sources.session is not None
    sources.reconnect()
    assert feed.reconnect_calls == 1
    assert sources.session().expires_in_s == 24 * 3600.0
    assert sources.candles is None and sources.process is None


def test_positions_from_stored_records():
    records = [
        PositionRecord("paper", "RELIANCE-EQ", "2885", "NSE", 10, 2845.5,
                       last_price=2969.5),
        PositionRecord("paper", "INFY-EQ", "1594", "NSE", -8, 1500.0,
                       last_price=1540.0, realised_pnl=200.0),
        PositionRecord("paper", "TCS-EQ", "11536", "NSE", 0, 3900.0,
                       realised_pnl=-50.0),
        PositionRecord("paper", "SBIN-EQ", "3045", "NSE", 4, 800.0),  # no price yet
    ]  # fmt: skip

    health = positions_health(records)

    assert health.count == 3
    assert health.positions == (
        PositionPnl("RELIANCE-EQ", 10, 1240.0),
        PositionPnl("INFY-EQ", -8, -320.0),
        PositionPnl("SBIN-EQ", 4, 0.0),
    )
    assert health.unrealised_pnl == 920.0
    assert health.realised_pnl == 150.0


def test_the_process_sampler_reads_this_process():
    reading = sample_process()

    assert reading.rss_bytes > 10 * MIB
    assert reading.threads == threading.active_count()
    assert threading.current_thread().name in reading.thread_names
    assert reading.open_files is not None and reading.open_files > 0
    assert reading.memory_total_bytes and reading.memory_total_bytes > reading.rss_bytes


def test_the_least_squares_slope_of_known_points():
    assert least_squares_slope([(0, 1), (1, 3), (2, 5)]) == 2.0
    assert least_squares_slope([(0, 0), (1, 2), (2, 1), (3, 3)]) == pytest.approx(0.8)
    assert least_squares_slope([(5, 1), (5, 9)]) == 0.0


def test_the_rss_trend_needs_its_span_and_forgets_the_old_samples():
    trend = RssTrend(window_s=100.0, min_span_s=50.0)
    for at_s in range(0, 50, 10):
        trend.add(float(at_s), 1000 + at_s)
    assert trend.bytes_per_hour() is None  # 40 s of samples

    trend.add(50.0, 1050)
    assert trend.bytes_per_hour() == pytest.approx(3600.0)
    for at_s in range(60, 260, 10):
        trend.add(float(at_s), 5000)  # flat from here on
    assert trend.bytes_per_hour() == 0.0


def test_the_error_window_counts_from_zero_then_over_the_window_and_after_a_reset():
    window = ErrorWindow(window_s=60.0)

    first = window.add(0.0, OperationCounts(100, 5))
    for at_s in range(10, 70, 10):
        latest = window.add(float(at_s), OperationCounts(100 + at_s, 5))
    reset = window.add(70.0, OperationCounts(3, 1))

    assert (first.operations, first.errors) == (100, 5)
    assert (latest.operations, latest.errors) == (60, 0)
    assert (reset.operations, reset.errors) == (3, 1)


def test_a_snapshot_goes_to_a_record_of_json_values_and_back_unchanged():
    snapshot = replace(nominal(), grade=Grade.GOOD, reasons=("data from 45/50",))
    unknown = replace(snapshot, feed=None, process=None, positions=None)

    for original in (snapshot, unknown):
        record = original.to_record()
        assert json.loads(json.dumps(record.data, allow_nan=False)) == record.data
        assert (record.at, record.grade) == (MIDDAY, "GOOD")
        assert HealthSnapshot.from_record(record) == original
    assert snapshot.to_record().data["positions"]["positions"][0] == {
        "symbol": "RELIANCE-EQ", "quantity": 10, "pnl": 1240.0,
    }  # fmt: skip


def test_a_record_that_is_not_a_snapshot_is_refused():
    with pytest.raises(ValueError, match="not a health record"):
        HealthSnapshot.from_record(HealthRecord(MIDDAY, "GOOD", {"feed": {"up": 1}}))
    with pytest.raises(ValueError):
        HealthSnapshot.from_record(HealthRecord(MIDDAY, "SPLENDID", {}))
    bad = replace(nominal(), feed=FeedHealth(True, "connected", float("nan"), 0))
    with pytest.raises(ValueError):
        bad.to_record()
