"""The closing policy: a minute is final at its end on the exchange clock plus a
grace, or by the local clock when no tick comes; late ticks inside the grace
count, after it they are stale."""

from __future__ import annotations

import pytest

from kit.market.candle_book import CandleBook
from kit.market.candles import ClosePolicy, TickOutcome
from tests.market.sim_ticks import OPEN, TOKEN, at, feed, ms, ohlcv, ticks, truth

T0 = ms(OPEN)  # 09:15:00.000


@pytest.mark.parametrize(
    ("exchange_s", "final_before"),
    [(61.999, T0), (62.0, T0 + 60_000), (121.999, T0 + 60_000), (122.0, T0 + 120_000)],
)
def test_exchange_time_makes_a_minute_final_at_its_end_plus_the_grace(
    exchange_s: float, final_before: int
):
    policy = ClosePolicy(grace_s=2.0)

    boundary = policy.final_before_ms(exchange_ms=T0 + round(exchange_s * 1000))

    assert boundary == final_before


def test_the_clock_closes_a_minute_after_its_own_grace_and_the_later_time_wins():
    policy = ClosePolicy(grace_s=2.0, clock_grace_s=5.0)

    assert policy.final_before_ms(now_ms=T0 + 64_999) == T0
    assert policy.final_before_ms(now_ms=T0 + 65_000) == T0 + 60_000
    assert policy.final_before_ms(exchange_ms=T0 + 1_000, now_ms=T0 + 65_000) == (
        T0 + 60_000
    )
    assert policy.final_before_ms() == 0  # no time known: nothing is final
    assert policy.is_final(OPEN, exchange_ms=T0 + 62_000)
    assert not policy.is_final(at(9, 16), exchange_ms=T0 + 62_000)


@pytest.mark.parametrize(
    "bad", [{"grace_s": -0.1}, {"grace_s": 60.0}, {"clock_grace_s": 61}]
)
def test_a_grace_outside_zero_to_a_minute_is_refused(bad: dict[str, float]):
    with pytest.raises(ValueError, match="must be in"):
        ClosePolicy(**bad)


def test_a_late_tick_inside_the_grace_updates_the_candle():
    book = CandleBook(TOKEN, policy=ClosePolicy(grace_s=2.0))
    stream = ticks(0, 63)  # 09:15:00 to 09:16:02
    held_back = stream[59]  # 09:15:59, the minute's close

    assert feed(book, stream[:59] + stream[60:62]) == []  # up to 09:16:01
    assert book.builder.add(held_back) is TickOutcome.UPDATED
    closed = book.on_tick(stream[62])  # 09:16:02: the minute is final

    assert [ohlcv(c) for c in closed] == [ohlcv(truth(OPEN, at(9, 16))[0])]


def test_a_late_tick_after_the_grace_is_stale_and_changes_nothing():
    book = CandleBook(TOKEN, policy=ClosePolicy(grace_s=2.0))
    stream = ticks(0, 63)
    held_back = stream[59]

    (closed,) = feed(book, stream[:59] + stream[60:])
    assert book.builder.add(held_back) is TickOutcome.STALE

    expected = truth(OPEN, at(9, 16))[0]
    assert closed.close == stream[58].ltp != expected.close
    assert book.get(OPEN) == closed
    assert book.counts.stale == 1


def test_a_zero_grace_closes_on_the_first_tick_of_the_next_minute():
    book = CandleBook(TOKEN, policy=ClosePolicy(grace_s=0.0))
    stream = ticks(0, 61)

    assert feed(book, stream[:60]) == []
    assert [c.start for c in book.on_tick(stream[60])] == [OPEN]


def test_an_idle_token_closes_by_the_clock_and_then_refuses_its_late_ticks():
    book = CandleBook(TOKEN, policy=ClosePolicy(clock_grace_s=5.0))
    stream = ticks(0, 60)
    feed(book, stream[:-1])

    assert book.close_due(now_ms=T0 + 64_999) == []
    (closed,) = book.close_due(now_ms=T0 + 65_000)
    assert book.builder.add(stream[-1]) is TickOutcome.STALE
    assert closed.close == stream[-2].ltp


def test_the_exchange_time_of_other_tokens_closes_an_idle_token():
    book = CandleBook(TOKEN)
    feed(book, ticks(0, 60))

    assert book.close_due(exchange_ms=T0 + 61_999) == []
    (closed,) = book.close_due(exchange_ms=T0 + 62_000)
    assert ohlcv(closed) == ohlcv(truth(OPEN, at(9, 16))[0])


def test_the_last_tick_sent_again_after_its_minute_closed_is_a_duplicate():
    # After a reconnect the feed sends each token's latest tick once more.
    book = CandleBook(TOKEN)
    stream = ticks(0, 60)
    feed(book, stream)
    book.close_due(now_ms=T0 + 120_000)

    assert book.builder.add(stream[-1]) is TickOutcome.DUPLICATE
    assert book.counts.stale == 0
