"""kit.sim.market: a seeded, self-consistent market with known true candles."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from kit.broker import wire
from kit.broker.routes import FRAME_LENGTH, Mode
from kit.clock import IST
from kit.sim.instruments import NSE_INSTRUMENTS
from kit.sim.market import MINUTES, Market

DAY = date(2026, 12, 3)
SBIN = "3045"


def at(hour: int, minute: int, second: int = 0, day: date = DAY) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=IST)


@pytest.fixture(scope="module")
def market() -> Market:
    return Market(seed=7)


def test_the_master_has_over_fifty_nse_stocks_with_unique_tokens():
    stocks = [i for i in NSE_INSTRUMENTS if not i.is_index]

    assert len(stocks) >= 50
    assert len({i.token for i in NSE_INSTRUMENTS}) == len(NSE_INSTRUMENTS)
    assert all(i.symbol.endswith("-EQ") for i in stocks)


def test_a_master_row_has_the_scrip_master_shape(market):
    row = market.by_symbol("sbin-eq").master_row()

    assert row == {
        "token": "3045", "symbol": "SBIN-EQ", "name": "SBIN", "expiry": "",
        "strike": "-1.000000", "lotsize": "1", "instrumenttype": "",
        "exch_seg": "NSE", "tick_size": "5.000000",
    }  # fmt: skip


def test_the_same_seed_gives_the_same_market_and_another_seed_another():
    a, b, c = Market(seed=7), Market(seed=7), Market(seed=8)

    assert a.price(SBIN, at(11, 0).timestamp()) == b.price(SBIN, at(11, 0).timestamp())
    assert a.candles(SBIN, at(9, 15), at(9, 30)) != c.candles(
        SBIN, at(9, 15), at(9, 30)
    )


def test_prices_sit_on_the_tick_grid(market):
    prices = market.day_path(SBIN, DAY).prices

    assert all(abs(p * 20 - round(p * 20)) < 1e-6 for p in prices[::97])


def test_a_session_has_375_true_candles_matching_its_trades(market):
    candles = market.candles(SBIN, at(0, 0), at(23, 59))
    path = market.day_path(SBIN, DAY)

    assert len(candles) == MINUTES
    tenth = candles[10]
    trades = path.prices[600:660]
    assert tenth.start == at(9, 25)
    assert (tenth.open, tenth.close) == (trades[0], trades[-1])
    assert (tenth.high, tenth.low) == (trades.max(), trades.min())
    assert tenth.volume == int(path.quantities[600:660].sum())


def test_candles_cover_start_inclusive_end_exclusive_across_days(market):
    candles = market.candles(SBIN, at(15, 28, day=date(2026, 12, 2)), at(9, 17))

    assert [c.start for c in candles] == [
        at(15, 28, day=date(2026, 12, 2)), at(15, 29, day=date(2026, 12, 2)),
        at(9, 15), at(9, 16),
    ]  # fmt: skip


def test_weekends_and_holidays_have_no_candles(market):
    saturday = date(2026, 12, 5)

    assert market.candles(SBIN, at(9, 0, day=saturday), at(16, 0, day=saturday)) == []
    with pytest.raises(ValueError, match="not a trading day"):
        market.day_path(SBIN, saturday)


def test_a_day_opens_near_the_previous_close_and_ends_at_its_close(market):
    path = market.day_path(SBIN, DAY)

    assert path.prev_close == market.daily_close(SBIN, date(2026, 12, 2))
    assert abs(path.prices[0] / path.prev_close - 1) < 0.05
    assert path.prices[-1] == market.daily_close(SBIN, DAY)


def test_before_the_open_the_price_is_the_previous_close(market):
    before = at(9, 0).timestamp()

    assert market.price(SBIN, before) == market.prev_close(SBIN, DAY)
    assert (
        market.price(SBIN, at(9, 15).timestamp())
        == market.day_path(SBIN, DAY).prices[0]
    )


def test_the_last_trade_is_the_one_at_or_before_the_instant(market):
    path, index = market.last_trade(SBIN, at(10, 0, 30).timestamp() + 0.5)

    assert index == 45 * 60 + 30
    assert path.day == DAY


@pytest.mark.parametrize("mode", list(Mode))
def test_ticks_encode_to_exact_frames_carrying_the_trade(market, mode):
    tick = market.tick(SBIN, mode, at(10, 0, 30).timestamp())
    frame = wire.encode(tick)

    assert len(frame) == FRAME_LENGTH[mode]
    assert wire.decode(frame) == tick
    assert tick.exchange_ts_ms == int(at(10, 0, 30).timestamp() * 1000)


def test_a_snap_quote_has_a_sane_book_and_day_figures(market):
    tick = market.tick(SBIN, Mode.SNAP_QUOTE, at(12, 0).timestamp())

    assert isinstance(tick, wire.SnapQuoteTick)
    assert tick.bid_prices[0] < tick.ask_prices[0]
    assert list(tick.bid_prices) == sorted(tick.bid_prices, reverse=True)
    assert tick.low <= tick.ltp <= tick.high
    assert tick.lower_circuit < tick.ltp < tick.upper_circuit
    assert tick.low_52w <= tick.ltp <= tick.high_52w
    assert tick.close == market.prev_close(SBIN, DAY)


def test_sequence_numbers_grow_with_every_trade(market):
    first = market.tick(SBIN, Mode.LTP, at(10, 0, 0).timestamp())
    second = market.tick(SBIN, Mode.LTP, at(10, 0, 1).timestamp())

    assert second.sequence == first.sequence + 1


def test_an_index_has_no_volume(market):
    nifty = market.by_symbol("Nifty 50")

    assert nifty is not None and nifty.is_index
    assert all(c.volume == 0 for c in market.candles(nifty.token, at(9, 15), at(9, 20)))


def test_search_finds_by_symbol_or_name(market):
    assert [i.symbol for i in market.search("sbi")] == ["SBIN-EQ", "SBILIFE-EQ"]


def test_an_unknown_token_is_a_key_error(market):
    with pytest.raises(KeyError):
        market.price("999999", at(10, 0).timestamp())


def test_the_market_covers_2016_to_2035_only(market):
    with pytest.raises(ValueError, match="2016 to 2035"):
        market.daily_close(SBIN, date(2040, 1, 2))


def test_candles_at_a_half_minute_start_begin_with_the_next_minute(market):
    candles = market.candles(SBIN, at(9, 15, 30), at(9, 15, 30) + timedelta(minutes=2))

    assert [c.start for c in candles] == [at(9, 16), at(9, 17)]
