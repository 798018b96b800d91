"""What the health monitor does about what it sees.

Each watcher keeps the little state it needs to act once per incident:

- :class:`StaleFeedBackstop`: a feed that is connected but has had no tick
  from any symbol for ``silent_window_s`` in market hours is asked to
  reconnect, once per incident (a backstop to the feed's own liveness
  deadline). Events: ``feed_stale`` (phase ``detected``), then
  ``feed_reconnect_requested``, then ``feed_stale`` again with phase
  ``recovered`` when a tick arrives, or ``failed`` when the market closes first.
- :class:`TokenWatch`: ``token_expiry_warning`` once when the session expires
  within ``token_warning_s`` (phase ``detected``; ``began_s`` is the expiry,
  ahead of time), ``session_expired`` once when it has expired (it joins the
  incident, or opens one when no warning came first), and ``session_renewed``
  (phase ``recovered``) when the token is renewed, which the watch sees as
  its age dropping; the renewal re-arms both. Both kinds ask a person to act.
- :class:`GradeWatch`: ``health_grade_changed`` on every change of grade
  (the first grade counts as a change from unknown); asks risk for
  ``critical_state`` when the grade becomes CRITICAL and for ``normal_state``
  when it leaves CRITICAL.
- :class:`ResourceWatch`: ``resource_warning`` once while memory grows faster
  than ``rss_growth_degraded_bytes_h``; re-armed below half of it.

Every event of an incident carries ``incident`` and ``fault``, and the ones
that open or close it a ``phase``, as :mod:`kit.ops.events` describes; the
activity feed adopts the ``feed_reconnect_requested`` incident, so the feed's
own reconnect events join it. A failing callable (reconnect, risk, emit)
is logged with its traceback and never stops the monitor.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kit.broker.session_types import SessionStatus, reconnect_steps
from kit.clock import Clock
from kit.ops.events import (
    ActivityEvent,
    EventKind,
    FaultKind,
    Phase,
    Severity,
    new_incident_id,
)
from kit.ops.health_config import MIB, HealthConfig
from kit.ops.health_grade import Assessment, duration
from kit.ops.health_snapshot import DataFlowHealth, Grade
from kit.ops.health_sources import FeedReading

TradingStateRequest = Callable[[str, str], None]
"""``set_trading_state(state, reason)``: the narrow door to risk."""

_GRADE_SEVERITY = {
    Grade.EXCELLENT: Severity.INFO,
    Grade.GOOD: Severity.INFO,
    Grade.DEGRADED: Severity.WARNING,
    Grade.CRITICAL: Severity.CRITICAL,
}


class Emitter:
    """Builds activity events on the monitor's clock and hands them out."""

    def __init__(
        self,
        emit: Callable[[ActivityEvent], None] | None,
        clock: Clock,
        logger: logging.Logger,
    ) -> None:
        self._emit = emit
        self._clock = clock
        self._log = logger

    def __call__(
        self, kind: EventKind, severity: Severity, text: str, **fields: Any
    ) -> None:
        if self._emit is None:
            return
        event = ActivityEvent(self._clock.now(), kind, severity, text, fields)
        try:
            self._emit(event)
        except Exception:
            self._log.exception("health: Event handler failed on %s", kind)


@dataclass
class _Incident:
    id: str
    detected_s: float


class StaleFeedBackstop:
    """Asks a silent but connected feed to reconnect; see the module."""

    def __init__(
        self,
        config: HealthConfig,
        reconnect: Callable[[], None] | None,
        emit: Emitter,
        logger: logging.Logger,
    ) -> None:
        self._config = config
        self._reconnect = reconnect
        self._emit = emit
        self._log = logger
        self._incident: _Incident | None = None

    def check(
        self,
        feed: FeedReading | None,
        data: DataFlowHealth | None,
        now_s: float,
        market_open: bool,
    ) -> None:
        if feed is None or data is None:
            return
        newest_s = max(feed.last_tick_at.values(), default=None)
        if self._incident is not None:
            self._follow(self._incident, newest_s, now_s, market_open)
            return

        if not market_open or not feed.connected or data.silent_s is None:
            return
        silent_s = min(data.silent_s, feed.uptime_s)
        if silent_s >= self._config.silent_window_s:
            self._act(feed, data.silent_s, now_s)

    def _act(self, feed: FeedReading, silent_s: float, now_s: float) -> None:
        incident = _Incident(new_incident_id(FaultKind.WS_STALE), now_s)
        self._incident = incident
        began_s = now_s - silent_s
        fields = {
            "incident": incident.id, "fault": FaultKind.WS_STALE.value,
            "began_s": began_s,
        }  # fmt: skip
        self._log.warning(
            "health: Feed connected but no tick from any of %d symbols for %.0f s; "
            "asking it to reconnect", len(feed.subscribed), silent_s,
        )  # fmt: skip
        self._emit(
            EventKind.FEED_STALE, Severity.WARNING,
            f"No tick from any of {len(feed.subscribed)} symbols for "
            f"{duration(silent_s)} while connected",
            phase=Phase.DETECTED.value, silent_s=silent_s,
            subscribed=len(feed.subscribed), **fields,
        )  # fmt: skip
        if self._reconnect is None:
            self._log.warning("health: No way to reconnect the feed was given")
            return
        try:
            self._reconnect()
        except Exception:
            self._log.exception("health: Asking the feed to reconnect failed")
            return
        self._emit(
            EventKind.FEED_RECONNECT_REQUESTED, Severity.WARNING,
            "Health monitor asked the feed to reconnect (data stopped)", **fields,
        )  # fmt: skip

    def _follow(
        self,
        incident: _Incident,
        newest_s: float | None,
        now_s: float,
        market_open: bool,
    ) -> None:
        fields = {"incident": incident.id, "fault": FaultKind.WS_STALE.value}
        if newest_s is not None and newest_s >= incident.detected_s:
            took_s = now_s - incident.detected_s
            self._log.info("health: Feed data flowing again after %.0f s", took_s)
            self._emit(
                EventKind.FEED_STALE, Severity.INFO,
                f"Feed data flowing again ({duration(took_s)} after detection)",
                phase=Phase.RECOVERED.value, **fields,
            )  # fmt: skip
            self._incident = None
        elif not market_open:
            self._log.warning("health: Feed data did not return before the close")
            self._emit(
                EventKind.FEED_STALE, Severity.ERROR,
                "Feed data did not return before the market closed",
                phase=Phase.FAILED.value, **fields,
            )  # fmt: skip
            self._incident = None


class TokenWatch:
    """Warns once before the session expires, once when it has; see the module."""

    def __init__(
        self,
        config: HealthConfig,
        emit: Emitter,
        logger: logging.Logger,
        *,
        store_name: str = "the kit's store",
    ) -> None:
        self._config = config
        self._emit = emit
        self._log = logger
        self._store_name = store_name
        self._incident: str | None = None
        self._warned = False
        self._expired = False
        self._last_age_s: float | None = None

    def check(self, status: SessionStatus | None, now_s: float) -> None:
        if status is None or status.age_s is None or status.expires_in_s is None:
            return
        age_s, left_s = status.age_s, status.expires_in_s
        renewed = self._last_age_s is not None and age_s < self._last_age_s - 1.0
        self._last_age_s = age_s
        if renewed:
            self._renewed(left_s)

        steps = reconnect_steps(status.auto_login, self._store_name)
        if left_s <= 0 and not self._expired:
            self._expired = self._warned = True
            self._expiry(age_s, now_s + left_s, steps)
        elif 0 < left_s < self._config.token_warning_s and not self._warned:
            self._warned = True
            self._warning(age_s, left_s, now_s, steps)

    def _warning(self, age_s: float, left_s: float, now_s: float, steps: str) -> None:
        self._incident = new_incident_id(FaultKind.TOKEN_EXPIRY)
        minutes = int(left_s // 60)
        text = (
            f"TOKEN EXPIRY WARNING: Angel One tokens expire in {minutes} min "
            f"(token age {age_s / 3600:.1f} h); reconnect required. {steps} "
            "Do this within the hour to avoid a disconnection."
        )
        self._log.warning("health: %s", text)
        self._emit(
            EventKind.TOKEN_EXPIRY_WARNING, Severity.WARNING, text,
            incident=self._incident, fault=FaultKind.TOKEN_EXPIRY.value,
            phase=Phase.DETECTED.value, began_s=now_s + left_s, minutes_left=minutes,
            age_h=round(age_s / 3600, 2), action=steps,
        )  # fmt: skip

    def _expiry(self, age_s: float, expired_s: float, steps: str) -> None:
        opening = {} if self._incident else {"phase": Phase.DETECTED.value}
        self._incident = self._incident or new_incident_id(FaultKind.TOKEN_EXPIRY)
        text = (
            f"Angel One session has expired (token age {age_s / 3600:.1f} h). {steps}"
        )
        self._log.error("health: %s", text)
        self._emit(
            EventKind.SESSION_EXPIRED, Severity.CRITICAL, text,
            incident=self._incident, fault=FaultKind.TOKEN_EXPIRY.value,
            began_s=expired_s, action=steps, **opening,
        )  # fmt: skip

    def _renewed(self, left_s: float) -> None:
        incident, self._incident = self._incident, None
        self._warned = self._expired = False
        if incident is None:
            return
        text = f"Angel One session renewed; valid for {left_s / 3600:.1f} h"
        self._log.info("health: %s", text)
        self._emit(
            EventKind.SESSION_RENEWED, Severity.INFO, text, incident=incident,
            fault=FaultKind.TOKEN_EXPIRY.value, phase=Phase.RECOVERED.value,
        )  # fmt: skip


class GradeWatch:
    """Reports grade changes and asks risk to change the trading state."""

    def __init__(
        self,
        config: HealthConfig,
        emit: Emitter,
        logger: logging.Logger,
        set_trading_state: TradingStateRequest | None = None,
    ) -> None:
        self._config = config
        self._emit = emit
        self._log = logger
        self._set_state = set_trading_state
        self._last: Grade | None = None
        self._reduced = False  # risk was asked for the critical state

    def check(self, assessment: Assessment) -> None:
        grade, before = assessment.grade, self._last
        if grade is not before:
            self._last = grade
            self._changed(before, assessment)

        critical = grade is Grade.CRITICAL
        if critical and not self._reduced:
            reason = "health CRITICAL: " + "; ".join(assessment.reasons)
            self._reduced = self._ask(self._config.critical_state, reason)
        elif not critical and self._reduced:
            reason = f"health {grade.value}: no longer critical"
            self._reduced = not self._ask(self._config.normal_state, reason)

    def _changed(self, before: Grade | None, assessment: Assessment) -> None:
        grade = assessment.grade
        was = "unknown" if before is None else before.value
        why = "; ".join(assessment.reasons) or "all nominal"
        text = f"Health {was} -> {grade.value}: {why}"
        level = logging.WARNING if grade.rank >= Grade.DEGRADED.rank else logging.INFO
        self._log.log(level, "health: %s", text)
        self._emit(
            EventKind.HEALTH_GRADE_CHANGED, _GRADE_SEVERITY[grade], text,
            previous=None if before is None else before.value, grade=grade.value,
            reasons=list(assessment.reasons),
        )  # fmt: skip

    def _ask(self, state: str, reason: str) -> bool:
        """Ask risk for ``state``; True when the request went through."""
        if self._set_state is None:
            return False
        try:
            self._set_state(state, reason)
        except Exception:
            self._log.exception(
                "health: Asking risk for trading state %s failed", state
            )
            return False
        self._log.info("health: Asked risk for trading state %s (%s)", state, reason)
        return True


class ResourceWatch:
    """Warns once while memory keeps growing; see the module."""

    def __init__(self, config: HealthConfig, emit: Emitter, logger: logging.Logger):
        self._limit = config.rss_growth_degraded_bytes_h
        self._emit = emit
        self._log = logger
        self._warned = False

    def check(self, rss_bytes: int | None, trend_bytes_h: float | None) -> None:
        if trend_bytes_h is None or rss_bytes is None:
            return
        if self._warned:
            self._warned = trend_bytes_h >= self._limit / 2
            return
        if trend_bytes_h <= self._limit:
            return
        self._warned = True
        text = (
            f"Memory growing {trend_bytes_h / MIB:.0f} MB/h "
            f"(now {rss_bytes / MIB:.0f} MB)"
        )
        self._log.warning("health: %s", text)
        self._emit(
            EventKind.RESOURCE_WARNING, Severity.WARNING, text,
            resource="memory", rss_bytes=rss_bytes, trend_bytes_h=trend_bytes_h,
        )  # fmt: skip
