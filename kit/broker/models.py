"""Typed results of the REST client, read from Angel One's replies.

Angel One sends most numbers as strings and some as numbers; each ``from_api``
reads both. Only the fields the kit uses are typed; ``raw`` keeps the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


def _num(value: Any, default: float = 0.0) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def _int(value: Any) -> int:
    return int(_num(value))


@dataclass(frozen=True)
class Profile:
    client_code: str
    name: str
    exchanges: tuple[str, ...]
    products: tuple[str, ...]

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Profile:
        return cls(
            str(data.get("clientcode", "")),
            str(data.get("name", "")),
            tuple(data.get("exchanges") or ()),
            tuple(data.get("products") or ()),
        )

    def __repr__(self) -> str:  # the client code identifies the account
        return f"Profile(name={self.name!r}, exchanges={self.exchanges!r})"


@dataclass(frozen=True)
class Ltp:
    exchange: str
    symbol: str
    token: str
    ltp: float
    open: float
    high: float
    low: float
    close: float

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Ltp:
        return cls(
            str(data.get("exchange", "")),
            str(data.get("tradingsymbol", "")),
            str(data.get("symboltoken", "")),
            _num(data.get("ltp")),
            _num(data.get("open")),
            _num(data.get("high")),
            _num(data.get("low")),
            _num(data.get("close")),
        )


@dataclass(frozen=True)
class Quote:
    exchange: str
    symbol: str
    token: str
    ltp: float
    open: float = 0.0
    high: float = 0.0
    low: float = 0.0
    close: float = 0.0
    volume: int = 0
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Quote:
        return cls(
            str(data.get("exchange", "")),
            str(data.get("tradingSymbol", "")),
            str(data.get("symbolToken", "")),
            _num(data.get("ltp")),
            _num(data.get("open")),
            _num(data.get("high")),
            _num(data.get("low")),
            _num(data.get("close")),
            _int(data.get("tradeVolume")),
            dict(data),
        )


@dataclass(frozen=True)
class ScripMatch:
    exchange: str
    symbol: str
    token: str

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> ScripMatch:
        return cls(
            str(data.get("exchange", "")),
            str(data.get("tradingsymbol", "")),
            str(data.get("symboltoken", "")),
        )


@dataclass(frozen=True)
class Funds:
    net: float
    available_cash: float
    m2m_unrealized: float
    m2m_realized: float
    utilised: float

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Funds:
        return cls(
            _num(data.get("net")),
            _num(data.get("availablecash")),
            _num(data.get("m2munrealized")),
            _num(data.get("m2mrealized")),
            _num(data.get("utiliseddebits")),
        )


@dataclass(frozen=True)
class Position:
    exchange: str
    symbol: str
    token: str
    product: str
    net_qty: int
    avg_price: float
    ltp: float
    pnl: float
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Position:
        return cls(
            str(data.get("exchange", "")),
            str(data.get("tradingsymbol", "")),
            str(data.get("symboltoken", "")),
            str(data.get("producttype", "")),
            _int(data.get("netqty")),
            _num(data.get("avgnetprice") or data.get("netprice")),
            _num(data.get("ltp")),
            _num(data.get("pnl")),
            dict(data),
        )


@dataclass(frozen=True)
class OrderEntry:
    """One order of the order book."""

    orderid: str
    ordertag: str
    status: str
    text: str
    symbol: str
    token: str
    transaction: str
    quantity: int
    filled: int
    average_price: float
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> OrderEntry:
        return cls(
            str(data.get("orderid", "")),
            str(data.get("ordertag") or ""),
            str(data.get("status") or data.get("orderstatus") or ""),
            str(data.get("text") or ""),
            str(data.get("tradingsymbol", "")),
            str(data.get("symboltoken", "")),
            str(data.get("transactiontype", "")),
            _int(data.get("quantity")),
            _int(data.get("filledshares")),
            _num(data.get("averageprice")),
            dict(data),
        )

    @property
    def is_rejected(self) -> bool:
        return self.status.lower() == "rejected"


@dataclass(frozen=True)
class TradeEntry:
    orderid: str
    fill_id: str
    symbol: str
    transaction: str
    price: float
    quantity: int

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> TradeEntry:
        return cls(
            str(data.get("orderid", "")),
            str(data.get("fillid", "")),
            str(data.get("tradingsymbol", "")),
            str(data.get("transactiontype", "")),
            _num(data.get("fillprice")),
            _int(data.get("fillsize")),
        )


class OrderOutcome(StrEnum):
    ACCEPTED = "accepted"  # the broker holds the order (it may still fill later)
    REJECTED = "rejected"  # refused, with a reason; nothing to resolve
    UNKNOWN = "unknown"  # could not be settled within the budget: needs attention


@dataclass(frozen=True)
class OrderResult:
    outcome: OrderOutcome
    ordertag: str
    orderid: str = ""
    reason: str = ""
    attempts: int = 1
