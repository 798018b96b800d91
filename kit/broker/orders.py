"""Safe order placement: never a duplicate, never a lost order.

Each intent gets a unique ``ordertag`` and is written to the journal before it is
sent. Then:

- a definitive refusal before the broker took the order (a rate-limit reply, a
  connection refused, an invalid token the session re-logs in for) is retried
  with the same tag;
- a rejection (invalid symbol, bad field, ...) ends the intent as rejected;
- an ambiguous failure (read timeout, a 5xx or garbled reply, a connection cut
  after sending) is never re-sent blindly: the tag is looked up in the order book
  every ``poll_interval_s`` within ``resolve_budget_s``. Found, the order's own
  status decides. Only when it is provably absent after the budget is it sent
  once more, with the same tag;
- an accepted order is confirmed in the order book, where Angel One shows the
  refusals that come after acceptance (insufficient margin).

The result is accepted (with the order id), rejected (with the reason) or
unknown (the journal keeps it as such and an event asks for attention).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kit.broker.client import AngelClient
from kit.broker.journal import Journal, new_ordertag
from kit.broker.models import OrderEntry, OrderOutcome, OrderResult
from kit.broker.routes import ROUTES
from kit.errors import (
    AuthError,
    KitError,
    NetworkError,
    RateLimited,
    RejectedError,
    TransientError,
)

logger = logging.getLogger(__name__)

_DEFINITIVE_BACKOFF_S = (1.0, 2.0, 4.0)


@dataclass(frozen=True)
class OrderRequest:
    """An order intent in Angel One's terms."""

    symbol: str
    token: str
    side: str  # BUY or SELL
    quantity: int
    order_type: str = "MARKET"  # LIMIT, STOPLOSS_LIMIT, STOPLOSS_MARKET
    product: str = "INTRADAY"
    price: float = 0.0
    trigger_price: float = 0.0
    exchange: str = "NSE"
    variety: str = "NORMAL"
    duration: str = "DAY"

    def body(self, ordertag: str) -> dict[str, str]:
        body = {
            "variety": self.variety,
            "tradingsymbol": self.symbol,
            "symboltoken": self.token,
            "transactiontype": self.side,
            "exchange": self.exchange,
            "ordertype": self.order_type,
            "producttype": self.product,
            "duration": self.duration,
            "price": f"{self.price:.2f}",
            "squareoff": "0",
            "stoploss": "0",
            "quantity": str(self.quantity),
            "ordertag": ordertag,
        }
        if self.trigger_price:
            body["triggerprice"] = f"{self.trigger_price:.2f}"
        return body


@dataclass(frozen=True)
class OrderEvent:
    """Something about an order that a person may need to know.

    ``kind``: ``order_retry`` (refused before the broker took it: sent again
    after ``delay_s``), ``order_retry_recovered`` (taken after such retries),
    ``order_resent`` (proven absent, sent again), ``order_unknown``.
    ``cause`` names the error class of a retry; ``at_s`` is the clock's time.
    """

    kind: str
    ordertag: str
    text: str
    cause: str = ""
    at_s: float | None = None


class _Ambiguous(Exception):
    """The order may or may not have reached the broker."""


class OrderPlacer:
    """Places orders through an :class:`AngelClient` under the rules above."""

    def __init__(
        self,
        client: AngelClient,
        journal: Journal,
        *,
        resolve_budget_s: float = 30.0,
        poll_interval_s: float = 1.5,
        confirm: bool = True,
        max_sends: int = 3,
        on_event: Callable[[OrderEvent], None] | None = None,
    ) -> None:
        self.client = client
        self.journal = journal
        self.clock = client.clock
        self.resolve_budget_s = resolve_budget_s
        self.poll_interval_s = poll_interval_s
        self.confirm = confirm
        self.max_sends = max_sends
        self.on_event = on_event or (lambda event: None)

    def place(self, request: OrderRequest) -> OrderResult:
        tag = new_ordertag(self.clock)
        body = request.body(tag)
        self.journal.record_intent(tag, body)
        logger.info(
            "Order %s: %s %d %s", tag, request.side, request.quantity, request.symbol
        )
        return self._settle(tag, body)

    def _settle(self, tag: str, body: dict[str, str]) -> OrderResult:
        # Each send after the first follows a look-up that proved the tag absent.
        for sends in range(1, self.max_sends + 1):
            try:
                data = self._send(tag, body)
            except RejectedError as exc:
                return self._finish(
                    tag, OrderOutcome.REJECTED, reason=str(exc), sends=sends
                )
            except _Ambiguous as exc:
                self.journal.update(tag, "unknown", detail=str(exc))
                entry = self._look_up(tag)
                if entry is not None:
                    return self._from_book(tag, entry, sends)
                self.journal.update(
                    tag, "resolved_absent", detail="not in the order book"
                )
                logger.warning(
                    "Order %s: absent from the order book; sending again", tag
                )
                self.on_event(
                    OrderEvent("order_resent", tag, "absent after the budget")
                )
                continue
            orderid = str((data or {}).get("orderid", ""))
            self.journal.update(tag, "accepted", orderid=orderid)
            return self._confirmed(tag, orderid, sends)

        text = "outcome unknown: check the order book before trading this symbol again"
        self.on_event(OrderEvent("order_unknown", tag, text))
        return self._finish(
            tag, OrderOutcome.UNKNOWN, reason=text, sends=self.max_sends
        )

    def _send(self, tag: str, body: dict[str, str]) -> Any:
        """One placeOrder, retried only while the broker surely did not take it."""
        refused_by = ""  # the error class of the last refusal, if any
        for attempt, backoff_s in enumerate((*_DEFINITIVE_BACKOFF_S, None), start=1):
            try:
                data = self.client.session.call(lambda jwt: self._post(tag, body, jwt))
            except (RejectedError, AuthError):
                raise
            except (RateLimited, NetworkError) as exc:
                if isinstance(exc, NetworkError) and exc.sent:
                    raise _Ambiguous(f"{type(exc).__name__}: {exc}") from exc
                if backoff_s is None:
                    raise _Ambiguous(
                        f"still refused after {attempt} sends: {exc}"
                    ) from exc
                refused_by = type(exc).__name__
                logger.warning(
                    "Order %s: not taken (%s); sending again in %.1f s (attempt %d)",
                    tag, refused_by, backoff_s, attempt,
                )  # fmt: skip
                self._event(
                    "order_retry", tag, f"not taken ({refused_by}: {exc}); sending "
                    f"again in {backoff_s:.1f} s (attempt {attempt})", refused_by,
                )  # fmt: skip
                self.clock.sleep(backoff_s)
                continue
            except TransientError as exc:  # 5xx, AB1004, empty or garbled reply
                raise _Ambiguous(f"{type(exc).__name__}: {exc}") from exc
            if refused_by:
                text = f"taken after {attempt} sends"
                self._event("order_retry_recovered", tag, text, refused_by)
            return data
        raise AssertionError("unreachable")

    def _event(self, kind: str, tag: str, text: str, cause: str = "") -> None:
        self.on_event(OrderEvent(kind, tag, text, cause, self.clock.time()))

    def _post(self, tag: str, body: dict[str, str], jwt: str) -> Any:
        route = ROUTES["place_order"]
        self.client.pacer.acquire(route.limit_group)
        self.journal.update(tag, "sent")
        return self.client.transport.request(route, body, jwt=jwt)

    def _look_up(self, tag: str) -> OrderEntry | None:
        """Find ``tag`` in the order book, polling within the budget."""
        deadline = self.clock.monotonic() + self.resolve_budget_s
        while True:
            try:
                for entry in self.client.order_book():
                    if entry.ordertag == tag:
                        return entry
            except KitError as exc:
                logger.warning("Order %s: order book unavailable (%s)", tag, exc)
            if self.clock.monotonic() + self.poll_interval_s > deadline:
                return None
            self.clock.sleep(self.poll_interval_s)

    def _confirmed(self, tag: str, orderid: str, sends: int) -> OrderResult:
        if not self.confirm:
            return OrderResult(OrderOutcome.ACCEPTED, tag, orderid, attempts=sends)
        entry = self._look_up(tag)
        if entry is None:  # accepted with an id: the book will show it later
            return OrderResult(OrderOutcome.ACCEPTED, tag, orderid, attempts=sends)
        return self._from_book(tag, entry, sends)

    def _from_book(self, tag: str, entry: OrderEntry, sends: int) -> OrderResult:
        if entry.is_rejected:
            return self._finish(
                tag, OrderOutcome.REJECTED, orderid=entry.orderid, reason=entry.text,
                sends=sends,
            )  # fmt: skip
        self.journal.update(tag, "accepted", orderid=entry.orderid)
        return OrderResult(OrderOutcome.ACCEPTED, tag, entry.orderid, attempts=sends)

    def _finish(
        self,
        tag: str,
        outcome: OrderOutcome,
        *,
        orderid: str | None = None,
        reason: str,
        sends: int,
    ) -> OrderResult:
        self.journal.update(tag, str(outcome), orderid=orderid, detail=reason)
        logger.info("Order %s: %s %s", tag, outcome, reason)
        return OrderResult(outcome, tag, orderid or "", reason, attempts=sends)
