"""Candles built from the simulator's ticks equal its ground-truth candles, in
order, shuffled, with duplicates and stale ticks, and in LTP mode."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kit.broker.routes import Mode
from kit.clock import NseCalendar
from kit.market.candle_book import CandleBook
from kit.market.candles import (
    CandleBuilder,
    Provenance,
    TickOutcome,
    VolumeBasis,
)
from tests.market.sim_ticks import (
    DAY,
    INDEX_TOKEN,
    OPEN,
    TOKEN,
    at,
    feed,
    finish,
    market,
    ms,
    ohlc,
    ohlcv,
    shuffled,
    ticks,
    truth,
)

MORNING_S = 2 * 3600  # 09:15:00 to 11:14:59
MORNING_END = at(11, 15)
MINUTE = timedelta(minutes=1)


@pytest.mark.parametrize("mode", [Mode.QUOTE, Mode.SNAP_QUOTE])
def test_every_trade_in_order_rebuilds_the_true_candles_exactly(mode: Mode):
    book = CandleBook(TOKEN)

    closed = feed(book, ticks(0, MORNING_S, mode)) + finish(book, MORNING_END)

    expected = truth(OPEN, MORNING_END)
    assert len(expected) == 120
    assert [ohlcv(c) for c in closed] == [ohlcv(c) for c in expected]
    assert {c.provenance for c in closed} == {Provenance.TICKS}
    assert {c.volume_basis for c in closed} == {VolumeBasis.EXACT}
    assert {c.ticks for c in closed} == {60}
    assert book.counts.applied == MORNING_S
    assert book.counts.dropped == 0


def test_candles_close_one_by_one_as_the_exchange_clock_passes_each_minute():
    book = CandleBook(TOKEN)
    stream = ticks(0, 5 * 60)
    closed_at: dict[int, list[object]] = {}

    for n, tick in enumerate(stream):
        for candle in book.on_tick(tick):
            closed_at.setdefault(n, []).append(candle.start)

    # Minute m closes on the tick at 60 (m + 1) + 2 s: the 2 s grace.
    starts = truth(OPEN, at(9, 19))
    assert closed_at == {60 * (m + 1) + 2: [c.start] for m, c in enumerate(starts)}


def test_shuffled_ticks_with_duplicates_and_stale_ones_still_rebuild_the_truth():
    stream = ticks(0, MORNING_S)
    arrivals = shuffled(stream, window_s=3.0, seed=11)
    injected = []
    duplicates = stale = 0
    for n, tick in enumerate(arrivals):
        injected.append(tick)
        if n % 7 == 3:  # the feed sends the same frame twice
            injected.append(tick)
            duplicates += 1
        if n % 50 == 49 and n >= 200:  # a tick of a minute closed long ago
            injected.append(stream[n - 150])
            stale += 1
    book = CandleBook(TOKEN)

    closed = feed(book, injected) + finish(book, MORNING_END)

    assert [ohlcv(c) for c in closed] == [ohlcv(c) for c in truth(OPEN, MORNING_END)]
    counts = book.counts
    assert (counts.duplicates, counts.stale) == (duplicates, stale)
    assert counts.applied == MORNING_S
    assert counts.late > 1000  # the shuffle really reordered the ticks


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    window_s=st.floats(0.0, 3.0),
    repeats=st.sets(st.integers(0, 299), max_size=40),
)
def test_any_arrival_order_within_the_grace_gives_the_same_candles(
    seed: int, window_s: float, repeats: set[int]
):
    stream = ticks(1800, 300)  # 09:45:00 to 09:49:59
    arrivals = []
    for n, tick in enumerate(shuffled(stream, window_s, seed)):
        arrivals += [tick, tick] if n in repeats else [tick]
    book = CandleBook(TOKEN)

    closed = feed(book, arrivals) + finish(book, at(9, 50))

    expected = truth(at(9, 45), at(9, 50))
    assert [ohlc(c) for c in closed] == [ohlc(c) for c in expected]
    # Joining mid-session, the first minute's volume is partial, the rest exact.
    assert [c.volume for c in closed[1:]] == [c.volume for c in expected[1:]]
    assert book.counts.duplicates == len(repeats)


def test_ltp_ticks_give_the_true_prices_and_a_volume_of_zero_marked_none():
    book = CandleBook(TOKEN)

    closed = feed(book, ticks(0, 30 * 60, Mode.LTP)) + finish(book, at(9, 45))

    expected = truth(OPEN, at(9, 45))
    assert [ohlc(c) for c in closed] == [ohlc(c) for c in expected]
    assert {c.volume for c in closed} == {0}
    assert {c.volume_basis for c in closed} == {VolumeBasis.NONE}
    assert {c.ticks for c in closed} == {60}  # the tick count, kept apart


def test_an_index_in_quote_mode_has_its_true_prices_and_zero_volume():
    book = CandleBook(INDEX_TOKEN)

    closed = feed(book, ticks(0, 600, token=INDEX_TOKEN)) + finish(book, at(9, 25))

    expected = truth(OPEN, at(9, 25), token=INDEX_TOKEN)
    assert [ohlcv(c) for c in closed] == [ohlcv(c) for c in expected]


def test_joining_mid_session_marks_the_first_volume_partial_then_exact():
    book = CandleBook(TOKEN)
    first_s = 45 * 60 + 30  # 10:00:30
    stream = ticks(first_s, 5 * 60 - 30)  # to 10:04:59

    closed = feed(book, stream) + finish(book, at(10, 5))

    expected = truth(at(10, 0), at(10, 5))
    first, rest = closed[0], closed[1:]
    assert first.volume_basis is VolumeBasis.PARTIAL
    assert first.open != expected[0].open  # the minute's first 30 s were missed
    # Only what traded after the first tick seen: a lower bound.
    last_of_minute = ticks(first_s + 29, 1)[0]
    assert first.volume == last_of_minute.volume - stream[0].volume  # type: ignore[union-attr]
    assert first.volume < expected[0].volume
    assert [ohlcv(c) for c in rest] == [ohlcv(c) for c in expected[1:]]
    assert {c.volume_basis for c in rest} == {VolumeBasis.EXACT}


def test_a_new_day_closes_the_old_one_and_counts_its_volume_from_zero():
    book = CandleBook(TOKEN)
    calendar = NseCalendar()
    next_open = calendar.session_open(calendar.next_trading_day(DAY))
    next_s = int(next_open.timestamp())
    last_minute = ticks(374 * 60 - 1, 61)  # 15:28:59 to 15:29:59
    next_day = [market().tick(TOKEN, Mode.QUOTE, next_s + i) for i in range(63)]

    closed = feed(book, [*last_minute, *next_day])  # type: ignore[list-item]

    expected = truth(at(15, 29), at(15, 30)) + truth(next_open, next_open + MINUTE)
    assert [ohlcv(c) for c in closed[1:]] == [ohlcv(c) for c in expected]
    assert closed[2].volume_basis is VolumeBasis.EXACT


# The update rules, one by one.


def test_builder_reports_new_updated_duplicate_and_stale():
    builder = CandleBuilder(TOKEN)
    first, second, next_minute = ticks(0, 1) + ticks(1, 1) + ticks(60, 1)

    assert builder.add(first) is TickOutcome.NEW
    assert builder.add(second) is TickOutcome.UPDATED
    assert builder.add(first) is TickOutcome.DUPLICATE  # still in the open minute
    assert builder.add(next_minute) is TickOutcome.NEW
    builder.close_before(ms(at(9, 16)))
    assert builder.add(second) is TickOutcome.STALE  # its minute has closed
    assert builder.add(next_minute) is TickOutcome.DUPLICATE
    counts = builder.counts
    assert (counts.new, counts.updated, counts.duplicates, counts.stale) == (2, 1, 2, 1)


def test_an_out_of_order_tick_in_an_open_minute_moves_the_open_not_the_close():
    builder = CandleBuilder(TOKEN)
    minute = ticks(0, 60)
    for tick in minute[1:]:
        builder.add(tick)

    assert builder.add(minute[0]) is TickOutcome.UPDATED
    (candle,) = builder.open_candles()
    expected = truth(OPEN, at(9, 16))[0]
    assert ohlcv(candle) == ohlcv(expected)
    assert builder.counts.late == 1


def test_a_tick_with_the_same_key_but_another_price_is_a_duplicate():
    builder = CandleBuilder(TOKEN)
    tick = ticks(0, 1)[0]
    builder.add(tick)

    assert builder.add(tick._replace(ltp=tick.ltp + 50)) is TickOutcome.DUPLICATE
    assert builder.open_candles()[0].high == tick.ltp


def test_ticks_outside_the_session_or_without_a_price_are_dropped_and_counted():
    builder = CandleBuilder(TOKEN)
    tick = ticks(0, 1)[0]
    before_open = tick._replace(exchange_ts_ms=tick.exchange_ts_ms - 1)
    at_close = tick._replace(exchange_ts_ms=tick.exchange_ts_ms + 375 * 60_000)
    saturday = tick._replace(exchange_ts_ms=tick.exchange_ts_ms + 5 * 86_400_000)

    outcomes = [builder.add(t) for t in (before_open, at_close, saturday)]
    assert outcomes == [TickOutcome.OUTSIDE] * 3
    assert builder.add(tick._replace(ltp=0.0)) is TickOutcome.INVALID
    assert builder.add(tick._replace(ltp=float("nan"))) is TickOutcome.INVALID
    assert builder.open_candles() == []
    assert (builder.counts.outside, builder.counts.invalid) == (3, 2)


def test_a_tick_of_another_token_is_refused():
    builder = CandleBuilder("3045")

    with pytest.raises(ValueError, match="2885"):
        builder.add(ticks(0, 1)[0])


def test_the_open_candle_is_visible_before_it_closes_and_not_final():
    book = CandleBook(TOKEN)
    feed(book, ticks(0, 90))

    (current,) = book.open_candles()
    assert current.start == at(9, 16)
    assert current.ticks == 30
    assert len(book) == 1
    assert book.get(at(9, 16)) is None
