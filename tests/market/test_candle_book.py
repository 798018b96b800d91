"""The candle book: gaps found and repaired from the broker's candles, revisions
reported, broker candles extended by ticks, the bound, and the pandas view."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from kit.broker.client import candles_frame
from kit.clock import IST
from kit.market.candle_book import FRAME_COLUMNS, CandleBook, broker_candles
from kit.market.candles import Provenance, VolumeBasis
from tests.market.sim_ticks import (
    OPEN,
    TOKEN,
    at,
    broker_rows,
    feed,
    finish,
    ms,
    ohlcv,
    ticks,
    truth,
)

OHLCV = FRAME_COLUMNS[:5]


def book_with_outage() -> CandleBook:
    """Ticks 09:15:00 to 10:14:59, but none from 09:40:00 to 09:44:29."""
    book = CandleBook(TOKEN)
    stream = ticks(0, 25 * 60) + ticks(29 * 60 + 30, 30 * 60 + 30)
    feed(book, stream)
    finish(book, at(10, 15))
    return book


def test_a_feed_outage_leaves_exactly_its_whole_minutes_as_gaps():
    book = book_with_outage()

    assert book.gaps() == [at(9, 40), at(9, 41), at(9, 42), at(9, 43)]
    # 09:44 has ticks from 09:44:30: held, but its start and volume are partial.
    partial = book.get(at(9, 44))
    assert partial is not None
    assert partial.volume_basis is VolumeBasis.PARTIAL
    assert book.get(at(9, 45)).volume_basis is VolumeBasis.EXACT  # type: ignore[union-attr]


def test_gaps_in_a_window_count_only_session_minutes():
    book = book_with_outage()

    window = book.gaps(at(9, 0), at(10, 20))
    assert window == [at(9, 40), at(9, 41), at(9, 42), at(9, 43)] + [
        at(10, 15 + m) for m in range(5)
    ]
    # Over a night and a weekend only the session minutes are missing.
    friday_close = at(15, 0) - timedelta(days=3)
    assert len(book.gaps(friday_close, OPEN)) == 30


def test_the_broker_candles_repair_the_gap_and_replace_the_tick_candles():
    book = book_with_outage()
    expected = truth(OPEN, at(10, 15))

    revisions = book.merge_broker(candles_frame(broker_rows(expected)))

    assert book.gaps() == []
    assert [ohlcv(c) for c in book] == [ohlcv(c) for c in expected]
    assert {c.provenance for c in book} == {Provenance.BROKER}
    # Every tick candle was replaced; only the partial one changed value.
    assert len(revisions) == 60 - 4
    assert {r.old.provenance for r in revisions} == {Provenance.TICKS}
    assert [r.start for r in revisions if r.changed] == [at(9, 44)]
    (fixed,) = [r for r in revisions if r.changed]
    assert fixed.new.volume > fixed.old.volume
    assert book.revised == 56


def test_merging_the_same_broker_rows_again_revises_nothing():
    book = book_with_outage()
    rows = broker_rows(truth(OPEN, at(10, 15)))
    book.merge_broker(candles_frame(rows))

    assert book.merge_broker(rows) == []


def test_a_broker_candle_of_the_open_minute_waits_then_is_extended_by_ticks():
    book = CandleBook(TOKEN)
    stream = ticks(0, 6 * 60 + 3)  # to 09:21:02
    feed(book, stream[: 5 * 60 + 20])  # to 09:20:19
    true_minute = truth(at(9, 20), at(9, 21))[0]
    # The broker answered at 09:20:10: its last minute is partial.
    seen = [t.ltp for t in stream[300:310]]
    partial = [at(9, 20), seen[0], max(seen) + 9, min(seen), seen[-1], 123]

    assert book.merge_broker([partial]) == []
    assert book.get(at(9, 20)) is None  # not final: readers do not see it yet
    assert book.open_candles()[0].provenance is Provenance.MIXED

    (closed,) = feed(book, stream[5 * 60 + 20 :])
    assert closed.provenance is Provenance.MIXED
    assert (closed.open, closed.close) == (true_minute.open, true_minute.close)
    assert closed.high == max(seen) + 9
    assert closed.low == true_minute.low
    # The ticks saw the whole minute: their volume is exact and the larger.
    assert closed.volume == true_minute.volume
    assert closed.volume_basis is VolumeBasis.EXACT

    (revision,) = book.merge_broker(broker_rows([true_minute]))
    assert revision.old == closed
    assert ohlcv(revision.new) == ohlcv(true_minute)
    assert revision.changed


def test_a_waiting_broker_candle_without_ticks_becomes_final_with_its_minute():
    book = CandleBook(TOKEN)
    feed(book, ticks(0, 65))
    later = truth(at(9, 16), at(9, 18))

    book.merge_broker(broker_rows(later))
    assert [c.start for c in book] == [OPEN]

    closed = book.close_due(now_ms=ms(at(9, 18, 5)))
    assert [c.start for c in closed] == [at(9, 16), at(9, 17)]
    assert closed[0].provenance is Provenance.MIXED  # 09:16:00-04 came as ticks
    assert ohlcv(closed[1]) == ohlcv(later[1])
    assert closed[1].provenance is Provenance.BROKER


def test_a_book_that_knows_no_time_takes_all_broker_candles_as_final():
    book = CandleBook(TOKEN)
    expected = truth(OPEN, at(9, 30))

    assert book.merge_broker(broker_rows(expected)) == []
    assert [ohlcv(c) for c in book] == [ohlcv(c) for c in expected]
    assert book.gaps() == []
    assert book.gaps(OPEN, at(9, 31)) == [at(9, 30)]


def test_the_book_keeps_only_the_newest_candles():
    book = CandleBook(TOKEN, max_candles=10)

    feed(book, ticks(0, 30 * 60))
    finish(book, at(9, 45))

    assert len(book) == 10
    assert [c.start for c in book] == [at(9, 35 + m) for m in range(10)]
    assert book.evicted == 20
    # A broker candle older than all that is kept does not stay either.
    book.merge_broker(broker_rows(truth(OPEN, at(9, 16))))
    assert book.get(OPEN) is None
    assert len(book) == 10
    assert book.evicted == 21


def test_the_frame_matches_the_broker_clients_frame_plus_provenance():
    book = CandleBook(TOKEN)
    feed(book, ticks(0, 10 * 60))
    finish(book, at(9, 25))

    frame = book.frame()

    expected = candles_frame(broker_rows(truth(OPEN, at(9, 25))))
    assert list(frame.columns) == [*OHLCV, "provenance"]
    assert frame.index.name == "start"
    assert str(frame.index.tz) == str(IST)
    pd.testing.assert_frame_equal(frame[OHLCV], expected)
    assert set(frame["provenance"]) == {"ticks"}


def test_the_frame_can_show_the_open_candle_and_is_typed_when_empty():
    book = CandleBook(TOKEN)
    empty = book.frame()
    assert list(empty.columns) == FRAME_COLUMNS
    assert isinstance(empty.index, pd.DatetimeIndex)
    assert empty.index.tz is not None
    assert empty["volume"].dtype == "int64"

    feed(book, ticks(0, 90))
    assert list(book.frame().index) == [pd.Timestamp(OPEN)]
    with_open = book.frame(include_open=True)
    assert list(with_open.index) == [pd.Timestamp(OPEN), pd.Timestamp(at(9, 16))]


def test_broker_rows_and_frames_read_the_same_and_bad_starts_are_refused():
    rows = broker_rows(truth(OPEN, at(9, 20)))

    assert broker_candles(rows) == broker_candles(candles_frame(rows))
    with pytest.raises(ValueError, match="offset"):
        broker_candles([["2026-03-02T09:15:00", 1, 1, 1, 1, 1]])
    with pytest.raises(ValueError, match="on a minute"):
        broker_candles([["2026-03-02T09:15:30+05:30", 1, 1, 1, 1, 1]])


def test_a_book_of_no_candles_is_refused():
    with pytest.raises(ValueError, match="max_candles"):
        CandleBook(TOKEN, max_candles=0)
