"""Reconciliation on the simulator: crashes between an order and its position,
intents left unsettled, positions changed and orders placed behind the kit's
back. Every repair happens once; a second reconciliation changes nothing."""

from __future__ import annotations

from dataclasses import replace

import pytest

from kit.broker.journal import IntentState, new_ordertag
from kit.broker.orders import OrderRequest
from kit.clock import ManualClock
from kit.ops.events import EventKind
from kit.sim.chaos import FaultKind as SimFault
from kit.store import PositionRecord, SqliteStore
from kit.trading.live import AdoptedPosition, already_applied
from kit.trading.positions import Fill, PositionBook
from tests.broker.conftest import MIDDAY
from tests.trading.conftest import (
    SBIN,
    CrashingJournal,
    LaggingOrderBook,
    SimulatedCrash,
)


def price_of(rig) -> float:
    return rig.stack.client.ltp("NSE", "SBIN-EQ", "3045").ltp


def assert_nothing_changes(rig) -> None:
    """Reconciling again (in this process and after a restart) does nothing."""
    before = (rig.book.get("SBIN-EQ"), len(rig.sim_orders()), len(rig.events))
    assert not rig.broker.reconcile()
    assert (rig.book.get("SBIN-EQ"), len(rig.sim_orders()), len(rig.events)) == before

    again = rig.restart()
    assert not again.broker.reconcile()
    assert again.book.get("SBIN-EQ") == before[0]
    assert again.events == []


# Crashes between the order and the position.


def test_a_crash_before_the_position_write_is_repaired_once_with_its_exits(
    live_rig, monkeypatch
):
    rig = live_rig()
    price = price_of(rig)

    def killed(*args, **kwargs):
        raise SimulatedCrash("killed after the order, before the position write")

    monkeypatch.setattr(rig.book, "apply", killed)
    with pytest.raises(SimulatedCrash):
        rig.broker.submit(SBIN, "BUY", 10, price, reason="entry", stop=1.0, target=9e3)
    assert rig.store.positions("live") == []

    after = rig.restart()
    report = after.broker.reconcile()

    (fill,) = report.applied
    (order,) = after.sim_orders()
    assert fill.ordertag == order["ordertag"] and fill.quantity == 10
    assert fill.price == pytest.approx(float(order["averageprice"]))
    held = after.book.get("SBIN-EQ")
    assert (held.quantity, held.stop, held.target) == (10, 1.0, 9e3)
    assert held.last_ordertag == fill.ordertag
    assert report.settled == () and report.mismatches == 0
    assert after.kinds() == [EventKind.POSITION_OPENED]
    assert after.events[0].fields["recovered"] is True
    assert_nothing_changes(after)


def test_an_order_placed_but_never_applied_is_applied_once_and_never_sent_again(
    live_rig,
):
    rig = live_rig()
    first = rig.broker.submit(SBIN, "BUY", 10, price_of(rig), reason="entry")
    # The process dies right after the placer's answer for the exit.
    exit_order = rig.stack.placer.place(OrderRequest("SBIN-EQ", "3045", "SELL", 4))

    after = rig.restart()
    report = after.broker.reconcile()

    assert [f.ordertag for f in report.applied] == [exit_order.ordertag]
    held = after.book.get("SBIN-EQ")
    at_broker = after.sim_position()
    assert held.quantity == int(at_broker["netqty"]) == 6
    assert held.realised_pnl == pytest.approx(float(at_broker["realised"]), abs=0.01)
    assert held.last_ordertag == exit_order.ordertag > first.ordertag
    assert len(after.sim_orders()) == 2
    assert_nothing_changes(after)


@pytest.mark.parametrize(
    "fault", [SimFault.HANDLED_THEN_CUT, SimFault.HANDLED_THEN_5XX]
)
def test_an_intent_left_sent_whose_order_reached_the_broker_is_settled(live_rig, fault):
    rig = live_rig(wrap=lambda store: CrashingJournal(store, crash_on="unknown"))
    rig.sim.chaos.inject(fault, "place_order")

    with pytest.raises(SimulatedCrash):
        rig.broker.submit(SBIN, "BUY", 7, price_of(rig), reason="entry", stop=2.0)
    (order,) = rig.sim_orders()
    tag = order["ordertag"]
    assert rig.store.get_intent(tag).state is IntentState.SENT

    after = rig.restart()
    report = after.broker.reconcile()

    assert [(s.ordertag, s.state) for s in report.settled] == [
        (tag, IntentState.ACCEPTED)
    ]
    assert after.store.get_intent(tag).orderid == order["orderid"]
    assert [f.ordertag for f in report.applied] == [tag]
    held = after.book.get("SBIN-EQ")
    assert (held.quantity, held.stop, held.last_ordertag) == (7, 2.0, tag)
    assert after.broker.in_flight("SBIN-EQ") == ""
    assert len(after.sim_orders()) == 1
    assert_nothing_changes(after)


def test_an_intent_left_sent_whose_order_the_broker_rejected_is_settled_rejected(
    live_rig,
):
    rig = live_rig(wrap=lambda store: CrashingJournal(store, crash_on="unknown"))
    rig.sim.desk.set_cash(rig.client_code, 100.0)
    rig.sim.chaos.inject(SimFault.HANDLED_THEN_CUT, "place_order")
    with pytest.raises(SimulatedCrash):
        rig.broker.submit(SBIN, "BUY", 50, price_of(rig), reason="entry")

    after = rig.restart()
    report = after.broker.reconcile()

    (settled,) = report.settled
    assert settled.state is IntentState.REJECTED
    assert report.applied == () and report.mismatches == 0
    (rejected,) = after.events
    assert rejected.kind == EventKind.ORDER_REJECTED
    assert rejected.fields["fault"] == "insufficient_margin"
    assert rejected.fields["ordertag"] == settled.ordertag
    assert after.book.get("SBIN-EQ") is None
    assert_nothing_changes(after)


def test_an_order_still_open_at_the_start_is_followed_not_adopted(live_rig):
    rig = live_rig()
    placed = rig.stack.placer.place(OrderRequest("SBIN-EQ", "3045", "BUY", 5))
    after = rig.restart()
    after.broker.client = LaggingOrderBook(after.broker.client, reads=1)

    report = after.broker.reconcile()

    # The broker's position already holds the fill the order book does not show.
    assert report.deferred == ("SBIN-EQ",)
    assert report.adopted == () and report.applied == ()
    assert "not filled yet" in after.broker.in_flight("SBIN-EQ")

    (fill,) = after.broker.poll_open_orders()

    assert fill.ordertag == placed.ordertag
    assert after.book.get("SBIN-EQ").quantity == int(after.sim_position()["netqty"])
    assert not after.broker.reconcile()


def test_an_intent_that_never_reached_the_broker_is_closed_not_sent(live_rig):
    rig = live_rig()
    tag = new_ordertag(rig.sim.clock)  # written, then the process died
    rig.store.record_intent(tag, OrderRequest("SBIN-EQ", "3045", "BUY", 3).body(tag))

    after = rig.restart()
    report = after.broker.reconcile()

    (settled,) = report.settled
    assert (settled.ordertag, settled.symbol) == (tag, "SBIN-EQ")
    assert settled.state is IntentState.RESOLVED_ABSENT
    assert after.store.get_intent(tag).state is IntentState.RESOLVED_ABSENT
    assert after.sim_orders() == [] and after.book.get("SBIN-EQ") is None
    assert report.mismatches == 0
    assert_nothing_changes(after)


# Mismatches that need a person.


def test_a_position_changed_behind_the_kits_back_is_reported_and_adopted(live_rig):
    rig = live_rig()
    rig.broker.submit(SBIN, "BUY", 10, price_of(rig), reason="entry", stop=1.0)
    rig.place_behind_the_kits_back("BUY", 5)
    rig.events.clear()

    report = rig.broker.reconcile()

    at_broker = rig.sim_position()
    avg = float(at_broker["avgnetprice"])
    assert report.adopted == (AdoptedPosition("SBIN-EQ", 10, 15, avg),)
    (stranger,) = report.unknown_orders
    assert (stranger.side, stranger.quantity, stranger.ordertag) == ("BUY", 5, "")
    held = rig.book.get("SBIN-EQ")
    assert (held.quantity, held.avg_price, held.stop) == (15, avg, 1.0)
    assert rig.store.positions("live") == [held]
    assert rig.kinds() == [EventKind.RECONCILE_MISMATCH] * 2
    assert all(event.needs_person for event in rig.events)
    assert {e.fields["action"] for e in rig.events} == {"reported", "adopted"}

    again = rig.broker.reconcile()

    assert again.adopted == () and again.applied == () and again.settled == ()
    assert again.unknown_orders == report.unknown_orders  # still there: still said
    assert len(rig.events) == 2  # but told once
    assert rig.book.get("SBIN-EQ") == held


def test_a_stale_book_takes_the_brokers_quantity_and_keeps_its_exits(live_rig):
    rig = live_rig()
    price = price_of(rig)
    rig.broker.submit(SBIN, "BUY", 10, price, reason="entry", stop=1.0, target=9e3)
    held = rig.book.get("SBIN-EQ")
    rig.store.save_position(replace(held, quantity=3))  # a store restored from a copy

    after = rig.restart()
    report = after.broker.reconcile()

    assert [(a.book_quantity, a.broker_quantity) for a in report.adopted] == [(3, 10)]
    assert report.unknown_orders == ()
    adopted = after.book.get("SBIN-EQ")
    assert (adopted.quantity, adopted.stop, adopted.target) == (10, 1.0, 9e3)
    assert adopted.last_ordertag == held.last_ordertag
    (event,) = after.events
    assert event.kind == EventKind.RECONCILE_MISMATCH and event.fields["protected"]
    assert_nothing_changes(after)


def test_a_position_only_the_broker_knows_is_adopted_without_exits(live_rig):
    rig = live_rig()
    rig.place_behind_the_kits_back("SELL", 4)

    report = rig.broker.reconcile()

    assert [(a.book_quantity, a.broker_quantity) for a in report.adopted] == [(0, -4)]
    held = rig.book.get("SBIN-EQ")
    assert (held.quantity, held.stop, held.target, held.token) == (
        -4,
        None,
        None,
        "3045",
    )
    mismatch = [e for e in rig.events if e.fields.get("action") == "adopted"]
    assert "no stop or target" in mismatch[0].text


def test_an_unknown_broker_order_is_reported(live_rig):
    rig = live_rig()
    low = round(price_of(rig) * 0.5, 1)  # a limit far below: it rests, unfilled
    rig.place_behind_the_kits_back(
        "BUY", 2, ordertag="manual-7", ordertype="LIMIT", price=f"{low:.2f}"
    )

    report = rig.broker.reconcile()

    (stranger,) = report.unknown_orders
    assert (stranger.ordertag, stranger.status) == ("manual-7", "open")
    assert "does not know" in stranger.why
    assert report.adopted == () and rig.book.get("SBIN-EQ") is None
    (event,) = rig.events
    assert event.kind == EventKind.RECONCILE_MISMATCH
    assert event.fields["orderid"] == stranger.orderid


def test_a_clean_start_reports_nothing(live_rig):
    rig = live_rig()
    rig.broker.submit(SBIN, "BUY", 10, price_of(rig), reason="entry")
    rig.broker.submit(SBIN, "SELL", 10, price_of(rig), reason="exit")

    after = rig.restart()

    assert not after.broker.reconcile()
    assert after.events == []


# The rule that says a fill is already in the book.


def test_a_fill_is_applied_when_its_tag_is_the_positions_last_or_older(tmp_path):
    clock = ManualClock(MIDDAY)
    older, last, newer = (new_ordertag(clock) for _ in range(3))
    clock.advance(3600)
    much_newer = new_ordertag(clock)
    held = PositionRecord(
        "live", "SBIN-EQ", "3045", "NSE", 5, 800.0, last_ordertag=last
    )

    assert already_applied(held, older) and already_applied(held, last)
    assert not already_applied(held, newer)
    assert not already_applied(held, much_newer)
    assert not already_applied(replace(held, last_ordertag=""), older)
    assert not already_applied(None, older)


def test_the_book_writes_a_fills_ordertag_with_the_position(tmp_path):
    clock = ManualClock(MIDDAY)
    store = SqliteStore(tmp_path / "kit.sqlite3", clock)
    try:
        book = PositionBook("live", store, clock)
        tag = new_ordertag(clock)

        book.apply(Fill(SBIN, "BUY", 3, 800.0, clock.time(), tag))

        (stored,) = store.positions("live")
        assert stored.quantity == 3 and stored.last_ordertag == tag
        exit_tag = new_ordertag(clock)
        book.apply(Fill(SBIN, "SELL", 3, 801.0, clock.time(), exit_tag))
        (stored,) = store.positions("live")
        assert (stored.quantity, stored.last_ordertag) == (0, exit_tag)
    finally:
        store.close()
