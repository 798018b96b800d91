"""Positions: the book of one trading mode, and the monitor of stops and targets.

:class:`PositionBook` holds one position per symbol (signed quantity: short
below 0), applies fills with the usual average-price rules, and writes every
change to the store before it returns, so a ``kill -9`` right after a fill
loses nothing. A position that went flat stays in the book (quantity 0) for the
rest of the day: its realised P&L is part of the day's P&L.

Fill rules, for a fill of signed quantity ``q`` at price ``p`` on a position
of ``Q`` at average ``A``:

- opening or adding (``Q == 0`` or same sign): ``A' = (Q*A + q*p) / (Q + q)``;
- reducing (opposite sign, ``|q| <= |Q|``): realised ``+= (p - A) * closed``
  for a long, ``(A - p) * closed`` for a short; ``A`` unchanged; flat at 0;
- flipping (``|q| > |Q|``): the old position closes as above, the rest opens
  at ``p``.

:class:`PositionMonitor` says which open positions crossed their stop or
target at the given prices (feed prices, or REST-polled ones when the feed is
down). Both are owned by the engine thread.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Literal

from kit.clock import Clock
from kit.store.base import PositionRecord, Store, TradingMode

Side = Literal["BUY", "SELL"]


@dataclass(frozen=True)
class Instrument:
    symbol: str
    token: str
    exchange: str = "NSE"


@dataclass(frozen=True)
class Fill:
    """A filled order: ``quantity`` > 0, the side says which way."""

    instrument: Instrument
    side: Side
    quantity: int
    price: float
    at_s: float
    ordertag: str = ""

    @property
    def signed_quantity(self) -> int:
        return self.quantity if self.side == "BUY" else -self.quantity


@dataclass(frozen=True)
class ExitRequest:
    """A position to close, and why (``stop`` or ``target``)."""

    symbol: str
    quantity: int  # signed: the fill that closes it
    reason: str
    price: float


class PositionBook:
    """The positions of one mode, persisted on every change."""

    def __init__(self, mode: TradingMode, store: Store, clock: Clock) -> None:
        self.mode = mode
        self.store = store
        self.clock = clock
        self._positions = {p.symbol: p for p in store.positions(mode)}

    def __iter__(self) -> Iterator[PositionRecord]:
        return iter(sorted(self._positions.values(), key=lambda p: p.symbol))

    def get(self, symbol: str) -> PositionRecord | None:
        return self._positions.get(symbol)

    def open_positions(self) -> list[PositionRecord]:
        return [p for p in self if p.quantity != 0]

    def apply(
        self, fill: Fill, *, stop: float | None = None, target: float | None = None
    ) -> PositionRecord:
        """Apply a fill; the position after it (already in the store).

        The fill's ``ordertag`` becomes the position's ``last_ordertag`` in the
        same write, so the store says both what changed and by which order.
        """
        if fill.quantity <= 0 or not (fill.price > 0 and math.isfinite(fill.price)):
            raise ValueError(f"not a fill: {fill.quantity} at {fill.price}")
        held = self._positions.get(fill.instrument.symbol)
        if held is None:
            held = PositionRecord(
                self.mode,
                fill.instrument.symbol,
                fill.instrument.token,
                fill.instrument.exchange,
                quantity=0,
                avg_price=0.0,
                opened_at=fill.at_s,
            )
        position = _after_fill(held, fill.signed_quantity, fill.price)
        if position.quantity == 0:
            position = replace(position, stop=None, target=None)
        elif held.quantity == 0 or (held.quantity > 0) != (position.quantity > 0):
            position = replace(position, opened_at=fill.at_s, stop=stop, target=target)
        position = replace(
            position,
            last_price=fill.price,
            updated_at=fill.at_s,
            last_ordertag=fill.ordertag,
        )
        self._save(position)
        return position

    def mark(self, prices: Mapping[str, float]) -> None:
        """Record the latest prices (in memory: they are not state)."""
        for symbol, price in prices.items():
            held = self._positions.get(symbol)
            if held is not None and price > 0:
                self._positions[symbol] = replace(held, last_price=price)

    def set_exits(
        self, symbol: str, *, stop: float | None, target: float | None
    ) -> None:
        held = self._positions[symbol]
        self._save(
            replace(held, stop=stop, target=target, updated_at=self.clock.time())
        )

    def adopt(self, position: PositionRecord) -> None:
        """Take ``position`` as it is (the broker's figures after a
        reconciliation); written to the store first."""
        if position.mode != self.mode:
            raise ValueError(
                f"a {position.mode} position given to the {self.mode} book"
            )
        self._save(position)

    def realised(self) -> float:
        return sum(p.realised_pnl for p in self._positions.values())

    def unrealised(self) -> float:
        return sum(unrealised(p) for p in self._positions.values())

    def day_pnl(self) -> float:
        return self.realised() + self.unrealised()

    def new_day(self, *, before_s: float | None = None) -> None:
        """Drop the flat positions (those last changed before ``before_s``,
        epoch seconds, when given): their P&L belongs to an earlier day."""
        for symbol, held in list(self._positions.items()):
            if held.quantity == 0 and (before_s is None or held.updated_at < before_s):
                self.store.delete_position(self.mode, symbol)
                del self._positions[symbol]

    def _save(self, position: PositionRecord) -> None:
        self.store.save_position(position)  # first the store, then memory
        self._positions[position.symbol] = position


class PositionMonitor:
    """Finds the open positions whose stop or target the price has crossed."""

    def __init__(self, book: PositionBook) -> None:
        self.book = book

    def check(self, prices: Mapping[str, float]) -> list[ExitRequest]:
        exits = []
        for held in self.book.open_positions():
            price = prices.get(held.symbol)
            if price is None or not price > 0:
                continue
            reason = _crossed(held, price)
            if reason:
                exits.append(ExitRequest(held.symbol, -held.quantity, reason, price))
        return exits


def unrealised(position: PositionRecord) -> float:
    if position.quantity == 0 or position.last_price is None:
        return 0.0
    return (position.last_price - position.avg_price) * position.quantity


def _after_fill(held: PositionRecord, quantity: int, price: float) -> PositionRecord:
    old = held.quantity
    if old == 0 or (old > 0) == (quantity > 0):
        total = old + quantity
        average = (old * held.avg_price + quantity * price) / total
        return replace(held, quantity=total, avg_price=average)

    closed = min(abs(quantity), abs(old))
    direction = 1 if old > 0 else -1
    realised = held.realised_pnl + (price - held.avg_price) * closed * direction
    remaining = old + quantity
    if remaining == 0:
        return replace(held, quantity=0, avg_price=0.0, realised_pnl=realised)
    if (remaining > 0) == (old > 0):
        return replace(held, quantity=remaining, realised_pnl=realised)
    return replace(held, quantity=remaining, avg_price=price, realised_pnl=realised)


def _crossed(held: PositionRecord, price: float) -> str:
    long = held.quantity > 0
    if held.stop is not None and (price <= held.stop if long else price >= held.stop):
        return "stop"
    if held.target is not None and (
        price >= held.target if long else price <= held.target
    ):
        return "target"
    return ""
