"""The health monitor: samples the bot, grades it, acts, and publishes.

::

    sources = sources_for(clock=clock, feed=feed, session=session, bootstrap=boot)
    monitor = HealthMonitor.from_settings(
        settings, sources, clock=clock, emit=activity.add, store=store,
        set_trading_state=risk.set_state,
    )
    monitor.subscribe(board.update)   # every published snapshot
    monitor.start()                   # the thread "kit-health"
    monitor.latest                    # the last sample, from any thread
    monitor.stop()

Every ``sample_s`` (10 s) the thread takes a sample: it reads each source of
:class:`~kit.ops.health_sources.HealthSources` (a missing or failing source
leaves its section unknown), builds a :class:`HealthSnapshot`, grades it by the
table of :mod:`kit.ops.health_grade`, acts (:mod:`kit.ops.health_actions`:
reconnect a silent feed, ask risk for a trading state, warn before the
session expires, report grade changes and memory growth) and rewrites the
heartbeat file with the time of the sample, so an outside supervisor can
tell a live bot from a hung one by the file's age. Every ``publish_s`` (60 s)
the snapshot goes to the subscribers and to the store; a failing subscriber
or store is logged and never stops the monitor.

Tests drive the monitor without its thread: :meth:`HealthMonitor.sample_once`
and :meth:`HealthMonitor.tick` do what one turn of the thread does, on the
injected clock. Drive a monitor from one thread only.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from kit.broker.session_types import SessionStatus
from kit.clock import IST, Clock, NseCalendar, RealClock
from kit.ops.events import ActivityEvent
from kit.ops.health_actions import (
    Emitter,
    GradeWatch,
    ResourceWatch,
    StaleFeedBackstop,
    TokenWatch,
    TradingStateRequest,
)
from kit.ops.health_config import HealthConfig
from kit.ops.health_grade import assess
from kit.ops.health_snapshot import (
    DataFlowHealth,
    ErrorRateHealth,
    FeedHealth,
    Grade,
    HealthSnapshot,
    ProcessHealth,
    ScanHealth,
    TokenHealth,
)
from kit.ops.health_sources import (
    FeedReading,
    HealthSources,
    sources_for,
)
from kit.ops.health_windows import ErrorWindow, RssTrend
from kit.store.base import HealthRecord

if TYPE_CHECKING:
    from kit.config import Settings

__all__ = [
    "Grade",
    "HealthConfig",
    "HealthMonitor",
    "HealthSink",
    "HealthSnapshot",
    "HealthSources",
    "sources_for",
    "write_heartbeat",
]

_logger = logging.getLogger(__name__)
T = TypeVar("T")
THREAD_NAME = "kit-health"


class HealthSink(Protocol):
    """Where published snapshots are kept (a :class:`~kit.store.base.Store`)."""

    def save_health(self, record: HealthRecord) -> None: ...


class HealthMonitor:
    """Samples, grades, acts and publishes; see the module."""

    def __init__(
        self,
        sources: HealthSources,
        *,
        config: HealthConfig | None = None,
        clock: Clock | None = None,
        calendar: NseCalendar | None = None,
        mode: str = "paper",
        emit: Callable[[ActivityEvent], None] | None = None,
        store: HealthSink | None = None,
        heartbeat_path: Path | None = None,
        set_trading_state: TradingStateRequest | None = None,
        store_name: str = "the kit's store",
        logger: logging.Logger | None = None,
    ) -> None:
        self.config = config = config or HealthConfig()
        self.sources = sources
        self.mode = mode
        self.heartbeat_path = heartbeat_path
        self._clock = clock or RealClock()
        self._calendar = calendar or NseCalendar()
        self._store = store
        self._log = log = logger or _logger

        emitter = Emitter(emit, self._clock, log)
        self._backstop = StaleFeedBackstop(config, sources.reconnect, emitter, log)
        self._tokens = TokenWatch(config, emitter, log, store_name=store_name)
        self._grades = GradeWatch(config, emitter, log, set_trading_state)
        self._resources = ResourceWatch(config, emitter, log)

        self._rss = RssTrend(config.rss_window_s, config.rss_trend_min_span_s)
        self._errors = ErrorWindow(config.error_window_s)
        self._down_since_s: float | None = None
        self._failing: set[str] = set()  # sources, the store, the heartbeat
        self._next_publish_s: float | None = None

        self._lock = threading.Lock()
        self._subscribers: list[Callable[[HealthSnapshot], None]] = []
        self._latest: HealthSnapshot | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def from_settings(
        cls, settings: Settings, sources: HealthSources, **options: Any
    ) -> HealthMonitor:
        """A monitor with the intervals, heartbeat and mode of ``settings``."""
        options.setdefault("config", HealthConfig.from_settings(settings))
        options.setdefault("heartbeat_path", settings.heartbeat_path)
        options.setdefault("mode", settings.mode)
        return cls(sources, **options)

    # Readers.

    @property
    def latest(self) -> HealthSnapshot | None:
        """The last sample, or None before the first."""
        with self._lock:
            return self._latest

    def subscribe(
        self, callback: Callable[[HealthSnapshot], None]
    ) -> Callable[[], None]:
        """Call ``callback`` with every published snapshot (on the monitor's
        thread); returns a function that unsubscribes it."""
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def next_publish_in_s(self) -> float:
        """Seconds until the next snapshot is published (0 when due)."""
        due_s = self._next_publish_s
        if due_s is None:
            return 0.0
        return max(0.0, due_s - self._clock.monotonic())

    # One turn.

    def tick(self) -> HealthSnapshot | None:
        """Take a sample and publish it when a publication is due; the snapshot
        published, or None."""
        snapshot = self.sample_once()
        now_s = self._clock.monotonic()
        if self._next_publish_s is not None and now_s < self._next_publish_s:
            return None
        step_s = self.config.publish_s
        due_s = (self._next_publish_s or now_s) + step_s
        self._next_publish_s = due_s if due_s > now_s else now_s + step_s
        self.publish(snapshot)
        return snapshot

    def sample_once(self) -> HealthSnapshot:
        """Measure, grade, act and touch the heartbeat; the snapshot."""
        at = self._clock.now()
        now_s, market_open = at.timestamp(), self._calendar.is_open(at)
        feed = self._read("feed", self.sources.feed)
        session = self._read("session", self.sources.session)

        raw = HealthSnapshot(
            at=at,
            mode=self.mode,
            market_open=market_open,
            feed=self._feed_health(feed),
            data=self._data_health(feed, at, market_open),
            candles=self._read("candles", self.sources.candles),
            positions=self._read("positions", self.sources.positions),
            token=_token_health(session),
            process=self._process_health(),
            errors=self._error_health(),
            scans=self._scan_health(now_s),
        )
        assessment = assess(raw, self.config)
        snapshot = replace(raw, grade=assessment.grade, reasons=assessment.reasons)

        self._backstop.check(feed, snapshot.data, now_s, market_open)
        self._tokens.check(session, now_s)
        self._grades.check(assessment)
        process = snapshot.process
        if process is not None:
            self._resources.check(process.rss_bytes, process.rss_trend_bytes_h)
        self._touch_heartbeat(at)
        with self._lock:
            self._latest = snapshot
        return snapshot

    def publish(self, snapshot: HealthSnapshot) -> None:
        """Hand ``snapshot`` to the subscribers and the store."""
        with self._lock:
            subscribers = list(self._subscribers)
        for callback in subscribers:
            try:
                callback(snapshot)
            except Exception:
                self._log.exception("health: Subscriber %r failed", callback)
        if self._store is not None:
            self._guarded("store", lambda: self._save(snapshot))

    # The thread.

    def start(self) -> None:
        """Start the thread; idempotent. A stopped monitor does not start again."""
        with self._lock:
            if self._stop.is_set():
                raise RuntimeError("a stopped health monitor cannot be started again")
            if self._thread is not None:
                return
            self._thread = threading.Thread(
                target=self._run, name=THREAD_NAME, daemon=True
            )
            thread = self._thread
        thread.start()

    def stop(self, timeout_real_s: float = 5.0) -> bool:
        """End the thread within ``timeout_real_s`` real seconds; True when it
        has ended (a thread still running is named in the log). Idempotent."""
        self._stop.set()
        with self._lock:
            thread = self._thread
        if thread is None:
            return True
        thread.join(timeout_real_s)
        if thread.is_alive():
            self._log.warning("health: Thread %s still running after stop", thread.name)
            return False
        return True

    @property
    def running(self) -> bool:
        with self._lock:
            return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        cfg = self.config
        self._log.info(
            "health: Started: a sample every %.0f s, a snapshot every %.0f s, "
            "heartbeat %s", cfg.sample_s, cfg.publish_s, self.heartbeat_path or "off",
        )  # fmt: skip
        next_s = self._clock.monotonic()
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # one bad sample never ends the monitor
                self._log.exception("health: Sample failed")
            next_s = max(next_s + cfg.sample_s, self._clock.monotonic())
            delay_s = next_s - self._clock.monotonic()
            if self._clock.wait(self._stop, delay_s):
                break
        self._log.info("health: Stopped")

    # Sections.

    def _feed_health(self, feed: FeedReading | None) -> FeedHealth | None:
        now_s = self._clock.monotonic()
        if feed is None or feed.connected:
            self._down_since_s = None
        elif self._down_since_s is None:
            self._down_since_s = now_s
        if feed is None:
            return None
        down_s = 0.0 if self._down_since_s is None else now_s - self._down_since_s
        return FeedHealth(
            connected=feed.connected,
            state=feed.state,
            uptime_s=feed.uptime_s,
            reconnects=feed.reconnects,
            down_s=down_s,
        )

    def _data_health(
        self, feed: FeedReading | None, at: datetime, market_open: bool
    ) -> DataFlowHealth | None:
        if feed is None:
            return None
        now_s, window_s = at.timestamp(), self.config.fresh_window_s
        ticks = feed.last_tick_at
        fresh = sum(
            ticks.get(token, -1.0) >= now_s - window_s for token in feed.subscribed
        )
        silent_s = since_open_s = None
        if market_open:
            open_s = self._calendar.session_open(at.astimezone(IST).date()).timestamp()
            newest_s = max(ticks.values(), default=open_s)
            since_open_s = now_s - open_s
            silent_s = now_s - max(newest_s, open_s)
        return DataFlowHealth(
            fresh=fresh,
            subscribed=len(feed.subscribed),
            window_s=window_s,
            silent_s=silent_s,
            since_open_s=since_open_s,
        )

    def _process_health(self) -> ProcessHealth | None:
        reading = self._read("process", self.sources.process)
        if reading is None:
            return None
        self._rss.add(self._clock.monotonic(), reading.rss_bytes)
        return ProcessHealth(
            rss_bytes=reading.rss_bytes,
            memory_limit_bytes=self.config.memory_limit_bytes
            or reading.memory_total_bytes,
            rss_trend_bytes_h=self._rss.bytes_per_hour(),
            threads=reading.threads,
            thread_names=reading.thread_names,
            open_files=reading.open_files,
        )

    def _error_health(self) -> ErrorRateHealth | None:
        counts = self._read("operations", self.sources.operations)
        if counts is None:
            return None
        return self._errors.add(self._clock.monotonic(), counts)

    def _scan_health(self, now_s: float) -> ScanHealth | None:
        stats = self._read("scans", self.sources.scans)
        if stats is None:
            return None
        last_s = stats.last_scan_at_s
        return ScanHealth(
            last_scan_age_s=None if last_s is None else max(0.0, now_s - last_s),
            average_scan_s=stats.average_scan_s,
            scans=stats.scans,
        )

    # Guards.

    def _read(self, name: str, source: Callable[[], T] | None) -> T | None:
        """A source's reading, or None when it is missing or fails."""
        if source is None:
            return None
        return self._guarded(name, source)

    def _guarded(self, name: str, action: Callable[[], T]) -> T | None:
        """Run ``action``; log its first failure in a row with the traceback,
        later ones briefly, and its return."""
        try:
            result = action()
        except Exception as exc:
            if name in self._failing:
                self._log.debug("health: %s still failing: %s", name, exc)
            else:
                self._failing.add(name)
                self._log.warning("health: %s failed", name, exc_info=True)
            return None
        if name in self._failing:
            self._failing.discard(name)
            self._log.info("health: %s answers again", name)
        return result

    def _save(self, snapshot: HealthSnapshot) -> None:
        if self._store is not None:
            self._store.save_health(snapshot.to_record())

    def _touch_heartbeat(self, at: datetime) -> None:
        path = self.heartbeat_path
        if path is not None:
            self._guarded("heartbeat", lambda: write_heartbeat(path, at))


def _token_health(session: SessionStatus | None) -> TokenHealth | None:
    if session is None:
        return None
    return TokenHealth(session.logged_in, session.age_s, session.expires_in_s)


def write_heartbeat(path: Path, at: datetime) -> None:
    """Replace ``path`` with the ISO time ``at`` (its mtime becomes now)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(at.isoformat() + "\n", encoding="utf-8")
    os.replace(temporary, path)
