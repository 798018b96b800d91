"""The monitor's backstop against the real feed on the simulator: the
simulator's feed goes silent (no data, no pong), the feed's own liveness
deadline is set far beyond the monitor's window, and the monitor's thread
asks the feed to reconnect, once, and sees the data return.

The simulator and the monitor share a ScaledClock of 50 simulated seconds a
real second, so the monitor's 60 s window is 1.2 real seconds.
"""

from __future__ import annotations

import threading

import pytest

from kit.broker.feed import FeedConfig
from kit.broker.feed_events import Disconnected, Resubscribed, Subscribed
from kit.ops.events import ActivityEvent, EventKind
from kit.ops.health import HealthConfig, HealthMonitor, sources_for
from kit.sim.chaos import FaultKind
from kit.sim.runner import SimConfig
from tests.broker.feed_helpers import (
    KNOWN,
    SESSION,
    SPEED,
    feed_factory,
    tokens_ticking,
    wait_until,
    warmed,
)

__all__ = ["feed_factory"]  # the fixture, imported for pytest

TOKENS = KNOWN[:5]


class Recorder:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.events: list[ActivityEvent] = []

    def __call__(self, event: ActivityEvent) -> None:
        with self._lock:
            self.events.append(event)

    def of(self, kind: str) -> list[ActivityEvent]:
        with self._lock:
            return [e for e in self.events if e.kind == kind]


@pytest.fixture
def fast_sim(simulator):
    return warmed(simulator(SimConfig(start=SESSION, speed=SPEED)))


def test_the_monitor_reconnects_a_feed_gone_silent_before_its_own_deadline(
    feed_factory, fast_sim
):
    # The feed would wait 10 min for a pong or data; the monitor acts at 60 s.
    config = FeedConfig(liveness_deadline_s=600.0, stale_after_s=600.0)
    feed, timeline, _ = feed_factory(fast_sim, config=config)
    feed.subscribe(TOKENS)
    feed.start()
    timeline.wait_for(Subscribed)
    wait_until(lambda: tokens_ticking(feed, TOKENS, 0.0), what="first ticks")

    events = Recorder()
    sources = sources_for(clock=fast_sim.clock, feed=feed, process=None)
    health = HealthConfig(sample_s=5.0, publish_s=60.0, silent_window_s=60.0)
    monitor = HealthMonitor(sources, config=health, clock=fast_sim.clock,
                            emit=events)  # fmt: skip
    monitor.start()
    try:
        fast_sim.chaos.inject(FaultKind.SILENT_STALL, "feed", duration_s=300.0)
        wait_until(lambda: bool(events.of(EventKind.FEED_RECONNECT_REQUESTED)),
                   10.0, "the monitor's reconnect")  # fmt: skip
        (resubscribed,) = timeline.wait_for(Resubscribed)
        wait_until(lambda: len(events.of(EventKind.FEED_STALE)) == 2,
                   10.0, "the incident's end")  # fmt: skip
    finally:
        assert monitor.stop(timeout_real_s=5.0)

    detected, recovered = events.of(EventKind.FEED_STALE)
    (asked,) = events.of(EventKind.FEED_RECONNECT_REQUESTED)
    (stall,) = fast_sim.chaos.log
    (dropped,) = timeline.of(Disconnected)
    incident = detected.fields["incident"]
    assert (asked.fields["incident"], recovered.fields["incident"]) == (
        incident, incident,
    )  # fmt: skip
    assert (detected.fields["phase"], recovered.fields["phase"]) == (
        "detected", "recovered",
    )  # fmt: skip
    # Detected one window (plus at most a sample and a send cycle) after the
    # last tick, well before the feed's own 600 s deadline.
    silent_s = detected.at.timestamp() - detected.fields["began_s"]
    assert 60.0 <= silent_s < 100.0
    assert detected.fields["began_s"] <= stall.at.timestamp() + 2.0
    assert dropped.reason == "reconnect requested"
    assert dropped.at_s >= asked.at.timestamp() - 1.0
    assert resubscribed.count == len(TOKENS)
    assert tokens_ticking(feed, TOKENS, resubscribed.at_s)
