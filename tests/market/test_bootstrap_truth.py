"""The promise "no lost candles" against the simulator's ground truth.

A scaled-clock session, 10:00 to about 10:28 IST of a Thursday at 80 simulated
seconds a real second (about 25 s of real time on two cores), three symbols in
QUOTE mode through the real ResilientFeed over the simulator's WebSocket:

- 20 disconnects (clean closes and TCP resets) at seeded random times;
- one outage of 5 minutes from 10:10 (a TCP reset, then the reconnect refused
  with 429 and a 300 s wait);
- history failing at random throughout (AB1004, HTTP 503, rate limits).

At the end every closed candle in every book equals the simulator's true
candle (open, high, low, close and, QUOTE mode carrying the day's volume,
volume too), and no session minute is missing from the warm-up window's first
minute to the last. Nothing is tolerated: repaired minutes come from the
broker's history, untouched ones from complete ticks.

The engine thread closes minutes by the clock with a 20 s grace (a quarter of
a real second at this speed), and asks the bootstrap to fetch again any minute
that a tick reached after it closed; at the end the feed is stopped and the
minute it stopped in is repaired like any other outage.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest

from kit.broker.backoff import BackoffPolicy
from kit.broker.feed import FeedConfig, ResilientFeed
from kit.broker.feed_events import Reconnected
from kit.broker.routes import Mode
from kit.clock import IST, NseCalendar
from kit.market.bootstrap import CandleBootstrap
from kit.market.bootstrap_events import CandleRevised, HistoryMerged
from kit.market.candles import ClosePolicy, Provenance
from kit.market.warmup import closed_minutes, floor_minute
from kit.sim.chaos import Fault, FaultKind, FaultPlan, RandomFault, ScheduledFault
from kit.sim.runner import SimConfig
from tests.broker.feed_helpers import Provider, Timeline, wait_until
from tests.market.bootstrap_helpers import (
    EQUITIES,
    MINUTE,
    Engine,
    Recorder,
    books_for,
    mismatches,
    open_client,
)

START = datetime(2026, 12, 3, 10, 0, tzinfo=IST)  # a Thursday
SPEED = 80.0
SYMBOLS = EQUITIES[:3]
OUTAGE_AT_S = 600  # 10:10:00
OUTAGE_S = 300.0
END = START + timedelta(minutes=26)  # the feed stops here

DISCONNECTS = (FaultKind.CLEAN_CLOSE, FaultKind.TCP_ABORT)
HISTORY_FAULTS = (
    RandomFault(Fault(FaultKind.AB1004, "candles"), 0.15),
    RandomFault(Fault(FaultKind.SERVER_ERROR, "candles"), 0.10),
    RandomFault(Fault(FaultKind.RATE_LIMIT, "candles"), 0.05),
)


def disconnect_times(count: int, seed: int) -> list[int]:
    """``count`` seconds after START, 30 s apart at least, clear of the outage."""
    rng = random.Random(seed)
    chosen: list[int] = []
    while len(chosen) < count:
        at = rng.randrange(90, 1380)
        clear = OUTAGE_AT_S - 30 <= at <= OUTAGE_AT_S + OUTAGE_S + 60
        if not clear and all(abs(at - other) >= 30 for other in chosen):
            chosen.append(at)
    return sorted(chosen)


def chaos_plan() -> FaultPlan:
    scheduled = [
        ScheduledFault(START.timestamp() + at, Fault(DISCONNECTS[n % 2], "feed"))
        for n, at in enumerate(disconnect_times(20, seed=20))
    ]
    outage_s = START.timestamp() + OUTAGE_AT_S
    scheduled += [
        ScheduledFault(outage_s, Fault(FaultKind.TCP_ABORT, "feed")),
        ScheduledFault(outage_s, Fault(FaultKind.UPGRADE_429, "feed")),
    ]
    return FaultPlan(scheduled=scheduled, random=list(HISTORY_FAULTS), seed=6)


@pytest.fixture
def session(simulator, tmp_path):
    sim = simulator(SimConfig(start=START, speed=SPEED), plan=chaos_plan())
    for symbol in SYMBOLS:  # build the price paths before the clock matters
        sim.market.tick(symbol.token, Mode.QUOTE, sim.clock.time())
    stack = open_client(sim, tmp_path / "journal.sqlite3")
    events, timeline = Recorder(), Timeline()
    boot = CandleBootstrap(stack.client, SYMBOLS, clock=sim.clock, on_event=events)

    def on_feed_event(event):
        timeline.add(event)
        boot.on_feed_event(event)

    feed = ResilientFeed(
        sim.feed_url,
        Provider(sim, timeline),
        clock=sim.clock,
        config=FeedConfig(backoff=BackoffPolicy(limit_delay_s=OUTAGE_S)),
        on_event=on_feed_event,
    )
    feed.subscribe([s.token for s in SYMBOLS], mode=Mode.QUOTE)
    books = books_for(SYMBOLS, ClosePolicy(clock_grace_s=20.0))
    engine = Engine(feed.ticks, books, boot, sim.clock)
    yield sim, boot, feed, engine, events, timeline
    feed.stop()
    engine.stop()
    assert boot.stop(timeout_real_s=5.0)


@pytest.mark.slow
def test_every_candle_equals_the_truth_through_disconnects_and_an_outage(session):
    sim, boot, feed, engine, events, timeline = session
    report = boot.run()
    boot.start()
    engine.start()
    feed.start()

    wait_until(lambda: sim.clock.now() >= END, 60.0, "the end of the session")
    feed.stop()
    stopped = floor_minute(sim.clock.now())
    boot.request_backfill(stopped - MINUTE, stopped, reason="feed stopped")
    settled = stopped + 2 * MINUTE
    wait_until(lambda: sim.clock.now() >= settled and boot.status().jobs == 0,
               30.0, "the last backfills")  # fmt: skip
    engine.stop()
    last = engine.step()  # the test owns the books now

    # The faults happened.
    injected = [e.kind for e in sim.chaos.log]
    assert sum(kind in DISCONNECTS for kind in injected) == 21
    assert FaultKind.UPGRADE_429 in injected
    history_faults = {f.fault.kind for f in HISTORY_FAULTS}
    assert any(kind in history_faults for kind in injected)
    reconnects = timeline.of(Reconnected)
    assert len(reconnects) >= 21
    assert max(r.downtime_s for r in reconnects) >= OUTAGE_S - 1

    # Every closed candle is the true one; no minute is missing.
    assert report.from_ticks == ()
    assert last.waiting == 0
    warmup_start = closed_minutes(NseCalendar(), START, 200)[0]
    outage_minutes = [START + (10 + n) * MINUTE for n in range(5)]
    for book in engine.books.values():
        assert mismatches(sim, book) == []
        assert next(iter(book)).start == warmup_start
        assert book.gaps(warmup_start, stopped + MINUTE) == []
        assert book.last().start == stopped
        for minute in outage_minutes:
            assert book.get(minute).provenance is Provenance.BROKER

    # The repairs replaced tick-built candles that were wrong.
    revised = events.of(CandleRevised)
    assert any(r.changed and r.old.provenance is Provenance.TICKS for r in revised)
    assert sum(e.filled for e in events.of(HistoryMerged)) >= 5 * len(SYMBOLS)
