"""The bootstrap on the simulator, on a manual clock: the user's scenario 1 (a
start before the open), a rate limit during the bootstrap, and a symbol the
broker does not know. Every wait is checked to the tenth of a second by moving
the clock, never by sleeping."""

from __future__ import annotations

import logging
import queue
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from kit.broker.routes import Mode
from kit.clock import IST, ManualClock
from kit.market.bootstrap import CandleBootstrap, WarmupMode
from kit.market.bootstrap_events import (
    AttemptFailed,
    AttemptStarted,
    BuildingFromTicks,
    FailureCause,
    HistoryLoaded,
    HistoryRestored,
    SymbolSkipped,
)
from kit.market.candles import Provenance
from kit.market.history import Symbol
from kit.sim.chaos import FaultKind
from kit.sim.runner import SimConfig
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

EARLY = datetime(2026, 12, 3, 9, 0, tzinfo=IST)  # a Thursday, before the open
OPEN = EARLY.replace(minute=15)
MIDDAY = EARLY.replace(hour=11)
SYMBOLS = EQUITIES[:2]

# The user's scenario 1 as the kit logs it (USER_DESIGN.md, "Self-Healing in
# Action"): three refused attempts 30 s apart, the switch to ticks with the
# time the candles will be complete, then our addition: the history asked
# again in the background, found before the open.
SCENARIO_1_LINES = [
    r"bootstrap: Starting: 2 symbols, 200 candles each; 3 attempts, waiting 10 s "
    r"after a rate limit, 30 s while the market is closed, 5 s otherwise; "
    r"re-bootstrap every 120 s",
    r"bootstrap: Loading history of 2 symbols, 200 candles each \(attempt 1/3\)\.\.\.",
    r"bootstrap: History not available, market not open \(attempt 1/3\): "
    r"ServerError: AB1004: .+",
    r"bootstrap: Retrying in 30\.0 s \(attempt 2/3\)",
    r"bootstrap: Loading history of 2 symbols, 200 candles each \(attempt 2/3\)\.\.\.",
    r"bootstrap: History not available, market not open \(attempt 2/3\): .+",
    r"bootstrap: Retrying in 30\.0 s \(attempt 3/3\)",
    r"bootstrap: Loading history of 2 symbols, 200 candles each \(attempt 3/3\)\.\.\.",
    r"bootstrap: History not available, market not open \(attempt 3/3\): .+",
    r"bootstrap: Failed after 3 attempts; building candles from ticks for 2 symbols",
    r"bootstrap: Building from ticks: 200 candles, warm at 12:35 IST; history "
    r"asked again every 120 s",
    r"bootstrap: Re-bootstrap: loading history of 2 symbols\.\.\.",
    r"bootstrap: History restored for 2 symbols \(400 candles\); broker candles "
    r"replace the ones built from ticks",
]


@pytest.fixture
def manual(simulator, tmp_path: Path):
    """A simulator, a logged-in client and a bootstrap, all on one manual clock."""
    made: list[CandleBootstrap] = []

    def build(start: datetime, symbols: list[Symbol] = SYMBOLS, **options):
        clock = ManualClock(start)
        sim = simulator(SimConfig(start=start), clock=clock)
        stack = open_client(sim, tmp_path / f"journal-{len(made)}.sqlite3")
        events = Recorder()
        boot = CandleBootstrap(
            stack.client, symbols, clock=clock, on_event=events, **options
        )
        made.append(boot)
        return sim, clock, boot, events

    yield build
    for boot in made:
        assert boot.stop(timeout_real_s=5.0)


def bootstrap_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.getMessage().startswith("bootstrap")
    ]


def play_scenario_1(manual):
    """Start at 09:00 with history refused three times; run to 09:15."""
    sim, clock, boot, events = manual(EARLY)
    sim.chaos.inject(FaultKind.HISTORY_BEFORE_OPEN, "candles", count=3)

    # 09:00: three attempts, each refused, 30 s apart; then the fall-back.
    thread, result = in_thread(boot.run)
    for attempt in (1, 2):
        events.wait_for(AttemptFailed, attempt)
        clock.wait_for_sleepers(1)
        clock.advance(29.9)
        assert len(events.of(AttemptStarted)) == attempt  # still waiting
        clock.advance(0.1)
    thread.join(5.0)

    # 09:03: the background re-bootstrap finds the previous session's history.
    boot.start()
    clock.advance_to(EARLY + timedelta(minutes=3))
    events.wait_for(HistoryRestored)

    # 09:15: the market opens.
    clock.advance_to(OPEN)
    books = books_for(SYMBOLS)
    Engine(queue.Queue(), books, boot, clock).step()
    return sim, boot, events, result[0], books


def test_scenario_1_waits_30_s_falls_back_and_is_warm_at_0915(manual):
    sim, boot, events, report, books = play_scenario_1(manual)

    failures = events.of(AttemptFailed)
    assert [f.cause for f in failures] == [FailureCause.MARKET_CLOSED] * 3
    assert [f.retry_in_s for f in failures] == [30.0, 30.0, None]
    assert [e.at_s - EARLY.timestamp() for e in events.of(AttemptStarted)] == [
        0.0, 30.0, 60.0,
    ]  # fmt: skip
    fallback = events.of(BuildingFromTicks)[0]
    assert fallback.warm_at == EARLY.replace(hour=12, minute=35)  # 200 min after 09:15
    assert report.from_ticks == ("RELIANCE-EQ", "TCS-EQ")
    assert report.attempts == 3
    restored = events.of(HistoryRestored)[0]
    assert restored.at_s == (EARLY + timedelta(minutes=3)).timestamp()
    assert restored.symbols == ("RELIANCE-EQ", "TCS-EQ")
    assert boot.status().mode is WarmupMode.HISTORY
    for book in books.values():  # fully warm at the open
        assert boot.warm_gaps(book) == []
        assert len(book) == 200
        assert book.last().start == datetime(2026, 12, 2, 15, 29, tzinfo=IST)
        assert mismatches(sim, book) == []


def test_scenario_1_log_lines(manual, caplog):
    caplog.set_level(logging.INFO, logger="kit")

    play_scenario_1(manual)

    lines = bootstrap_lines(caplog)
    assert len(lines) == len(SCENARIO_1_LINES), lines
    for line, pattern in zip(lines, SCENARIO_1_LINES, strict=True):
        assert re.fullmatch(pattern, line), (line, pattern)
    assert all(line.isascii() for line in lines)  # no emoji


def test_after_the_open_ticks_extend_the_warm_book_without_a_gap(manual):
    sim, clock, boot, events = manual(EARLY, SYMBOLS[:1])
    report = boot.run()  # history is served before the open: no fall-back
    books = books_for(SYMBOLS[:1])
    engine = Engine(queue.Queue(), books, boot, clock)
    engine.step()
    book = books[SYMBOLS[0].token]
    warm_before_open = boot.warm_gaps(book)

    # 09:15:00 to 09:16:05, a trade a second, as the feed would send them.
    for second in range(66):
        clock.advance_to(OPEN + timedelta(seconds=second))
        book.on_tick(sim.market.tick(book.token, Mode.QUOTE, clock.time()))
    engine.step()

    assert report.loaded == ("RELIANCE-EQ",) and report.attempts == 1
    assert events.of(HistoryLoaded)[0].candles == 200
    assert warm_before_open == []
    assert boot.warm_gaps(book) == []
    opening = book.get(OPEN)
    assert opening is not None and opening.provenance is Provenance.TICKS
    assert values(opening) == values(
        sim.market.candles(book.token, OPEN, OPEN + MINUTE)[0]
    )
    assert book.gaps() == []  # 15:29 of the day before, then 09:15
    assert mismatches(sim, book) == []


def test_a_rate_limit_during_the_bootstrap_waits_10_s(manual):
    sim, clock, boot, events = manual(MIDDAY)
    sim.chaos.inject(FaultKind.RATE_LIMIT, "candles", count=1)

    thread, result = in_thread(boot.run)
    events.wait_for(AttemptFailed)
    clock.wait_for_sleepers(1)
    clock.advance(9.9)
    waited = len(events.of(AttemptStarted))
    clock.advance(0.1)
    thread.join(5.0)

    failed = events.of(AttemptFailed)[0]
    assert failed.cause is FailureCause.RATE_LIMIT
    assert failed.retry_in_s == 10.0
    assert failed.pending == 2  # the round stopped at the refusal
    assert waited == 1
    assert [e.at_s - MIDDAY.timestamp() for e in events.of(AttemptStarted)] == [
        0.0, 10.0,
    ]  # fmt: skip
    assert result[0].loaded == ("RELIANCE-EQ", "TCS-EQ")
    assert result[0].attempts == 2


def test_an_unknown_symbol_is_skipped_with_an_event(manual, caplog):
    caplog.set_level(logging.WARNING, logger="kit")
    unknown = Symbol("NOSUCH-EQ", "999999")
    _, _, boot, events = manual(MIDDAY, [*SYMBOLS, unknown])

    report = boot.run()
    later = boot.request_backfill(MIDDAY, MIDDAY, tokens=["999999"])

    skipped = events.of(SymbolSkipped)
    assert [(e.symbol, e.token) for e in skipped] == [("NOSUCH-EQ", "999999")]
    assert report.skipped == ("NOSUCH-EQ",)
    assert report.loaded == ("RELIANCE-EQ", "TCS-EQ")
    assert report.from_ticks == ()
    assert later is False  # never asked for again
    assert "bootstrap: Skipping NOSUCH-EQ (token 999999): " in caplog.text
