"""The crash trials' checks: pure functions of what was read, each returning
the problems it found (one line each; none when all is well).

``before`` is the store read right after a kill, ``after`` the store of the
restarted bot (running, its strategy held), ``broker`` the simulator's books
read beside ``after``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from itertools import pairwise

from kit.clock import IST
from kit.market.candles import Candle, Provenance
from kit.ops.events import ActivityEvent
from kit.store.base import PositionRecord
from tests.crash.views import (
    BrokerView,
    Replayed,
    StoreView,
    by_symbol,
    replay_prefixes,
)

KEPT_FIELDS = (
    "quantity", "avg_price", "realised_pnl", "stop", "target", "opened_at",
    "last_ordertag",
)  # fmt: skip
"""What a position must keep across a crash (not its last price, a mark)."""


def kept(record: PositionRecord | None) -> tuple[object, ...] | None:
    return None if record is None else tuple(getattr(record, f) for f in KEPT_FIELDS)


def same_position(record: PositionRecord | None, replayed: Replayed) -> bool:
    """Whether ``record`` holds what a replay of broker fills says (to the paisa)."""
    quantity = record.quantity if record else 0
    average = record.avg_price if record and record.quantity else 0.0
    realised = record.realised_pnl if record else 0.0
    return (
        quantity == replayed.quantity
        and abs(average - replayed.avg_price) < 0.01
        and abs(realised - replayed.realised) < 0.01
    )


# Positions.


def positions_kept(before: StoreView, after: StoreView) -> list[str]:
    """Paper: every position exactly as at the kill (fills are synchronous)."""
    problems = []
    for symbol in sorted(set(before.positions) | set(after.positions)):
        was, now = before.positions.get(symbol), after.positions.get(symbol)
        if kept(was) != kept(now):
            problems.append(f"{symbol} was {was}, is {now}")
    return problems


def positions_as_broker(
    before: StoreView, after: StoreView, broker: BrokerView
) -> list[str]:
    """Live: every position is the replay of all the broker's fills and has
    the broker's net quantity; a symbol that had nothing in flight at the
    kill (its position already the full replay) is exactly as it was."""
    problems = []
    orders = by_symbol(broker)
    for symbol in sorted(set(orders) | set(after.positions)):
        replayed = replay_prefixes(orders.get(symbol, []))[-1]
        now = after.positions.get(symbol)
        if not same_position(now, replayed):
            problems.append(f"{symbol} is {now}; the broker's fills say {replayed}")
        held = broker.positions.get(symbol)
        broker_qty = held.net_qty if held else 0
        if (now.quantity if now else 0) != broker_qty:
            problems.append(f"{symbol} holds {now}; the broker {broker_qty}")
        was = before.positions.get(symbol)
        if same_position(was, replayed) and kept(was) != kept(now):
            problems.append(f"{symbol} was {was}, is {now}")
    return problems


def prefix_of_broker(view: StoreView, broker: BrokerView) -> tuple[list[str], int]:
    """At a kill: each position is the replay of the first n broker fills of
    its symbol (the book never holds a fill the broker does not, and applies
    them in order). The problems, and how many fills were in flight."""
    problems, in_flight = [], 0
    orders = by_symbol(broker)
    for symbol in sorted(set(orders) | set(view.positions)):
        states = replay_prefixes(orders.get(symbol, []))
        record = view.positions.get(symbol)
        held = [n for n, state in enumerate(states) if same_position(record, state)]
        if not held:
            problems.append(
                f"{symbol} in the store ({record}) is no prefix of the broker's "
                f"fills ({states[-1]})"
            )
            continue
        in_flight += len(states) - 1 - held[-1]
    return problems, in_flight


def positions_protected(view: StoreView) -> list[str]:
    """Every open position has its stop and target (the plan always sets both)."""
    return [
        f"{p.symbol} is open ({p.quantity}) without a stop or target"
        for p in view.positions.values()
        if p.quantity and (p.stop is None or p.target is None)
    ]


# Orders.


def orders_settled(before: StoreView, after: StoreView) -> list[str]:
    """Every order open in the journal at the kill is settled after the restart
    (``after`` read with the intents of ``before.unresolved``)."""
    problems = []
    for intent in before.unresolved:
        now = after.intents.get(intent.ordertag)
        if now is None or not now.resolved:
            state = now.state if now else "missing"
            problems.append(f"order {intent.ordertag} is still {state}")
    return problems


def orders_distinct_and_known(broker: BrokerView, view: StoreView) -> list[str]:
    """Every broker order has an ordertag of its own, journaled before it was
    sent (``view`` read with the intents of the broker's tags)."""
    tags = broker.tags()
    problems = [
        f"ordertag {tag!r} on {count} broker orders"
        for tag, count in sorted(Counter(tags).items())
        if count > 1
    ]
    unknown = sorted(set(tags) - set(view.intents))
    if unknown:
        problems.append(f"broker orders the journal does not know: {unknown}")
    return problems


def broker_fills_on_plan(broker: BrokerView) -> list[str]:
    """Each broker fill opens from flat or closes to flat: a second entry or a
    second exit for one signal would leave another quantity."""
    problems = []
    for symbol, orders in sorted(by_symbol(broker).items()):
        for why in replay_prefixes(orders)[-1].off_plan:
            problems.append(f"{symbol}: {why}")
    return problems


def duplicate_fills(fills: Iterable[ActivityEvent], *, live: bool) -> list[str]:
    """One entry fill per signal (its reason names the candle); live, one fill
    per ordertag."""
    fills = list(fills)
    problems = []
    signals = Counter(
        (e.fields.get("symbol"), e.fields.get("reason"))
        for e in fills
        if str(e.fields.get("reason", "")).startswith("crash ")
    )
    for (symbol, reason), count in sorted(signals.items()):
        if count > 1:
            problems.append(f"{symbol}: {count} fills for the signal {reason!r}")
    if live:
        tags = Counter(str(e.fields.get("ordertag", "")) for e in fills)
        for tag, count in sorted(tags.items()):
            if count > 1:
                problems.append(f"order {tag}: {count} fills applied")
    return problems


# Candles.


def candles_kept(
    before: dict[str, dict[int, Candle]], after: dict[str, dict[int, Candle]]
) -> list[str]:
    """Every candle of ``before`` still in ``after``, a broker candle with the
    same values (one built from ticks may be replaced by the broker's)."""
    problems = []
    for token, held in sorted(before.items()):
        now = after.get(token, {})
        lost = sorted(set(held) - set(now))
        if lost:
            first = datetime.fromtimestamp(lost[0] / 1000, IST)
            problems.append(f"token {token}: {len(lost)} candles lost, from {first}")
        for start_ms, candle in sorted(held.items()):
            still = now.get(start_ms)
            if (
                still is not None
                and candle.provenance is Provenance.BROKER
                and _values(still) != _values(candle)
            ):
                problems.append(f"token {token}: broker candle {candle.start} changed")
    return problems


def candle_gaps(candles: dict[str, dict[int, Candle]]) -> dict[str, list[str]]:
    """The minutes (HH:MM) missing between each token's first and last candle."""
    found = {}
    for token, held in sorted(candles.items()):
        starts = sorted(held)
        missing = [
            datetime.fromtimestamp(minute_ms / 1000, IST).strftime("%H:%M")
            for earlier, later in pairwise(starts)
            for minute_ms in range(earlier + 60_000, later, 60_000)
        ]
        if missing:
            found[token] = missing
    return found


def _values(candle: Candle) -> tuple[float, float, float, float, int]:
    return candle.open, candle.high, candle.low, candle.close, candle.volume
