"""The scanner's counters and timings for the health board, and the default
strategy scanned: signals, the bounded window, 50 symbols of 300 candles."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from kit.clock import ManualClock
from kit.trading.ema_cross import EmaCrossRsiAtr
from kit.trading.scanner import Scanner, candle_window, describe_signal
from kit.trading.strategy import Side, Signal
from tests.trading.candles import START, book_of, first_cross, random_walk, v_shape
from tests.trading.scripted import Harness, Scripted, books

# Counters and timings.


def test_stats_before_any_scan_are_empty():
    stats = Harness(Scripted()).scanner.stats()

    assert (stats.scans, stats.signals, stats.errors, stats.skipped_not_warm) == (
        0,
        0,
        0,
        0,
    )
    assert stats.last_scan_at is None
    assert stats.last_scan_age_s is None
    assert stats.last_scan_s is None
    assert stats.average_scan_s is None


def test_stats_time_each_scan_and_average_the_recent_ones():
    harness = Harness(Scripted({"S0": "buy", "S1": "raise"}), average_over=2)
    closed = books(3, cold=2)

    for cost_s in (1.0, 3.0, 5.0):
        harness.scan_cost_s = cost_s
        harness.scanner.scan(closed)
        harness.clock.advance(60)
    scanned_at = harness.clock.now() - timedelta(seconds=60)
    harness.clock.advance(7)

    stats = harness.scanner.stats()
    assert stats.scans == 3
    assert stats.symbols_scanned == 9
    assert stats.signals == 3
    assert stats.errors == 3
    assert stats.skipped_not_warm == 3
    assert stats.last_scan_at == scanned_at
    assert stats.last_scan_age_s == pytest.approx(67.0)
    assert stats.last_scan_s == pytest.approx(5.0)
    assert stats.average_scan_s == pytest.approx(4.0)  # the last two: 3 and 5
    assert stats.average_over == 2


def test_the_report_carries_the_duration_on_the_real_timer():
    harness = Harness(Scripted({"S0": "buy"}))
    harness.scan_cost_s = 0.75

    report = harness.scanner.scan(books(2))

    assert report.duration_s == pytest.approx(0.75)
    assert report.at == harness.clock.now()
    assert report.signals == tuple(harness.signals)


def test_stats_can_be_read_from_another_thread_while_scanning():
    harness = Harness(Scripted({"S0": "buy"}))
    closed = books(2)
    seen: list[tuple[int, int]] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            stats = harness.scanner.stats()
            seen.append((stats.scans, stats.signals))

    reader = threading.Thread(target=read, name="stats-reader")
    reader.start()
    for _ in range(200):
        harness.scanner.scan(closed)
    done.set()
    reader.join(timeout=5)

    assert not reader.is_alive()
    assert seen, "the reader never ran"
    # One signal a scan: a consistent copy never shows one without the other.
    assert all(scans == signals for scans, signals in seen)
    assert [scans for scans, _ in seen] == sorted(scans for scans, _ in seen)


# The default strategy, scanned.


def test_the_default_strategy_signals_for_the_crossing_symbol_only():
    closes = v_shape()
    cross = first_cross(closes, 9, 21, up=True)
    harness = Harness(EmaCrossRsiAtr())
    closed = {
        "CROSS": book_of(closes[: cross + 1], symbol="CROSS"),
        "BEFORE": book_of(closes[:cross], symbol="BEFORE"),
        "YOUNG": book_of(closes[:150], symbol="YOUNG"),
    }

    report = harness.scanner.scan(closed)

    (signal,) = harness.signals
    assert signal.symbol == "CROSS" and signal.side is Side.BUY
    assert signal.stop is not None and signal.target is not None
    assert signal.stop < signal.price < signal.target
    assert report.scanned == ("CROSS", "BEFORE")
    assert report.not_warm == ("YOUNG",)
    assert describe_signal(signal).startswith(f"BUY CROSS at {signal.price:.2f}, stop")


def test_the_bounded_window_signals_as_the_full_history_does():
    whole = book_of(random_walk(700, seed=11), symbol="X").frame()
    strategy = EmaCrossRsiAtr()
    pairs = []

    for end in range(400, 700):
        frame = whole.iloc[:end]
        full = strategy.on_candle("X", frame)
        bounded = strategy.on_candle("X", candle_window(frame, 300))
        assert (full is None) == (bounded is None), f"differ on candle {end - 1}"
        if full is not None and bounded is not None:
            pairs.append((full, bounded))

    assert pairs, "the walk never crossed"
    for full, bounded in pairs:
        assert (full.side, full.candle_start) == (bounded.side, bounded.candle_start)
        assert full.stop == pytest.approx(bounded.stop, rel=1e-9)
        assert full.target == pytest.approx(bounded.target, rel=1e-9)


def test_fifty_symbols_of_300_candles_scan_with_the_default_strategy():
    closed = {
        f"SYM{i:02d}": book_of(random_walk(300, seed=i), symbol=f"SYM{i:02d}")
        for i in range(50)
    }
    signals: list[Signal] = []
    scanner = Scanner(
        EmaCrossRsiAtr(), clock=ManualClock(START), on_signal=signals.append
    )

    report = scanner.scan(closed)

    assert len(report.scanned) == 50
    assert report.failures == ()
    stats = scanner.stats()
    assert stats.symbols_scanned == 50
    assert stats.signals == len(signals)
    assert stats.last_scan_s is not None and stats.last_scan_s > 0
    print(f"50 symbols x 300 candles: {stats.last_scan_s * 1000:.1f} ms")
