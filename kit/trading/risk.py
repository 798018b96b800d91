"""Risk: the trading state, the limits every order passes, the margin check.

The trading state says which orders may go out:

=========  ==============================================================
ACTIVE     entries and exits
REDUCING   exits only: strategy exits, stops, targets, flattening
HALTED     protective exits only (stops, targets, flattening); no entry,
           no strategy exit. Open positions are never left unprotected.
=========  ==============================================================

Several parts may restrict trading at once, each under its own *source* name
(``health``, ``degradation``, ``kill_switch``, ``user`` ...). Each source sets
the most permissive state it allows; the state in force is the most
restrictive of them. Restricting takes effect at once; lifting a restriction
takes effect only once the state it allows has held for ``resume_after_s``
(hysteresis: a flapping feed does not flip trading on and off). The daily loss
kill switch latches HALTED until :meth:`Risk.new_day`.

Every entry is checked: the state, open positions, the value of the position,
orders per minute (and never more than 10 a second, the broker's order limit),
and the margin available through RMS (``margin_available()``; insufficient or
unknown margin skips the trade with an event, as the user's recovery matrix
says). Exits are never refused for rate: :meth:`Risk.exit_wait_s` says how long
to wait to stay under 10 a second. Not locked: the engine thread owns it, and
:meth:`set_state` from other threads only swaps one dict entry.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from kit.clock import Clock
from kit.config import Settings
from kit.errors import KitError
from kit.ops.events import ActivityEvent, EventKind, FaultKind, Severity

logger = logging.getLogger(__name__)

ORDERS_PER_SECOND_MAX = 10  # SmartAPI's order routes: 10 a second


class TradingState(StrEnum):
    ACTIVE = "active"
    REDUCING = "reducing"
    HALTED = "halted"

    @property
    def strictness(self) -> int:
        return _STRICTNESS[self]


_STRICTNESS = {s: rank for rank, s in enumerate(TradingState)}
KILL_SWITCH = "kill_switch"


@dataclass(frozen=True)
class RiskLimits:
    """The limits of :class:`Risk`; see :class:`~kit.config.Settings`."""

    max_open_positions: int = 5
    position_value: float = 50_000.0
    max_orders_per_minute: int = 20
    daily_loss_limit: float = 5_000.0
    resume_after_s: float = 120.0
    margin_rate: float = 0.2

    @classmethod
    def from_settings(cls, settings: Settings) -> RiskLimits:
        return cls(
            max_open_positions=settings.risk_max_open_positions,
            position_value=settings.risk_position_value,
            max_orders_per_minute=settings.risk_max_orders_per_minute,
            daily_loss_limit=settings.risk_daily_loss_limit,
            resume_after_s=settings.risk_resume_after_s,
            margin_rate=settings.intraday_margin_rate,
        )


@dataclass(frozen=True)
class Decision:
    """Whether an order may go out, and why not; ``quantity`` for entries."""

    allowed: bool
    reason: str = ""
    quantity: int = 0

    def __bool__(self) -> bool:
        return self.allowed


class Risk:
    """The trading state and the checks every order passes."""

    def __init__(
        self,
        limits: RiskLimits,
        clock: Clock,
        *,
        margin_available: Callable[[], float] | None = None,
        emit: Callable[[ActivityEvent], object] | None = None,
    ) -> None:
        self.limits = limits
        self.clock = clock
        self.margin_available = margin_available
        self.emit = emit or (lambda event: None)
        self._caps: dict[str, tuple[TradingState, str]] = {}
        self._state = TradingState.ACTIVE
        self._relax_since: float | None = None  # when a milder state began to hold
        self._lifted_s: dict[str, float] = {}  # when each source last lifted
        self._sent_s: deque[float] = deque()
        self.skipped = 0

    # The trading state.

    @property
    def state(self) -> TradingState:
        """The state in force now (applies a pending relaxation when due)."""
        self._settle()
        return self._state

    def set_state(
        self,
        state: TradingState | str,
        reason: str,
        *,
        source: str,
        at_once: bool = False,
    ) -> None:
        """Restrict trading under ``source`` (ACTIVE lifts its restriction).

        ``at_once`` is for a person's decision, which is not a flapping signal:
        what it lifts takes effect without the hold window, unless another
        source lifted its own within that window (its hold still applies)."""
        state = TradingState(state)
        if source == KILL_SWITCH and state is not TradingState.HALTED:
            raise ValueError("the kill switch is lifted only by new_day()")
        now_s = self.clock.monotonic()
        hold_s = self.limits.resume_after_s
        others_settled = all(
            now_s - lifted_s >= hold_s
            for other, lifted_s in self._lifted_s.items()
            if other != source
        )
        if state is TradingState.ACTIVE:
            if self._caps.pop(source, None) is not None:
                self._lifted_s[source] = now_s
        else:
            self._caps[source] = (state, reason)
        self._settle(at_once=at_once and others_settled)

    def restrictions(self) -> dict[str, tuple[TradingState, str]]:
        """Each source's restriction: its state and reason."""
        return dict(self._caps)

    def on_day_pnl(self, pnl: float) -> None:
        """The day's P&L (realised and open); a loss at the limit halts entries."""
        if -pnl >= self.limits.daily_loss_limit and KILL_SWITCH not in self._caps:
            reason = (
                f"daily loss {-pnl:,.2f} reached the limit "
                f"{self.limits.daily_loss_limit:,.2f}"
            )
            self.set_state(TradingState.HALTED, reason, source=KILL_SWITCH)

    def new_day(self) -> None:
        """A new session: the kill switch and the order windows reset."""
        self._caps.pop(KILL_SWITCH, None)
        self._sent_s.clear()
        self._settle()

    # Checks.

    def check_entry(self, symbol: str, price: float, open_positions: int) -> Decision:
        """Whether a new position in ``symbol`` may open at about ``price``."""
        decision = self._entry_decision(price, open_positions)
        if not decision:
            self._skip(symbol, decision.reason)
        return decision

    def check_exit(self, symbol: str, *, protective: bool) -> Decision:
        """Whether an exit may go out. Protective exits (stop, target,
        flattening) always may; strategy exits not while HALTED."""
        if protective or self.state is not TradingState.HALTED:
            return Decision(True)
        return Decision(False, f"{symbol}: trading halted, strategy exits held")

    def exit_wait_s(self) -> float:
        """How long to wait before the next order to stay under 10 a second."""
        now_s = self.clock.monotonic()
        self._trim(now_s)
        recent = [t for t in self._sent_s if t > now_s - 1.0]
        if len(recent) < ORDERS_PER_SECOND_MAX:
            return 0.0
        return recent[-ORDERS_PER_SECOND_MAX] + 1.0 - now_s

    def order_sent(self) -> None:
        """Count an order that went out, for the rate windows."""
        self._sent_s.append(self.clock.monotonic())

    # Inside.

    def _entry_decision(self, price: float, open_positions: int) -> Decision:
        limits = self.limits
        state = self.state
        if state is not TradingState.ACTIVE:
            why = "; ".join(reason for _, reason in self._caps.values())
            return Decision(False, f"trading is {state.value}: {why}")
        if open_positions >= limits.max_open_positions:
            return Decision(False, f"{open_positions} positions open (the limit)")
        if not (price > 0 and math.isfinite(price)):
            return Decision(False, f"no usable price ({price})")
        quantity = int(limits.position_value // price)
        if quantity < 1:
            return Decision(False, f"one share at {price:,.2f} exceeds the value limit")
        rate = self._rate_refusal()
        if rate:
            return Decision(False, rate)
        return self._margin_decision(quantity * price, quantity)

    def _rate_refusal(self) -> str:
        now_s = self.clock.monotonic()
        self._trim(now_s)
        if len(self._sent_s) >= self.limits.max_orders_per_minute:
            return f"{len(self._sent_s)} orders in the last minute (the limit)"
        if sum(1 for t in self._sent_s if t > now_s - 1.0) >= ORDERS_PER_SECOND_MAX:
            return "10 orders in the last second (the broker's limit)"
        return ""

    def _margin_decision(self, value: float, quantity: int) -> Decision:
        if self.margin_available is None:
            return Decision(True, quantity=quantity)
        needed = value * self.limits.margin_rate
        try:
            available = self.margin_available()
        except KitError as exc:
            return Decision(False, f"margin unknown ({type(exc).__name__}: {exc})")
        if available < needed:
            return Decision(
                False,
                f"insufficient margin: needs {needed:,.2f}, {available:,.2f} available",
            )
        return Decision(True, quantity=quantity)

    def _trim(self, now_s: float) -> None:
        while self._sent_s and self._sent_s[0] <= now_s - 60.0:
            self._sent_s.popleft()

    def _settle(self, *, at_once: bool = False) -> None:
        wanted = max(
            (cap for cap, _ in self._caps.values()),
            key=lambda s: s.strictness,
            default=TradingState.ACTIVE,
        )
        now_s = self.clock.monotonic()
        if wanted.strictness >= self._state.strictness:
            self._relax_since = None
            if wanted is not self._state:
                self._change(wanted)
            return
        if self._relax_since is None:
            self._relax_since = now_s
        if at_once or now_s - self._relax_since >= self.limits.resume_after_s:
            self._relax_since = None
            self._change(wanted)

    def _change(self, state: TradingState) -> None:
        before, self._state = self._state, state
        reasons = "; ".join(f"{src}: {why}" for src, (_, why) in self._caps.items())
        text = f"trading {before.value} -> {state.value}" + (
            f" ({reasons})" if reasons else ""
        )
        logger.warning("Trading state: %s", text)
        severity = Severity.INFO if state is TradingState.ACTIVE else Severity.WARNING
        self._event(
            EventKind.TRADING_STATE_CHANGED,
            severity,
            text,
            state=state.value,
            previous=before.value,
            sources=sorted(self._caps),
        )

    def _skip(self, symbol: str, reason: str) -> None:
        self.skipped += 1
        logger.info("Entry skipped: %s: %s", symbol, reason)
        fields: dict[str, Any] = {"symbol": symbol, "reason": reason}
        if reason.startswith("insufficient margin"):
            stamp = f"{self.clock.time():.3f}"
            fields |= {
                "fault": FaultKind.INSUFFICIENT_MARGIN.value,
                "incident": f"margin-{symbol}-{stamp}",
                "phase": "recovered",  # skipping the trade is the recovery
                "began_s": self.clock.time(),
            }
        severity = Severity.WARNING if "fault" in fields else Severity.INFO
        self._event(EventKind.TRADE_SKIPPED, severity, f"{symbol}: {reason}", **fields)

    def _event(
        self, kind: EventKind, severity: Severity, text: str, **fields: Any
    ) -> None:
        at = datetime.fromtimestamp(self.clock.time(), UTC)
        self.emit(ActivityEvent(at, kind, severity, text, fields))
