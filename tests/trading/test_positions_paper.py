"""Positions and the paper broker: fill rules, P&L, stops and targets, and
everything in the store before a call returns (a new book reads it back)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from kit.clock import IST, ManualClock
from kit.ops.events import ActivityEvent, EventKind
from kit.store.sqlite import SqliteStore
from kit.trading.paper import PaperBroker
from kit.trading.positions import Fill, Instrument, PositionBook, PositionMonitor

SBIN = Instrument("SBIN-EQ", "3045")
START = datetime(2026, 12, 3, 10, 0, tzinfo=IST)


@pytest.fixture
def store(tmp_path: Path):
    clock = ManualClock(START)
    opened = SqliteStore(tmp_path / "kit.sqlite3", clock)
    yield opened
    opened.close()


def fill(side: str, quantity: int, price: float) -> Fill:
    return Fill(SBIN, side, quantity, price, at_s=1.0)  # type: ignore[arg-type]


def test_fills_follow_the_average_price_rules(store: SqliteStore):
    book = PositionBook("paper", store, ManualClock(START))

    book.apply(fill("BUY", 10, 100.0))
    book.apply(fill("BUY", 10, 110.0))
    assert (book.get("SBIN-EQ").quantity, book.get("SBIN-EQ").avg_price) == (20, 105.0)

    book.apply(fill("SELL", 5, 115.0))  # realises (115 - 105) x 5
    held = book.get("SBIN-EQ")
    assert (held.quantity, held.avg_price, held.realised_pnl) == (15, 105.0, 50.0)

    book.apply(fill("SELL", 20, 100.0))  # closes 15 (-75), opens 5 short at 100
    held = book.get("SBIN-EQ")
    assert (held.quantity, held.avg_price, held.realised_pnl) == (-5, 100.0, -25.0)

    book.mark({"SBIN-EQ": 90.0})
    assert book.unrealised() == pytest.approx(50.0)  # short 5 from 100 to 90
    assert book.day_pnl() == pytest.approx(25.0)


def test_every_fill_is_in_the_store_before_apply_returns(store: SqliteStore):
    book = PositionBook("paper", store, ManualClock(START))
    book.apply(fill("BUY", 7, 101.5), stop=99.0, target=105.0)

    reread = PositionBook("paper", store, ManualClock(START)).get("SBIN-EQ")

    assert reread is not None
    assert (reread.quantity, reread.avg_price, reread.stop, reread.target) == (
        7,
        101.5,
        99.0,
        105.0,
    )
    assert PositionBook("live", store, ManualClock(START)).get("SBIN-EQ") is None


def test_a_flat_position_keeps_its_realised_pnl_until_a_new_day(store: SqliteStore):
    book = PositionBook("paper", store, ManualClock(START))
    book.apply(fill("BUY", 10, 100.0), stop=95.0, target=110.0)
    book.apply(fill("SELL", 10, 104.0))

    assert book.open_positions() == []
    assert book.realised() == pytest.approx(40.0)
    assert book.get("SBIN-EQ").stop is None

    book.new_day()
    assert book.get("SBIN-EQ") is None
    assert PositionBook("paper", store, ManualClock(START)).realised() == 0.0


@pytest.mark.parametrize(
    ("side", "price", "expected"),
    [
        ("BUY", 94.0, "stop"),
        ("BUY", 111.0, "target"),
        ("BUY", 100.0, None),
        ("SELL", 106.0, "stop"),
        ("SELL", 89.0, "target"),
    ],
)
def test_the_monitor_finds_crossed_stops_and_targets(
    store: SqliteStore, side: str, price: float, expected: str | None
):
    book = PositionBook("paper", store, ManualClock(START))
    if side == "BUY":
        book.apply(fill("BUY", 10, 100.0), stop=95.0, target=110.0)
    else:
        book.apply(fill("SELL", 10, 100.0), stop=105.0, target=90.0)

    exits = PositionMonitor(book).check({"SBIN-EQ": price})

    if expected is None:
        assert exits == []
    else:
        (request,) = exits
        assert request.reason == expected
        assert request.quantity == (-10 if side == "BUY" else 10)


def test_paper_fills_move_against_the_trader_by_the_slippage(store: SqliteStore):
    clock = ManualClock(START)
    events: list[ActivityEvent] = []
    broker = PaperBroker(
        PositionBook("paper", store, clock), clock, slippage_bps=10, emit=events.append
    )

    bought = broker.submit(SBIN, "BUY", 10, 800.0, reason="signal")
    sold = broker.submit(SBIN, "SELL", 10, 800.0, reason="target")

    assert bought.price == 800.80  # 800 + 0.80, on the 0.05 tick
    assert sold.price == 799.20
    assert broker.book.realised() == pytest.approx(-16.0)
    assert [e.kind for e in events] == [
        EventKind.POSITION_OPENED,
        EventKind.POSITION_CLOSED,
    ]
    assert broker.fill_price("BUY", 100.01) == 100.15  # 100.11 rounds up


def test_paper_margin_is_capital_less_what_positions_hold(store: SqliteStore):
    clock = ManualClock(START)
    broker = PaperBroker(
        PositionBook("paper", store, clock),
        clock,
        slippage_bps=0,
        capital=100_000.0,
        margin_rate=0.2,
    )
    broker.submit(SBIN, "BUY", 100, 500.0, reason="signal")

    assert broker.margin_available() == pytest.approx(100_000.0 - 10_000.0)
