"""ResilientFeed's subscriptions on the simulator: spreading over connections,
E1001 and E1002 acted on, silent and stale tokens reported in market hours."""

from __future__ import annotations

from datetime import datetime

import pytest

from kit.broker.feed import FeedConfig
from kit.broker.feed_events import (
    Disconnected,
    Resubscribed,
    Subscribed,
    SubscriptionRefused,
    SubscriptionsUnplaced,
    TokensAskedAgain,
    TokensSilent,
    TokensStale,
)
from kit.broker.feed_subscriptions import SubKey
from kit.broker.routes import ExchangeType, Mode
from kit.clock import IST
from kit.sim.chaos import FaultKind
from kit.sim.runner import SimConfig
from tests.broker.feed_helpers import (
    KNOWN,
    SESSION,
    SPEED,
    Timeline,
    feed_factory,
    tokens_ticking,
    wait_until,
    warmed,
)

__all__ = ["feed_factory"]  # the fixture, imported for pytest

UNKNOWN = "999999"  # accepted by the simulator, never ticks


@pytest.fixture
def fast_sim(simulator):
    return warmed(simulator(SimConfig(start=SESSION, speed=SPEED)))


def fillers(count: int) -> list[str]:
    """Tokens the simulator accepts and never ticks."""
    return [str(900_000 + i) for i in range(count)]


def held_by_simulator(sim) -> list[int]:
    return sorted(sim.state.feed.snapshot().subscriptions().values())


def test_3000_tokens_spread_over_3_connections_of_1000(feed_factory, fast_sim):
    tokens = KNOWN + fillers(3000 - len(KNOWN))
    feed, timeline, _ = feed_factory(fast_sim)
    feed.subscribe(tokens)

    feed.start()
    wait_until(lambda: held_by_simulator(fast_sim) == [1000, 1000, 1000],
               what="3 x 1000 on the simulator")  # fmt: skip
    wait_until(lambda: tokens_ticking(feed, KNOWN, 0.0), what="known tokens tick")
    late = feed.subscribe(["1234567"])
    feed.unsubscribe(fillers(1))  # room frees: the waiting token takes it
    wait_until(lambda: feed.status().unplaced == 0, what="the waiting token placed")

    status = feed.status()
    assert [c.held for c in status.connections] == [1000, 1000, 1000]
    assert fast_sim.state.feed.snapshot().by_client() == {
        fast_sim.account.client_code: 3
    }
    assert fast_sim.chaos.counts["feed.limit_refusals"] == 0  # no E1002 earned
    assert late == [SubKey(1, 1, "1234567")]
    (unplaced,) = timeline.of(SubscriptionsUnplaced)
    assert unplaced.keys == (SubKey(1, 1, "1234567"),)
    wait_until(lambda: held_by_simulator(fast_sim) == [1000, 1000, 1000],
               what="still 3 x 1000")  # fmt: skip


def test_1500_tokens_take_two_connections_and_earn_no_e1002(feed_factory, fast_sim):
    feed, timeline, _ = feed_factory(fast_sim)
    feed.subscribe(KNOWN + fillers(1500 - len(KNOWN)))

    feed.start()
    wait_until(lambda: held_by_simulator(fast_sim) == [500, 1000], what="spread")

    assert len(feed.status().connections) == 2
    assert timeline.of(SubscriptionRefused) == []
    assert fast_sim.chaos.counts["feed.limit_refusals"] == 0


def test_an_e1002_moves_the_refused_tokens_to_another_connection(
    feed_factory, fast_sim
):
    fast_sim.state.feed.max_subscriptions = 20  # a server stricter than documented
    first, second = KNOWN[:15], KNOWN[15:30]
    feed, timeline, _ = feed_factory(fast_sim)
    feed.subscribe(first)
    feed.start()
    timeline.wait_for(Subscribed)

    feed.subscribe(second)
    (refused,) = timeline.wait_for(SubscriptionRefused)
    wait_until(lambda: held_by_simulator(fast_sim) == [15, 15], what="15 + 15")
    wait_until(lambda: tokens_ticking(feed, first + second, refused.at_s),
               what="all 30 tokens tick")  # fmt: skip

    assert (refused.connection, refused.code) == ("feed-1", "E1002")
    assert {k.token for k in refused.keys} == set(second)
    assert (refused.moved, refused.unplaced) == (15, ())
    second_conn = [e for e in timeline.of(Subscribed) if e.connection == "feed-2"]
    assert [e.count for e in second_conn] == [15]
    assert feed.status().unplaced == 0


def test_an_e1001_is_reported_and_never_sent_again(feed_factory, fast_sim):
    feed, timeline, _ = feed_factory(fast_sim)
    feed.subscribe(KNOWN[:3])
    depth_on_fo = SubKey(int(Mode.DEPTH), int(ExchangeType.NSE_FO), "43210")
    feed.subscribe(["43210"], mode=Mode.DEPTH, exchange_type=ExchangeType.NSE_FO)

    feed.start()
    (refused,) = timeline.wait_for(SubscriptionRefused)
    feed.reconnect()
    (resubscribed,) = timeline.wait_for(Resubscribed)
    wait_until(lambda: tokens_ticking(feed, KNOWN[:3], resubscribed.at_s), what="ticks")

    assert (refused.code, refused.keys) == ("E1001", (depth_on_fo,))
    assert (refused.moved, refused.unplaced) == (0, (depth_on_fo,))
    assert resubscribed.count == 3  # the refused pair is not asked for again
    assert fast_sim.chaos.counts["feed.bad_requests"] == 1
    assert feed.status().unplaced == 1


def test_a_token_silent_after_a_reconnect_is_asked_again_then_reported(
    feed_factory, fast_sim
):
    config = FeedConfig(verify_window_s=5.0)
    feed, timeline, _ = feed_factory(fast_sim, config=config)
    feed.subscribe([*KNOWN[:3], UNKNOWN])
    feed.start()
    timeline.wait_for(Subscribed)

    fast_sim.chaos.inject(FaultKind.CLEAN_CLOSE, "feed")
    (resubscribed,) = timeline.wait_for(Resubscribed)
    wait_until(lambda: any(e.at_s >= resubscribed.at_s
                           for e in timeline.of(TokensSilent)),
               what="silent after the reconnect")  # fmt: skip

    after = [
        e for e in timeline.snapshot() if getattr(e, "at_s", 0) >= resubscribed.at_s
    ]
    asked = [e for e in after if isinstance(e, TokensAskedAgain)]
    silent = [e for e in after if isinstance(e, TokensSilent)]
    assert resubscribed.count == 4
    assert [e.keys for e in asked] == [(SubKey(1, 1, UNKNOWN),)]
    assert [e.keys for e in silent] == [(SubKey(1, 1, UNKNOWN),)]
    assert asked[0].at_s - resubscribed.at_s >= 5.0
    assert feed.status().connections[0].silent == 1


def test_tokens_quiet_in_market_hours_are_reported_stale(feed_factory, fast_sim):
    config = FeedConfig(stale_after_s=5.0)
    feed, timeline, _ = feed_factory(fast_sim, config=config)
    feed.subscribe(KNOWN[:3])
    feed.start()
    timeline.wait_for(Subscribed)
    wait_until(lambda: tokens_ticking(feed, KNOWN[:3], 0.0), what="ticks")

    fast_sim.chaos.inject(FaultKind.SILENT_STALL, "feed", duration_s=300.0)
    timeline.wait_for(Disconnected)

    (stale,) = timeline.of(TokensStale)
    (dropped,) = timeline.of(Disconnected)
    assert {k.token for k in stale.keys} == set(KNOWN[:3])
    assert stale.at_s < dropped.at_s  # stale at 5 s, the connection dead at 20 s


def test_nothing_is_judged_stale_or_silent_after_the_close(feed_factory, simulator):
    before_close = datetime(2026, 12, 3, 15, 29, 50, tzinfo=IST)
    sim = warmed(simulator(SimConfig(start=before_close, speed=SPEED)))
    config = FeedConfig(stale_after_s=5.0, verify_window_s=5.0)
    feed, timeline, _ = feed_factory(sim, config=config)
    feed.subscribe(KNOWN[:3])
    feed.start()
    timeline.wait_for(Subscribed)

    # Ticks stop at 15:30:00; a token subscribed after it never ticks either.
    # In market hours both would be judged within 10 s.
    wait_until(lambda: sim.clock.now() > before_close.replace(minute=30, second=5))
    feed.subscribe([UNKNOWN])
    wait_until(lambda: sim.clock.now() > before_close.replace(minute=30, second=40))

    assert _judged(timeline) == []
    assert timeline.of(Disconnected) == []  # alive all along, on pongs alone
    assert feed.status().connections[0].counters.pongs >= 1


def _judged(timeline: Timeline) -> list[object]:
    kinds = (TokensStale, TokensSilent, TokensAskedAgain)
    return [e for e in timeline.snapshot() if isinstance(e, kinds)]
