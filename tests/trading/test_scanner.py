"""The scanner: strategy failures contained, warm-up skips, the candles it passes
and the inputs it refuses, its callbacks."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pandas as pd
import pytest

from kit.clock import ManualClock
from kit.market.candle_book import candles_to_frame
from kit.ops.events import EventKind, Severity
from kit.trading.scanner import Scanner
from kit.trading.strategy import Side, Signal
from tests.trading.candles import START, book_of, frame_of, random_walk
from tests.trading.scripted import Harness, Scripted, books, buy

# Failures are contained.


def test_a_strategy_that_raises_for_one_symbol_does_not_stop_the_others(caplog):
    strategy = Scripted({"S0": "buy", "S1": "raise", "S2": "buy"})
    harness = Harness(strategy)

    with caplog.at_level(logging.ERROR, logger="kit.trading.scanner"):
        report = harness.scanner.scan(books(4))

    assert [symbol for symbol, _ in strategy.calls] == ["S0", "S1", "S2", "S3"]
    assert [s.symbol for s in harness.signals] == ["S0", "S2"]
    assert [f.symbol for f in harness.failures] == ["S1"]
    assert isinstance(harness.failures[0].error, ZeroDivisionError)
    assert report.failures == tuple(harness.failures)

    (record,) = caplog.records
    assert record.getMessage() == "scan: strategy scripted failed on S1"
    # The traceback is on the record: as exc_info, or rendered into exc_text
    # once the kit's secret-masking filter has seen the record.
    rendered = record.exc_text or logging.Formatter().formatException(
        record.exc_info  # type: ignore[arg-type]
    )
    assert "ZeroDivisionError: division by zero for S1" in rendered


def test_a_failure_becomes_a_strategy_error_event():
    harness = Harness(Scripted({"S0": "raise"}))

    harness.scanner.scan(books(1))

    (failure,) = harness.failures
    event = failure.event()
    assert event.kind == EventKind.STRATEGY_ERROR
    assert event.severity is Severity.ERROR
    assert event.at == harness.clock.now()
    assert event.text == (
        "scripted failed on S0: ZeroDivisionError: division by zero for S0"
    )
    assert event.fields["candle_start"] == (START + timedelta(minutes=29)).isoformat()
    assert json.loads(json.dumps(event.fields))["error"] == "ZeroDivisionError"


def wrong_symbol(symbol: str, candles: pd.DataFrame) -> Signal:
    return buy("OTHER-EQ", candles)


def older_candle(symbol: str, candles: pd.DataFrame) -> Signal:
    return buy(symbol, candles.iloc[:-1])


def stop_above_price(symbol: str, candles: pd.DataFrame) -> Signal:
    close = float(candles["close"].iloc[-1])
    return Signal(
        symbol=symbol,
        side=Side.BUY,
        price=close,
        candle_start=candles.index[-1],
        stop=close + 1.0,
        target=close + 2.0,
    )


@pytest.mark.parametrize(
    ("action", "error", "message"),
    [
        (lambda s, c: "BUY", TypeError, "on_candle returned str, not a Signal"),
        (wrong_symbol, ValueError, "a signal for OTHER-EQ returned for S0"),
        (older_candle, ValueError, "but the newest closed candle is of"),
        (stop_above_price, ValueError, "a BUY needs stop < price < target"),
    ],
)
def test_an_unusable_result_counts_as_a_strategy_error(action, error, message):
    harness = Harness(Scripted({"S0": action, "S1": "buy"}))

    harness.scanner.scan(books(2))

    (failure,) = harness.failures
    assert failure.symbol == "S0"
    assert isinstance(failure.error, error)
    assert message in str(failure.error)
    assert [s.symbol for s in harness.signals] == ["S1"]
    assert harness.scanner.stats().errors == 1
    assert harness.scanner.stats().signals == 1


def test_failures_are_counted_without_an_error_callback():
    scanner = Scanner(
        Scripted({"S0": "raise", "S1": "raise"}),
        clock=ManualClock(START),
        on_signal=lambda signal: None,
    )

    report = scanner.scan(books(3))

    assert len(report.failures) == 2
    assert scanner.stats().errors == 2


def test_a_callback_that_raises_is_counted_and_the_others_still_run(caplog):
    delivered: list[str] = []

    def on_signal(signal: Signal) -> None:
        if signal.symbol == "S0":
            raise RuntimeError("broker down")
        delivered.append(signal.symbol)

    scanner = Scanner(
        Scripted({"S0": "buy", "S1": "buy"}),
        clock=ManualClock(START),
        on_signal=on_signal,
    )
    with caplog.at_level(logging.ERROR, logger="kit.trading.scanner"):
        scanner.scan(books(2))

    assert delivered == ["S1"]
    assert scanner.stats().callback_errors == 1
    assert scanner.stats().signals == 2
    assert "scan: on_signal failed for S0" in caplog.text


# Warm-up.


def test_symbols_not_warm_are_skipped_and_counted():
    strategy = Scripted({"cold": "buy", "told": "buy", "S0": "buy"}, warmup=20)
    harness = Harness(strategy)
    closed = books(1, cold=19, told=50)

    report = harness.scanner.scan(closed, not_warm={"told"})

    assert strategy.calls == [("S0", 30)]
    assert report.not_warm == ("cold", "told")
    assert report.scanned == ("S0",)
    assert [s.symbol for s in harness.signals] == ["S0"]
    stats = harness.scanner.stats()
    assert (stats.skipped_not_warm, stats.symbols_scanned) == (2, 1)


def test_a_symbol_with_exactly_warmup_candles_is_scanned():
    strategy = Scripted(warmup=30)

    Harness(strategy).scanner.scan(books(1, short=29))

    assert strategy.calls == [("S0", 30)]


# What the strategy is given.


def test_the_strategy_gets_the_newest_candles_of_the_window_as_the_books_frame():
    strategy = Scripted(warmup=10)
    harness = Harness(strategy, window_candles=40)
    book = book_of(random_walk(100, seed=5), symbol="X")

    harness.scanner.scan({"X": book})

    seen = strategy.seen["X"]
    expected = candles_to_frame(list(book)[-40:])
    pd.testing.assert_frame_equal(seen, expected)
    pd.testing.assert_frame_equal(seen, book.frame().iloc[-40:])


def test_the_window_never_holds_fewer_candles_than_the_warm_up():
    strategy = Scripted(warmup=60)
    harness = Harness(strategy, window_candles=40)

    harness.scanner.scan({"X": book_of(random_walk(100, seed=5))})

    assert strategy.calls == [("X", 60)]


def test_frames_are_accepted_and_windowed_too():
    strategy = Scripted({"F": "buy"}, warmup=10)
    harness = Harness(strategy, window_candles=25)
    frame = frame_of(random_walk(80, seed=9))

    harness.scanner.scan({"F": frame})

    assert strategy.calls == [("F", 25)]
    assert harness.signals[0].candle_start == frame.index[-1]


def test_changing_the_frame_it_was_given_changes_nothing_in_the_book():
    def vandal(symbol: str, candles: pd.DataFrame) -> None:
        candles.loc[:, "close"] = -1.0

    book = book_of(random_walk(50, seed=1), symbol="X")
    frame = book.frame()
    before = book.frame()

    Harness(Scripted({"X": vandal, "F": vandal})).scanner.scan({"X": book, "F": frame})

    pd.testing.assert_frame_equal(book.frame(), before)
    pd.testing.assert_frame_equal(frame, before)


def test_wrong_inputs_are_refused_before_any_strategy_runs():
    strategy = Scripted()
    scanner = Harness(strategy).scanner
    good = book_of(random_walk(30, seed=2))

    with pytest.raises(
        TypeError, match="B: give a CandleBook or a DataFrame, not list"
    ):
        scanner.scan({"A": good, "B": [1, 2, 3]})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match=r"B: the candle frame lacks \['volume'\]"):
        scanner.scan({"A": good, "B": good.frame().drop(columns="volume")})
    with pytest.raises(ValueError, match="B: the candle frame needs a DatetimeIndex"):
        scanner.scan({"A": good, "B": good.frame().reset_index()})
    assert strategy.calls == []
    assert scanner.stats().scans == 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"window_candles": 0}, "window_candles must be a whole number of at least 1"),
        ({"average_over": 0}, "average_over must be a whole number of at least 1"),
    ],
)
def test_scanner_options_are_checked(options, message):
    with pytest.raises(ValueError, match=message):
        Harness(Scripted(), **options)


def test_a_strategy_without_a_positive_warmup_is_refused():
    with pytest.raises(ValueError, match=r"strategy\.warmup must be a whole number"):
        Harness(Scripted(warmup=0))
