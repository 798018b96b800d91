"""The feed's typed events: what happened to which connection, and when.

Every event names its ``connection`` (``feed-1`` ... or ``feed`` for the whole
feed) and carries ``at_s``, the feed clock's wall time in epoch seconds. Events
hold counts and subscription keys, never a credential.
"""

from __future__ import annotations

from dataclasses import dataclass

from kit.broker.feed_subscriptions import SubKey


@dataclass(frozen=True)
class FeedEvent:
    connection: str
    at_s: float

    @property
    def kind(self) -> str:
        return type(self).__name__


@dataclass(frozen=True)
class Connected(FeedEvent):
    """The first handshake of a connection succeeded."""


@dataclass(frozen=True)
class Disconnected(FeedEvent):
    """A connection ended: why, and what it carried while it was up."""

    reason: str
    uptime_s: float
    frames: int
    bytes: int


@dataclass(frozen=True)
class ConnectFailed(FeedEvent):
    """An attempt to connect failed before the upgrade (timeout, refused)."""

    reason: str


@dataclass(frozen=True)
class Refused(FeedEvent):
    """The upgrade was refused: 401 (fresh tokens asked for) or 429 (limit)."""

    status: int
    reason: str


@dataclass(frozen=True)
class ReconnectScheduled(FeedEvent):
    """Attempt ``attempt`` will be made after ``delay_s``."""

    attempt: int
    delay_s: float
    max_attempts: int | None


@dataclass(frozen=True)
class ReconnectAlert(FeedEvent):
    """Still disconnected at one of the policy's alert attempts."""

    attempt: int


@dataclass(frozen=True)
class GaveUp(FeedEvent):
    """The policy's attempts are spent; this connection stays down."""

    attempts: int


@dataclass(frozen=True)
class Reconnected(FeedEvent):
    """Connected again after ``downtime_s`` and ``attempts`` attempts."""

    downtime_s: float
    attempts: int


@dataclass(frozen=True)
class Subscribed(FeedEvent):
    """Pairs subscribed on a connection that already held others."""

    count: int


@dataclass(frozen=True)
class Resubscribed(FeedEvent):
    """Every pair of a fresh connection subscribed (after a reconnect)."""

    count: int


@dataclass(frozen=True)
class SubscriptionRefused(FeedEvent):
    """E1001 or E1002: the pairs refused, how many moved, which stay unplaced."""

    code: str
    message: str
    keys: tuple[SubKey, ...]
    moved: int
    unplaced: tuple[SubKey, ...]


@dataclass(frozen=True)
class SubscriptionsUnplaced(FeedEvent):
    """Pairs beyond every connection's room; they wait until room frees."""

    keys: tuple[SubKey, ...]


@dataclass(frozen=True)
class TokensAskedAgain(FeedEvent):
    """Pairs silent for a window after a (re)subscribe, requested again."""

    keys: tuple[SubKey, ...]


@dataclass(frozen=True)
class TokensSilent(FeedEvent):
    """Pairs that never ticked, even when requested again."""

    keys: tuple[SubKey, ...]


@dataclass(frozen=True)
class TokensStale(FeedEvent):
    """Pairs that ticked before and have been quiet too long (market hours)."""

    keys: tuple[SubKey, ...]


@dataclass(frozen=True)
class TicksDropped(FeedEvent):
    """The tick queue was full: ``since_last`` more ticks lost, ``total`` so far."""

    total: int
    since_last: int
