"""The live broker: real orders through the journal, in-flight checks, and
reconciliation with the broker's books at every start.

The engine uses it as it uses :class:`~kit.trading.paper.PaperBroker`::

    broker = LiveBroker(stack, book, clock, emit=activity.add)
    report = broker.reconcile()      # at every start, before trading
    fill = broker.submit(instrument, "BUY", 10, last_price, reason="entry",
                         stop=795.0, target=830.0)          # a Fill, or None
    broker.poll_open_orders()        # every engine loop: fills that came late
    broker.margin_available()        # RMS ``net``, in rupees
    broker.in_flight("SBIN-EQ")      # why a symbol takes no order now ("" if it does)

The first argument is a :class:`~kit.broker.stack.BrokerStack` or its
:class:`~kit.broker.orders.OrderPlacer`; ``book`` is the
:class:`~kit.trading.positions.PositionBook` of mode ``live``, kept in the same
store as the stack's journal. Everything runs on the engine thread.

**submit** refuses a symbol with an order in flight (an intent ``pending``,
``sent`` or ``unknown`` in the journal, an accepted order not filled yet, or an
unknown outcome not reconciled yet): a ``trade_skipped`` event, no order. Else
it places a MARKET order through :class:`~kit.broker.orders.OrderPlacer`
(journal first, never a blind re-send) and reads the fill from the order book,
checking ``fill_checks`` times ``fill_check_interval_s`` apart. A fill is
applied once the order is final (complete, or cancelled after a partial fill),
so one order is one fill. A rejection is an ``order_rejected`` event (for
insufficient margin, with the fault fields of an incident recovered by skipping
the trade); an unknown outcome is ``order_unknown`` and blocks the symbol until
:meth:`LiveBroker.reconcile`. An order still open returns None and is applied
later by :meth:`LiveBroker.poll_open_orders`. The stop and target of each order
are kept in the store (state ``live-exits/<symbol>``) before it is sent, so a
fill recovered after a crash opens a protected position.

**reconcile** reads the order book and the positions once, then: (a) settles
the journal's intents with what the order book shows (accepted or rejected);
an unresolved intent absent from the book becomes ``resolved_absent`` and is
never sent again (its signal is stale); (b) applies the fills of the kit's
final orders that the book does not hold yet; (c) compares every position of
the book with the broker's net quantity for ``product``: a difference is a
``reconcile_mismatch`` event and the book adopts the broker's quantity and
average price (keeping its stop and target when the side is unchanged); (d)
reports each broker order the journal does not know (no tag, an unknown tag, a
second order under one tag) as a ``reconcile_mismatch`` event, told once
by each LiveBroker (so once per start). It changes nothing when run again, and
may also be run during the day (it lifts the blocks of unknown outcomes). When
the broker cannot be read it raises the client's
:class:`~kit.errors.KitError`; trading should not start.

Whether a fill is already in the book is decided by the position's
``last_ordertag`` (:func:`~kit.trading.live_orders.already_applied`, which
states the rule and why it holds). Events: :mod:`kit.trading.live_events`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from kit.broker.journal import IntentState, OrderIntent
from kit.broker.models import OrderEntry, OrderOutcome, Position
from kit.broker.orders import OrderPlacer, OrderRequest
from kit.broker.stack import BrokerStack
from kit.clock import Clock
from kit.errors import KitError, StoreError
from kit.ops.events import ActivityEvent
from kit.store.base import PositionRecord
from kit.trading.live_events import LiveEvents
from kit.trading.live_orders import (
    AdoptedPosition,
    LiveOrder,
    ReconcileReport,
    ReportDraft,
    SettledIntent,
    UnknownOrder,
    already_applied,
    by_tag,
    find,
    is_final,
    pick,
)
from kit.trading.positions import Fill, Instrument, PositionBook, Side

__all__ = [
    "AdoptedPosition",
    "LiveBroker",
    "ReconcileReport",
    "SettledIntent",
    "UnknownOrder",
    "already_applied",
]

logger = logging.getLogger(__name__)


class LiveBroker:
    """Orders at the broker, positions in the book; see the module docstring."""

    def __init__(
        self,
        broker: BrokerStack | OrderPlacer,
        book: PositionBook,
        clock: Clock,
        *,
        emit: Callable[[ActivityEvent], object] | None = None,
        product: str = "INTRADAY",
        fill_checks: int = 3,
        fill_check_interval_s: float = 1.0,
        open_poll_interval_s: float = 2.0,
    ) -> None:
        if book.mode != "live":
            raise ValueError(f"a live broker needs the live book, not {book.mode}")
        if fill_checks < 1 or fill_check_interval_s < 0 or open_poll_interval_s < 0:
            raise ValueError("fill_checks must be >= 1 and intervals >= 0")
        placer = broker.placer if isinstance(broker, BrokerStack) else broker
        self.placer = placer
        self.client = placer.client
        self.journal = placer.journal
        self.book = book
        self.clock = clock
        self.product = product
        self.events = LiveEvents(emit or (lambda event: None), clock)
        self.fill_checks = fill_checks
        self.fill_check_interval_s = fill_check_interval_s
        self.open_poll_interval_s = open_poll_interval_s
        self._open: dict[str, LiveOrder] = {}  # accepted, not final yet; by tag
        self._blocked: dict[str, str] = {}  # symbol -> why, until reconciled
        self._reported: set[str] = set()  # unknown broker orders already told
        self._next_poll_s = 0.0

    # Orders.

    def submit(
        self,
        instrument: Instrument,
        side: Side,
        quantity: int,
        last_price: float,
        *,
        reason: str,
        stop: float | None = None,
        target: float | None = None,
    ) -> Fill | None:
        """Place a MARKET order and apply its fill: the fill, already stored,
        or None (refused, rejected, unknown, or not filled yet)."""
        if quantity <= 0:
            raise ValueError(f"quantity must be > 0, not {quantity}")
        order = LiveOrder(instrument, side, quantity, reason, stop, target)
        try:
            busy = self.in_flight(instrument.symbol)
            if not busy:
                self._save_exits(order)
        except StoreError as exc:
            busy = f"the store cannot be used ({exc})"
        if busy:
            self.events.refused(order, busy)
            return None

        request = OrderRequest(
            instrument.symbol, instrument.token, side, quantity,
            product=self.product, exchange=instrument.exchange,
        )  # fmt: skip
        try:
            result = self.placer.place(request)
        except KitError as exc:  # the intent may be in the journal, unsettled
            self._unknown(order, f"{type(exc).__name__}: {exc}")
            return None
        order = replace(order, ordertag=result.ordertag, orderid=result.orderid)
        if result.outcome is OrderOutcome.REJECTED:
            self.events.rejected(order, result.reason)
            return None
        if result.outcome is OrderOutcome.UNKNOWN:
            self._unknown(order, result.reason)
            return None

        entry = self._await_final(order)
        if entry is None:
            self._open[order.ordertag] = order
            self.events.waiting(order, last_price)
            return None
        return self._finish(order, entry)

    def poll_open_orders(self) -> list[Fill]:
        """Apply the fills of accepted orders that were still open; at most one
        order-book read every ``open_poll_interval_s``. The fills applied."""
        now_s = self.clock.monotonic()
        if not self._open or now_s < self._next_poll_s:
            return []
        self._next_poll_s = now_s + self.open_poll_interval_s
        try:
            entries = self.client.order_book()
        except KitError as exc:
            logger.warning("Open orders: order book unavailable (%s)", exc)
            return []

        fills = []
        for tag, order in list(self._open.items()):
            entry = find(entries, tag, order.orderid)
            if entry is None or not is_final(entry):
                continue
            del self._open[tag]
            fill = self._finish(order, entry)
            if fill is not None:
                fills.append(fill)
        return fills

    def margin_available(self) -> float:
        """The margin left for new orders: RMS ``net``, in rupees."""
        return self.client.rms().net

    def in_flight(self, symbol: str) -> str:
        """Why ``symbol`` takes no new order now, or "" if it may."""
        if symbol in self._blocked:
            return self._blocked[symbol]
        for order in self._open.values():
            if order.instrument.symbol == symbol:
                return f"order {order.ordertag} is accepted and not filled yet"
        for intent in self.journal.unresolved_intents():
            if intent.body.get("tradingsymbol") == symbol:
                return f"order {intent.ordertag} is {intent.state} in the journal"
        return ""

    # Reconciliation.

    def reconcile(self) -> ReconcileReport:
        """Bring the journal and the book in line with the broker; see the
        module docstring. Run it at every start, before trading."""
        entries = self.client.order_book()
        held = [p for p in self.client.positions() if p.product == self.product]
        draft = ReportDraft()

        kit_orders = self._catch_up(entries, draft)
        self._settle_absent(entries, draft)
        self._report_unknown(entries, kit_orders, draft)
        self._compare(held, draft)
        self._blocked.clear()

        report = draft.build()
        log = logger.warning if report.mismatches else logger.info
        log("Reconciled with the broker: %s", report.summary())
        return report

    def _catch_up(
        self, entries: list[OrderEntry], draft: ReportDraft
    ) -> dict[str, str]:
        """(a) and (b): the journal's intents found in the order book settled,
        their final fills applied in tag order. The kit's orders: tag -> id."""
        kit_orders: dict[str, str] = {}
        for tag, group in by_tag(entries).items():
            intent = self.journal.get_intent(tag)
            if intent is None:
                continue
            entry = pick(group, intent.orderid)
            kit_orders[tag] = entry.orderid
            state = self._sync_journal(intent, entry)
            if state is not None:
                draft.settled.append(
                    SettledIntent(tag, entry.symbol, state, entry.orderid)
                )

            final = is_final(entry)
            if final and (entry.is_rejected or entry.filled <= 0):
                self._open.pop(tag, None)
                if state is IntentState.REJECTED:
                    self.events.rejected(self._order_of(intent, entry), entry.text)
                continue
            position = self.book.get(entry.symbol)
            if already_applied(position, tag):
                self._open.pop(tag, None)
                continue
            order = self._open.pop(tag, None) or self._order_of(intent, entry)
            if not final:
                self._open[tag] = order
                continue
            fill = self._apply(order, entry, recovered=True)
            if fill is not None:
                draft.applied.append(fill)
        return kit_orders

    def _settle_absent(self, entries: list[OrderEntry], draft: ReportDraft) -> None:
        """(a): an unresolved intent the order book does not show never reached
        the broker; it is closed, not sent again."""
        present = {entry.ordertag for entry in entries if entry.ordertag}
        for intent in self.journal.unresolved_intents():
            if intent.ordertag in present:
                continue
            detail = "absent from the order book at reconciliation; not sent again"
            self.journal.update(
                intent.ordertag, IntentState.RESOLVED_ABSENT, detail=detail
            )
            symbol = str(intent.body.get("tradingsymbol", ""))
            logger.warning("Order %s (%s): %s", intent.ordertag, symbol, detail)
            draft.settled.append(
                SettledIntent(intent.ordertag, symbol, IntentState.RESOLVED_ABSENT)
            )

    def _report_unknown(
        self, entries: list[OrderEntry], kit_orders: dict[str, str], draft: ReportDraft
    ) -> None:
        """(d): every broker order that is not one of the kit's."""
        for entry in entries:
            if kit_orders.get(entry.ordertag) == entry.orderid:
                continue
            if not entry.ordertag:
                why = "it has no ordertag"
            elif entry.ordertag in kit_orders:
                why = f"a second order under the ordertag {entry.ordertag}"
            else:
                why = f"the journal does not know its ordertag {entry.ordertag}"
            found = UnknownOrder.of(entry, why)
            draft.unknown_orders.append(found)
            if entry.orderid not in self._reported:
                self._reported.add(entry.orderid)
                self.events.unknown_order(found)

    def _compare(self, held: Iterable[Position], draft: ReportDraft) -> None:
        """(c): the book's quantities against the broker's, per symbol."""
        theirs = {p.symbol: p for p in held}
        ours = {p.symbol: p for p in self.book}
        waiting = {order.instrument.symbol for order in self._open.values()}
        for symbol in sorted(set(theirs) | set(ours)):
            mine, broker = ours.get(symbol), theirs.get(symbol)
            book_qty = mine.quantity if mine else 0
            broker_qty = broker.net_qty if broker else 0
            if book_qty == broker_qty:
                continue
            if symbol in waiting:
                draft.deferred.append(symbol)
                continue
            draft.adopted.append(self._adopt(symbol, mine, broker))

    def _adopt(
        self, symbol: str, mine: PositionRecord | None, broker: Position | None
    ) -> AdoptedPosition:
        now_s = self.clock.time()
        book_qty = mine.quantity if mine else 0
        qty = broker.net_qty if broker else 0
        avg = broker.avg_price if broker and qty else 0.0
        if mine is None:
            assert broker is not None  # a symbol comes from one side or the other
            mine = PositionRecord(
                "live", symbol, broker.token, broker.exchange or "NSE", 0, 0.0
            )
        same_side = book_qty != 0 and qty != 0 and (book_qty > 0) == (qty > 0)
        adopted = replace(
            mine, quantity=qty, avg_price=avg, updated_at=now_s,
            opened_at=mine.opened_at if same_side else now_s,
            stop=mine.stop if same_side else None,
            target=mine.target if same_side else None,
        )  # fmt: skip
        if broker is not None and broker.ltp > 0:
            adopted = replace(adopted, last_price=broker.ltp)
        self.book.adopt(adopted)

        found = AdoptedPosition(symbol, book_qty, qty, avg)
        self.events.adopted(found, protected=qty == 0 or same_side)
        return found

    # Steps of an order.

    def _unknown(self, order: LiveOrder, why: str) -> None:
        tag = order.ordertag or "(its tag unknown)"
        self._blocked[order.instrument.symbol] = (
            f"order {tag} has an unknown outcome; reconcile first"
        )
        self.events.unknown(order, why)

    def _await_final(self, order: LiveOrder) -> OrderEntry | None:
        for check in range(self.fill_checks):
            if check:
                self.clock.sleep(self.fill_check_interval_s)
            try:
                entries = self.client.order_book()
            except KitError as exc:
                logger.warning("Order %s: order book unavailable (%s)",
                               order.ordertag, exc)  # fmt: skip
                continue
            entry = find(entries, order.ordertag, order.orderid)
            if entry is not None and is_final(entry):
                return entry
        return None

    def _finish(self, order: LiveOrder, entry: OrderEntry) -> Fill | None:
        """A final order: its rejection or cancel reported, or its fill applied."""
        intent = self.journal.get_intent(order.ordertag)
        if intent is not None:
            self._sync_journal(intent, entry)
        if entry.is_rejected:
            self.events.rejected(order, entry.text)
            return None
        if entry.filled <= 0:
            self.events.unfilled(order, entry.status, entry.text)
            return None
        if already_applied(self.book.get(order.instrument.symbol), order.ordertag):
            return None
        return self._apply(order, entry, recovered=False)

    def _apply(
        self, order: LiveOrder, entry: OrderEntry, *, recovered: bool
    ) -> Fill | None:
        """Apply the order's whole fill; None (the order kept open) without a price."""
        price = self._average_price(entry)
        if not price > 0:
            logger.warning("Order %s: filled, but no price yet", order.ordertag)
            self._open[order.ordertag] = order
            return None
        fill = Fill(order.instrument, order.side, entry.filled, price,
                    self.clock.time(), order.ordertag)  # fmt: skip
        before = self.book.get(order.instrument.symbol)
        after = self.book.apply(fill, stop=order.stop, target=order.target)
        order = replace(order, orderid=entry.orderid)
        self.events.filled(order, fill, before, after, recovered=recovered)
        return fill

    def _average_price(self, entry: OrderEntry) -> float:
        """The order book's average price, else the trade book's."""
        if entry.average_price > 0:
            return entry.average_price
        try:
            trades = [t for t in self.client.trade_book() if t.orderid == entry.orderid]
        except KitError as exc:
            logger.warning("Order %s: trade book unavailable (%s)", entry.orderid, exc)
            return 0.0
        quantity = sum(t.quantity for t in trades)
        return sum(t.price * t.quantity for t in trades) / quantity if quantity else 0.0

    def _sync_journal(
        self, intent: OrderIntent, entry: OrderEntry
    ) -> IntentState | None:
        """Give an intent the state its order-book entry proves; the new state,
        or None if the journal already said so."""
        wanted = IntentState.REJECTED if entry.is_rejected else IntentState.ACCEPTED
        if intent.state is wanted and intent.orderid == entry.orderid:
            return None
        detail = entry.text or f"order book: {entry.status}"
        self.journal.update(
            intent.ordertag, wanted, orderid=entry.orderid, detail=detail
        )
        logger.info("Order %s: %s in the order book (was %s)",
                    intent.ordertag, wanted, intent.state)  # fmt: skip
        return wanted

    def _order_of(self, intent: OrderIntent, entry: OrderEntry) -> LiveOrder:
        """An order rebuilt from its intent and entry, with its saved exits."""
        body = intent.body
        symbol = entry.symbol or str(body.get("tradingsymbol", ""))
        token = entry.token or str(body.get("symboltoken", ""))
        exchange = str(body.get("exchange") or entry.raw.get("exchange") or "NSE")
        transaction = entry.transaction or str(body.get("transactiontype", ""))
        side: Side = "SELL" if transaction == "SELL" else "BUY"
        quantity = int(body.get("quantity") or entry.quantity)
        stop, target = self._load_exits(symbol)
        return LiveOrder(
            Instrument(symbol, token, exchange), side, quantity,
            "recovered at reconciliation", stop, target,
            ordertag=intent.ordertag, orderid=entry.orderid,
        )  # fmt: skip

    def _save_exits(self, order: LiveOrder) -> None:
        data = {"stop": order.stop, "target": order.target}
        self.book.store.save_state(_exits_name(order.instrument.symbol), data)

    def _load_exits(self, symbol: str) -> tuple[float | None, float | None]:
        data = self.book.store.load_state(_exits_name(symbol)) or {}
        return _optional_price(data.get("stop")), _optional_price(data.get("target"))


def _exits_name(symbol: str) -> str:
    return f"live-exits/{symbol}"


def _optional_price(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and value > 0 else None
