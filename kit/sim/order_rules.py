"""The order desk's rules: reading a placeOrder or modifyOrder body, and the checks.

Two kinds of "no", the way Angel One says them (SMARTAPI.md §2.5, §2.8):

- A request that cannot be read is **refused**: :class:`OrderRefused` carries the
  broker's code and message, and the REST layer answers ``status: false``. No
  order exists afterwards.
- A readable order that breaks a business rule is **rejected**: it gets an order
  id, and its order-book entry says ``rejected`` with the reason in ``text``.
  :func:`rejection` finds that reason; the margin check lives with the desk.

Refusal codes, each with the field or rule behind it::

    AB4008  ordertag longer than 20 characters
    AB1008  variety unknown, or not matching the order type (STOPLOSS <-> stop types)
    AB2002  variety ROBO (bracket orders are blocked)
    AB1012  producttype unknown
    AB1009  symboltoken or tradingsymbol unknown to the market
    AB4018  neither symboltoken nor tradingsymbol given
    AB9014  transactiontype not BUY or SELL
    AB9010  exchange unknown, or not the instrument's exchange
    AB9001  ordertype or duration missing or unknown; a malformed optional field;
            a modify the funds or the session do not allow
    AB9006  quantity not a positive whole number
    AB9007  disclosedquantity malformed
    AB9008  price malformed, or missing for a limit order
    AB9009  triggerprice malformed, or missing for a stop-loss order
    AB1013  modify or cancel of an unknown or finished order
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from kit.broker.routes import ORDERTAG_MAX_CHARS, Exchange

VARIETIES = frozenset({"NORMAL", "STOPLOSS", "AMO", "ROBO"})
SIDES = frozenset({"BUY", "SELL"})
ORDER_TYPES = frozenset({"MARKET", "LIMIT", "STOPLOSS_LIMIT", "STOPLOSS_MARKET"})
STOP_TYPES = frozenset({"STOPLOSS_LIMIT", "STOPLOSS_MARKET"})
LIMIT_TYPES = frozenset({"LIMIT", "STOPLOSS_LIMIT"})
PRODUCTS = frozenset({"DELIVERY", "CARRYFORWARD", "MARGIN", "INTRADAY", "BO"})
DURATIONS = frozenset({"DAY", "IOC"})
EXCHANGES = frozenset(exchange.value for exchange in Exchange)

# Fields of the body kept as given and echoed in the order book.
EXTRA_FIELDS = ("squareoff", "stoploss", "trailingstoploss", "disclosedquantity")

CODE_TAG_TOO_LONG = "AB4008"
CODE_BAD_VARIETY = "AB1008"
CODE_ROBO_BLOCKED = "AB2002"
CODE_BAD_PRODUCT = "AB1012"
CODE_SYMBOL_NOT_FOUND = "AB1009"
CODE_NO_SYMBOL = "AB4018"
CODE_BAD_SIDE = "AB9014"
CODE_BAD_EXCHANGE = "AB9010"
CODE_BAD_PARAMETER = "AB9001"
CODE_BAD_QUANTITY = "AB9006"
CODE_BAD_DISCLOSED = "AB9007"
CODE_BAD_PRICE = "AB9008"
CODE_BAD_TRIGGER = "AB9009"
CODE_ORDER_NOT_FOUND = "AB1013"

MSG_TAG_TOO_LONG = "Ordertag length should not exceed 20 characters"
MSG_BAD_VARIETY = "Invalid Order Variety"
MSG_BAD_PRODUCT = "Invalid Product Type"
MSG_SYMBOL_NOT_FOUND = "Symbol Not Found"
MSG_ORDER_NOT_FOUND = "Order not found"


class OrderRefused(Exception):
    """A request the desk will not take; no order was created or changed.

    ``code`` and ``message`` are what the REST layer puts in its
    ``{"status": false, "message": ..., "errorcode": ..., "data": null}`` reply.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class OrderTerms:
    """The part of an order that modifyOrder may change."""

    ordertype: str
    producttype: str
    duration: str
    quantity: int
    price_rupees: float
    trigger_rupees: float

    @property
    def is_stop(self) -> bool:
        return self.ordertype in STOP_TYPES


@dataclass(frozen=True)
class PlaceRequest:
    """A placeOrder body once read; the instrument is not looked up yet."""

    variety: str
    side: str
    exchange: str
    token: str
    symbol: str
    ordertag: str
    terms: OrderTerms
    extras: dict[str, str]


def read_place(params: Mapping[str, object]) -> PlaceRequest:
    """Read a placeOrder body, or raise :class:`OrderRefused` naming the problem."""
    ordertag = text_field(params, "ordertag")
    if len(ordertag) > ORDERTAG_MAX_CHARS:
        raise OrderRefused(CODE_TAG_TOO_LONG, MSG_TAG_TOO_LONG)
    variety = read_variety(params)
    side = _choice(params, "transactiontype")
    exchange = _choice(params, "exchange")
    token = text_field(params, "symboltoken")
    symbol = text_field(params, "tradingsymbol")
    if not token and not symbol:
        raise OrderRefused(CODE_NO_SYMBOL, "Symbol token cannot be empty")

    terms = read_terms(params, variety=variety, current=None)
    extras = {name: _extra(params, name) for name in EXTRA_FIELDS}
    return PlaceRequest(variety, side, exchange, token, symbol, ordertag, terms, extras)


def read_variety(params: Mapping[str, object]) -> str:
    """The ``variety`` of a body: AB1008 when unknown, AB2002 for ROBO."""
    variety = text_field(params, "variety").upper()
    if variety not in VARIETIES:
        raise OrderRefused(CODE_BAD_VARIETY, MSG_BAD_VARIETY)
    if variety == "ROBO":
        raise OrderRefused(CODE_ROBO_BLOCKED, "ROBO order is block")
    return variety


def read_terms(
    params: Mapping[str, object], *, variety: str, current: OrderTerms | None
) -> OrderTerms:
    """Read the changeable fields; a field missing from a modify keeps ``current``.

    A new order's variety must match its type (STOPLOSS for the stop types); a
    modify may change the type freely, e.g. turn a stop into a MARKET exit.
    """
    ordertype = _choice(params, "ordertype", current.ordertype if current else None)
    producttype = _product(params, current.producttype if current else None)
    duration = _choice(params, "duration", current.duration if current else None)
    if current is None and (variety == "STOPLOSS") != (ordertype in STOP_TYPES):
        raise OrderRefused(CODE_BAD_VARIETY, MSG_BAD_VARIETY)

    quantity = _quantity(params, current.quantity if current else None)
    price = _money(params, "price", current.price_rupees if current else None)
    trigger = _money(
        params, "triggerprice", current.trigger_rupees if current else None
    )
    if ordertype in LIMIT_TYPES and price <= 0:
        raise OrderRefused(
            CODE_BAD_PRICE, f"Invalid Price: price is required for a {ordertype} order"
        )
    if ordertype in STOP_TYPES and trigger <= 0:
        raise OrderRefused(
            CODE_BAD_TRIGGER,
            f"Invalid Trigger Price: triggerprice is required for a {ordertype} order",
        )
    return OrderTerms(ordertype, producttype, duration, quantity, price, trigger)


def text_field(params: Mapping[str, object], name: str) -> str:
    """A field as stripped text; "" when absent. Numbers are accepted as text."""
    value = params.get(name)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise OrderRefused(
            CODE_BAD_PARAMETER, f"Invalid Parameters: {name} must be a string"
        )
    return str(value).strip()


# For each field with a fixed set of values: the values, the code and its title.
_CHOICES: dict[str, tuple[frozenset[str], str, str]] = {
    "transactiontype": (SIDES, CODE_BAD_SIDE, "Invalid Order Side"),
    "exchange": (EXCHANGES, CODE_BAD_EXCHANGE, "Invalid Exchange Segment"),
    "ordertype": (ORDER_TYPES, CODE_BAD_PARAMETER, "Invalid Parameters"),
    "duration": (DURATIONS, CODE_BAD_PARAMETER, "Invalid Parameters"),
}

# For each price field: the code and its title.
_PRICES: dict[str, tuple[str, str]] = {
    "price": (CODE_BAD_PRICE, "Invalid Price"),
    "triggerprice": (CODE_BAD_TRIGGER, "Invalid Trigger Price"),
}


def _choice(params: Mapping[str, object], name: str, default: str | None = None) -> str:
    allowed, code, title = _CHOICES[name]
    value = text_field(params, name).upper()
    if not value and default is not None:
        return default
    if not value:
        raise OrderRefused(code, f"{title}: {name} is missing")
    if value not in allowed:
        expected = ", ".join(sorted(allowed))
        raise OrderRefused(
            code, f"{title}: {name} must be one of {expected}, got {value!r}"
        )
    return value


def _product(params: Mapping[str, object], default: str | None) -> str:
    value = text_field(params, "producttype").upper()
    if not value and default is not None:
        return default
    if value not in PRODUCTS:
        raise OrderRefused(CODE_BAD_PRODUCT, MSG_BAD_PRODUCT)
    return value


def _quantity(params: Mapping[str, object], default: int | None) -> int:
    raw = text_field(params, "quantity")
    if not raw and default is not None:
        return default
    number = _parse_number(raw)
    if number is None or not number.is_integer() or number <= 0:
        raise OrderRefused(
            CODE_BAD_QUANTITY,
            f"Invalid Order Quantity: quantity must be a positive whole number, "
            f"got {raw!r}",
        )
    return int(number)


def _money(params: Mapping[str, object], name: str, default: float | None) -> float:
    code, title = _PRICES[name]
    raw = text_field(params, name)
    if not raw:
        return 0.0 if default is None else default
    number = _parse_number(raw)
    if number is None or number < 0:
        raise OrderRefused(
            code, f"{title}: {name} must be a number of rupees, got {raw!r}"
        )
    return number


def _extra(params: Mapping[str, object], name: str) -> str:
    raw = text_field(params, name) or "0"
    if _parse_number(raw) is None:
        code = CODE_BAD_DISCLOSED if name == "disclosedquantity" else CODE_BAD_PARAMETER
        raise OrderRefused(
            code, f"Invalid Parameters: {name} must be a number, got {raw!r}"
        )
    return raw


def _parse_number(raw: str) -> float | None:
    try:
        number = float(raw)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


# Business rules: a broken one rejects the order in the book (or refuses a modify).


@dataclass(frozen=True)
class Rejection:
    """Why an order is rejected; ``code`` is used when a modify breaks the rule."""

    code: str
    text: str


def rejection(
    terms: OrderTerms,
    *,
    side: str,
    lot_size: int,
    tick_rupees: float,
    ltp_rupees: float,
    awaiting_trigger: bool = True,
) -> Rejection | None:
    """The first business rule ``terms`` break at the last traded price, if any.

    The rules on where a stop sits apply only while it awaits its trigger.
    """
    if terms.quantity % lot_size:
        return Rejection(
            CODE_BAD_QUANTITY,
            f"Quantity {terms.quantity} is not a multiple of the lot size {lot_size}",
        )
    if terms.ordertype in LIMIT_TYPES and not on_tick(terms.price_rupees, tick_rupees):
        return Rejection(
            CODE_BAD_PRICE,
            f"Price {terms.price_rupees:.2f} is not a multiple of the tick size "
            f"{tick_rupees:.2f}",
        )
    if terms.is_stop and not on_tick(terms.trigger_rupees, tick_rupees):
        return Rejection(
            CODE_BAD_TRIGGER,
            f"Trigger price {terms.trigger_rupees:.2f} is not a multiple of the tick "
            f"size {tick_rupees:.2f}",
        )
    if terms.is_stop and awaiting_trigger:
        return _stop_rejection(terms, side, ltp_rupees)
    return None


def _stop_rejection(
    terms: OrderTerms, side: str, ltp_rupees: float
) -> Rejection | None:
    # A stop already crossed would fire at once: Angel One refuses it.
    trigger = terms.trigger_rupees
    buying = side == "BUY"
    if (trigger <= ltp_rupees) if buying else (trigger >= ltp_rupees):
        where = "above" if buying else "below"
        return Rejection(
            CODE_BAD_TRIGGER,
            f"Trigger price {trigger:.2f} of a stop-loss {side.lower()} order must be "
            f"{where} the last traded price {ltp_rupees:.2f}",
        )
    if terms.ordertype == "STOPLOSS_LIMIT":
        limit = terms.price_rupees
        if (limit < trigger) if buying else (limit > trigger):
            bound = "below" if buying else "above"
            return Rejection(
                CODE_BAD_PRICE,
                f"Limit price {limit:.2f} of a stop-loss {side.lower()} order must "
                f"not be {bound} its trigger price {trigger:.2f}",
            )
    return None


def on_tick(price_rupees: float, tick_rupees: float) -> bool:
    """True when ``price_rupees`` is a whole number of ticks (to a micro-tick)."""
    steps = price_rupees / tick_rupees
    return abs(steps - round(steps)) < 1e-6


def funds_text(available_rupees: float, required_rupees: float) -> str:
    """The rejection text of an order the account cannot pay for."""
    return (
        f"Insufficient funds: available Rs. {available_rupees:.2f}, "
        f"required Rs. {required_rupees:.2f} for this order"
    )


CLOSED_TEXT = (
    "Market is closed: orders are taken 09:15-15:30 IST on trading days "
    "(variety AMO after hours)"
)
