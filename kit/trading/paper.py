"""The paper broker: orders filled by the kit at the last price, with slippage.

A paper order fills at once at the last known price moved against the trader
by ``slippage_bps`` and rounded to the exchange's 0.05 tick, also against the
trader (a buy rounds up, a sell down). The fill goes into the
:class:`~kit.trading.positions.PositionBook`, which writes it to the store
before :meth:`PaperBroker.submit` returns. The paper account's margin is its
capital less the margin its open positions hold, at the intraday rate.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from datetime import UTC, datetime

from kit.clock import Clock
from kit.ops.events import ActivityEvent, EventKind, Severity
from kit.trading.positions import Fill, Instrument, PositionBook, Side

logger = logging.getLogger(__name__)

TICK = 0.05


class PaperBroker:
    """Fills orders in process; positions and P&L persisted through the book."""

    def __init__(
        self,
        book: PositionBook,
        clock: Clock,
        *,
        slippage_bps: float = 5.0,
        capital: float = 1_000_000.0,
        margin_rate: float = 0.2,
        emit: Callable[[ActivityEvent], object] | None = None,
    ) -> None:
        if slippage_bps < 0 or capital <= 0:
            raise ValueError("slippage_bps must be >= 0 and capital > 0")
        self.book = book
        self.clock = clock
        self.slippage_bps = slippage_bps
        self.capital = capital
        self.margin_rate = margin_rate
        self.emit = emit or (lambda event: None)
        self.fills = 0

    def fill_price(self, side: Side, last_price: float) -> float:
        """The price a paper order of ``side`` fills at, given the last price."""
        if not (last_price > 0 and math.isfinite(last_price)):
            raise ValueError(f"no usable last price ({last_price})")
        shift = last_price * self.slippage_bps / 10_000
        if side == "BUY":
            return round(math.ceil((last_price + shift) / TICK - 1e-9) * TICK, 2)
        return round(math.floor((last_price - shift) / TICK + 1e-9) * TICK, 2)

    def submit(
        self,
        instrument: Instrument,
        side: Side,
        quantity: int,
        last_price: float,
        *,
        reason: str,
        ordertag: str = "",
        stop: float | None = None,
        target: float | None = None,
    ) -> Fill:
        """Fill an order now; the fill, already applied and stored."""
        price = self.fill_price(side, last_price)
        fill = Fill(instrument, side, quantity, price, self.clock.time(), ordertag)
        before = self.book.get(instrument.symbol)
        position = self.book.apply(fill, stop=stop, target=target)
        self.fills += 1

        held_before = 0 if before is None else before.quantity
        text = (
            f"paper {side} {quantity} {instrument.symbol} at {price:,.2f} ({reason}); "
            f"position {held_before} -> {position.quantity}"
        )
        logger.info("Paper fill: %s", text)
        kind = EventKind.ORDER_PLACED
        if held_before == 0 and position.quantity != 0:
            kind = EventKind.POSITION_OPENED
        elif position.quantity == 0:
            kind = EventKind.POSITION_CLOSED
        at = datetime.fromtimestamp(fill.at_s, UTC)
        fields = {
            "symbol": instrument.symbol,
            "side": side,
            "quantity": quantity,
            "price": price,
            "reason": reason,
            "mode": "paper",
            "ordertag": ordertag,
            "realised_pnl": round(position.realised_pnl, 2),
        }
        self.emit(ActivityEvent(at, kind, Severity.INFO, text, fields))
        return fill

    def margin_available(self) -> float:
        """Capital less the margin the open positions hold."""
        held = sum(
            abs(p.quantity) * p.avg_price * self.margin_rate
            for p in self.book.open_positions()
        )
        return self.capital + self.book.realised() - held
