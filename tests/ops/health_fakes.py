"""Fakes for the health monitor's tests: a feed, a session and a process
sampler whose readings a test scripts, and snapshots to grade and draw."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from kit.broker.feed_state import (
    ConnectionStatus,
    ConnState,
    Counters,
    FeedStatus,
    TokenId,
    feed_state,
)
from kit.broker.feed_subscriptions import Registry
from kit.broker.session_types import SessionStatus
from kit.clock import IST, Clock
from kit.ops.events import ActivityEvent
from kit.ops.health_config import MIB
from kit.ops.health_process import ProcessReading
from kit.ops.health_snapshot import (
    CandleHealth,
    DataFlowHealth,
    ErrorRateHealth,
    FeedHealth,
    HealthSnapshot,
    PositionPnl,
    PositionsHealth,
    ProcessHealth,
    ScanHealth,
    TokenHealth,
)

MIDDAY = datetime(2026, 12, 3, 10, 0, tzinfo=IST)  # a Thursday, mid-session
EVENING = MIDDAY.replace(hour=18)
TOKENS = [str(3000 + n) for n in range(10)]


class FakeFeed:
    """A feed of one connection whose state and ticks the test sets."""

    def __init__(self, clock: Clock, tokens: list[str] = TOKENS) -> None:
        self.clock = clock
        self.tokens = list(tokens)
        self.state = ConnState.CONNECTED
        self.connected_at_s = clock.monotonic() - 3600.0
        self.last_tick: dict[TokenId, float] = {}
        self.reconnect_calls = 0

    def tick(self, tokens: list[str] | None = None) -> None:
        """Every token (or ``tokens``) ticks now."""
        for token in self.tokens if tokens is None else tokens:
            self.last_tick[(1, token)] = self.clock.time()

    def status(self) -> FeedStatus:
        up = self.state is ConnState.CONNECTED
        uptime_s = self.clock.monotonic() - self.connected_at_s if up else 0.0
        conn = ConnectionStatus(
            name="feed-1", state=self.state, uptime_s=uptime_s, attempt=0,
            last_message_age_s=None, wanted=len(self.tokens), held=len(self.tokens),
            pending=0, silent=0, stale=0, counters=Counters(reconnects=2),
            last_tick_at=dict(self.last_tick),
        )  # fmt: skip
        return FeedStatus(
            state=feed_state(True, False, [self.state]),
            uptime_s=uptime_s,
            connections=(conn,),
            counters=conn.counters,
            unplaced=0,
            queue_size=0,
            queue_maxsize=100,
        )

    def registry(self) -> Registry:
        return {1: {1: tuple(self.tokens)}}

    def reconnect(self) -> None:
        self.reconnect_calls += 1


class FakeSession:
    """A session issued at ``issued_s`` that expires ``lifetime_s`` later."""

    def __init__(self, clock: Clock, lifetime_s: float = 24 * 3600.0) -> None:
        self.clock = clock
        self.lifetime_s = lifetime_s
        self.renew()

    def renew(self) -> None:
        self.issued_s = self.clock.time()
        self.expires_s = self.issued_s + self.lifetime_s

    def status(self) -> SessionStatus:
        now_s = self.clock.time()
        return SessionStatus(
            logged_in=self.expires_s > now_s,
            age_s=now_s - self.issued_s,
            expires_in_s=self.expires_s - now_s,
        )


@dataclass
class ScriptedProcess:
    """Process readings from a list of RSS figures, then the last one again."""

    rss_bytes: list[int]
    names: tuple[str, ...] = ("MainThread", "kit-health")
    _left: Iterator[int] = field(init=False)
    _last: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self._left = iter(self.rss_bytes)

    def __call__(self) -> ProcessReading:
        self._last = next(self._left, self._last)
        return ProcessReading(
            rss_bytes=self._last,
            threads=len(self.names),
            thread_names=self.names,
            open_files=12,
            memory_total_bytes=1024 * MIB,
        )


class Events(list[ActivityEvent]):
    """The events a monitor emitted."""

    def of(self, kind: str) -> list[ActivityEvent]:
        return [event for event in self if event.kind == kind]


def nominal(at: datetime = MIDDAY, **changes: object) -> HealthSnapshot:
    """A snapshot where everything is fine, with ``changes``."""
    values: dict[str, object] = {
        "at": at,
        "mode": "paper",
        "market_open": True,
        "feed": FeedHealth(True, "connected", 8100.0, 0),
        "data": DataFlowHealth(50, 50, 60.0, silent_s=1.0, since_open_s=2700.0),
        "candles": CandleHealth(50, 50, candles=10_000, fewest=200),
        "positions": PositionsHealth(
            3,
            1770.0,
            0.0,
            (
                PositionPnl("RELIANCE-EQ", 10, 1240.0),
                PositionPnl("TCS-EQ", 5, 850.0),
                PositionPnl("INFY-EQ", -8, -320.0),
            ),
        ),
        "token": TokenHealth(True, 8.5 * 3600, 15.5 * 3600),
        "process": ProcessHealth(
            245 * MIB,
            1024 * MIB,
            None,
            4,
            ("MainThread", "kit-feed-1", "kit-health", "kit-bootstrap"),
            20,
        ),
        "errors": ErrorRateHealth(2, 1000, 600.0),
        "scans": ScanHealth(2.0, 1.2, 45),
    }
    values.update(changes)
    return HealthSnapshot(**values)  # type: ignore[arg-type]
