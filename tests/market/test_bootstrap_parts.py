"""The bootstrap's parts on their own: warm-up arithmetic on the calendar,
settings, failure causes, the job book, outage spans, the hand-off to the
engine thread, and the progress bar."""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

import pytest

from kit.broker.feed_events import Connected, Disconnected, Reconnected, TicksDropped
from kit.clock import IST, NseCalendar
from kit.errors import (
    BrokerTimeout,
    MarketClosed,
    RateLimited,
    ServerError,
    TokenExpired,
)
from kit.market.backfill import Job, JobBook, JobKind, outage_span
from kit.market.bootstrap_events import CandleRevised, FailureCause, HistoryMerged
from kit.market.candle_book import CandleBook, broker_candles
from kit.market.candles import Provenance
from kit.market.handoff import Batch, Handoff
from kit.market.history import BootstrapConfig, Symbol, classify
from kit.market.progress import auto_progress, in_notebook, visible
from kit.market.warmup import (
    closed_minutes,
    session_minutes_between,
    warm_at,
    warm_gaps,
)
from kit.sim.market import Market
from tests.market.bootstrap_helpers import MINUTE, Recorder, values
from tests.market.sim_ticks import ms

CAL = NseCalendar()
XMAS_EVE = date(2026, 12, 24)  # a Thursday; Friday the 25th is a holiday


def at(day: date, hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=IST)


# Warm-up arithmetic.


def test_before_the_open_the_warmup_window_is_the_previous_session_tail():
    monday = date(2026, 12, 28)  # after a holiday and a weekend

    window = closed_minutes(CAL, at(monday, 9, 0), 200)

    assert len(window) == 200
    assert window[0] == at(XMAS_EVE, 12, 10)
    assert window[-1] == at(XMAS_EVE, 15, 29)


def test_mid_session_the_warmup_window_joins_two_sessions_and_skips_the_open_minute():
    window = closed_minutes(CAL, at(XMAS_EVE, 10, 0, 30), 200)

    assert window[-1] == at(XMAS_EVE, 9, 59)  # 10:00 has not ended
    assert window[-45] == at(XMAS_EVE, 9, 15)
    assert window[-46] == at(date(2026, 12, 23), 15, 29)
    assert window == sorted(window)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (at(XMAS_EVE, 9, 0), at(XMAS_EVE, 12, 35)),  # from the open
        (at(XMAS_EVE, 9, 15), at(XMAS_EVE, 12, 35)),  # the open minute is whole
        (at(XMAS_EVE, 9, 15, 1), at(XMAS_EVE, 12, 36)),  # it is not any more
        (at(XMAS_EVE, 14, 0), at(date(2026, 12, 28), 11, 5)),  # over the holiday
    ],
)
def test_warm_at_counts_whole_session_minutes_from_now(now, expected):
    assert warm_at(CAL, now, 200) == expected


def test_session_minutes_between_keeps_only_session_minutes():
    first, last = at(XMAS_EVE, 15, 28), at(date(2026, 12, 28), 9, 16)

    minutes = session_minutes_between(CAL, first, last)

    assert minutes == [
        at(XMAS_EVE, 15, 28), at(XMAS_EVE, 15, 29),
        at(date(2026, 12, 28), 9, 15), at(date(2026, 12, 28), 9, 16),
    ]  # fmt: skip


def test_warm_gaps_lists_the_window_minutes_a_book_lacks():
    market, book = Market(seed=7), CandleBook("2885")
    now = at(XMAS_EVE, 11, 0)
    window = closed_minutes(CAL, now, 20)
    rows = [c.broker_row() for c in market.candles("2885", window[0], now)]
    book.close_due(now_ms=ms(now + timedelta(seconds=6)))  # 10:59 is final
    book.merge_broker([r for n, r in enumerate(rows) if n not in (3, 7)])

    assert warm_gaps(book, CAL, now, 20) == [window[3], window[7]]


# Settings and causes.


def test_delays_follow_the_cause_as_the_user_design_says():
    config = BootstrapConfig()

    delays = {cause: config.delay_s(cause) for cause in FailureCause}

    assert delays == {
        FailureCause.RATE_LIMIT: 10.0,
        FailureCause.MARKET_CLOSED: 30.0,
        FailureCause.OTHER: 5.0,
    }
    assert config.max_attempts == 3 and config.warmup_candles == 200


@pytest.mark.parametrize(
    "bad",
    [{"max_attempts": 0}, {"warmup_candles": 0}, {"other_delay_s": -1.0},
     {"rebootstrap_interval_s": 0.0}, {"backfill_attempts": 0}],
)  # fmt: skip
def test_settings_out_of_range_are_refused(bad):
    with pytest.raises(ValueError):
        BootstrapConfig(**bad)


@pytest.mark.parametrize(
    ("error", "market_open", "cause"),
    [
        (RateLimited("rate"), True, FailureCause.RATE_LIMIT),
        (RateLimited("rate"), False, FailureCause.RATE_LIMIT),
        (MarketClosed("closed"), True, FailureCause.MARKET_CLOSED),
        (ServerError("x", code="AB1004"), False, FailureCause.MARKET_CLOSED),
        (ServerError("x", code="AB1004"), True, FailureCause.OTHER),
        (ServerError("x", status=503), True, FailureCause.OTHER),
        (BrokerTimeout("slow", sent=True), False, FailureCause.OTHER),
        (TokenExpired("old"), True, FailureCause.OTHER),
        (ValueError("a bug"), True, FailureCause.OTHER),
    ],
)
def test_failure_causes(error, market_open, cause):
    assert classify(error, market_open=market_open) is cause


# The job book.


def backfill(first_minute: int, last_minute: int, due_s: float = 0.0, **kw) -> Job:
    first = at(XMAS_EVE, 10, first_minute)
    last = at(XMAS_EVE, 10, last_minute)
    tokens = kw.pop("tokens", frozenset({"1", "2"}))
    return Job(JobKind.BACKFILL, tokens, due_s, first, last, **kw)


def test_overlapping_or_touching_backfills_join_and_wait_for_the_later_due_time():
    jobs = JobBook()

    jobs.add(backfill(1, 3, due_s=100.0))
    joined = jobs.add(backfill(4, 5, due_s=160.0))  # touches 10:03
    apart = jobs.add(backfill(7, 8, due_s=200.0))
    other = jobs.add(backfill(1, 3, due_s=100.0, tokens=frozenset({"1"})))

    assert len(jobs) == 3
    assert (joined.first, joined.last, joined.due_s) == (
        at(XMAS_EVE, 10, 1), at(XMAS_EVE, 10, 5), 160.0,
    )  # fmt: skip
    assert apart.first == at(XMAS_EVE, 10, 7)
    assert other.tokens == {"1"}


def test_a_backfill_inside_a_waiting_one_is_covered_and_a_wider_one_is_not():
    jobs = JobBook()
    jobs.add(backfill(1, 5))

    inside = jobs.covers(backfill(2, 3, tokens=frozenset({"1"})))
    wider = jobs.covers(backfill(2, 6))
    other_token = jobs.covers(backfill(2, 3, tokens=frozenset({"3"})))

    assert (inside, wider, other_token) == (True, False, False)


def test_warmup_jobs_join_into_one_with_the_earlier_due_time():
    jobs = JobBook()

    jobs.add(Job(JobKind.WARMUP, frozenset({"1"}), 300.0))
    joined = jobs.add(Job(JobKind.WARMUP, frozenset({"2"}), 200.0))

    assert len(jobs) == 1
    assert (joined.tokens, joined.due_s) == ({"1", "2"}, 200.0)


def test_jobs_are_taken_when_due_earliest_first_and_a_skipped_token_leaves_them():
    jobs = JobBook()
    jobs.add(backfill(1, 1, due_s=50.0))
    jobs.add(backfill(5, 5, due_s=20.0))
    jobs.add(backfill(9, 9, due_s=90.0, tokens=frozenset({"2"})))

    jobs.drop_token("2")
    first, second = jobs.take_due(60.0), jobs.take_due(60.0)

    assert (first.due_s, second.due_s) == (20.0, 50.0)
    assert first.tokens == second.tokens == {"1"}
    assert jobs.take_due(1000.0) is None  # the job of token 2 alone is gone
    assert jobs.next_due_s() is None


# Outage spans.


def test_a_reconnect_is_repaired_from_before_it_was_noticed_to_after_it_ended():
    back = at(XMAS_EVE, 10, 30, 10).timestamp()
    event = Reconnected("feed-1", back, downtime_s=100.0, attempts=3)

    first, last, reason = outage_span(event, BootstrapConfig(), covered_through=None)

    # down at 10:28:30, noticed late: from 10:27:30; back at 10:30:10, +15 s
    assert (first, last) == (at(XMAS_EVE, 10, 27), at(XMAS_EVE, 10, 30))
    assert reason == "feed-1 down 100 s"


def test_a_first_connection_is_repaired_back_to_the_history_loaded_at_start():
    up = at(XMAS_EVE, 10, 5, 50).timestamp()
    event = Connected("feed-1", up)
    covered = at(XMAS_EVE, 9, 59)

    with_history = outage_span(event, BootstrapConfig(), covered_through=covered)
    without = outage_span(event, BootstrapConfig(), covered_through=None)

    assert with_history[:2] == (at(XMAS_EVE, 10, 0), at(XMAS_EVE, 10, 6))
    assert without[:2] == (at(XMAS_EVE, 10, 4), at(XMAS_EVE, 10, 6))


def test_dropped_ticks_are_repaired_up_to_the_next_report_and_other_events_not():
    report = at(XMAS_EVE, 11, 0, 40).timestamp()
    dropped = TicksDropped("feed-1", report, total=5, since_last=5)
    down = Disconnected("feed-1", report, "reset", 1.0, 1, 1)

    first, last, _ = outage_span(dropped, BootstrapConfig(), covered_through=None)

    assert (first, last) == (at(XMAS_EVE, 10, 59), at(XMAS_EVE, 11, 1))
    assert outage_span(down, BootstrapConfig(), covered_through=None) is None


# The hand-off.


def make_handoff(events: Recorder) -> Handoff:
    class Clock:
        def time(self) -> float:
            return 0.0

    return Handoff(clock=Clock(), emit=events, logger=logging.getLogger("t"))  # type: ignore[arg-type]


def test_broker_candles_wait_until_the_book_has_closed_their_minute():
    market, events = Market(seed=7), Recorder()
    handoff = make_handoff(events)
    book = CandleBook("2885", symbol="RELIANCE-EQ")
    start = at(XMAS_EVE, 10, 0)
    rows = [c.broker_row() for c in market.candles("2885", start, start + 4 * MINUTE)]
    truth = broker_candles(rows)
    book.close_due(now_ms=ms(start + 2 * MINUTE + timedelta(seconds=6)))  # 10:00, 10:01

    handoff.put(Batch(Symbol("RELIANCE-EQ", "2885"), tuple(truth), "backfill"))
    early = handoff.apply({"2885": book})
    book.close_due(now_ms=ms(start + 4 * MINUTE + timedelta(seconds=6)))
    later = handoff.apply({"2885": book})

    assert (early.merged, early.filled, early.waiting) == (2, 2, 2)
    assert (later.merged, later.filled, later.waiting) == (2, 2, 0)
    assert [values(c) for c in book] == [values(c) for c in truth]
    assert {c.provenance for c in book} == {Provenance.BROKER}
    merged = events.of(HistoryMerged)
    assert [(e.candles, e.filled, e.revised) for e in merged] == [(2, 2, 0)] * 2


def test_each_candle_replaced_is_an_event_with_old_and_new():
    market, events = Market(seed=7), Recorder()
    handoff = make_handoff(events)
    book = CandleBook("2885", symbol="RELIANCE-EQ")
    start = at(XMAS_EVE, 10, 0)
    true = market.candles("2885", start, start + MINUTE)[0]
    wrong = [true.broker_row()[0], true.open, true.high, true.low, true.close, 1]
    book.close_due(now_ms=ms(start + 2 * MINUTE))
    book.merge_broker([wrong])

    handoff.put(Batch(Symbol("RELIANCE-EQ", "2885"), tuple(broker_candles(
        [true.broker_row()])), "backfill (feed-1 down 3 s)"))  # fmt: skip
    applied = handoff.apply({"2885": book})

    revised = events.of(CandleRevised)
    assert len(applied.revisions) == len(revised) == 1
    assert revised[0].changed and revised[0].old.volume == 1
    assert revised[0].new.volume == true.volume
    assert (revised[0].symbol, revised[0].reason) == (
        "RELIANCE-EQ", "backfill (feed-1 down 3 s)",
    )  # fmt: skip


def test_candles_of_a_symbol_without_a_book_are_dropped_with_one_warning(caplog):
    market, events = Market(seed=7), Recorder()
    handoff = make_handoff(events)
    start = at(XMAS_EVE, 10, 0)
    rows = [c.broker_row() for c in market.candles("2885", start, start + MINUTE)]
    batch = Batch(Symbol("RELIANCE-EQ", "2885"), tuple(broker_candles(rows)), "x")

    for _ in range(2):
        handoff.put(batch)
        applied = handoff.apply({})

    assert applied.merged == 0 and applied.waiting == 0
    assert caplog.text.count("No candle book for token 2885") == 1


# The progress bar.


def test_the_default_progress_bar_is_silent_when_nobody_can_see_it(capsys):
    bar = auto_progress(3, "history")
    bar.update(1)
    bar.close()

    assert not visible()  # pytest captures stderr: not a terminal
    assert not in_notebook()
    assert capsys.readouterr().err == ""
