"""From chaos to the report: faults injected into the simulator's feed, the
feed's events through the activity feed into a SQLite store, and `kit report`
counting exactly the faults that were injected."""

from __future__ import annotations

import io
from datetime import datetime

from kit.broker.feed import ResilientFeed
from kit.broker.feed_events import FeedEvent, Resubscribed, Subscribed
from kit.clock import IST, ManualClock
from kit.ops.activity import ActivityFeed
from kit.ops.events import EventKind, Severity
from kit.ops.report import run_report
from kit.sim.chaos import FaultKind
from kit.sim.runner import SimConfig
from kit.store.sqlite import SqliteStore
from tests.broker.feed_helpers import (
    KNOWN,
    SESSION,
    SPEED,
    Provider,
    Timeline,
    tokens_ticking,
    wait_until,
    warmed,
)

TOKENS = KNOWN[:5]


def test_the_report_counts_the_injected_feed_faults(simulator, tmp_path):
    sim = warmed(simulator(SimConfig(start=SESSION, speed=SPEED)))
    path = tmp_path / "kit.sqlite3"
    store = SqliteStore(path, sim.clock)
    activity = ActivityFeed(store, sim.clock)
    timeline = Timeline()

    def on_event(event: FeedEvent) -> None:
        timeline.add(event)
        activity.on_feed_event(event)

    feed = ResilientFeed(
        sim.feed_url, Provider(sim, timeline), on_event=on_event, clock=sim.clock
    )
    try:
        activity.record(EventKind.BOT_STARTED, Severity.INFO, "bot started")
        feed.subscribe(TOKENS)
        feed.start()
        timeline.wait_for(Subscribed)
        wait_until(lambda: tokens_ticking(feed, TOKENS, 0.0), what="first ticks")

        sim.chaos.inject(FaultKind.CLEAN_CLOSE, "feed")
        timeline.wait_for(Resubscribed)
        sim.chaos.inject(FaultKind.SILENT_STALL, "feed", duration_s=300.0)
        timeline.wait_for(Resubscribed, count=2)
    finally:
        assert feed.stop(timeout_real_s=5.0) == ()
        activity.record(EventKind.BOT_STOPPED, Severity.INFO, "bot stopped")
        activity.close()
        store.close()

    out, err = io.StringIO(), io.StringIO()
    later = ManualClock(datetime(2026, 12, 10, 12, 0, tzinfo=IST))
    code = run_report(
        ["--date", "2026-12-03", "--store", f"sqlite:///{path}"],
        clock=later, out=out, err=err,
    )  # fmt: skip

    assert (code, err.getvalue()) == (0, "")
    rows = {
        cells[0]: cells[1:]
        for line in out.getvalue().splitlines()
        if line.startswith("| ") and "---" not in line
        for cells in [[c.strip() for c in line.strip("|").split("|")]]
    }
    assert rows["Bot crashes"] == ["0"]
    assert rows["Manual interventions"] == ["0"]
    assert rows["WebSocket reconnects"] == ["2 of 2 (100 %)"]
    assert rows["WebSocket disconnect"][0] == "1"
    assert rows["WebSocket silent"][0] == "1"
    # the 20 s liveness deadline, counted from the last frame before the stall
    detection_s = float(rows["WebSocket silent"][1].removesuffix(" s"))
    assert 19.0 <= detection_s < 30.0
    assert rows["WebSocket silent"][-1] == "1 of 1 (100 %)"
