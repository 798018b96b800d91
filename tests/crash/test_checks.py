"""The crash trials' checks catch what they are for: each is shown a store or
a broker that lost or doubled something, and one that did not."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from kit.broker.journal import IntentState, OrderIntent
from kit.broker.models import OrderEntry, Position
from kit.clock import IST
from kit.market.candles import Candle, Provenance
from kit.ops.events import ActivityEvent, EventKind, Severity
from kit.store.base import PositionRecord
from kit.trading.strategy import Side
from tests.crash import checks
from tests.crash.strategy import CrashPlan
from tests.crash.views import BrokerView, StoreView, replay_prefixes

NINE_30 = datetime(2026, 12, 3, 9, 30, tzinfo=IST)


def order(orderid: str, side: str, quantity: int, price: float, tag: str) -> OrderEntry:
    return OrderEntry(
        orderid, tag, "complete", "", "SBIN-EQ", "3045", side, quantity, quantity,
        price,
    )  # fmt: skip


def broker(*orders: OrderEntry, net_qty: int | None = None) -> BrokerView:
    held = replay_prefixes(list(orders))[-1].quantity if net_qty is None else net_qty
    position = Position("NSE", "SBIN-EQ", "3045", "INTRADAY", held, 0.0, 0.0, 0.0)
    return BrokerView(tuple(orders), {"SBIN-EQ": position})


def position(quantity: int, avg: float, realised: float = 0.0, tag: str = "") -> (
    PositionRecord
):  # fmt: skip
    return PositionRecord(
        "live", "SBIN-EQ", "3045", "NSE", quantity, avg, realised,
        stop=1.0 if quantity else None, target=9e3 if quantity else None,
        last_ordertag=tag,
    )  # fmt: skip


def view(*positions: PositionRecord, **options: object) -> StoreView:
    base = StoreView({p.symbol: p for p in positions}, (), {}, ())
    return replace(base, **options)  # type: ignore[arg-type]


def intent(tag: str, state: IntentState) -> OrderIntent:
    return OrderIntent(tag, 0.0, {"tradingsymbol": "SBIN-EQ"}, state, None, "", 0.0)


def candle(minute: int, provenance: Provenance, close: float = 800.0) -> Candle:
    start = NINE_30 + timedelta(minutes=minute)
    return Candle(start, close, close, close, close, 10, provenance)


def fill_event(reason: str, tag: str = "") -> ActivityEvent:
    fields = {"symbol": "SBIN-EQ", "reason": reason, "ordertag": tag, "price": 800.0}
    return ActivityEvent(
        datetime.now(UTC), EventKind.POSITION_OPENED, Severity.INFO, "", fields
    )


BUY = order("1", "BUY", 10, 100.0, "t1")
SELL = order("2", "SELL", 10, 105.0, "t2")


# Positions against the broker.


def test_a_replay_of_an_entry_and_its_exit_realises_the_difference() -> None:
    states = replay_prefixes([BUY, SELL])

    assert [s.quantity for s in states] == [0, 10, 0]
    assert states[-1].realised == 50.0 and states[-1].off_plan == ()


def test_a_second_entry_for_one_signal_is_off_the_plan() -> None:
    again = order("2", "BUY", 10, 101.0, "t2")

    problems = checks.broker_fills_on_plan(broker(BUY, again))

    assert problems == ["SBIN-EQ: order 2 leaves 20"]


def test_at_a_kill_a_fill_in_flight_is_counted_and_a_fill_unknown_to_the_broker_is_not(
) -> None:  # fmt: skip
    in_flight = checks.prefix_of_broker(
        view(position(10, 100.0, tag="t1")), broker(BUY, SELL)
    )
    invented = checks.prefix_of_broker(view(position(20, 100.0)), broker(BUY))

    assert in_flight == ([], 1)
    assert invented[0] and "no prefix" in invented[0][0]


def test_after_a_restart_the_position_must_hold_the_in_flight_fill() -> None:
    before = view(position(10, 100.0, tag="t1"))
    repaired = view(position(0, 0.0, 50.0, tag="t2"))
    missed = view(position(10, 100.0, tag="t1"))

    assert checks.positions_as_broker(before, repaired, broker(BUY, SELL)) == []
    problems = checks.positions_as_broker(before, missed, broker(BUY, SELL))
    assert len(problems) == 2  # not the replay, not the broker's quantity


def test_a_position_with_nothing_in_flight_must_not_change_at_all() -> None:
    before = view(position(10, 100.0, tag="t1"))
    lost_stop = view(replace(position(10, 100.0, tag="t1"), stop=None))

    problems = checks.positions_as_broker(before, lost_stop, broker(BUY))

    assert len(problems) == 1 and "was" in problems[0]
    assert checks.positions_protected(lost_stop) == [
        "SBIN-EQ is open (10) without a stop or target"
    ]


def test_paper_positions_are_kept_exactly() -> None:
    before = view(position(10, 100.0, 5.0))

    assert checks.positions_kept(before, view(position(10, 100.0, 5.0))) == []
    assert checks.positions_kept(before, view(position(10, 100.0, 0.0)))
    assert checks.positions_kept(before, view())


# Orders.


def test_an_order_open_at_the_kill_must_be_settled_after_the_restart() -> None:
    before = view(unresolved=(intent("t1", IntentState.SENT),))

    settled = view(intents={"t1": intent("t1", IntentState.ACCEPTED)})
    absent = view(intents={"t1": intent("t1", IntentState.RESOLVED_ABSENT)})
    stuck = view(intents={"t1": intent("t1", IntentState.SENT)})

    assert checks.orders_settled(before, settled) == []
    assert checks.orders_settled(before, absent) == []
    assert checks.orders_settled(before, stuck) == ["order t1 is still sent"]
    assert checks.orders_settled(before, view()) == ["order t1 is still missing"]


def test_a_tag_sent_twice_or_unknown_to_the_journal_is_found() -> None:
    twice = order("2", "SELL", 10, 105.0, "t1")
    known = view(intents={"t1": intent("t1", IntentState.ACCEPTED)})

    assert checks.orders_distinct_and_known(broker(BUY), known) == []
    problems = checks.orders_distinct_and_known(broker(BUY, twice, SELL), known)
    assert problems == [
        "ordertag 't1' on 2 broker orders",
        "broker orders the journal does not know: ['t2']",
    ]


def test_two_fills_for_one_signal_or_one_ordertag_are_found() -> None:
    once = [fill_event("crash BUY 09:30", "t1"), fill_event("strategy exit", "t2")]
    signal_twice = [fill_event("crash BUY 09:30"), fill_event("crash BUY 09:30")]
    tag_twice = [fill_event("recovered", "t1"), fill_event("recovered", "t1")]

    assert checks.duplicate_fills(once, live=True) == []
    assert checks.duplicate_fills(signal_twice, live=False) == [
        "SBIN-EQ: 2 fills for the signal 'crash BUY 09:30'"
    ]
    assert checks.duplicate_fills(tag_twice, live=True) == ["order t1: 2 fills applied"]


# Candles.


def candles(*held: Candle) -> dict[str, dict[int, Candle]]:
    return {"3045": {c.start_ms: c for c in held}}


def test_a_lost_candle_and_a_changed_broker_candle_are_found() -> None:
    held = candles(candle(0, Provenance.BROKER), candle(1, Provenance.TICKS))
    revised = candles(candle(0, Provenance.BROKER), candle(1, Provenance.BROKER, 9))
    changed = candles(candle(0, Provenance.BROKER, 9.0), candle(1, Provenance.TICKS))
    lost = candles(candle(1, Provenance.TICKS))

    assert checks.candles_kept(held, revised) == []
    assert checks.candles_kept(held, changed) == [
        f"token 3045: broker candle {NINE_30} changed"
    ]
    assert checks.candles_kept(held, lost) == [
        f"token 3045: 1 candles lost, from {NINE_30}"
    ]


def test_minutes_missing_between_candles_are_named() -> None:
    held = candles(candle(0, Provenance.BROKER), candle(3, Provenance.TICKS))

    assert checks.candle_gaps(held) == {"3045": ["09:31", "09:32"]}


# The plan.


def frame(minute: datetime) -> pd.DataFrame:
    index = pd.DatetimeIndex([minute - timedelta(minutes=1), minute], name="start")
    return pd.DataFrame({"close": [800.0, 801.0]}, index=index)


def test_the_plan_enters_then_exits_two_minutes_later_and_holds_on_request(
    tmp_path: Path,
) -> None:
    plan = CrashPlan(["SBIN-EQ"], hold_path=tmp_path / "hold")
    entry_minute = NINE_30  # 09:30 is a multiple of 3 minutes

    entry = plan.on_candle("SBIN-EQ", frame(entry_minute))
    between = plan.on_candle("SBIN-EQ", frame(entry_minute + timedelta(minutes=1)))
    exit_ = plan.on_candle("SBIN-EQ", frame(entry_minute + timedelta(minutes=2)))
    (tmp_path / "hold").touch()
    held = plan.on_candle("SBIN-EQ", frame(entry_minute))

    assert entry is not None and entry.side in (Side.BUY, Side.SELL)
    assert entry.reason == f"crash {entry.side} 09:30"
    assert between is None and held is None
    assert exit_ is not None and exit_.side is Side.EXIT
