"""History refused all along: candles are built from ticks, as exact as the
subscription mode allows, and the background re-bootstrap takes over the
moment history comes back.

On a manual clock shared with the simulator. The session is played once for
the module: the test thread is the engine thread; it moves the clock a second
at a time, hands each second's trade to the books as the feed would (one token
in QUOTE mode, one in LTP mode), closes minutes and applies what the bootstrap
fetched. When the clock reaches a re-bootstrap's due time it waits for that
re-bootstrap's event, so each one runs at its exact time.

What the modes leave unknowable, and so untested for exactness: in QUOTE mode,
the first minute the feed sees only in part (its open, and its high, low and
volume before the first tick); in LTP mode, every volume (0, basis NONE).
"""

from __future__ import annotations

import queue
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from kit.broker.routes import Mode
from kit.clock import IST, ManualClock
from kit.market.bootstrap import BootstrapStatus, CandleBootstrap, WarmupMode
from kit.market.bootstrap_events import (
    AttemptFailed,
    BackfillDone,
    BuildingFromTicks,
    CandleRevised,
    FailureCause,
    HistoryRestored,
    RebootstrapFailed,
)
from kit.market.candles import Candle, Provenance, VolumeBasis
from kit.sim.chaos import FaultKind
from kit.sim.runner import SimConfig, Simulator
from tests.market.bootstrap_helpers import (
    EQUITIES,
    MINUTE,
    Engine,
    Recorder,
    books_for,
    in_thread,
    mismatches,
    open_client,
    values,
)

START = datetime(2026, 12, 3, 10, 0, tzinfo=IST)  # a Thursday, mid-session
FEED_FROM = START + timedelta(seconds=30)  # the first tick: mid-minute
QUOTE_SYMBOL, LTP_SYMBOL = EQUITIES[0], EQUITIES[1]
MODES = {QUOTE_SYMBOL.token: Mode.QUOTE, LTP_SYMBOL.token: Mode.LTP}


class Session:
    """The simulated session: clock, simulator, bootstrap and books."""

    def __init__(self, sim: Simulator, clock: ManualClock, path: Path) -> None:
        self.clock, self.sim = clock, sim
        self.sim.chaos.inject(FaultKind.SERVER_ERROR, "candles", count=1_000_000)
        self.stack = open_client(self.sim, path)
        self.events = Recorder()
        symbols = [QUOTE_SYMBOL, LTP_SYMBOL]
        self.boot = CandleBootstrap(
            self.stack.client, symbols, clock=self.clock, on_event=self.events
        )
        self.books = books_for(symbols)
        self.engine = Engine(queue.Queue(), self.books, self.boot, self.clock)
        self.due: dict[float, type] = {}  # wall time -> the event to wait for

    def start_up(self) -> None:
        """The start-up bootstrap: three refused attempts 5 s apart, then ticks."""
        thread, _ = in_thread(self.boot.run)
        for attempt in (1, 2):
            self.events.wait_for(AttemptFailed, attempt)
            self.clock.wait_for_sleepers(1)
            self.clock.advance(5.0)
        thread.join(5.0)
        self.boot.start()

    def history_back(self) -> None:
        for entry in self.sim.chaos.plan.scheduled:
            entry.count = 0

    def run_until(self, end: datetime) -> None:
        """A trade a second to each book, from FEED_FROM on, until ``end``."""
        while self.clock.now() < end:
            self.clock.advance(1.0)
            now_s = self.clock.time()
            if now_s >= FEED_FROM.timestamp():
                for token, mode in MODES.items():
                    self.engine.on_tick(self.sim.market.tick(token, mode, now_s))
            if now_s in self.due:
                kind = self.due.pop(now_s)
                self.events.wait_for(kind, len(self.events.of(kind)) + 1)
            self.engine.step()


@dataclass
class Outcome:
    session: Session
    fallback: BuildingFromTicks
    retries: list[float]  # the re-bootstraps' due times
    from_ticks: dict[str, list[Candle]]  # the books at 10:07:10
    status_on_ticks: BootstrapStatus
    gaps_on_ticks: list[datetime]


@pytest.fixture(scope="module")
def outcome(tmp_path_factory):
    clock = ManualClock(START)
    sim = Simulator(SimConfig(start=START), clock=clock).start()
    session = Session(sim, clock, tmp_path_factory.mktemp("fallback") / "j.sqlite3")
    try:
        yield play(session)
    finally:
        assert session.boot.stop(timeout_real_s=5.0)
        session.stack.close()
        sim.stop()


def play(session: Session) -> Outcome:
    session.start_up()
    fallback = session.events.of(BuildingFromTicks)[0]
    retries = [fallback.at_s + 120 * n for n in (1, 2, 3, 4)]
    session.due = dict.fromkeys(retries[:3], RebootstrapFailed)
    session.due[retries[3]] = HistoryRestored

    # 10:00 to 10:07:10, history refused: candles from ticks alone.
    session.run_until(START + timedelta(minutes=7, seconds=10))
    from_ticks = {token: list(book) for token, book in session.books.items()}
    status = session.boot.status()
    gaps = session.boot.warm_gaps(session.books[QUOTE_SYMBOL.token])

    # 10:07:10 history is back; the re-bootstrap due at 10:08:10 takes over, and
    # the seam after it (10:08) is backfilled at 10:09:10.
    session.history_back()
    session.due[retries[3] + 60] = BackfillDone
    session.run_until(START + timedelta(minutes=9, seconds=20))
    return Outcome(session, fallback, retries, from_ticks, status, gaps)


def test_the_fall_back_is_announced_with_the_time_the_books_are_warm(outcome):
    assert outcome.fallback.at_s == (START + timedelta(seconds=10)).timestamp()
    assert outcome.fallback.warm_at == START.replace(hour=13, minute=21)  # 10:01+200
    assert outcome.status_on_ticks.mode is WarmupMode.TICKS
    assert outcome.status_on_ticks.from_ticks == ("RELIANCE-EQ", "TCS-EQ")
    assert len(outcome.gaps_on_ticks) == 200 - 7


def test_history_is_asked_again_every_120_s_while_refused(outcome):
    failed = outcome.session.events.of(RebootstrapFailed)

    assert [e.at_s for e in failed] == outcome.retries[:3]
    assert {e.cause for e in failed} == {FailureCause.OTHER}
    assert {e.retry_in_s for e in failed} == {120.0}


def test_quote_mode_ticks_build_every_whole_minute_exactly(outcome):
    built = outcome.from_ticks[QUOTE_SYMBOL.token]
    market = outcome.session.sim.market
    truth = market.candles(QUOTE_SYMBOL.token, START, START + 7 * MINUTE)

    assert len(built) == len(truth) == 7
    assert [values(c) for c in built[1:]] == [values(c) for c in truth[1:]]
    assert {c.volume_basis for c in built[1:]} == {VolumeBasis.EXACT}
    # 10:00, seen from 10:00:30 on: only what its ticks tell.
    first, true = built[0], truth[0]
    assert first.volume_basis is VolumeBasis.PARTIAL
    assert true.low <= first.low <= first.high <= true.high
    assert first.close == true.close and first.volume < true.volume


def test_ltp_mode_ticks_build_exact_prices_and_no_volume(outcome):
    built = outcome.from_ticks[LTP_SYMBOL.token]
    market = outcome.session.sim.market
    truth = market.candles(LTP_SYMBOL.token, START, START + 7 * MINUTE)

    assert len(built) == len(truth) == 7
    assert [values(c)[:5] for c in built[1:]] == [values(c)[:5] for c in truth[1:]]
    assert {(c.volume, c.volume_basis) for c in built} == {(0, VolumeBasis.NONE)}


def test_the_rebootstrap_takes_over_when_history_comes_back(outcome):
    session = outcome.session
    restored = session.events.of(HistoryRestored)[0]

    assert restored.at_s == outcome.retries[3]  # the first one after 10:07:10
    assert session.boot.status().mode is WarmupMode.HISTORY
    for book in session.books.values():
        assert mismatches(session.sim, book) == []
        assert session.boot.warm_gaps(book) == []
        assert book.get(START + 8 * MINUTE).provenance is Provenance.BROKER


def test_each_tick_built_candle_replaced_is_an_event(outcome):
    revised = outcome.session.events.of(CandleRevised)
    changed = {(e.token, e.start) for e in revised if e.changed}

    quote_changed = {s for t, s in changed if t == QUOTE_SYMBOL.token}
    ltp_changed = {s for t, s in changed if t == LTP_SYMBOL.token}
    assert quote_changed == {START}  # the minute seen in part
    assert ltp_changed == {START + n * MINUTE for n in range(9)}  # volumes now known
    assert {e.old.provenance for e in revised} == {Provenance.TICKS}
    assert {e.new.provenance for e in revised} == {Provenance.BROKER}
