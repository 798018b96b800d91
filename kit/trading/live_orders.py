"""What the live broker knows of orders: the order book's facts, the rule that
says a fill is already in the book, and the report of a reconciliation.

**Already applied.** A fill is in the book when its position's
``last_ordertag`` is its tag or a later one (:func:`already_applied`). Tags
order by creation: :func:`~kit.broker.journal.new_ordertag` writes the time in
milliseconds, fixed-width base 36, before 8 random characters, so comparing
the last 16 characters compares creation times. A symbol's fills are applied
in that order: the live broker lets no second order out for a symbol until the
first is final and applied, applies an order's whole fill once it is final,
and reconciliation applies in tag order. This holds while the clock does not
step back across a restart by more than the time between two orders of one
symbol; if it ever fails, the position comparison of the reconciliation finds
the difference.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from kit.broker.journal import IntentState
from kit.broker.models import OrderEntry
from kit.store.base import PositionRecord
from kit.trading.positions import Fill, Instrument, Side

FINAL_STATUSES = frozenset({"complete", "cancelled", "rejected"})
"""Order-book statuses after which an order's filled quantity stays as it is."""

_TAG_ORDER_CHARS = 16  # new_ordertag: 8 base-36 time digits, then 8 random ones


def already_applied(position: PositionRecord | None, ordertag: str) -> bool:
    """Whether the fill of order ``ordertag`` is in ``position`` (see the module
    docstring): its ``last_ordertag`` is that tag or a later one."""
    if position is None or not position.last_ordertag or not ordertag:
        return False
    return tag_key(ordertag) <= tag_key(position.last_ordertag)


def tag_key(ordertag: str) -> str:
    """Sorts the kit's ordertags by creation."""
    return ordertag[-_TAG_ORDER_CHARS:]


@dataclass(frozen=True)
class LiveOrder:
    """One order of the kit, as the live broker follows it."""

    instrument: Instrument
    side: Side
    quantity: int
    reason: str
    stop: float | None = None
    target: float | None = None
    ordertag: str = ""
    orderid: str = ""

    @property
    def line(self) -> str:
        return f"live {self.side} {self.quantity} {self.instrument.symbol}"

    def fields(self) -> dict[str, Any]:
        """The order in an event's fields."""
        return {
            "symbol": self.instrument.symbol,
            "side": self.side,
            "quantity": self.quantity,
            "reason": self.reason,
            "ordertag": self.ordertag,
            "orderid": self.orderid,
        }


# The order book.


def is_final(entry: OrderEntry) -> bool:
    return entry.status.lower() in FINAL_STATUSES


def is_insufficient_margin(text: str) -> bool:
    """Whether a rejection's text says the account could not pay for it."""
    lowered = text.lower()
    return "insufficient" in lowered and ("fund" in lowered or "margin" in lowered)


def by_tag(entries: Iterable[OrderEntry]) -> dict[str, list[OrderEntry]]:
    """The tagged entries grouped by tag, the groups in tag order."""
    groups: dict[str, list[OrderEntry]] = {}
    for entry in entries:
        if entry.ordertag:
            groups.setdefault(entry.ordertag, []).append(entry)
    return dict(sorted(groups.items(), key=lambda item: tag_key(item[0])))


def pick(group: list[OrderEntry], orderid: str | None) -> OrderEntry:
    """The entry of ``orderid`` if there is one, else the last (newest)."""
    for entry in group:
        if orderid and entry.orderid == orderid:
            return entry
    return group[-1]


def find(entries: Iterable[OrderEntry], tag: str, orderid: str) -> OrderEntry | None:
    """The entry of the kit's order ``tag`` (``orderid`` when known), or None."""
    group = [entry for entry in entries if entry.ordertag == tag]
    return pick(group, orderid) if group else None


# The report of a reconciliation.


@dataclass(frozen=True)
class SettledIntent:
    """A journal intent given the state the order book proves."""

    ordertag: str
    symbol: str
    state: IntentState
    orderid: str = ""


@dataclass(frozen=True)
class AdoptedPosition:
    """A position whose quantity differed from the broker's, now the broker's."""

    symbol: str
    book_quantity: int
    broker_quantity: int
    broker_avg_price: float


@dataclass(frozen=True)
class UnknownOrder:
    """A broker order of today that the journal does not account for."""

    orderid: str
    ordertag: str
    symbol: str
    side: str
    quantity: int
    status: str
    why: str

    @classmethod
    def of(cls, entry: OrderEntry, why: str) -> UnknownOrder:
        return cls(
            entry.orderid, entry.ordertag, entry.symbol, entry.transaction,
            entry.quantity, entry.status, why,
        )  # fmt: skip


@dataclass(frozen=True)
class ReconcileReport:
    """What one reconciliation did and found.

    ``settled``: intents given their final state; ``applied``: fills put in
    the book; ``adopted`` and ``unknown_orders``: the mismatches, which need a
    person (an unknown order is listed by every reconciliation while it is in
    the order book, and told in an event once); ``deferred``: symbols whose
    quantities differ while a kit order of theirs is still open (compared
    again next time). A false report (``not report``) means nothing to repair
    and no mismatch.
    """

    settled: tuple[SettledIntent, ...] = ()
    applied: tuple[Fill, ...] = ()
    adopted: tuple[AdoptedPosition, ...] = ()
    unknown_orders: tuple[UnknownOrder, ...] = ()
    deferred: tuple[str, ...] = ()

    @property
    def mismatches(self) -> int:
        """Differences that need a person: adopted positions, unknown orders."""
        return len(self.adopted) + len(self.unknown_orders)

    def __bool__(self) -> bool:
        return bool(self.settled or self.applied or self.mismatches or self.deferred)

    def summary(self) -> str:
        return (
            f"{len(self.settled)} intents settled, {len(self.applied)} fills "
            f"applied, {len(self.adopted)} positions adopted, "
            f"{len(self.unknown_orders)} unknown broker orders, "
            f"{len(self.deferred)} deferred"
        )


@dataclass
class ReportDraft:
    """A report being written."""

    settled: list[SettledIntent] = field(default_factory=list)
    applied: list[Fill] = field(default_factory=list)
    adopted: list[AdoptedPosition] = field(default_factory=list)
    unknown_orders: list[UnknownOrder] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)

    def build(self) -> ReconcileReport:
        return ReconcileReport(
            tuple(self.settled),
            tuple(self.applied),
            tuple(self.adopted),
            tuple(self.unknown_orders),
            tuple(self.deferred),
        )
