"""The live broker's events and log lines: one method per thing that happens
to a live order or position. Every event carries ``fields["mode"] = "live"``
and, for an order, its symbol, side, quantity, reason, ordertag and orderid."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from kit.clock import Clock
from kit.ops.events import (
    ActivityEvent,
    EventKind,
    FaultKind,
    Phase,
    Severity,
    new_incident_id,
)
from kit.store.base import PositionRecord
from kit.trading.live_orders import (
    AdoptedPosition,
    LiveOrder,
    UnknownOrder,
    is_insufficient_margin,
)
from kit.trading.positions import Fill

logger = logging.getLogger(__name__)


class LiveEvents:
    """Writes the live broker's events through ``emit``."""

    def __init__(self, emit: Callable[[ActivityEvent], object], clock: Clock) -> None:
        self.emit = emit
        self.clock = clock

    def refused(self, order: LiveOrder, why: str) -> None:
        text = f"{order.line} refused: {why}"
        logger.warning("Order refused: %s", text)
        self._event(EventKind.TRADE_SKIPPED, Severity.WARNING, text, order,
                    in_flight=why)  # fmt: skip

    def rejected(self, order: LiveOrder, broker_text: str) -> None:
        """A rejection; for insufficient margin, an incident recovered at once
        (not trading is the recovery)."""
        fields: dict[str, Any] = {"broker_text": broker_text}
        what = "rejected"
        if is_insufficient_margin(broker_text):
            what = "rejected for insufficient margin"
            fields |= {
                "fault": FaultKind.INSUFFICIENT_MARGIN.value,
                "incident": new_incident_id(FaultKind.INSUFFICIENT_MARGIN),
                "phase": Phase.RECOVERED.value,
                "began_s": self.clock.time(),
            }
        text = f"{order.line} {what}: {broker_text}"
        logger.warning("Order %s: %s", order.ordertag, text)
        self._event(EventKind.ORDER_REJECTED, Severity.WARNING, text, order, **fields)

    def unfilled(self, order: LiveOrder, status: str, broker_text: str) -> None:
        """A final order with nothing filled (cancelled)."""
        text = f"{order.line}: {status} with nothing filled ({broker_text})"
        logger.warning("Order %s: %s", order.ordertag, text)
        self._event(EventKind.ORDER_REJECTED, Severity.WARNING, text, order,
                    status=status, broker_text=broker_text)  # fmt: skip

    def unknown(self, order: LiveOrder, why: str) -> None:
        symbol = order.instrument.symbol
        text = (
            f"{order.line}: outcome unknown ({why}); {symbol} takes no new order "
            "until reconciled: check the order book"
        )
        logger.error("Order %s: %s", order.ordertag or "(no tag yet)", text)
        self._event(EventKind.ORDER_UNKNOWN, Severity.CRITICAL, text, order,
                    blocked=True)  # fmt: skip

    def waiting(self, order: LiveOrder, last_price: float) -> None:
        text = f"{order.line}: accepted as {order.orderid}, not filled yet"
        logger.info("Order %s: %s", order.ordertag, text)
        self._event(EventKind.ORDER_PLACED, Severity.INFO, text, order,
                    expected_price=last_price)  # fmt: skip

    def filled(
        self,
        order: LiveOrder,
        fill: Fill,
        before: PositionRecord | None,
        after: PositionRecord,
        *,
        recovered: bool,
    ) -> None:
        held_before = before.quantity if before else 0
        how = "recovered at reconciliation" if recovered else order.reason
        text = (
            f"{order.line} filled at {fill.price:,.2f} ({how}); "
            f"position {held_before} -> {after.quantity}"
        )
        logger.info("Live fill: %s", text)
        kind = EventKind.ORDER_PLACED
        if held_before == 0 and after.quantity != 0:
            kind = EventKind.POSITION_OPENED
        elif after.quantity == 0:
            kind = EventKind.POSITION_CLOSED
        self._event(kind, Severity.INFO, text, order, price=fill.price,
                    filled=fill.quantity, recovered=recovered,
                    realised_pnl=round(after.realised_pnl, 2))  # fmt: skip

    def adopted(self, adopted: AdoptedPosition, *, protected: bool) -> None:
        a = adopted
        text = (
            f"position {a.symbol}: the book held {a.book_quantity}, the broker "
            f"holds {a.broker_quantity} at {a.broker_avg_price:,.2f}; the book "
            "now follows the broker"
            + ("" if protected else "; it has no stop or target: set them")
        )
        logger.error("Reconcile: %s", text)
        self._event(
            EventKind.RECONCILE_MISMATCH, Severity.ERROR, text, None,
            symbol=a.symbol, book_quantity=a.book_quantity,
            broker_quantity=a.broker_quantity, broker_avg_price=a.broker_avg_price,
            action="adopted", protected=protected,
        )  # fmt: skip

    def unknown_order(self, found: UnknownOrder) -> None:
        text = (
            f"unknown broker order {found.orderid}: {found.side} {found.quantity} "
            f"{found.symbol} ({found.status}); {found.why}"
        )
        logger.error("Reconcile: %s", text)
        self._event(
            EventKind.RECONCILE_MISMATCH, Severity.ERROR, text, None,
            symbol=found.symbol, orderid=found.orderid, ordertag=found.ordertag,
            side=found.side, quantity=found.quantity, status=found.status,
            action="reported",
        )  # fmt: skip

    def _event(
        self,
        kind: EventKind,
        severity: Severity,
        text: str,
        order: LiveOrder | None,
        /,
        **fields: Any,
    ) -> None:
        at = datetime.fromtimestamp(self.clock.time(), UTC)
        base = {"mode": "live", **(order.fields() if order else {})}
        self.emit(ActivityEvent(at, kind, severity, text, base | fields))
