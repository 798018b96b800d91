"""The health monitor driven sample by sample on a manual clock: the feed
backstop, token warnings, grade changes and the trading state, the memory
trend, the error window, the heartbeat, publishing and the store, and the
thread's start and prompt stop."""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from kit.broker.feed_state import ConnState
from kit.clock import ManualClock, ScaledClock
from kit.errors import StoreUnavailable
from kit.ops.events import EventKind, Severity
from kit.ops.health import HealthConfig, HealthMonitor, HealthSources, sources_for
from kit.ops.health_config import MIB
from kit.ops.health_snapshot import Grade, HealthSnapshot
from kit.ops.health_sources import OperationCounts
from kit.store.base import HealthRecord
from tests.ops.health_fakes import (
    EVENING,
    MIDDAY,
    Events,
    FakeFeed,
    FakeSession,
    ScriptedProcess,
)

SAMPLE_S = 10.0
MINUTE = timedelta(minutes=1)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(MIDDAY)


@pytest.fixture
def events() -> Events:
    return Events()


def monitor_of(clock, events, **parts) -> HealthMonitor:
    """A monitor on ``clock`` reading the fakes in ``parts``."""
    names = ("config", "mode", "set_trading_state", "store", "heartbeat_path")
    options = {name: parts.pop(name) for name in names if name in parts}
    parts.setdefault("process", ScriptedProcess([100 * MIB]))
    sources = sources_for(clock=clock, **parts)
    return HealthMonitor(sources, clock=clock, emit=events.append, **options)


def run_for(monitor: HealthMonitor, clock: ManualClock, seconds: float) -> None:
    """Sample every 10 s for ``seconds`` of the clock."""
    for _ in range(int(seconds // SAMPLE_S)):
        clock.advance(SAMPLE_S)
        monitor.sample_once()


# The feed backstop.


def test_a_connected_feed_whose_data_stopped_is_reconnected_once_per_incident(
    clock, events
):
    feed = FakeFeed(clock)
    monitor = monitor_of(clock, events, feed=feed)
    feed.tick()
    last_tick_s = clock.time()

    run_for(monitor, clock, 50.0)
    assert feed.reconnect_calls == 0  # silent for 50 s: not yet

    run_for(monitor, clock, 10.0)
    assert feed.reconnect_calls == 1
    run_for(monitor, clock, 300.0)  # still silent: the same incident
    assert feed.reconnect_calls == 1

    (stale,) = events.of(EventKind.FEED_STALE)
    (asked,) = events.of(EventKind.FEED_RECONNECT_REQUESTED)
    assert stale.fields["phase"] == "detected"
    assert stale.fields["fault"] == "ws_stale"
    assert stale.fields["began_s"] == last_tick_s
    assert stale.at.timestamp() == last_tick_s + 60.0
    assert asked.fields["incident"] == stale.fields["incident"]
    assert asked.severity is Severity.WARNING


def test_data_returning_ends_the_incident_and_a_new_silence_is_a_new_one(clock, events):
    feed = FakeFeed(clock)
    monitor = monitor_of(clock, events, feed=feed)
    feed.tick()
    run_for(monitor, clock, 60.0)

    feed.tick()  # the reconnect worked
    run_for(monitor, clock, 10.0)
    run_for(monitor, clock, 60.0)  # and stopped again

    assert feed.reconnect_calls == 2
    first, recovered, second = events.of(EventKind.FEED_STALE)
    assert [e.fields["phase"] for e in (first, recovered, second)] == [
        "detected", "recovered", "detected",
    ]  # fmt: skip
    assert recovered.fields["incident"] == first.fields["incident"]
    assert second.fields["incident"] != first.fields["incident"]
    assert recovered.at.timestamp() - first.at.timestamp() == 10.0


@pytest.mark.parametrize(
    "situation", ["market closed", "feed not connected", "connection too young"]
)
def test_the_backstop_leaves_a_feed_alone_when_it_should(clock, events, situation):
    if situation == "market closed":
        clock.advance_to(EVENING)
    feed = FakeFeed(clock)
    if situation == "feed not connected":
        feed.state = ConnState.WAITING
    monitor = monitor_of(clock, events, feed=feed)
    feed.tick()

    for _ in range(30):
        if situation == "connection too young":  # it keeps reconnecting itself
            feed.connected_at_s = clock.monotonic() - 30.0
        run_for(monitor, clock, 10.0)

    assert feed.reconnect_calls == 0
    assert events.of(EventKind.FEED_STALE) == []


def test_an_incident_open_at_the_close_ends_as_failed(clock, events):
    clock.advance_to(MIDDAY.replace(hour=15, minute=27))
    feed = FakeFeed(clock)
    monitor = monitor_of(clock, events, feed=feed)
    feed.tick()

    run_for(monitor, clock, 240.0)

    detected, failed = events.of(EventKind.FEED_STALE)
    assert failed.fields["phase"] == "failed"
    assert failed.fields["incident"] == detected.fields["incident"]
    assert failed.at.timestamp() == MIDDAY.replace(hour=15, minute=30).timestamp()


def test_the_data_flow_counts_symbols_that_ticked_in_the_window(clock, events):
    feed = FakeFeed(clock)
    monitor = monitor_of(clock, events, feed=feed)
    feed.tick()
    clock.advance(50.0)
    feed.tick(feed.tokens[:8])
    clock.advance(20.0)

    snapshot = monitor.sample_once()

    assert snapshot.data is not None
    assert (snapshot.data.fresh, snapshot.data.subscribed) == (8, 10)
    assert snapshot.data.silent_s == 20.0
    assert snapshot.data.since_open_s == 45 * 60 + 70.0
    assert snapshot.reasons == ("data from 8/10 symbols",)
    assert snapshot.grade is Grade.DEGRADED


# The session's token.


def test_token_warnings_fire_once_each_and_again_after_a_renewal(clock, events, caplog):
    session = FakeSession(clock)
    first_expiry_s = session.expires_s
    monitor = monitor_of(clock, events, session=session)
    monitor.sample_once()

    clock.advance(23 * 3600 - 10)
    run_for(monitor, clock, 300.0)  # 23 h 05 old: expires in 55 min
    clock.advance(3600)
    run_for(monitor, clock, 300.0)  # expired
    session.renew()
    run_for(monitor, clock, 10.0)

    (warning,) = events.of(EventKind.TOKEN_EXPIRY_WARNING)
    (expired,) = events.of(EventKind.SESSION_EXPIRED)
    (renewed,) = events.of(EventKind.SESSION_RENEWED)
    assert warning.fields["minutes_left"] == 59
    assert "kit login" in warning.text and "TOKEN EXPIRY WARNING" in warning.text
    assert warning.text.isascii() and expired.text.isascii()
    assert all(r.getMessage().isascii() for r in caplog.records)
    assert expired.severity is Severity.CRITICAL
    assert [e.fields.get("phase") for e in (warning, expired, renewed)] == [
        "detected", None, "recovered",
    ]  # fmt: skip
    assert warning.fields["began_s"] == first_expiry_s  # an advance warning
    assert expired.fields["fault"] == "token_expiry"
    assert {e.fields["incident"] for e in (warning, expired, renewed)} == {
        warning.fields["incident"]
    }
    assert warning.needs_person and expired.needs_person

    clock.advance(23.5 * 3600)
    run_for(monitor, clock, 10.0)
    assert len(events.of(EventKind.TOKEN_EXPIRY_WARNING)) == 2


def test_a_session_found_expired_fires_only_the_expiry(clock, events):
    session = FakeSession(clock, lifetime_s=60.0)
    clock.advance(120.0)
    monitor = monitor_of(clock, events, session=session)

    run_for(monitor, clock, 600.0)

    assert events.of(EventKind.TOKEN_EXPIRY_WARNING) == []
    (expired,) = events.of(EventKind.SESSION_EXPIRED)
    assert expired.fields["phase"] == "detected"
    assert expired.fields["began_s"] == session.expires_s
    assert monitor.latest is not None and monitor.latest.grade is Grade.CRITICAL


# The grade and the trading state.


def test_a_critical_grade_asks_risk_to_reduce_once_and_to_resume_once(clock, events):
    feed = FakeFeed(clock)
    asked: list[tuple[str, str]] = []
    monitor = monitor_of(
        clock, events, feed=feed, set_trading_state=lambda s, r: asked.append((s, r))
    )
    feed.tick()
    monitor.sample_once()
    feed.state = ConnState.WAITING

    run_for(monitor, clock, 400.0)
    assert [state for state, _ in asked] == ["reducing"]
    assert asked[0][1].startswith("health CRITICAL: feed reconnecting for 5m 0s")

    feed.state = ConnState.CONNECTED
    feed.tick()
    run_for(monitor, clock, 60.0)

    assert [state for state, _ in asked] == ["reducing", "active"]
    changed = events.of(EventKind.HEALTH_GRADE_CHANGED)
    changes = [(e.fields["previous"], e.fields["grade"]) for e in changed]
    assert changes == [
        (None, "EXCELLENT"), ("EXCELLENT", "DEGRADED"), ("DEGRADED", "CRITICAL"),
        ("CRITICAL", "EXCELLENT"),
    ]  # fmt: skip
    critical = events.of(EventKind.HEALTH_GRADE_CHANGED)[2]
    assert critical.severity is Severity.CRITICAL
    assert critical.fields["reasons"] == [
        "feed reconnecting for 5m 0s", "data from 0/10 symbols",
    ]  # fmt: skip


def test_a_failing_risk_request_is_logged_and_asked_again(clock, events, caplog):
    session = FakeSession(clock, lifetime_s=5.0)
    calls: list[str] = []

    def refuse_once(state: str, reason: str) -> None:
        calls.append(state)
        if len(calls) == 1:
            raise RuntimeError("risk is busy")

    monitor = monitor_of(clock, events, session=session, set_trading_state=refuse_once)
    run_for(monitor, clock, 40.0)

    assert calls == ["reducing", "reducing"]
    assert "Asking risk for trading state reducing failed" in caplog.text


# Memory.


def test_the_rss_trend_is_fitted_over_the_last_hour_of_samples(clock, events):
    # 100 MiB growing 2 MiB every sample (720 MiB an hour) for an hour,
    # then flat for an hour.
    growing = [100 * MIB + n * 2 * MIB for n in range(361)]
    script = ScriptedProcess(growing + [growing[-1]] * 360)
    monitor = monitor_of(clock, events, process=script)

    trends = []
    for _ in range(720):
        clock.advance(SAMPLE_S)
        trends.append(monitor.sample_once().process.rss_trend_bytes_h)

    assert trends[89] is None  # samples over 890 s: too few to judge
    assert trends[90] == pytest.approx(720 * MIB)
    assert trends[359] == pytest.approx(720 * MIB)
    assert trends[-1] == pytest.approx(0.0, abs=0.1 * MIB)  # growth left the hour
    (warning,) = events.of(EventKind.RESOURCE_WARNING)
    assert warning.fields["trend_bytes_h"] == pytest.approx(720 * MIB)
    assert warning.text == "Memory growing 720 MB/h (now 280 MB)"


def test_noisy_flat_memory_shows_no_trend_and_no_warning(clock, events):
    noise = [200 * MIB + (7919 * n % 13) * 100_000 for n in range(400)]
    monitor = monitor_of(clock, events, process=ScriptedProcess(noise))

    run_for(monitor, clock, 3600.0)

    snapshot = monitor.latest
    assert snapshot is not None and snapshot.process is not None
    assert abs(snapshot.process.rss_trend_bytes_h or 0.0) < 5 * MIB
    assert events.of(EventKind.RESOURCE_WARNING) == []
    assert snapshot.grade is Grade.EXCELLENT


# Errors, unknown sources.


def test_the_error_rate_covers_the_window_only(clock, events):
    totals = {"operations": 0, "errors": 0}
    monitor = monitor_of(clock, events, operations=lambda: OperationCounts(**totals))

    for _ in range(60):  # 10 min: 10 operations a sample, 1 failing
        clock.advance(SAMPLE_S)
        totals["operations"] += 10
        totals["errors"] += 1
        snapshot = monitor.sample_once()
    assert snapshot.errors is not None
    assert (snapshot.errors.errors, snapshot.errors.operations) == (60, 600)
    assert snapshot.grade is Grade.DEGRADED

    for _ in range(60):  # 10 clean minutes
        clock.advance(SAMPLE_S)
        totals["operations"] += 10
        snapshot = monitor.sample_once()
    assert snapshot.errors is not None
    assert (snapshot.errors.errors, snapshot.errors.operations) == (0, 600)
    assert snapshot.grade is Grade.EXCELLENT


def test_missing_sources_are_unknown_and_a_failing_one_is_logged_once(
    clock, events, caplog
):
    def broken():
        raise ConnectionError("the engine is gone")

    sources = HealthSources(scans=broken, process=None)
    monitor = HealthMonitor(sources, clock=clock, emit=events.append)

    for _ in range(3):
        snapshot = monitor.sample_once()

    assert snapshot.feed is None and snapshot.scans is None
    assert snapshot.process is None and snapshot.token is None
    assert snapshot.grade is Grade.EXCELLENT
    failures = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage() for r in failures] == ["health: scans failed"]


# Heartbeat, publishing and the store.


def test_the_heartbeat_file_is_rewritten_with_the_time_at_every_sample(
    clock, events, tmp_path: Path
):
    path = tmp_path / "run" / "heartbeat"
    monitor = monitor_of(clock, events, heartbeat_path=path)

    monitor.sample_once()
    assert path.read_text() == MIDDAY.isoformat() + "\n"
    os.utime(path, (1_000_000.0, 1_000_000.0))  # as if written long ago

    clock.advance(SAMPLE_S)
    monitor.sample_once()

    assert path.read_text() == clock.now().isoformat() + "\n"
    assert time.time() - path.stat().st_mtime < 60.0


def test_an_unwritable_heartbeat_is_logged_and_sampling_goes_on(
    clock, events, tmp_path: Path, caplog
):
    path = tmp_path / "heartbeat"
    path.mkdir()  # a directory where the file should be

    monitor = monitor_of(clock, events, heartbeat_path=path)
    monitor.sample_once()
    monitor.sample_once()

    assert monitor.latest is not None
    assert caplog.text.count("health: heartbeat failed") == 1


class FlakyStore:
    """A store that is down for the first ``down`` writes."""

    def __init__(self, down: int) -> None:
        self.down = down
        self.saved: list[HealthRecord] = []

    def save_health(self, record: HealthRecord) -> None:
        if self.down > 0:
            self.down -= 1
            raise StoreUnavailable("the store did not answer in 10 s")
        self.saved.append(record)


def test_snapshots_are_published_every_minute_and_a_store_failure_is_survived(
    clock, events, caplog
):
    caplog.set_level(logging.INFO, logger="kit.ops.health")
    store = FlakyStore(down=2)
    published: list[HealthSnapshot] = []
    monitor = monitor_of(clock, events, store=store)
    monitor.subscribe(published.append)

    assert monitor.tick() is not None  # the first sample is published at once
    for _ in range(18):
        clock.advance(SAMPLE_S)
        monitor.tick()

    assert [s.at for s in published] == [MIDDAY + m * MINUTE for m in range(4)]
    assert len(store.saved) == 2
    assert HealthSnapshot.from_record(store.saved[-1]) == published[-1]
    assert caplog.text.count("health: store failed") == 1
    assert "health: store answers again" in caplog.text
    assert monitor.next_publish_in_s() == 60.0


def test_a_failing_subscriber_does_not_stop_the_others(clock, events):
    seen: list[HealthSnapshot] = []
    monitor = monitor_of(clock, events)
    monitor.subscribe(lambda s: 1 / 0)
    unsubscribe = monitor.subscribe(seen.append)

    monitor.tick()
    unsubscribe()
    clock.advance(60.0)
    monitor.tick()

    assert len(seen) == 1


# The thread.


def test_the_thread_samples_publishes_and_stops_promptly(tmp_path: Path):
    clock = ScaledClock(MIDDAY, speed=1000.0)  # a 10 s sample every 10 ms
    store = FlakyStore(down=1)
    published = threading.Event()
    snapshots: list[HealthSnapshot] = []

    def on_snapshot(snapshot: HealthSnapshot) -> None:
        snapshots.append(snapshot)
        if len(snapshots) >= 3:
            published.set()

    sources = HealthSources(process=ScriptedProcess([100 * MIB]))
    monitor = HealthMonitor(
        sources, clock=clock, store=store, heartbeat_path=tmp_path / "heartbeat"
    )
    monitor.subscribe(on_snapshot)
    monitor.start()
    assert published.wait(5.0), "three snapshots within 5 s"

    began = time.monotonic()
    assert monitor.stop(timeout_real_s=2.0) is True
    assert time.monotonic() - began < 0.5
    assert not monitor.running
    assert not any(t.name == "kit-health" for t in threading.enumerate())
    assert len(store.saved) >= 2  # the first write failed, the thread went on
    assert (tmp_path / "heartbeat").exists()
    with pytest.raises(RuntimeError, match="cannot be started again"):
        monitor.start()


def test_a_thread_that_does_not_stop_is_named(caplog):
    entered, release = threading.Event(), threading.Event()

    def stuck() -> OperationCounts:
        entered.set()
        release.wait(5.0)
        return OperationCounts(0, 0)

    config = HealthConfig(sample_s=0.01, publish_s=0.01)
    sources = HealthSources(operations=stuck, process=None)
    monitor = HealthMonitor(sources, config=config)
    monitor.start()
    assert entered.wait(5.0)

    assert monitor.stop(timeout_real_s=0.1) is False
    assert "health: Thread kit-health still running after stop" in caplog.text
    release.set()
    assert monitor.stop(timeout_real_s=2.0) is True


def test_from_settings_takes_the_intervals_heartbeat_and_mode(tmp_path: Path):
    from kit.config import Settings  # noqa: PLC0415

    settings = Settings(
        health_sample_s=5.0, health_publish_s=30.0, heartbeat_path=tmp_path / "hb"
    )

    monitor = HealthMonitor.from_settings(settings, HealthSources(process=None))

    assert (monitor.config.sample_s, monitor.config.publish_s) == (5.0, 30.0)
    assert monitor.heartbeat_path == tmp_path / "hb"
    assert monitor.mode == "paper"
