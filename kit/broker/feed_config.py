"""The settings of :class:`kit.broker.feed.ResilientFeed`, frozen and checked.

Times are seconds of the feed's clock (simulated seconds on a ScaledClock)
unless the name says ``real``. The connect timeout is a socket timeout: it is
given in clock seconds and shortened by the clock's speed, as waits are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kit.broker.backoff import BackoffPolicy

if TYPE_CHECKING:
    from kit.config import Settings

from kit.broker.routes import (
    FEED_MAX_CONNECTIONS,
    FEED_MAX_SUBSCRIPTIONS,
    FEED_PING_REQUIRED_S,
)


@dataclass(frozen=True)
class FeedConfig:
    """How the feed connects, watches and reconnects.

    - ``ping_interval_s``: a text ``ping`` this often (10 s; the protocol asks
      for at least one every 30 s).
    - ``liveness_deadline_s``: with no pong and no data for this long, the
      connection is closed and made again (20 s, as both official SDKs).
    - ``connect_timeout_s``: the longest a TCP connect plus upgrade may take.
    - ``verify_window_s``: after every (re)subscribe, in market hours, each
      token must tick within this window or it is requested again; silent for
      one more window, it is reported.
    - ``stale_after_s``: in market hours, a token that ticked before and has
      been quiet this long is reported stale.
    - ``queue_maxsize``: the tick queue's bound; ticks beyond it are dropped and
      counted.
    - ``max_connections``, ``max_per_connection``: at most 3 connections of at
      most 1000 token-mode pairs (Angel One's limits).
    - ``backoff``: the reconnect policy.
    - ``close_timeout_real_s``: real seconds a closing handshake may take.
    - ``events_kept``: how many recent events :meth:`ResilientFeed.events` keeps.
    """

    ping_interval_s: float = 10.0
    liveness_deadline_s: float = 20.0
    connect_timeout_s: float = 10.0
    verify_window_s: float = 15.0
    stale_after_s: float = 120.0
    queue_maxsize: int = 100_000
    max_connections: int = FEED_MAX_CONNECTIONS
    max_per_connection: int = FEED_MAX_SUBSCRIPTIONS
    backoff: BackoffPolicy = field(default_factory=BackoffPolicy)
    close_timeout_real_s: float = 0.5
    events_kept: int = 1000

    def __post_init__(self) -> None:
        if not 0 < self.ping_interval_s <= FEED_PING_REQUIRED_S:
            raise ValueError(
                f"ping_interval_s must be in (0, {FEED_PING_REQUIRED_S:g}] s"
            )
        if self.liveness_deadline_s <= self.ping_interval_s:
            raise ValueError("liveness_deadline_s must exceed ping_interval_s")
        positive = {
            "connect_timeout_s": self.connect_timeout_s,
            "verify_window_s": self.verify_window_s,
            "stale_after_s": self.stale_after_s,
            "close_timeout_real_s": self.close_timeout_real_s,
        }
        for name, value in positive.items():
            if value <= 0:
                raise ValueError(f"{name} must be positive, got {value}")
        if self.queue_maxsize < 1 or self.events_kept < 1:
            raise ValueError("queue_maxsize and events_kept must be >= 1")
        if not 1 <= self.max_connections <= FEED_MAX_CONNECTIONS:
            raise ValueError(f"max_connections must be 1..{FEED_MAX_CONNECTIONS}")
        if not 1 <= self.max_per_connection <= FEED_MAX_SUBSCRIPTIONS:
            raise ValueError(f"max_per_connection must be 1..{FEED_MAX_SUBSCRIPTIONS}")

    @classmethod
    def from_settings(cls, settings: Settings) -> FeedConfig:
        """The feed's part of the kit's settings."""
        preset = settings.feed_backoff == "user_design"
        return cls(
            liveness_deadline_s=settings.feed_liveness_deadline_s,
            stale_after_s=settings.feed_stale_after_s,
            verify_window_s=settings.feed_verify_window_s,
            backoff=BackoffPolicy.user_design() if preset else BackoffPolicy(),
        )
