"""The desk's records (an order, a fill), their ids, and Angel One's renderings.

Every value of a rendered order-book or trade-book entry is a string, in the
formats of SMARTAPI.md §2.5: prices with two decimals, quantities as whole
numbers, ``updatetime`` like ``"03-Dec-2026 10:15:02"`` and ``filltime`` like
``"10:15:02"`` (IST).
"""

from __future__ import annotations

import math
import random
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from kit.clock import IST
from kit.sim.order_rules import OrderTerms

_MONTHS = (
    "Jan", "Feb", "Mar", "Apr", "May", "Jun",
    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
)  # fmt: skip


class OrderStatus(StrEnum):
    """The ``status`` (and ``orderstatus``) strings of the order book."""

    OPEN = "open"
    TRIGGER_PENDING = "trigger pending"
    COMPLETE = "complete"
    CANCELLED = "cancelled"
    REJECTED = "rejected"


LIVE_STATUSES = frozenset({OrderStatus.OPEN, OrderStatus.TRIGGER_PENDING})


@dataclass
class SimOrder:
    """One order of one account, as the desk keeps it."""

    client_code: str
    orderid: str
    uniqueorderid: str
    variety: str
    side: str
    exchange: str
    token: str
    symbol: str
    name: str
    lot_size: int
    tick_rupees: float
    ordertag: str
    terms: OrderTerms
    extras: dict[str, str]
    placed_s: float
    updated_s: float
    status: OrderStatus = OrderStatus.OPEN
    text: str = ""
    exchange_orderid: str = ""
    exchange_s: float | None = None
    filled_qty: int = 0
    average_rupees: float = 0.0
    cancelled_qty: int = 0
    fillid: str = ""
    fill_s: float | None = None
    blocked_rupees: float = 0.0
    expires_s: float = math.inf

    @property
    def is_live(self) -> bool:
        """Open or awaiting its trigger: it may still fill, change or be cancelled."""
        return self.status in LIVE_STATUSES

    @property
    def signed_qty(self) -> int:
        return self.terms.quantity if self.side == "BUY" else -self.terms.quantity


@dataclass(frozen=True)
class Fill:
    """One trade: an order filled at one price."""

    orderid: str
    fillid: str
    fill_s: float
    side: str
    quantity: int
    price_rupees: float
    exchange: str
    producttype: str
    symbol: str
    lot_size: int


class IdSource:
    """Order, fill and exchange ids, and UUIDs from a seeded random source.

    Order ids follow Angel One's 15 digits: the clock's date as YYMMDD, then a
    nine-digit sequence shared by all accounts.
    """

    def __init__(self, seed: int = 0) -> None:
        self._rng = random.Random(seed)
        self._order_seq = 0
        self._fill_seq = 0

    def order_id(self, now_s: float) -> str:
        self._order_seq += 1
        day = datetime.fromtimestamp(now_s, IST)
        return f"{day:%y%m%d}{self._order_seq % 1_000_000_000:09d}"

    def unique_id(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def fill_id(self) -> str:
        self._fill_seq += 1
        return str(50_000_000 + self._fill_seq)

    def exchange_order_id(self) -> str:
        return str(1_100_000_000_000_000 + self._order_seq)


def angel_datetime(ts_s: float | None) -> str:
    """Epoch seconds as ``"03-Dec-2026 10:15:02"`` in IST; "" for None."""
    if ts_s is None:
        return ""
    when = datetime.fromtimestamp(ts_s, IST)
    return f"{when.day:02d}-{_MONTHS[when.month - 1]}-{when.year} {when:%H:%M:%S}"


def angel_time(ts_s: float | None) -> str:
    """Epoch seconds as ``"10:15:02"`` in IST; "" for None."""
    if ts_s is None:
        return ""
    return f"{datetime.fromtimestamp(ts_s, IST):%H:%M:%S}"


def rupees(value: float) -> str:
    """Two decimals, and never ``"-0.00"``."""
    text = f"{value:.2f}"
    return "0.00" if text == "-0.00" else text


def book_item(order: SimOrder) -> dict[str, str]:
    """The order as one entry of getOrderBook's ``data`` (SMARTAPI.md §2.5)."""
    terms = order.terms
    unfilled = terms.quantity - order.filled_qty - order.cancelled_qty
    exchange_time = angel_datetime(order.exchange_s)
    return {
        "variety": order.variety,
        "ordertype": terms.ordertype,
        "producttype": terms.producttype,
        "duration": terms.duration,
        "price": rupees(terms.price_rupees),
        "triggerprice": rupees(terms.trigger_rupees),
        "quantity": str(terms.quantity),
        "disclosedquantity": order.extras["disclosedquantity"],
        "squareoff": order.extras["squareoff"],
        "stoploss": order.extras["stoploss"],
        "trailingstoploss": order.extras["trailingstoploss"],
        "tradingsymbol": order.symbol,
        "transactiontype": order.side,
        "exchange": order.exchange,
        "symboltoken": order.token,
        "ordertag": order.ordertag,
        "instrumenttype": "",
        "strikeprice": "-1",
        "optiontype": "",
        "expirydate": "",
        "lotsize": str(order.lot_size),
        "cancelsize": str(order.cancelled_qty),
        "averageprice": rupees(order.average_rupees),
        "filledshares": str(order.filled_qty),
        "unfilledshares": str(max(0, unfilled)),
        "orderid": order.orderid,
        "text": order.text,
        "status": order.status.value,
        "orderstatus": order.status.value,
        "updatetime": angel_datetime(order.updated_s),
        "exchtime": exchange_time,
        "exchorderupdatetime": exchange_time and angel_datetime(order.updated_s),
        "fillid": order.fillid,
        "filltime": angel_time(order.fill_s),
        "parentorderid": "",
        "uniqueorderid": order.uniqueorderid,
        "exchangeorderid": order.exchange_orderid,
    }


def trade_item(fill: Fill) -> dict[str, str]:
    """The fill as one entry of getTradeBook's ``data`` (SMARTAPI.md §2.5)."""
    return {
        "exchange": fill.exchange,
        "producttype": fill.producttype,
        "tradingsymbol": fill.symbol,
        "instrumenttype": "",
        "symbolgroup": "EQ",
        "strikeprice": "-1",
        "optiontype": "",
        "expirydate": "",
        "marketlot": str(fill.lot_size),
        "precision": "2",
        "multiplier": "-1",
        "tradevalue": rupees(fill.quantity * fill.price_rupees),
        "transactiontype": fill.side,
        "fillprice": rupees(fill.price_rupees),
        "fillsize": str(fill.quantity),
        "orderid": fill.orderid,
        "fillid": fill.fillid,
        "filltime": angel_time(fill.fill_s),
    }
