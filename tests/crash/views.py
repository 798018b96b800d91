"""What the crash trials read: the bot's store and the broker's books, frozen
at one moment, and the broker's fills replayed into positions.

:func:`read_store` opens the bot's SQLite file beside the bot (or after its
death) and copies what must survive a crash: positions, unresolved intents,
candles, and the events the checks count. :class:`BrokerReader` logs in to the
simulator as a second session of the demo account and reads the order book
and positions. :func:`replay_prefixes` computes positions from the broker's fills alone,
with the average-price rules written out here again, so the kit's book is
compared with an account kept independently of it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from kit.broker.journal import OrderIntent
from kit.broker.models import OrderEntry, Position
from kit.broker.session import Credentials
from kit.broker.stack import BrokerStack, open_stack
from kit.clock import IST, Clock, RealClock
from kit.market.candles import Candle
from kit.ops.events import ActivityEvent, EventKind
from kit.sim.auth import demo_account
from kit.store import SqliteStore
from kit.store.base import PositionRecord, TradingMode

FILL_KINDS = frozenset(
    {EventKind.ORDER_PLACED, EventKind.POSITION_OPENED, EventKind.POSITION_CLOSED}
)
FINAL = frozenset({"complete", "cancelled"})  # statuses a fill is final in
COUNTED_KINDS = frozenset(
    {
        EventKind.BOT_STARTED,
        EventKind.CRASH_DETECTED,
        EventKind.RECONCILE_MISMATCH,
        EventKind.ORDER_UNKNOWN,
        EventKind.ORDER_REJECTED,
        *FILL_KINDS,
    }
)


@dataclass(frozen=True)
class StoreView:
    """The bot's store at one moment."""

    positions: dict[str, PositionRecord]
    unresolved: tuple[OrderIntent, ...]
    candles: dict[str, dict[int, Candle]]  # token -> start_ms -> candle
    events: tuple[ActivityEvent, ...]
    intents: dict[str, OrderIntent] = field(default_factory=dict)  # asked for

    def of_kind(self, kind: EventKind) -> list[ActivityEvent]:
        return [event for event in self.events if event.kind == kind]

    def fills(self) -> list[ActivityEvent]:
        """The fill events (with a price: not an order merely accepted)."""
        return [e for e in self.events if e.kind in FILL_KINDS and "price" in e.fields]

    @property
    def candle_count(self) -> int:
        return sum(len(held) for held in self.candles.values())


@contextlib.contextmanager
def opened_store(path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(path, RealClock())
    try:
        yield store
    finally:
        store.close()


def read_store(
    path: Path,
    mode: TradingMode,
    tokens: list[str],
    day: datetime,
    *,
    tags: Sequence[str] = (),
) -> StoreView:
    """The store's positions of ``mode``, unresolved intents (and the intents
    of ``tags``), candles of ``tokens`` from ``day`` on, and counted events."""
    since = day.astimezone(IST).replace(hour=0, minute=0, second=0, microsecond=0)
    with opened_store(path) as store:
        positions = {p.symbol: p for p in store.positions(mode)}
        unresolved = tuple(store.unresolved_intents())
        candles = {
            token: {c.start_ms: c for c in store.load_candles(token, since=since)}
            for token in tokens
        }
        events = tuple(store.events(kinds={str(k) for k in COUNTED_KINDS}))
        intents: dict[str, OrderIntent] = {}
        for tag in tags:
            found = store.get_intent(tag)
            if found is not None:
                intents[tag] = found
    return StoreView(positions, unresolved, candles, events, intents)


# The broker.


@dataclass(frozen=True)
class BrokerView:
    """The broker's order book (in order of placement) and positions."""

    orders: tuple[OrderEntry, ...]
    positions: dict[str, Position]

    def tags(self) -> list[str]:
        return [entry.ordertag for entry in self.orders]


class BrokerReader:
    """A second session of the simulator's demo account, for reading only.

    ``clock`` must read the simulator's time (its TOTP is checked on it)."""

    def __init__(self, rest_url: str, folder: Path, clock: Clock) -> None:
        account = demo_account()
        credentials = Credentials(
            account.api_key, account.client_code, account.mpin, account.totp_secret
        )
        self._store = SqliteStore(folder / "reader.sqlite3", clock)
        try:
            self.stack: BrokerStack = open_stack(
                rest_url, credentials, self._store, clock, owns_journal=False
            )
        except BaseException:
            self._store.close()
            raise

    def read(self, product: str = "INTRADAY") -> BrokerView:
        client = self.stack.client
        orders = sorted(client.order_book(), key=lambda entry: entry.orderid)
        held = {p.symbol: p for p in client.positions() if p.product == product}
        return BrokerView(tuple(orders), held)

    def close(self) -> None:
        self.stack.close()
        self._store.close()


# Replaying the broker's fills.


@dataclass(frozen=True)
class Replayed:
    """A symbol's position from the broker's fills: quantity, average price,
    realised P&L, how many fills, and whether they kept to the plan (each
    fill opens from flat or closes to flat)."""

    quantity: int = 0
    avg_price: float = 0.0
    realised: float = 0.0
    fills: int = 0
    off_plan: tuple[str, ...] = ()


def by_symbol(view: BrokerView) -> dict[str, list[OrderEntry]]:
    """The broker's orders of each symbol, in order of placement."""
    found: dict[str, list[OrderEntry]] = {}
    for order in view.orders:
        found.setdefault(order.symbol, []).append(order)
    return found


def replay_prefixes(orders: list[OrderEntry]) -> list[Replayed]:
    """The replay after 0, 1, 2 ... fills of one symbol."""
    filled = [o for o in orders if o.filled > 0 and o.status.lower() in FINAL]
    states = [Replayed()]
    for order in filled:
        states.append(_fill(states[-1], order))
    return states


def _fill(state: Replayed, order: OrderEntry) -> Replayed:
    signed = order.filled if order.transaction == "BUY" else -order.filled
    price = order.average_price
    held = state.quantity
    off_plan = state.off_plan
    if held == 0:
        return Replayed(signed, price, state.realised, state.fills + 1, off_plan)
    if held + signed != 0:
        off_plan = (*off_plan, f"order {order.orderid} leaves {held + signed}")
    if (held > 0) == (signed > 0):
        total = held + signed
        average = (held * state.avg_price + signed * price) / total
        return Replayed(total, average, state.realised, state.fills + 1, off_plan)
    closed = min(abs(held), abs(signed))
    direction = 1 if held > 0 else -1
    realised = state.realised + (price - state.avg_price) * closed * direction
    rest = held + signed
    if rest == 0:
        average = 0.0
    elif (rest > 0) == (held > 0):
        average = state.avg_price
    else:
        average = price
    return Replayed(rest, average, realised, state.fills + 1, off_plan)
