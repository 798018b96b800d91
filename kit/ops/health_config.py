"""The health monitor's settings: how often it looks, and the grade's thresholds.

Times are seconds of the monitor's clock (simulated seconds on a ScaledClock).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kit.config import Settings

MIB = 1024 * 1024


@dataclass(frozen=True)
class HealthConfig:
    """How the monitor samples, publishes, grades and acts.

    - ``sample_s``: a sample (and the heartbeat) this often (10 s).
    - ``publish_s``: a snapshot to subscribers and the store this often (60 s).
    - ``fresh_window_s``: a symbol ticked this recently counts as flowing (60 s).
    - ``silent_window_s``: a connected feed with no tick from any symbol this
      long in market hours is asked to reconnect (60 s); the feed's own
      liveness deadline (20 s) usually acts first.
    - ``feed_down_critical_s``: a feed not connected this long in market hours
      is CRITICAL (300 s, the user's worst reconnect downtime).
    - ``data_flow_degraded_ratio``: fewer fresh symbols than this share is
      DEGRADED (0.9).
    - ``error_window_s``, ``error_min_operations``: the error rate is judged
      over this window once it holds this many operations (600 s, 20);
      ``error_rate_degraded``, ``error_rate_minor``: 5 % and 1 %.
    - ``rss_window_s``, ``rss_trend_min_span_s``: the memory trend is fitted
      over the last hour of samples, once they span 15 min;
      ``rss_growth_degraded_bytes_h``: growth beyond this is DEGRADED and warned
      about (50 MiB an hour).
    - ``memory_limit_bytes``: the memory the bot may use (default: the
      machine's); ``memory_degraded_ratio``, ``memory_minor_ratio``: 0.9, 0.75.
    - ``token_warning_s``, ``token_minor_s``: a session expiring within 1 h is
      warned about and DEGRADED, within 3 h a minor issue.
    - ``scan_stale_s``: no scan this long in market hours is DEGRADED (180 s);
      ``slow_scan_s``: an average scan longer than this is minor (5 s).
    - ``max_threads``, ``max_open_files``: more is a minor issue (100, 1000).
    - ``critical_state``, ``normal_state``: the trading states asked of risk
      when the grade becomes CRITICAL and when it leaves CRITICAL.
    """

    sample_s: float = 10.0
    publish_s: float = 60.0
    fresh_window_s: float = 60.0
    silent_window_s: float = 60.0
    feed_down_critical_s: float = 300.0
    data_flow_degraded_ratio: float = 0.9
    error_window_s: float = 600.0
    error_min_operations: int = 20
    error_rate_degraded: float = 0.05
    error_rate_minor: float = 0.01
    rss_window_s: float = 3600.0
    rss_trend_min_span_s: float = 900.0
    rss_growth_degraded_bytes_h: float = 50.0 * MIB
    memory_limit_bytes: int | None = None
    memory_degraded_ratio: float = 0.9
    memory_minor_ratio: float = 0.75
    token_warning_s: float = 3600.0
    token_minor_s: float = 3 * 3600.0
    scan_stale_s: float = 180.0
    slow_scan_s: float = 5.0
    max_threads: int = 100
    max_open_files: int = 1000
    critical_state: str = "reducing"
    normal_state: str = "active"

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if number and value <= 0:
                raise ValueError(f"{item.name} must be positive, got {value}")
        if self.publish_s < self.sample_s:
            raise ValueError("publish_s must be at least sample_s")
        if self.rss_trend_min_span_s > self.rss_window_s:
            raise ValueError("rss_trend_min_span_s must not exceed rss_window_s")
        for name in ("data_flow_degraded_ratio", "memory_degraded_ratio"):
            if getattr(self, name) > 1:
                raise ValueError(f"{name} must be at most 1")
        if self.memory_minor_ratio > self.memory_degraded_ratio:
            raise ValueError("memory_minor_ratio must not exceed memory_degraded_ratio")
        if self.error_rate_minor > self.error_rate_degraded:
            raise ValueError("error_rate_minor must not exceed error_rate_degraded")
        if self.token_warning_s > self.token_minor_s:
            raise ValueError("token_warning_s must not exceed token_minor_s")

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> HealthConfig:
        """The monitor's part of the kit's settings, with ``overrides``."""
        values: dict[str, Any] = {
            "sample_s": settings.health_sample_s,
            "publish_s": settings.health_publish_s,
        }
        values.update(overrides)
        return cls(**values)
