"""The engine stepped by hand on a manual clock (no threads): ticks to candles
to the store, signals to paper fills sized by risk, stops and targets on feed
or polled prices, backfills asked for late ticks, the 15:15 square-off, candles
restored after a restart, and candles kept while the store is down."""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from kit.broker.wire import LtpTick
from kit.clock import IST, ManualClock, ScaledClock
from kit.errors import StoreUnavailable
from kit.market.candle_book import CandleBook
from kit.market.candles import Candle, Provenance, from_ms, to_ms
from kit.market.handoff import Applied
from kit.ops.events import ActivityEvent, EventKind
from kit.store.sqlite import SqliteStore
from kit.trading.degradation import DegradationWatch, FeedView
from kit.trading.engine import Engine, EngineConfig
from kit.trading.paper import PaperBroker
from kit.trading.positions import Instrument, PositionBook
from kit.trading.risk import Risk, RiskLimits, TradingState
from kit.trading.scanner import Scanner
from kit.trading.strategy import Signal
from tests.trading.scripted import Scripted, buy

DAY = datetime(2026, 12, 3, 10, 0, tzinfo=IST)  # a Thursday, mid-session
AAA = Instrument("AAA-EQ", "101")
BBB = Instrument("BBB-EQ", "102")
INSTRUMENTS = {i.token: i for i in (AAA, BBB)}
POSITION_VALUE = 10_000.0
POLL_INTERVAL_S = 5.0


# Fakes: the bootstrap, the REST poller and a store that can go down.


@dataclass
class FakeBootstrap:
    """Records the backfills asked for; hands out broker candles to merge."""

    backfills: list[tuple[datetime, datetime, tuple[str, ...], str]] = field(
        default_factory=list
    )
    waiting: dict[str, list[list[object]]] = field(default_factory=dict)

    def request_backfill(
        self,
        first: datetime,
        last: datetime,
        *,
        tokens: Iterable[str] | None = None,
        reason: str = "requested",
    ) -> bool:
        self.backfills.append((first, last, tuple(tokens or ()), reason))
        return True

    def apply(self, books: dict[str, CandleBook]) -> Applied:
        merged = 0
        for token, rows in self.waiting.items():
            books[token].merge_broker(rows)
            merged += len(rows)
        self.waiting = {}
        return Applied(merged=merged)


class FakePoller:
    """Last prices over "REST": the prices set, each call recorded."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.prices: dict[str, float] = {}
        self.calls: list[tuple[float, tuple[str, ...]]] = []

    def __call__(self, instruments: list[Instrument]) -> dict[str, float]:
        symbols = tuple(i.symbol for i in instruments)
        self.calls.append((self.clock.monotonic(), symbols))
        return {i.symbol: self.prices[i.symbol] for i in instruments}


class FlakyStore:
    """A SQLite store whose ``save_candles`` fails while ``down`` is set."""

    def __init__(self, store: SqliteStore) -> None:
        self.inner = store
        self.down = False
        self.refused = 0

    def save_candles(self, token: str, candles: Sequence[Candle]) -> None:
        if self.down:
            self.refused += 1
            raise StoreUnavailable("the store does not answer")
        self.inner.save_candles(token, candles)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def signal_on(*counts: int) -> Callable[[str, pd.DataFrame], Signal | None]:
    """A scripted action: BUY when the symbol holds one of ``counts`` candles."""

    def act(symbol: str, candles: pd.DataFrame) -> Signal | None:
        return buy(symbol, candles) if len(candles) in counts else None

    return act


class Rig:
    """An engine and its parts on one manual clock, in paper mode."""

    def __init__(
        self,
        store: Any,
        *,
        plan: dict[str, object] | None = None,
        start: datetime = DAY,
        clock: ManualClock | None = None,
    ) -> None:
        self.clock = clock or ManualClock(start)
        self.store = store
        self.events: list[ActivityEvent] = []
        self.feed = FeedView(True, "connected")
        self.ticks: queue.Queue[Any] = queue.Queue()
        self.strategy = Scripted(plan, warmup=3)
        self.positions = PositionBook("paper", store, self.clock)
        limits = RiskLimits(position_value=POSITION_VALUE, daily_loss_limit=1e6)
        self.risk = Risk(limits, self.clock, emit=self.events.append)
        self.broker = PaperBroker(
            self.positions, self.clock, slippage_bps=0.0, emit=self.events.append
        )
        self.risk.margin_available = self.broker.margin_available
        self.degradation = DegradationWatch(
            "paper", self.clock, self.risk, emit=self.events.append
        )
        self.bootstrap = FakeBootstrap()
        self.poller = FakePoller(self.clock)
        self.books = {t: CandleBook(t, symbol=i.symbol) for t, i in INSTRUMENTS.items()}
        self.engine = Engine(
            clock=self.clock, instruments=INSTRUMENTS, books=self.books,
            ticks=self.ticks,
            scanner=Scanner(self.strategy, clock=self.clock, on_signal=lambda s: None),
            risk=self.risk, broker=self.broker, positions=self.positions,
            store=store, emit=self.events.append, degradation=self.degradation,
            feed=lambda: self.feed, bootstrap=self.bootstrap,  # type: ignore[arg-type]
            poll_prices=self.poller,
            config=EngineConfig(wait_s=0.0, poll_interval_s=POLL_INTERVAL_S),
        )  # fmt: skip
        self._sequence = 0

    def tick(self, instrument: Instrument, price: float, at: datetime | None = None):
        """A tick of ``instrument`` at ``price``, stamped ``at`` (default: now)."""
        self._sequence += 1
        at_ms = self.clock.time_ms() if at is None else to_ms(at)
        self.ticks.put(LtpTick(1, 1, instrument.token, self._sequence, at_ms, price))

    def minute(
        self,
        instrument: Instrument,
        prices: Sequence[float],
        *more: tuple[Instrument, Sequence[float]],
    ) -> None:
        """Ticks at ``prices`` spread over the current minute (and those of
        ``more``), then the clock at the minute's end; a step after each."""
        start = self.clock.now().replace(second=0, microsecond=0)
        for ticked, series in ((instrument, prices), *more):
            step_s = 60 // len(series)
            for n, price in enumerate(series):
                self.clock.advance_to(start + timedelta(seconds=n * step_s))
                self.tick(ticked, price)
                self.engine.step()
        self.clock.advance_to(start + timedelta(minutes=1))

    def close_minute(self) -> None:
        """Move past the clock's grace so the last minute closes, and step."""
        self.clock.advance(5.0)
        self.engine.step()

    def kinds(self, kind: str) -> list[ActivityEvent]:
        return [e for e in self.events if e.kind == kind]


@pytest.fixture
def sqlite(tmp_path: Path):
    store = SqliteStore(tmp_path / "kit.sqlite3", ManualClock(DAY))
    yield store
    store.close()


def values(candle: Candle) -> tuple[object, ...]:
    return (candle.start, candle.open, candle.high, candle.low, candle.close,
            candle.volume, candle.provenance)  # fmt: skip


def open_long(rig: Rig, closes: Sequence[float] = (100.0, 101.0, 102.0)) -> None:
    """Three minutes of AAA (the third close is the entry), closed and scanned."""
    for close in closes:
        rig.minute(AAA, [close - 0.5, close])
    rig.close_minute()


# Candles.


def test_ticks_build_candles_and_closed_candles_are_written_to_the_store(sqlite):
    rig = Rig(sqlite)

    rig.minute(AAA, [100.0, 100.6, 99.7, 100.2])
    rig.minute(BBB, [50.0, 50.1])
    # AAA's 10:00 closed by the clock during BBB's minute; BBB's is still open.
    before_close = [len(sqlite.load_candles(t)) for t in (AAA.token, BBB.token)]
    rig.close_minute()

    aaa, bbb = (sqlite.load_candles(t) for t in (AAA.token, BBB.token))
    assert before_close == [1, 0]
    assert [values(c) for c in aaa] == [
        (DAY, 100.0, 100.6, 99.7, 100.2, 0, Provenance.TICKS)
    ]
    assert [values(c) for c in bbb] == [
        (DAY + timedelta(minutes=1), 50.0, 50.1, 50.0, 50.1, 0, Provenance.TICKS)
    ]
    status = rig.engine.status()
    assert status is not None
    assert (status.ticks, status.candles_closed) == (6, 2)
    assert status.last_prices == {"AAA-EQ": 100.2, "BBB-EQ": 50.1}


# Signals, stops and targets.


def test_a_signal_becomes_a_paper_fill_sized_by_risk(sqlite):
    rig = Rig(sqlite, plan={"AAA-EQ": signal_on(3)})

    open_long(rig)

    held = rig.positions.get("AAA-EQ")
    assert held is not None
    assert held.quantity == int(POSITION_VALUE // 102.0) == 98
    assert (held.avg_price, held.stop, held.target) == (102.0, 101.0, 104.0)
    stored = {p.symbol: p for p in sqlite.positions("paper")}
    assert stored["AAA-EQ"].quantity == 98
    opened = rig.kinds(EventKind.POSITION_OPENED)
    assert [(e.fields["side"], e.fields["quantity"]) for e in opened] == [("BUY", 98)]
    assert rig.engine.status().orders == 1  # type: ignore[union-attr]


def test_a_stop_on_feed_prices_closes_the_position(sqlite):
    rig = Rig(sqlite, plan={"AAA-EQ": signal_on(3)})
    open_long(rig)

    rig.tick(AAA, 101.5)  # above the stop of 101: held
    rig.engine.step()
    held_above = rig.positions.get("AAA-EQ").quantity  # type: ignore[union-attr]
    rig.tick(AAA, 100.9)
    rig.engine.step()

    assert held_above == 98
    held = rig.positions.get("AAA-EQ")
    assert held is not None and held.quantity == 0
    assert held.realised_pnl == pytest.approx((100.9 - 102.0) * 98)
    closed = rig.kinds(EventKind.POSITION_CLOSED)
    assert [(e.fields["reason"], e.fields["price"]) for e in closed] == [
        ("stop", 100.9)
    ]
    assert rig.poller.calls == []  # the feed is up: no REST price asked


def test_a_target_on_feed_prices_closes_the_position(sqlite):
    rig = Rig(sqlite, plan={"AAA-EQ": signal_on(3)})
    open_long(rig)

    rig.tick(AAA, 104.2)
    rig.engine.step()

    held = rig.positions.get("AAA-EQ")
    assert held is not None and held.quantity == 0
    assert held.realised_pnl == pytest.approx((104.2 - 102.0) * 98)
    assert [e.fields["reason"] for e in rig.kinds(EventKind.POSITION_CLOSED)] == [
        "target"
    ]


def test_with_the_feed_down_prices_come_from_the_poller_at_most_every_interval(
    sqlite,
):
    rig = Rig(sqlite, plan={"AAA-EQ": signal_on(3)})
    open_long(rig)
    rig.poller.prices = {"AAA-EQ": 101.8}
    rig.feed = FeedView(False, "reconnecting")

    started = rig.clock.monotonic()
    for _ in range(12):  # 12 steps a second apart
        rig.engine.step()
        rig.clock.advance(1.0)
    polls = [at - started for at, _ in rig.poller.calls]
    held_while_above = rig.positions.get("AAA-EQ").quantity  # type: ignore[union-attr]

    rig.poller.prices = {"AAA-EQ": 100.5}  # through the stop
    for _ in range(5):
        rig.engine.step()
        rig.clock.advance(1.0)

    assert polls == [0.0, 5.0, 10.0]
    assert {symbols for _, symbols in rig.poller.calls} == {("AAA-EQ",)}
    assert held_while_above == 98
    assert rig.degradation.level == 3
    held = rig.positions.get("AAA-EQ")
    assert held is not None and held.quantity == 0
    closed = rig.kinds(EventKind.POSITION_CLOSED)
    assert [(e.fields["reason"], e.fields["price"]) for e in closed] == [
        ("stop", 100.5)
    ]


def test_no_rest_poll_without_open_positions_even_with_the_feed_down(sqlite):
    rig = Rig(sqlite)
    rig.feed = FeedView(False, "reconnecting")

    for _ in range(10):
        rig.engine.step()
        rig.clock.advance(1.0)

    assert rig.poller.calls == []


def test_after_a_restart_with_the_feed_up_protection_uses_feed_prices(tmp_path):
    first = Rig(SqliteStore(tmp_path / "kit.sqlite3", ManualClock(DAY)),
                plan={"AAA-EQ": signal_on(3)})  # fmt: skip
    open_long(first)
    first.store.close()

    store = SqliteStore(tmp_path / "kit.sqlite3", ManualClock(DAY))
    again = Rig(store, start=first.clock.now())
    again.tick(AAA, 100.8)  # through the stop, on the feed
    again.engine.step()
    store.close()

    assert again.poller.calls == []
    closed = again.kinds(EventKind.POSITION_CLOSED)
    assert [(e.fields["reason"], e.fields["price"]) for e in closed] == [
        ("stop", 100.8)
    ]


# Late ticks and broker candles.


def test_a_late_tick_asks_the_bootstrap_for_a_backfill_of_its_minute(sqlite):
    rig = Rig(sqlite)
    rig.minute(AAA, [100.0, 100.5])
    rig.close_minute()  # 10:00 is closed
    closed = [values(c) for c in sqlite.load_candles(AAA.token)]

    late = DAY + timedelta(seconds=50)
    rig.tick(AAA, 99.0, at=late)
    rig.engine.step()

    assert rig.bootstrap.backfills == [(late, late, (AAA.token,), "late tick")]
    assert [values(c) for c in sqlite.load_candles(AAA.token)] == closed  # unchanged


def test_broker_candles_merged_by_the_bootstrap_replace_the_stored_ones(sqlite):
    rig = Rig(sqlite)
    rig.minute(AAA, [100.0, 100.5])
    rig.close_minute()

    row = [DAY, 100.0, 101.0, 99.0, 100.4, 5000]
    rig.bootstrap.waiting = {AAA.token: [row]}
    rig.engine.step()

    stored = sqlite.load_candles(AAA.token)
    assert [values(c) for c in stored] == [
        (DAY, 100.0, 101.0, 99.0, 100.4, 5000, Provenance.BROKER)
    ]


# The end of the day.


def test_the_square_off_at_1515_closes_everything_and_halts_entries(sqlite):
    start = DAY.replace(hour=15, minute=10)
    rig = Rig(sqlite, plan={"AAA-EQ": signal_on(3, 6), "BBB-EQ": signal_on(3)},
              start=start)  # fmt: skip
    for close in (100.0, 101.0, 102.0):  # 15:10 to 15:12; entries at 15:13:05
        rig.minute(AAA, [close], (BBB, [close / 2]))
    rig.close_minute()
    opened = sorted(p.symbol for p in rig.positions.open_positions())

    rig.clock.advance_to(DAY.replace(hour=15, minute=15))
    rig.tick(AAA, 102.5)
    rig.tick(BBB, 51.2)
    rig.engine.step()
    after = rig.positions.open_positions()
    for close in (103.0, 103.5, 104.0):  # AAA's sixth candle signals again
        rig.minute(AAA, [close])
    rig.close_minute()

    assert opened == ["AAA-EQ", "BBB-EQ"]
    assert after == []
    closed = rig.kinds(EventKind.POSITION_CLOSED)
    assert sorted((e.fields["symbol"], e.fields["reason"]) for e in closed) == [
        ("AAA-EQ", "square-off"), ("BBB-EQ", "square-off"),
    ]  # fmt: skip
    assert rig.risk.state is TradingState.REDUCING
    assert "square_off" in rig.risk.restrictions()
    skipped = rig.kinds(EventKind.TRADE_SKIPPED)
    assert [e.fields["symbol"] for e in skipped] == ["AAA-EQ"]
    assert "trading is reducing" in skipped[0].fields["reason"]
    assert rig.positions.open_positions() == []
    assert any("square-off at 15:15" in e.text for e in rig.events)

    # The next trading day starts afresh: entries again, yesterday's flat
    # positions and their P&L gone, the kill switch's day reset.
    rig.clock.advance_to(DAY.replace(day=4, hour=9, minute=16))
    rig.engine.step()
    assert "square_off" not in rig.risk.restrictions()
    assert list(rig.positions) == []
    assert rig.positions.realised() == 0.0


# Restarts and a store that goes down.


def test_restore_candles_after_a_restart_gives_the_same_books(tmp_path):
    store = SqliteStore(tmp_path / "kit.sqlite3", ManualClock(DAY))
    rig = Rig(store)
    for n in range(4):
        rig.minute(AAA, [100.0 + n, 100.5 + n, 99.5 + n])
        rig.minute(BBB, [50.0 + n])
    rig.close_minute()
    before = {t: [values(c) for c in b] for t, b in rig.books.items()}
    store.close()

    reopened = SqliteStore(tmp_path / "kit.sqlite3", ManualClock(DAY))
    again = Rig(reopened, start=rig.clock.now())
    loaded = again.engine.restore_candles(DAY - timedelta(days=5))
    after = {t: [values(c) for c in b] for t, b in again.books.items()}
    again.engine.step()  # nothing new: nothing written again
    reopened.close()

    assert loaded == 8
    assert after == before
    assert [len(v) for v in after.values()] == [4, 4]


def test_a_store_that_fails_save_candles_keeps_them_and_saves_them_later(
    sqlite, caplog
):
    caplog.set_level(logging.WARNING, logger="kit.trading.engine")
    store = FlakyStore(sqlite)
    rig = Rig(store)

    store.down = True
    rig.minute(AAA, [100.0, 100.4])
    rig.minute(BBB, [50.0])
    rig.minute(AAA, [101.0])
    rig.close_minute()
    while_down = [sqlite.load_candles(t) for t in (AAA.token, BBB.token)]
    store.down = False
    rig.engine.step()

    assert while_down == [[], []]
    assert store.refused >= 1
    assert "candles of 101 not saved yet" in caplog.text
    aaa = [(c.start, c.close) for c in sqlite.load_candles(AAA.token)]
    bbb = [(c.start, c.close) for c in sqlite.load_candles(BBB.token)]
    assert aaa == [(DAY, 100.4), (DAY + timedelta(minutes=2), 101.0)]
    assert bbb == [(DAY + timedelta(minutes=1), 50.0)]
    assert [from_ms(to_ms(c.start)) for c in rig.books[AAA.token]] == [
        DAY, DAY + timedelta(minutes=2),
    ]  # fmt: skip


# Outside the session.


def test_before_the_open_candles_close_but_no_signal_trades(sqlite):
    early = DAY.replace(hour=9, minute=10)
    rig = Rig(sqlite, plan={"AAA-EQ": signal_on(3, 4)}, start=early)
    yesterday = DAY.replace(hour=15, minute=27) - timedelta(days=1)
    rig.bootstrap.waiting = {
        AAA.token: [[yesterday + timedelta(minutes=n), 99.0, 99.5, 98.5, 99.0, 10]
                    for n in range(2)],
    }  # fmt: skip
    rig.tick(AAA, 99.2, at=yesterday + timedelta(minutes=2, seconds=30))  # snapshot
    rig.engine.step()
    rig.clock.advance(60.0)
    rig.engine.step()
    before_open = (len(rig.books[AAA.token]), rig.strategy.calls[:])

    rig.clock.advance_to(DAY.replace(hour=9, minute=15))
    rig.minute(AAA, [100.0, 100.5])  # 09:15, closed at 09:16:05
    rig.close_minute()

    assert before_open == (3, [])  # three candles, the strategy never asked
    assert rig.strategy.calls == [("AAA-EQ", 4)]
    opened = rig.kinds(EventKind.POSITION_OPENED)
    assert [e.at for e in opened] == [DAY.replace(hour=9, minute=16, second=5)]


# The live broker's late fills.


class PollingBroker(PaperBroker):
    """A paper broker with the live broker's ``poll_open_orders``, counted."""

    polls = 0

    def poll_open_orders(self) -> list[object]:
        self.polls += 1
        return []


def test_each_step_in_session_asks_the_live_broker_for_late_fills(sqlite):
    rig = Rig(sqlite)
    broker = PollingBroker(rig.positions, rig.clock)
    rig.engine.broker = broker

    for _ in range(3):
        rig.engine.step()
    rig.clock.advance_to(DAY.replace(hour=15, minute=31))
    rig.engine.step()  # the market has closed

    assert broker.polls == 3


# The pace of the steps.


def test_on_a_scaled_clock_a_step_waits_for_ticks_in_clock_time(sqlite):
    rig = Rig(sqlite)
    rig.engine.clock = ScaledClock(DAY, 100.0)
    rig.engine.config = EngineConfig(wait_s=0.2)

    began = time.monotonic()
    for _ in range(20):  # no tick comes: each step waits its full wait
        rig.engine.step()
    took_real_s = time.monotonic() - began

    assert took_real_s < 1.0  # 20 x 2 ms, not 20 x 0.2 s
