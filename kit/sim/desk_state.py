"""The order desk's state: accounts, orders, fills, counters, and how they change.

:class:`DeskState` is not thread-safe by itself; :class:`kit.sim.orders.OrderDesk`
holds its lock around every call.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable

from kit.sim.order_records import (
    Fill,
    IdSource,
    OrderStatus,
    SimOrder,
    book_item,
)
from kit.sim.order_rules import (
    CLOSED_TEXT,
    CODE_BAD_PARAMETER,
    OrderRefused,
    OrderTerms,
    funds_text,
    rejection,
)
from kit.sim.portfolio import Account, Position, PriceOf, margin_rate

logger = logging.getLogger(__name__)

Event = tuple[str, dict[str, str]]
"""(client code, order-book entry) of an order that changed."""

PriceAt = Callable[[str, float], float]
"""The market's last traded price of a token at epoch seconds."""

EXPIRED_TEXT = "Order cancelled at the close of the session (validity DAY)"


class DeskState:
    """Every account's orders, fills, positions and counters."""

    def __init__(self, price: PriceAt, *, seed: int, cash_rupees: float) -> None:
        self.ids = IdSource(seed)
        self._price = price
        self._cash_rupees = cash_rupees
        self._accounts: dict[str, Account] = {}
        self._orders: dict[str, dict[str, SimOrder]] = {}
        self._fills: dict[str, list[Fill]] = {}
        self._counts: dict[str, Counter[str]] = {}
        self._live: dict[str, SimOrder] = {}

    # Lookups.

    def account(self, client_code: str) -> Account:
        if client_code not in self._accounts:
            self._accounts[client_code] = Account(self._cash_rupees)
        return self._accounts[client_code]

    def counts(self, client_code: str) -> Counter[str]:
        return self._counts.setdefault(client_code, Counter())

    def all_counts(self) -> list[Counter[str]]:
        return list(self._counts.values())

    def orders(self, client_code: str) -> list[SimOrder]:
        return list(self._orders.get(client_code, {}).values())

    def order(self, client_code: str, orderid: str) -> SimOrder | None:
        return self._orders.get(client_code, {}).get(orderid)

    def fills(self, client_code: str) -> list[Fill]:
        return list(self._fills.get(client_code, []))

    def price_at(self, at_s: float) -> PriceOf:
        return lambda token: self._price(token, at_s)

    def events(self, orders: list[SimOrder]) -> list[Event]:
        return [(order.client_code, book_item(order)) for order in orders]

    # Margin.

    def blocked_rupees(
        self, client_code: str, exclude: SimOrder | None = None
    ) -> float:
        """What the account's open orders block, leaving out ``exclude``."""
        return sum(
            order.blocked_rupees
            for order in self._live.values()
            if order.client_code == client_code and order is not exclude
        )

    def available_rupees(
        self, client_code: str, at_s: float, exclude: SimOrder | None = None
    ) -> float:
        blocked = self.blocked_rupees(client_code, exclude)
        return self.account(client_code).available_rupees(blocked, self.price_at(at_s))

    def required_rupees(
        self, order: SimOrder, ltp_rupees: float, terms: OrderTerms | None = None
    ) -> float:
        """The margin ``order`` (with ``terms`` if given) needs at the price ``ltp``."""
        terms = terms or order.terms
        reference = {
            "MARKET": ltp_rupees,
            "LIMIT": terms.price_rupees,
            "STOPLOSS_LIMIT": terms.price_rupees,
            "STOPLOSS_MARKET": terms.trigger_rupees,
        }[terms.ordertype]
        opening = self._opening_qty(order, terms)
        return opening * reference * margin_rate(terms.producttype)

    def _opening_qty(self, order: SimOrder, terms: OrderTerms) -> int:
        """The part of ``order`` that adds exposure rather than reducing a position.

        Open orders on the same side of the same position are counted as
        reducing it first, so two exits cannot both ride on one position.
        """
        position = self.account(order.client_code).position(
            order.token, terms.producttype
        )
        net = position.net_qty if position else 0
        against = max(0, -net if order.side == "BUY" else net)
        pending = sum(
            other.terms.quantity
            for other in self._live.values()
            if other is not order
            and other.client_code == order.client_code
            and other.token == order.token
            and other.side == order.side
            and other.terms.producttype == terms.producttype
        )
        return max(0, terms.quantity - max(0, against - pending))

    # Changes.

    def add(self, order: SimOrder) -> None:
        self._orders.setdefault(order.client_code, {})[order.orderid] = order

    def accept(self, order: SimOrder, now_s: float, expires_s: float) -> None:
        """Put a new order on the exchange: open, or awaiting its trigger."""
        ltp = self._price(order.token, now_s)
        order.status = (
            OrderStatus.TRIGGER_PENDING if order.terms.is_stop else OrderStatus.OPEN
        )
        order.exchange_orderid = self.ids.exchange_order_id()
        order.exchange_s = now_s
        order.updated_s = now_s
        order.blocked_rupees = self.required_rupees(order, ltp)
        order.expires_s = expires_s
        self._live[order.orderid] = order

    def close(
        self, order: SimOrder, status: OrderStatus, text: str, now_s: float
    ) -> None:
        """End an order unfilled: rejected or cancelled."""
        order.status = status
        order.text = text
        order.updated_s = now_s
        if status is OrderStatus.CANCELLED:
            order.cancelled_qty = order.terms.quantity - order.filled_qty
        order.blocked_rupees = 0.0
        self._live.pop(order.orderid, None)

    def change_terms(
        self, order: SimOrder, terms: OrderTerms, now_s: float, session_open: bool
    ) -> None:
        """Apply a modify to a live order, or raise :class:`OrderRefused`."""
        if not session_open and order.variety != "AMO":
            raise OrderRefused(CODE_BAD_PARAMETER, CLOSED_TEXT)
        type_changed = terms.ordertype != order.terms.ordertype
        awaiting = terms.is_stop and (
            type_changed or order.status is OrderStatus.TRIGGER_PENDING
        )

        ltp = self._price(order.token, now_s)
        broken = rejection(
            terms,
            side=order.side,
            lot_size=order.lot_size,
            tick_rupees=order.tick_rupees,
            ltp_rupees=ltp,
            awaiting_trigger=awaiting,
        )
        if broken is not None:
            raise OrderRefused(broken.code, broken.text)
        required = self.required_rupees(order, ltp, terms)
        available = self.available_rupees(order.client_code, now_s, exclude=order)
        if required > available + 1e-9:
            raise OrderRefused(CODE_BAD_PARAMETER, funds_text(available, required))

        order.terms = terms
        order.status = OrderStatus.TRIGGER_PENDING if awaiting else OrderStatus.OPEN
        order.blocked_rupees = required
        order.updated_s = now_s

    def try_fill(self, order: SimOrder, now_s: float) -> bool:
        """Trigger and fill ``order`` if the price allows; True when it filled."""
        ltp = self._price(order.token, now_s)
        if order.status is OrderStatus.TRIGGER_PENDING:
            if not _triggered(order, ltp):
                return False
            order.status = OrderStatus.OPEN
            order.updated_s = now_s

        price = _fill_price(order, ltp)
        if price is None:
            return False
        self._fill(order, price, now_s)
        return True

    def match_all(self, at_s: float, session_open: bool) -> tuple[list[SimOrder], int]:
        """Expire, trigger and fill every live order; (changed orders, fills)."""
        changed: list[SimOrder] = []
        fills = 0
        for order in list(self._live.values()):
            if at_s >= order.expires_s:
                self.close(order, OrderStatus.CANCELLED, EXPIRED_TEXT, at_s)
                self.counts(order.client_code)["expired"] += 1
                changed.append(order)
                continue
            if not session_open:
                continue
            before = order.status
            if self.try_fill(order, at_s):
                fills += 1
            if order.status is not before:
                changed.append(order)
        return changed, fills

    def _fill(self, order: SimOrder, price_rupees: float, now_s: float) -> None:
        quantity = order.terms.quantity
        order.status = OrderStatus.COMPLETE
        order.filled_qty = quantity
        order.average_rupees = price_rupees
        order.fillid = self.ids.fill_id()
        order.fill_s = now_s
        order.updated_s = now_s
        order.blocked_rupees = 0.0
        self._live.pop(order.orderid, None)

        product = order.terms.producttype
        fill = Fill(
            order.orderid,
            order.fillid,
            now_s,
            order.side,
            quantity,
            price_rupees,
            order.exchange,
            product,
            order.symbol,
            order.lot_size,
        )
        self._fills.setdefault(order.client_code, []).append(fill)
        position = Position(
            order.token,
            order.symbol,
            order.name,
            order.exchange,
            product,
            order.lot_size,
        )
        account = self.account(order.client_code)
        account.add_position(position).apply_fill(order.side, quantity, price_rupees)
        self.counts(order.client_code)["complete"] += 1
        logger.debug(
            "Order %s filled: %s %d %s at %.2f",
            order.orderid,
            order.side,
            quantity,
            order.symbol,
            price_rupees,
        )


def _triggered(order: SimOrder, ltp_rupees: float) -> bool:
    trigger = order.terms.trigger_rupees
    return ltp_rupees >= trigger if order.side == "BUY" else ltp_rupees <= trigger


def _fill_price(order: SimOrder, ltp_rupees: float) -> float | None:
    """The price ``order`` fills at now, or None when it is not marketable."""
    if order.terms.ordertype in ("MARKET", "STOPLOSS_MARKET"):
        return ltp_rupees
    limit = order.terms.price_rupees
    marketable = ltp_rupees <= limit if order.side == "BUY" else ltp_rupees >= limit
    return limit if marketable else None
