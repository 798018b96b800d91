"""The feed's state and counters, and the frozen snapshots :meth:`status` returns.

:class:`ConnStats` is the mutable tally one connection's thread keeps;
:class:`ConnectionStatus` and :class:`FeedStatus` are what readers (the health
monitor, the UI) get: frozen, copied, safe to keep.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from kit.broker.feed_subscriptions import SubKey

TokenId = tuple[int, str]
"""A token on its exchange segment: (exchange type, token)."""


class ConnState(StrEnum):
    """Where one connection stands."""

    IDLE = "idle"  # not started
    CONNECTING = "connecting"
    CONNECTED = "connected"
    WAITING = "waiting"  # between attempts
    FAILED = "failed"  # the policy's attempts are spent
    STOPPED = "stopped"


class FeedState(StrEnum):
    """Where the whole feed stands."""

    IDLE = "idle"  # not started
    CONNECTING = "connecting"  # started, never connected yet
    CONNECTED = "connected"  # every connection up
    DEGRADED = "degraded"  # some connections up, some not
    RECONNECTING = "reconnecting"  # none up, still trying
    FAILED = "failed"  # no connection up and at least one gave up
    STOPPED = "stopped"


@dataclass
class ConnStats:
    """One connection's counters over the feed's life (its thread writes)."""

    frames: int = 0
    bytes: int = 0
    bad_frames: int = 0
    callback_errors: int = 0
    texts: int = 0
    unknown_texts: int = 0
    pongs: int = 0
    pings: int = 0
    reconnects: int = 0
    drops: int = 0


@dataclass(frozen=True)
class Counters:
    """A copy of :class:`ConnStats`, or their sum over connections."""

    frames: int = 0
    bytes: int = 0
    bad_frames: int = 0
    callback_errors: int = 0
    texts: int = 0
    unknown_texts: int = 0
    pongs: int = 0
    pings: int = 0
    reconnects: int = 0
    drops: int = 0

    @classmethod
    def of(cls, stats: ConnStats) -> Counters:
        return cls(**vars(stats))

    def __add__(self, other: Counters) -> Counters:
        mine, theirs = vars(self), vars(other)
        return Counters(**{name: mine[name] + theirs[name] for name in mine})


@dataclass(frozen=True)
class ConnectionStatus:
    """One connection, now.

    ``uptime_s`` is how long the current connection has been up (0 when down);
    ``last_message_age_s`` None when nothing has arrived on it yet;
    ``last_tick_at`` the wall time (epoch seconds) of each token's last tick.
    """

    name: str
    state: ConnState
    uptime_s: float
    attempt: int
    last_message_age_s: float | None
    wanted: int
    held: int
    pending: int
    silent: int
    stale: int
    counters: Counters
    last_tick_at: Mapping[TokenId, float]


@dataclass(frozen=True)
class FeedStatus:
    """The whole feed, now: its state, its connections, and their sums."""

    state: FeedState
    uptime_s: float  # since start(), 0 before
    connections: tuple[ConnectionStatus, ...]
    counters: Counters
    unplaced: int
    queue_size: int
    queue_maxsize: int

    @property
    def last_tick_at(self) -> Mapping[TokenId, float]:
        """Every token's last tick (epoch seconds), over all connections."""
        merged: dict[TokenId, float] = {}
        for conn in self.connections:
            for token, at_s in conn.last_tick_at.items():
                merged[token] = max(at_s, merged.get(token, at_s))
        return MappingProxyType(merged)


def feed_state(started: bool, stopped: bool, states: list[ConnState]) -> FeedState:
    """The feed's state from its connections' states."""
    if stopped:
        return FeedState.STOPPED
    if not started or not states:
        return FeedState.IDLE
    up = sum(state is ConnState.CONNECTED for state in states)
    if up:
        return FeedState.CONNECTED if up == len(states) else FeedState.DEGRADED
    if ConnState.FAILED in states:
        return FeedState.FAILED
    if all(state in (ConnState.IDLE, ConnState.CONNECTING) for state in states):
        return FeedState.CONNECTING
    return FeedState.RECONNECTING


def frozen_ticks(
    last_tick_s: Mapping[SubKey, float], now_mono_s: float, now_s: float
) -> Mapping[TokenId, float]:
    """Monotonic last-tick times per pair as wall times per token."""
    ticks: dict[TokenId, float] = {}
    for (_, exchange_type, token), mono_s in last_tick_s.items():
        wall_s = now_s - (now_mono_s - mono_s)
        key = (exchange_type, token)
        ticks[key] = max(wall_s, ticks.get(key, wall_s))
    return MappingProxyType(ticks)
