"""The simulator's order desk: orders, fills, trade book, positions and RMS.

The REST layer hands each placeOrder, modifyOrder and cancelOrder body to an
:class:`OrderDesk`, per client code (accounts are independent), and renders
what comes back; it calls :meth:`OrderDesk.match` periodically and on each
request so resting orders fill as prices move.

How orders behave:

- MARKET fills at once at the last traded price. LIMIT fills at its own price
  once marketable (a BUY when the price is at or below the limit, a SELL at or
  above). STOPLOSS_MARKET and STOPLOSS_LIMIT wait in "trigger pending" until the
  price reaches the trigger (at or above it for a BUY, at or below for a SELL),
  then act as MARKET or LIMIT. Every fill is one trade-book entry; orders fill
  whole. Fills happen only while the session is open.
- IOC orders not filled on arrival are cancelled. DAY orders still open at the
  close of their session are cancelled by the next :meth:`OrderDesk.match`.
  AMO orders are taken outside the session and wait for the next one.
- Unreadable requests raise :class:`OrderRefused` (codes in
  :mod:`kit.sim.order_rules`); orders that break a business rule (session,
  lot size, tick size, stop on the wrong side, funds) are accepted and shown as
  ``rejected`` in the book, as Angel One does.
- Margin and P&L follow :mod:`kit.sim.portfolio`.

All public methods take one lock, so tests may look at the desk while the
server's event loop uses it.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Protocol

from kit.clock import IST, Clock, NseCalendar
from kit.sim.desk_state import DeskState, Event
from kit.sim.order_records import (
    OrderStatus,
    SimOrder,
    book_item,
    trade_item,
)
from kit.sim.order_rules import (
    CLOSED_TEXT,
    CODE_BAD_EXCHANGE,
    CODE_ORDER_NOT_FOUND,
    CODE_SYMBOL_NOT_FOUND,
    MSG_ORDER_NOT_FOUND,
    MSG_SYMBOL_NOT_FOUND,
    OrderRefused,
    PlaceRequest,
    funds_text,
    read_place,
    read_terms,
    read_variety,
    rejection,
    text_field,
)
from kit.sim.portfolio import DEFAULT_CASH_RUPEES

__all__ = ["InstrumentLike", "OrderDesk", "OrderRefused", "PriceSource"]

logger = logging.getLogger(__name__)

UpdateListener = Callable[[str, dict[str, str]], None]
"""Called with (client code, order-book entry) after an order changes state."""


class InstrumentLike(Protocol):
    """What the desk needs to know of an instrument."""

    @property
    def token(self) -> str: ...
    @property
    def symbol(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def exchange(self) -> str: ...
    @property
    def lot_size(self) -> int: ...
    @property
    def tick_size(self) -> float:
        """In rupees, e.g. 0.05."""
        ...


class PriceSource(Protocol):
    """The simulated market, as the desk sees it."""

    @property
    def calendar(self) -> NseCalendar: ...
    def get(self, token: str) -> InstrumentLike | None: ...
    def by_symbol(self, symbol: str) -> InstrumentLike | None: ...
    def price(self, token: str, at_s: float) -> float:
        """The last traded price, in rupees, at epoch seconds ``at_s``."""
        ...


class OrderDesk:
    """Angel One's order handling for every account of the simulator."""

    def __init__(
        self,
        prices: PriceSource,
        clock: Clock,
        *,
        seed: int = 0,
        cash_rupees: float = DEFAULT_CASH_RUPEES,
    ) -> None:
        self._prices = prices
        self._clock = clock
        self._lock = threading.RLock()
        self._state = DeskState(prices.price, seed=seed, cash_rupees=cash_rupees)
        self._listeners: list[UpdateListener] = []

    def set_cash(self, client_code: str, cash_rupees: float) -> None:
        """Set the opening cash of an account (realised P&L is kept on top)."""
        with self._lock:
            self._state.account(client_code).cash_rupees = cash_rupees

    def on_update(self, listener: UpdateListener) -> None:
        """Call ``listener`` after every change of an order's state."""
        with self._lock:
            self._listeners.append(listener)

    # Requests.

    def place(self, client_code: str, params: Mapping[str, object]) -> dict[str, str]:
        """Take a placeOrder body; return the reply's ``data``.

        Raises :class:`OrderRefused` for an unreadable request. A rejected order
        returns normally: its fate is in the order book.
        """
        now_s = self._clock.time()
        with self._lock:
            counts = self._state.counts(client_code)
            counts["received"] += 1
            try:
                request = read_place(params)
                instrument = self._resolve(request)
            except OrderRefused as refused:
                counts["refused"] += 1
                logger.debug("place: refused with %s", refused.code)
                raise
            order = self._new_order(client_code, request, instrument, now_s)
            self._state.add(order)
            self._admit(order, now_s)
            events = self._state.events([order])
        self._notify(events)
        return {
            "script": order.symbol,
            "orderid": order.orderid,
            "uniqueorderid": order.uniqueorderid,
        }

    def modify(self, client_code: str, params: Mapping[str, object]) -> dict[str, str]:
        """Take a modifyOrder body for an open order; return the reply's ``data``.

        A change that breaks a rule is refused and leaves the order as it was.
        """
        now_s = self._clock.time()
        with self._lock:
            counts = self._state.counts(client_code)
            try:
                if text_field(params, "variety"):
                    read_variety(params)
                order = self._live_order(client_code, text_field(params, "orderid"))
                terms = read_terms(params, variety=order.variety, current=order.terms)
                self._state.change_terms(order, terms, now_s, self._is_open(now_s))
            except OrderRefused:
                counts["modify_refused"] += 1
                raise
            counts["modified"] += 1
            if self._is_open(now_s):
                self._state.try_fill(order, now_s)
            events = self._state.events([order])
        self._notify(events)
        return {"orderid": order.orderid, "uniqueorderid": order.uniqueorderid}

    def cancel(self, client_code: str, orderid: str, variety: str) -> dict[str, str]:
        """Cancel an open order; return the reply's ``data``."""
        now_s = self._clock.time()
        with self._lock:
            counts = self._state.counts(client_code)
            try:
                read_variety({"variety": variety})
                order = self._live_order(client_code, orderid)
            except OrderRefused:
                counts["cancel_refused"] += 1
                raise
            self._state.close(order, OrderStatus.CANCELLED, "", now_s)
            counts["cancelled"] += 1
            events = self._state.events([order])
        self._notify(events)
        return {"orderid": order.orderid, "uniqueorderid": order.uniqueorderid}

    def match(self, now_s: float | None = None) -> int:
        """Fill, trigger and expire resting orders at ``now_s``; return the fills."""
        at_s = self._clock.time() if now_s is None else now_s
        with self._lock:
            changed, fills = self._state.match_all(at_s, self._is_open(at_s))
            events = self._state.events(changed)
        self._notify(events)
        return fills

    # Books and accounts.

    def order_book(self, client_code: str) -> list[dict[str, str]] | None:
        """getOrderBook's ``data``: every order of the day, or None if none."""
        with self._lock:
            items = [book_item(o) for o in self._state.orders(client_code)]
        return items or None

    def trade_book(self, client_code: str) -> list[dict[str, str]] | None:
        """getTradeBook's ``data``: every fill of the day, or None."""
        with self._lock:
            items = [trade_item(f) for f in self._state.fills(client_code)]
        return items or None

    def order_details(self, client_code: str, uniqueorderid: str) -> dict[str, str]:
        """The order-book entry of one order, by ``uniqueorderid`` (AB1013 if none)."""
        with self._lock:
            for order in self._state.orders(client_code):
                if order.uniqueorderid == uniqueorderid:
                    return book_item(order)
        raise OrderRefused(CODE_ORDER_NOT_FOUND, MSG_ORDER_NOT_FOUND)

    def find_by_tag(self, client_code: str, ordertag: str) -> dict[str, str] | None:
        """The newest order carrying ``ordertag``, as an order-book entry, or None."""
        with self._lock:
            for order in reversed(self._state.orders(client_code)):
                if ordertag and order.ordertag == ordertag:
                    return book_item(order)
        return None

    def positions(
        self, client_code: str, now_s: float | None = None
    ) -> list[dict[str, str]] | None:
        """getPosition's ``data`` valued at ``now_s`` (default: now), or None."""
        at_s = self._clock.time() if now_s is None else now_s
        with self._lock:
            items = self._state.account(client_code).position_items(
                self._state.price_at(at_s)
            )
        return items or None

    def rms(self, client_code: str, now_s: float | None = None) -> dict[str, str]:
        """getRMS's ``data`` valued at ``now_s`` (the clock by default)."""
        at_s = self._clock.time() if now_s is None else now_s
        with self._lock:
            blocked = self._state.blocked_rupees(client_code)
            return self._state.account(client_code).rms(
                blocked, self._state.price_at(at_s)
            )

    def counters(self, client_code: str | None = None) -> dict[str, int]:
        """How many requests had each outcome, for one account or all of them.

        Keys: received, refused, accepted, rejected, complete, cancelled, expired,
        modified, modify_refused, cancel_refused.
        """
        with self._lock:
            if client_code is not None:
                return dict(self._state.counts(client_code))
            total: Counter[str] = Counter()
            for counts in self._state.all_counts():
                total.update(counts)
            return dict(total)

    # Steps.

    def _resolve(self, request: PlaceRequest) -> InstrumentLike:
        """The instrument a request names: by token first, else by symbol."""
        if request.token:
            instrument = self._prices.get(request.token)
        else:
            instrument = self._prices.by_symbol(request.symbol)
        if instrument is None:
            raise OrderRefused(CODE_SYMBOL_NOT_FOUND, MSG_SYMBOL_NOT_FOUND)
        if request.symbol and request.symbol != instrument.symbol:
            raise OrderRefused(CODE_SYMBOL_NOT_FOUND, MSG_SYMBOL_NOT_FOUND)
        if request.exchange != instrument.exchange:
            raise OrderRefused(
                CODE_BAD_EXCHANGE,
                f"Invalid Exchange Segment: {instrument.symbol} trades on "
                f"{instrument.exchange}, not {request.exchange}",
            )
        return instrument

    def _new_order(
        self,
        client_code: str,
        request: PlaceRequest,
        instrument: InstrumentLike,
        now_s: float,
    ) -> SimOrder:
        ids = self._state.ids
        return SimOrder(
            client_code=client_code,
            orderid=ids.order_id(now_s),
            uniqueorderid=ids.unique_id(),
            variety=request.variety,
            side=request.side,
            exchange=instrument.exchange,
            token=instrument.token,
            symbol=instrument.symbol,
            name=instrument.name,
            lot_size=instrument.lot_size,
            tick_rupees=instrument.tick_size,
            ordertag=request.ordertag,
            terms=request.terms,
            extras=request.extras,
            placed_s=now_s,
            updated_s=now_s,
        )

    def _admit(self, order: SimOrder, now_s: float) -> None:
        """Accept or reject a new order, then try to fill it."""
        counts = self._state.counts(order.client_code)
        session_open = self._is_open(now_s)
        text = self._rejection_text(order, now_s, session_open)
        if text:
            self._state.close(order, OrderStatus.REJECTED, text, now_s)
            counts["rejected"] += 1
            logger.debug("Order %s rejected: %s", order.orderid, text)
            return

        self._state.accept(order, now_s, self._expiry_s(now_s))
        counts["accepted"] += 1
        if not session_open:
            return
        self._state.try_fill(order, now_s)
        if order.terms.duration == "IOC" and order.status is OrderStatus.OPEN:
            text = "IOC order cancelled: not marketable on arrival"
            self._state.close(order, OrderStatus.CANCELLED, text, now_s)
            counts["cancelled"] += 1

    def _rejection_text(self, order: SimOrder, now_s: float, session_open: bool) -> str:
        if not session_open and order.variety != "AMO":
            return CLOSED_TEXT
        ltp = self._prices.price(order.token, now_s)
        broken = rejection(
            order.terms,
            side=order.side,
            lot_size=order.lot_size,
            tick_rupees=order.tick_rupees,
            ltp_rupees=ltp,
        )
        if broken is not None:
            return broken.text
        required = self._state.required_rupees(order, ltp)
        available = self._state.available_rupees(order.client_code, now_s)
        if required > available + 1e-9:
            return funds_text(available, required)
        return ""

    def _live_order(self, client_code: str, orderid: str) -> SimOrder:
        order = self._state.order(client_code, orderid)
        if order is None:
            raise OrderRefused(CODE_ORDER_NOT_FOUND, MSG_ORDER_NOT_FOUND)
        if not order.is_live:
            raise OrderRefused(
                CODE_ORDER_NOT_FOUND,
                f"{MSG_ORDER_NOT_FOUND}: order {orderid} is {order.status.value}",
            )
        return order

    def _is_open(self, at_s: float) -> bool:
        return self._prices.calendar.is_open(datetime.fromtimestamp(at_s, IST))

    def _expiry_s(self, now_s: float) -> float:
        """The close of the session an order placed at ``now_s`` belongs to."""
        calendar = self._prices.calendar
        when = datetime.fromtimestamp(now_s, IST)
        day = when.date() if calendar.is_open(when) else calendar.next_open(when).date()
        return calendar.session_close(day).timestamp()

    def _notify(self, events: list[Event]) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for client_code, item in events:
            for listener in listeners:
                try:
                    listener(client_code, item)
                except Exception:
                    logger.exception("on_update: a listener failed")
