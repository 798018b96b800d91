"""The four degradation levels of the user's design, set from what is measured.

=====  ===================  ==================================================
level  when                 what the bot does
=====  ===================  ==================================================
1      feed up, all warm    everything
2      feed up, some cold   no signal for a symbol until its candles are warm
                            (built from ticks while history is refused)
3      paper, feed down     signals on the candles there are; open positions
                            protected on prices polled over REST
4      live, feed down      as 3, and after ``halt_after_s`` (60 s) new entries
                            halt (risk REDUCING, source ``degradation``) with a
                            message saying how to fix it; exits keep working
=====  ===================  ==================================================

The feed counts as down from the moment it is not connected. Coming back from
3 or 4 needs the feed up for ``stable_s`` without a break; then the halt is
lifted (risk adds its own hold before entries resume). Every change of level
is a ``degradation_changed`` event.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from kit.clock import Clock
from kit.ops.events import ActivityEvent, EventKind, Severity
from kit.trading.risk import Risk, TradingState

logger = logging.getLogger(__name__)

SOURCE = "degradation"
LIVE_WITHOUT_FEED_STEPS = (
    "Live trading has no market data: new entries are halted; open positions "
    "stay protected on prices polled over REST. The feed reconnects by itself. "
    "If it does not come back: 1. check this machine's internet connection; "
    "2. check Angel One's status page; 3. if the session expired, run "
    "`kit login`; 4. restart the bot (it resumes from its store)."
)


@dataclass(frozen=True)
class FeedView:
    """The feed as the engine sees it."""

    connected: bool
    state: str = ""


class DegradationWatch:
    """Sets the level from the feed and the candles; see the module."""

    def __init__(
        self,
        mode: Literal["paper", "live"],
        clock: Clock,
        risk: Risk,
        *,
        emit: Callable[[ActivityEvent], object] | None = None,
        halt_after_s: float = 60.0,
        stable_s: float = 60.0,
    ) -> None:
        self.mode = mode
        self.clock = clock
        self.risk = risk
        self.emit = emit or (lambda event: None)
        self.halt_after_s = halt_after_s
        self.stable_s = stable_s
        self.level = 1
        self.reason = "starting"
        self.feed_up = False
        self._down_since: float | None = None
        self._up_since: float | None = None
        self._halted = False

    def update(self, feed: FeedView, warm: int, total: int) -> int:
        now_s = self.clock.monotonic()
        if feed.connected:
            self._down_since = None
            if self._up_since is None:
                self._up_since = now_s
        else:
            self._up_since = None
            if self._down_since is None:
                self._down_since = now_s
        self.feed_up = feed.connected

        level, reason = self._level(feed, warm, total, now_s)
        if self._halted and level < 3:
            self._halted = False
            self.risk.set_state(TradingState.ACTIVE, "feed back", source=SOURCE)
        down_s = self._down_for(now_s)
        if level == 4 and not self._halted and down_s >= self.halt_after_s:
            self._halted = True
            self.risk.set_state(TradingState.REDUCING, reason, source=SOURCE)
            self._event(Severity.CRITICAL, LIVE_WITHOUT_FEED_STEPS, level, 4)
        if level != self.level:
            self._change(level, reason)
        self.reason = reason
        return level

    def _level(
        self, feed: FeedView, warm: int, total: int, now_s: float
    ) -> tuple[int, str]:
        if not feed.connected:
            state = feed.state or "down"
            if self.mode == "live":
                return 4, f"live mode without feed ({state})"
            return 3, f"paper mode without feed ({state})"
        if self.level >= 3 and self._up_since is not None:
            up_s = now_s - self._up_since
            if up_s < self.stable_s:
                return self.level, f"feed back for {up_s:.0f} s of {self.stable_s:.0f}"
        if warm < total:
            return 2, f"{warm}/{total} symbols warm; the rest build from ticks"
        return 1, "feed up, every symbol warm"

    def _down_for(self, now_s: float) -> float:
        return 0.0 if self._down_since is None else now_s - self._down_since

    def _change(self, level: int, reason: str) -> None:
        before, self.level, self.reason = self.level, level, reason
        text = f"level {before} -> {level}: {reason}"
        logger.warning("Degradation: %s", text)
        severity = Severity.INFO if level < before or level == 2 else Severity.WARNING
        if level == 4:
            severity = Severity.ERROR
        self._event(severity, text, before, level)

    def _event(self, severity: Severity, text: str, before: int, level: int) -> None:
        at = datetime.fromtimestamp(self.clock.time(), UTC)
        fields = {"level": level, "previous": before, "mode": self.mode}
        event = ActivityEvent(at, EventKind.DEGRADATION_CHANGED, severity, text, fields)
        self.emit(event)
