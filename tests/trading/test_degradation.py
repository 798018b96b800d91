"""The four degradation levels, every transition on a manual clock: what sets
each level, how long coming back takes, when live trading halts entries (and
how risk's own hold delays their return), and the event of every change."""

from __future__ import annotations

from datetime import datetime

import pytest

from kit.clock import IST, ManualClock
from kit.ops.events import ActivityEvent, EventKind, Severity
from kit.trading.degradation import (
    LIVE_WITHOUT_FEED_STEPS,
    SOURCE,
    DegradationWatch,
    FeedView,
)
from kit.trading.risk import Risk, RiskLimits, TradingState

START = datetime(2026, 12, 3, 10, 30, tzinfo=IST)
UP = FeedView(True, "connected")
DOWN = FeedView(False, "reconnecting")
STABLE_S = 60.0
HALT_AFTER_S = 60.0
RESUME_AFTER_S = 120.0
SYMBOLS = 50


class Watch:
    """A degradation watch with its risk, clock and events."""

    def __init__(self, mode: str) -> None:
        self.clock = ManualClock(START)
        self.events: list[ActivityEvent] = []
        limits = RiskLimits(resume_after_s=RESUME_AFTER_S)
        self.risk = Risk(limits, self.clock, emit=self.events.append)
        self.watch = DegradationWatch(
            mode,  # type: ignore[arg-type]
            self.clock,
            self.risk,
            emit=self.events.append,
            halt_after_s=HALT_AFTER_S,
            stable_s=STABLE_S,
        )

    def update(self, feed: FeedView = UP, warm: int = SYMBOLS) -> int:
        return self.watch.update(feed, warm, SYMBOLS)

    def hold(self, feed: FeedView, seconds: float, warm: int = SYMBOLS) -> int:
        """Update every second for ``seconds`` (the engine steps often); the
        level at the end."""
        level = self.update(feed, warm)
        for _ in range(int(seconds)):
            self.clock.advance(1.0)
            level = self.update(feed, warm)
        return level

    def changes(self) -> list[tuple[int, int]]:
        """(previous, level) of every degradation_changed event that changed it."""
        return [
            (e.fields["previous"], e.fields["level"])
            for e in self.events
            if e.kind == EventKind.DEGRADATION_CHANGED
            and e.fields["previous"] != e.fields["level"]
        ]

    def states(self) -> list[str]:
        return [
            e.fields["state"]
            for e in self.events
            if e.kind == EventKind.TRADING_STATE_CHANGED
        ]


@pytest.fixture
def paper() -> Watch:
    return Watch("paper")


@pytest.fixture
def live() -> Watch:
    return Watch("live")


def test_level_1_when_the_feed_is_up_and_every_symbol_warm(paper: Watch):
    assert paper.update() == 1
    assert paper.watch.reason == "feed up, every symbol warm"
    assert paper.changes() == []  # it starts at 1: nothing changed


def test_cold_symbols_are_level_2_until_warm_then_level_1(paper: Watch):
    cold = paper.update(warm=48)
    reason = paper.watch.reason
    still_cold = paper.hold(UP, 30, warm=49)
    warm = paper.update(warm=SYMBOLS)

    assert (cold, still_cold, warm) == (2, 2, 1)
    assert reason == "48/50 symbols warm; the rest build from ticks"
    assert paper.changes() == [(1, 2), (2, 1)]
    severities = [e.severity for e in paper.events]
    assert severities == [Severity.INFO, Severity.INFO]
    assert paper.states() == []  # level 2 never touches the trading state


def test_paper_without_feed_is_level_3_and_comes_back_only_after_a_stable_window(
    paper: Watch,
):
    paper.update()
    down = paper.hold(DOWN, 120)  # two minutes without feed
    reason_down = paper.watch.reason
    almost = paper.hold(UP, STABLE_S - 1)
    paper.clock.advance(1.0)
    back = paper.update()

    assert down == 3
    assert reason_down == "paper mode without feed (reconnecting)"
    assert almost == 3
    assert back == 1
    assert paper.changes() == [(1, 3), (3, 1)]
    assert paper.risk.state is TradingState.ACTIVE  # paper keeps trading
    assert paper.states() == []


def test_a_feed_that_drops_during_the_stable_window_starts_it_again(paper: Watch):
    paper.hold(DOWN, 10)
    paper.hold(UP, 40)
    paper.hold(DOWN, 5)
    after_flap = paper.hold(UP, STABLE_S - 1)
    paper.clock.advance(1.0)

    assert after_flap == 3  # 40 s up, a drop, then a full window again
    assert paper.update() == 1
    assert paper.changes() == [(1, 3), (3, 1)]


def test_a_cold_paper_bot_goes_from_2_to_3_and_back_to_2(paper: Watch):
    paper.update(warm=10)
    paper.hold(DOWN, 30, warm=10)
    paper.hold(UP, STABLE_S, warm=10)

    assert paper.watch.level == 2
    assert paper.changes() == [(1, 2), (2, 3), (3, 2)]


def test_live_without_feed_is_level_4_and_halts_entries_only_after_60_s(live: Watch):
    live.update()
    level = live.hold(DOWN, HALT_AFTER_S - 1)
    before_halt = live.risk.state
    events_before = len(live.events)
    live.clock.advance(1.0)
    live.update(DOWN)

    assert level == 4
    assert live.watch.reason == "live mode without feed (reconnecting)"
    assert before_halt is TradingState.ACTIVE
    assert live.risk.state is TradingState.REDUCING
    state, why = live.risk.restrictions()[SOURCE]
    assert (state, why) == (TradingState.REDUCING, live.watch.reason)
    assert live.risk.check_exit("SBIN-EQ", protective=False)  # exits still go out
    assert not live.risk.check_entry("SBIN-EQ", 800.0, 0)

    new = live.events[events_before:]
    steps = [e for e in new if e.kind == EventKind.DEGRADATION_CHANGED]
    assert len(steps) == 1
    assert steps[0].severity is Severity.CRITICAL
    assert steps[0].text == LIVE_WITHOUT_FEED_STEPS
    assert steps[0].fields["level"] == 4
    for words in ("new entries are halted", "kit login", "restart the bot"):
        assert words in steps[0].text
    halted = [e for e in new if e.kind == EventKind.TRADING_STATE_CHANGED]
    assert [e.fields["state"] for e in halted] == ["reducing"]
    assert halted[0].fields["sources"] == [SOURCE]


def test_live_comes_back_after_the_stable_window_and_risk_holds_entries_longer(
    live: Watch,
):
    live.update()
    live.hold(DOWN, 90)
    almost = live.hold(UP, STABLE_S - 1)
    still_reducing = live.risk.state
    live.clock.advance(1.0)
    back = live.update()
    lifted = SOURCE not in live.risk.restrictions()
    held_by_risk = live.risk.state

    live.hold(UP, RESUME_AFTER_S - 1)
    before_resume = live.risk.state
    live.clock.advance(1.0)

    assert (almost, back) == (4, 1)
    assert still_reducing is TradingState.REDUCING
    assert lifted
    assert held_by_risk is TradingState.REDUCING  # risk's own hysteresis
    assert before_resume is TradingState.REDUCING
    assert live.risk.state is TradingState.ACTIVE
    assert live.changes() == [(1, 4), (4, 1)]
    assert live.states() == ["reducing", "active"]


def test_a_short_live_outage_never_halts_entries(live: Watch):
    live.update()
    live.hold(DOWN, 30)
    live.hold(UP, STABLE_S)

    assert live.watch.level == 1
    assert live.changes() == [(1, 4), (4, 1)]
    assert live.states() == []
    assert live.risk.state is TradingState.ACTIVE


def test_every_transition_is_one_event_with_level_previous_and_mode(live: Watch):
    live.update(warm=3)  # 1 -> 2
    live.hold(DOWN, HALT_AFTER_S, warm=3)  # 2 -> 4, halted
    live.hold(UP, STABLE_S, warm=3)  # 4 -> 2
    live.update()  # 2 -> 1

    changes = [e for e in live.events if e.kind == EventKind.DEGRADATION_CHANGED]
    assert [(e.fields["previous"], e.fields["level"]) for e in changes] == [
        (1, 2), (2, 4), (4, 4), (4, 2), (2, 1),
    ]  # fmt: skip
    assert {e.fields["mode"] for e in changes} == {"live"}
    assert [e.severity for e in changes] == [
        Severity.INFO, Severity.ERROR, Severity.CRITICAL, Severity.INFO,
        Severity.INFO,
    ]  # fmt: skip
    assert changes[1].text == "level 2 -> 4: live mode without feed (reconnecting)"
    at_s = [e.at.timestamp() - START.timestamp() for e in changes]
    assert at_s == [0.0, 0.0, HALT_AFTER_S, HALT_AFTER_S * 2, HALT_AFTER_S * 2]
