"""The user's scenario 2 on the simulator: the WebSocket drops at 10:30 while
the bot trades 50 symbols, reconnects (1 s, 2 s, 4 s, as the seed design),
resubscribes all 50 and prices flow again. Its log lines are checked, and no
secret appears in any of them."""

from __future__ import annotations

import logging
import re
from datetime import datetime

import pytest

from kit.broker.backoff import BackoffPolicy
from kit.broker.feed import FeedConfig, FeedState
from kit.broker.feed_events import (
    Disconnected,
    Reconnected,
    Refused,
    Resubscribed,
)
from kit.broker.feed_state import ConnState
from kit.clock import IST
from kit.sim.chaos import parse_plan
from kit.sim.runner import SimConfig
from tests.broker.feed_helpers import (
    KNOWN,
    feed_factory,
    tokens_ticking,
    wait_until,
    warmed,
)

__all__ = ["feed_factory"]  # the fixture, imported for pytest

START = datetime(2026, 12, 3, 10, 29, 40, tzinfo=IST)
DROP = datetime(2026, 12, 3, 10, 30, 0, tzinfo=IST)
SYMBOLS = KNOWN[:50]

# The server restarts at 10:30: it closes the socket (1001, going away) and
# refuses the first two upgrades while it comes back.
PLAN = (
    "at=10:30:00 kind=clean_close target=feed status=1001;"
    "at=10:30:00 kind=upgrade_401 target=feed count=2"
)

EXPECTED_LINES = [
    r"feed-1: Connecting\.\.\.",
    r"feed-1: Connected",
    r"feed-1: Subscribed 50 tokens",
    r"feed-1: Disconnected \(server closed the connection, code 1001\): "
    r"up \d+\.\d s, \d+ frames, \d+ bytes",
    r"feed-1: Reconnecting in 1\.0 s \(attempt 1/10\)",
    r"feed-1: Connecting\.\.\.",
    r"feed-1: Upgrade refused: 401 Invalid Header - Invalid Feed Token; "
    r"fresh tokens before the next attempt",
    r"feed-1: Reconnecting in 2\.0 s \(attempt 2/10\)",
    r"feed-1: Connecting\.\.\.",
    r"feed-1: Upgrade refused: 401 .*",
    r"feed-1: Reconnecting in 4\.0 s \(attempt 3/10\)",
    r"feed-1: Connecting\.\.\.",
    r"feed-1: Connected",
    r"feed-1: Reconnected after \d+\.\d s down \(3 attempts\)",
    r"feed-1: Resubscribed 50 tokens",
]


@pytest.fixture
def sim(simulator):
    plan = parse_plan(PLAN, start=START)
    return warmed(simulator(SimConfig(start=START, speed=20.0), plan=plan))


def test_scenario_2_a_drop_at_10_30_heals_itself(feed_factory, sim, caplog):
    caplog.set_level(logging.INFO, logger="kit.broker.feed")
    config = FeedConfig(backoff=BackoffPolicy.user_design())
    feed, timeline, provider = feed_factory(sim, config=config)
    feed.subscribe(SYMBOLS)

    feed.start()
    wait_until(lambda: tokens_ticking(feed, SYMBOLS, 0.0), what="50 prices")
    (resubscribed,) = timeline.wait_for(Resubscribed, timeout_real_s=15.0)
    wait_until(lambda: tokens_ticking(feed, SYMBOLS, resubscribed.at_s),
               what="50 prices after the reconnect")  # fmt: skip

    # The drop came at 10:30 and was healed in about 7 s (1 + 2 + 4 s waits).
    (dropped,) = timeline.of(Disconnected)
    (reconnected,) = timeline.of(Reconnected)
    assert 0.0 <= dropped.at_s - DROP.timestamp() < 2.0
    assert 7.0 <= reconnected.downtime_s < 9.0
    assert resubscribed.count == 50
    assert [r.status for r in timeline.of(Refused)] == [401, 401]
    assert provider.calls == [False, True, True]  # fresh tokens after each 401

    lines = [r.getMessage() for r in caplog.records if r.name == "kit.broker.feed"]
    feed_lines = [line for line in lines if line.startswith("feed-1: ")]
    assert len(feed_lines) >= len(EXPECTED_LINES)
    for pattern, line in zip(EXPECTED_LINES, feed_lines, strict=False):
        assert re.fullmatch(pattern, line), (pattern, line)

    # The counter goes back to zero once the connection has been stable 30 s.
    wait_until(lambda: feed.status().connections[0].attempt == 0, 10.0, "stable")
    status = feed.status()
    assert status.state is FeedState.CONNECTED
    (conn,) = status.connections
    assert conn.state is ConnState.CONNECTED and conn.held == 50
    assert conn.counters.reconnects == 1 and conn.counters.bad_frames == 0
    assert conn.last_message_age_s is not None and conn.last_message_age_s < 5.0
    assert 25.0 < conn.uptime_s < 60.0
    assert set(status.last_tick_at) == {(1, token) for token in SYMBOLS}

    # No secret in any log line or event.
    secrets = provider.secrets()
    everything = lines + [repr(e) for e in feed.events()]
    leaks = [s for s in secrets for text in everything if s in text]
    assert leaks == []


def test_the_settings_are_logged_at_start_without_secrets(feed_factory, sim, caplog):
    caplog.set_level(logging.INFO, logger="kit.broker.feed")
    feed, _, provider = feed_factory(sim)
    feed.subscribe(SYMBOLS[:2])

    feed.start()
    wait_until(lambda: feed.status().state is FeedState.CONNECTED, what="up")

    (line,) = [r.getMessage() for r in caplog.records if "Starting" in r.getMessage()]
    assert line == (
        "feed: Starting: 2 token-mode pairs; ping every 10 s, deadline 20 s; "
        "backoff 1.0 s x2.0 up to 30 s, attempts no limit"
    )
    assert not any(s in line for s in provider.secrets())
