"""ResilientFeed against the simulator's chaos: every fault of the recovery
matrix is injected, detected and healed without a person.

Tests run on a ScaledClock shared with the simulator (50 simulated seconds a
real second) or on a ManualClock where a wait must be seen exactly; nothing
sleeps to wait for a backoff.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator

import pytest

from kit.broker.backoff import BackoffPolicy
from kit.broker.feed import FeedConfig, FeedState, ResilientFeed
from kit.broker.feed_events import (
    Connected,
    ConnectFailed,
    Disconnected,
    GaveUp,
    ReconnectAlert,
    Reconnected,
    ReconnectScheduled,
    Refused,
    Resubscribed,
    Subscribed,
)
from kit.broker.feed_state import ConnState
from kit.clock import ManualClock
from kit.sim.chaos import FaultKind
from kit.sim.runner import SimConfig
from tests.broker.feed_helpers import (
    KNOWN,
    SESSION,
    SPEED,
    Fixed,
    Timeline,
    drain,
    feed_factory,
    tokens_ticking,
    wait_until,
    warmed,
)

__all__ = ["feed_factory"]  # the fixture, imported for pytest

TOKENS = KNOWN[:5]


@pytest.fixture
def fast_sim(simulator):
    return warmed(simulator(SimConfig(start=SESSION, speed=SPEED)))


@pytest.fixture
def manual_sim(simulator):
    clock = ManualClock(SESSION)
    return warmed(simulator(SimConfig(start=SESSION), clock=clock))


def started(feed_factory, sim, tokens=TOKENS, **options):
    feed, timeline, provider = feed_factory(sim, **options)
    feed.subscribe(tokens)
    feed.start()
    timeline.wait_for(Subscribed)
    wait_until(lambda: tokens_ticking(feed, tokens, 0.0), what="first ticks")
    return feed, timeline, provider


def after_reconnect(timeline: Timeline) -> list[type]:
    """The kinds of events from the first disconnect to the resubscribe."""
    kinds = [type(e) for e in timeline.snapshot() if not isinstance(e, tuple)]
    start = kinds.index(Disconnected)
    return kinds[start : kinds.index(Resubscribed) + 1]


def test_a_clean_close_is_reconnected_at_once_and_resubscribed(feed_factory, fast_sim):
    feed, timeline, _ = started(feed_factory, fast_sim)

    fast_sim.chaos.inject(FaultKind.CLEAN_CLOSE, "feed")
    (resubscribed,) = timeline.wait_for(Resubscribed)
    wait_until(lambda: tokens_ticking(feed, TOKENS, resubscribed.at_s), what="ticks")

    (dropped,) = timeline.of(Disconnected)
    (first_try,) = timeline.of(ReconnectScheduled)
    assert "code 1000" in dropped.reason and dropped.frames >= len(TOKENS)
    assert (first_try.attempt, first_try.delay_s) == (1, 0.0)  # immediate
    assert after_reconnect(timeline) == [
        Disconnected, ReconnectScheduled, Reconnected, Resubscribed,
    ]  # fmt: skip
    assert resubscribed.count == len(TOKENS)
    assert [f.kind for f in fast_sim.chaos.log] == [FaultKind.CLEAN_CLOSE]
    (conn,) = fast_sim.state.feed.snapshot().connections
    assert conn.subscriptions == len(TOKENS)
    assert feed.status().connections[0].counters.reconnects == 1


def test_a_tcp_abort_is_reconnected_and_resubscribed(feed_factory, fast_sim):
    feed, timeline, _ = started(feed_factory, fast_sim)

    fast_sim.chaos.inject(FaultKind.TCP_ABORT, "feed")
    (resubscribed,) = timeline.wait_for(Resubscribed)
    wait_until(lambda: tokens_ticking(feed, TOKENS, resubscribed.at_s), what="ticks")

    (dropped,) = timeline.of(Disconnected)
    assert "reset" in dropped.reason or "lost" in dropped.reason
    assert resubscribed.count == len(TOKENS)
    assert feed.status().state is FeedState.CONNECTED


def test_a_silent_stall_is_detected_by_the_deadline_and_reconnected(
    feed_factory, fast_sim
):
    feed, timeline, _ = started(feed_factory, fast_sim)

    fast_sim.chaos.inject(FaultKind.SILENT_STALL, "feed", duration_s=300.0)
    (resubscribed,) = timeline.wait_for(Resubscribed)
    wait_until(lambda: tokens_ticking(feed, TOKENS, resubscribed.at_s), what="ticks")

    (dropped,) = timeline.of(Disconnected)
    (stall,) = fast_sim.chaos.log
    detected_after_s = dropped.at_s - stall.at.timestamp()
    assert dropped.reason.startswith("no pong or data for")
    # The 20 s deadline runs from the last frame, a wake before the stall began.
    assert 19.0 <= detected_after_s < 30.0
    assert feed.status().connections[0].counters.pings >= 1


def test_a_401_asks_for_fresh_tokens_before_the_next_attempt(feed_factory, fast_sim):
    _, timeline, provider = started(feed_factory, fast_sim)

    fast_sim.chaos.inject(FaultKind.UPGRADE_401, "feed")
    fast_sim.chaos.inject(FaultKind.CLEAN_CLOSE, "feed")
    timeline.wait_for(Resubscribed)

    assert provider.calls == [False, True]
    entries = timeline.snapshot()
    (refused,) = timeline.of(Refused)
    (reconnected,) = timeline.of(Reconnected)
    refresh = entries.index(("provider", True))
    assert entries.index(refused) < refresh < entries.index(reconnected)
    assert (refused.status, refused.reason) == (
        401, "Invalid Header - Invalid Feed Token"
    )  # fmt: skip
    assert reconnected.attempts == 2
    assert provider.issued[0].feed_token != provider.issued[1].feed_token


def test_a_429_waits_the_limit_delay_before_trying_again(feed_factory, manual_sim):
    clock = manual_sim.clock
    feed, timeline, _ = feed_factory(manual_sim, rng=Fixed(0.5))
    feed.subscribe(TOKENS)
    manual_sim.chaos.inject(FaultKind.UPGRADE_429, "feed")

    feed.start()
    (scheduled,) = timeline.wait_for(ReconnectScheduled)
    clock.wait_for_sleepers(1)
    clock.advance(29.0)
    clock.wait_for_sleepers(1)
    still_down = manual_sim.state.feed.snapshot().connections
    clock.advance(1.5)
    timeline.wait_for(Subscribed)

    (refused,) = timeline.of(Refused)
    assert refused.status == 429
    assert (scheduled.attempt, scheduled.delay_s) == (1, 30.0)
    assert still_down == ()
    assert manual_sim.chaos.counts["feed.refused_429"] == 1


def test_flapping_grows_the_delay_because_a_handshake_resets_nothing(
    feed_factory, fast_sim
):
    feed, timeline, _ = started(feed_factory, fast_sim, rng=Fixed(1.0))

    # Accepted, one tick, closed, five times over.
    fast_sim.chaos.inject(FaultKind.CLEAN_CLOSE, "feed", count=5)
    timeline.wait_for(Resubscribed, count=5)
    wait_until(lambda: feed.status().connections[0].attempt == 0, what="stable")

    delays = [e.delay_s for e in timeline.of(ReconnectScheduled)]
    drops = timeline.of(Disconnected)
    assert delays == [0.0, 1.0, 2.0, 4.0, 8.0]
    assert all(d.frames >= 1 and d.uptime_s < 30.0 for d in drops[1:])
    assert [e.attempts for e in timeline.of(Reconnected)] == [1, 2, 3, 4, 5]


def test_malformed_frames_among_good_ones_are_counted_and_skipped(
    feed_factory, fast_sim, caplog
):
    caplog.set_level(logging.INFO, logger="kit.broker.feed")
    feed, timeline, _ = started(feed_factory, fast_sim)
    drain(feed)

    fast_sim.chaos.inject(FaultKind.MALFORMED_FRAME, "feed", count=3)
    wait_until(lambda: feed.status().counters.bad_frames == 3, what="3 bad frames")
    after_s = fast_sim.clock.time()
    wait_until(lambda: tokens_ticking(feed, TOKENS, after_s), what="ticks after")

    assert timeline.of(Disconnected) == []
    assert fast_sim.chaos.counts["fault.malformed_frame"] == 3
    bad = [r for r in caplog.records if "Bad frame of 40 bytes" in r.getMessage()]
    assert bad and (bad[0].exc_info is not None or bad[0].exc_text)
    assert all(len(t.token) > 0 for t in drain(feed))


def test_a_failing_consumer_callback_never_stops_the_feed(feed_factory, fast_sim):
    seen = []

    def explode(tick):
        seen.append(tick)
        raise RuntimeError("consumer bug")

    feed, timeline, _ = started(feed_factory, fast_sim, on_tick=explode)
    wait_until(lambda: len(seen) > 50, what="50 ticks through the callback")

    status = feed.status()
    assert status.counters.callback_errors >= 50
    assert status.state is FeedState.CONNECTED
    assert timeline.of(Disconnected) == []
    assert feed.ticks.qsize() >= 50  # the queue still got every tick


def test_a_full_queue_drops_and_reports(feed_factory, fast_sim):
    feed, timeline, _ = started(
        feed_factory, fast_sim, config=FeedConfig(queue_maxsize=10)
    )
    wait_until(lambda: feed.status().counters.drops > 20, what="drops")

    status = feed.status()
    assert status.queue_size == 10
    assert status.state is FeedState.CONNECTED
    reports = [e for e in feed.events() if e.kind == "TicksDropped"]
    assert reports and reports[0].total >= 1
    assert timeline.of(Disconnected) == []


def test_stop_during_a_backoff_wait_is_prompt_and_never_reconnects(
    feed_factory, manual_sim
):
    clock = manual_sim.clock
    feed, timeline, _ = feed_factory(manual_sim)
    feed.subscribe(TOKENS)
    manual_sim.chaos.inject(FaultKind.UPGRADE_429, "feed")
    feed.start()
    timeline.wait_for(ReconnectScheduled)
    clock.wait_for_sleepers(1)

    stuck = feed.stop(timeout_real_s=2.0)
    clock.advance(600.0)

    assert stuck == () and feed.stop() == ()  # idempotent
    assert feed.status().state is FeedState.STOPPED
    assert [c.state for c in feed.status().connections] == [ConnState.STOPPED]
    assert manual_sim.chaos.counts["feed.connections_opened"] == 0
    assert manual_sim.state.feed.snapshot().connections == ()
    with pytest.raises(RuntimeError):
        feed.start()


def test_stop_while_connected_closes_the_connection(feed_factory, fast_sim):
    feed, timeline, _ = started(feed_factory, fast_sim)

    assert feed.stop(timeout_real_s=2.0) == ()

    (dropped,) = timeline.of(Disconnected)
    assert dropped.reason == "stopped"
    assert timeline.of(ReconnectScheduled) == []
    wait_until(lambda: fast_sim.state.feed.snapshot().connections == (), 5.0,
               "the simulator saw the close")  # fmt: skip


def test_stop_names_a_thread_that_did_not_stop(feed_factory, fast_sim, caplog):
    entered, release = threading.Event(), threading.Event()

    def hang(tick):  # the consumer's callback hangs the connection's thread
        entered.set()
        release.wait(10.0)

    feed, _, _ = feed_factory(fast_sim, on_tick=hang)
    feed.subscribe(TOKENS[:1])
    feed.start()
    assert entered.wait(5.0)

    stuck = feed.stop(timeout_real_s=0.2)
    release.set()

    assert stuck == ("kit-feed-1",)
    assert "threads still running after stop: kit-feed-1" in caplog.text
    assert feed.stop(timeout_real_s=5.0) == ()  # joined once released


def test_reconnect_on_request_makes_a_new_connection(feed_factory, fast_sim):
    feed, timeline, _ = started(feed_factory, fast_sim)

    feed.reconnect()
    (resubscribed,) = timeline.wait_for(Resubscribed)

    (dropped,) = timeline.of(Disconnected)
    assert dropped.reason == "reconnect requested"
    assert resubscribed.count == len(TOKENS)


# No simulator: a server that never answers, and no server at all.


@pytest.fixture
def mute_server() -> Iterator[str]:
    """A socket that accepts TCP connections and never answers the upgrade."""
    listener = socket.create_server(("127.0.0.1", 0))
    yield f"ws://127.0.0.1:{listener.getsockname()[1]}/smart-stream"
    listener.close()


@pytest.fixture
def dead_url() -> str:
    """A URL where nothing listens: connections are refused at once."""
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return f"ws://127.0.0.1:{port}/smart-stream"


def offline_feed(url: str, clock, **options) -> tuple[ResilientFeed, Timeline]:
    timeline = Timeline()

    def provider(*, refresh: bool = False):
        from kit.broker.feed import FeedCredentials  # noqa: PLC0415

        return FeedCredentials("jwt", "key", "client", "feed")

    feed = ResilientFeed(url, provider, clock=clock, on_event=timeline.add, **options)
    return feed, timeline


def test_a_slow_handshake_is_bounded_by_the_connect_timeout(mute_server):
    clock = ManualClock(SESSION)
    config = FeedConfig(connect_timeout_s=0.3)
    feed, timeline = offline_feed(mute_server, clock, config=config)
    try:
        feed.start()
        (failed,) = timeline.wait_for(ConnectFailed, timeout_real_s=3.0)
        timeline.wait_for(ReconnectScheduled)
    finally:
        assert feed.stop(timeout_real_s=3.0) == ()

    assert failed.reason.startswith("no upgrade within 0.3 s")
    assert timeline.of(Connected) == []


def test_the_user_design_gives_up_after_10_attempts_with_alerts(dead_url):
    clock = ManualClock(SESSION, auto_advance=True)  # waits move the clock
    config = FeedConfig(backoff=BackoffPolicy.user_design())
    feed, timeline = offline_feed(dead_url, clock, config=config)
    try:
        feed.start()
        (gave_up,) = timeline.wait_for(GaveUp)
        failures_before = len(timeline.of(ConnectFailed))
        feed.reconnect()  # the health monitor's lever revives it
        timeline.wait_for(ConnectFailed, count=failures_before + 1)
    finally:
        assert feed.stop(timeout_real_s=3.0) == ()

    delays = [e.delay_s for e in timeline.of(ReconnectScheduled)][:10]
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 300.0]
    assert gave_up.attempts == 10 and failures_before == 11
    assert [e.attempt for e in timeline.of(ReconnectAlert)][:2] == [5, 10]
    assert "refused" in timeline.of(ConnectFailed)[0].reason.lower()
