"""The live broker on the simulator: fills, positions and P&L as the broker
keeps them, rejections, unknown outcomes and symbols with an order in flight."""

from __future__ import annotations

import pytest

from kit.broker.journal import IntentState, new_ordertag
from kit.broker.orders import OrderRequest
from kit.ops.events import EventKind, FaultKind
from kit.sim.chaos import FaultKind as SimFault
from kit.store import SqliteStore
from kit.trading.live import LiveBroker
from kit.trading.positions import Instrument, PositionBook
from tests.trading.conftest import SBIN, LaggingOrderBook


def last_price(rig, instrument: Instrument = SBIN) -> float:
    return rig.stack.client.ltp("NSE", instrument.symbol, instrument.token).ltp


def test_a_buy_then_a_sell_leave_the_positions_and_pnl_the_broker_shows(live_rig):
    rig = live_rig()
    price = last_price(rig)

    bought = rig.broker.submit(
        SBIN, "BUY", 10, price, reason="entry", stop=price - 20, target=price + 30
    )

    assert bought is not None and bought.quantity == 10 and bought.ordertag
    held = rig.book.get("SBIN-EQ")
    at_broker = rig.sim_position()
    assert held.quantity == int(at_broker["netqty"]) == 10
    assert held.avg_price == pytest.approx(float(at_broker["avgnetprice"]), abs=0.01)
    assert (held.stop, held.target) == (price - 20, price + 30)
    assert held.last_ordertag == bought.ordertag
    assert rig.store.positions("live") == [held]  # written before submit returned
    assert rig.stack.journal.get_intent(bought.ordertag).state is IntentState.ACCEPTED

    sold = rig.broker.submit(SBIN, "SELL", 10, last_price(rig), reason="target")

    assert sold is not None and sold.ordertag > bought.ordertag
    closed = rig.book.get("SBIN-EQ")
    at_broker = rig.sim_position()
    assert closed.quantity == int(at_broker["netqty"]) == 0
    assert closed.realised_pnl == pytest.approx(float(at_broker["realised"]), abs=0.01)
    assert closed.realised_pnl == pytest.approx((sold.price - bought.price) * 10)
    assert closed.last_ordertag == sold.ordertag
    assert rig.kinds() == [EventKind.POSITION_OPENED, EventKind.POSITION_CLOSED]
    assert rig.events[0].fields["ordertag"] == bought.ordertag
    assert rig.events[1].fields["realised_pnl"] == round(closed.realised_pnl, 2)
    assert len(rig.sim_orders()) == 2


def test_the_margin_available_is_the_brokers_rms_net(live_rig):
    rig = live_rig()
    rig.broker.submit(SBIN, "BUY", 10, last_price(rig), reason="entry")

    margin = rig.broker.margin_available()

    rms = rig.sim.desk.rms(rig.client_code)
    assert margin == pytest.approx(float(rms["net"]), abs=50.0)  # prices move
    assert margin < float(rms["availablecash"])


def test_insufficient_margin_is_an_order_rejected_event_with_the_fault(live_rig):
    rig = live_rig()
    rig.sim.desk.set_cash(rig.client_code, 100.0)

    fill = rig.broker.submit(SBIN, "BUY", 100, last_price(rig), reason="entry")

    assert fill is None
    (rejected,) = rig.events
    assert rejected.kind == EventKind.ORDER_REJECTED
    assert "insufficient margin" in rejected.text
    assert rejected.fields["fault"] == FaultKind.INSUFFICIENT_MARGIN
    assert rejected.fields["phase"] == "recovered"
    assert rejected.fields["incident"].startswith("insufficient_margin-")
    assert rejected.fields["began_s"] <= rejected.at.timestamp()
    tag = rejected.fields["ordertag"]
    assert rig.stack.journal.get_intent(tag).state is IntentState.REJECTED
    assert rig.book.get("SBIN-EQ") is None
    assert rig.broker.in_flight("SBIN-EQ") == ""  # a refusal leaves nothing open


def test_an_unknown_outcome_blocks_the_symbol_until_reconciled(live_rig):
    rig = live_rig(resolve_budget_s=3.0)
    rig.sim.chaos.inject(SimFault.CUT_BEFORE, "place_order", count=3)

    assert rig.broker.submit(SBIN, "BUY", 5, last_price(rig), reason="entry") is None
    again = rig.broker.submit(SBIN, "BUY", 5, last_price(rig), reason="entry")

    assert again is None
    assert rig.kinds() == [EventKind.ORDER_UNKNOWN, EventKind.TRADE_SKIPPED]
    assert rig.events[0].needs_person and rig.events[0].fields["blocked"]
    assert "reconcile" in rig.events[1].text
    assert rig.sim_orders() == []

    report = rig.broker.reconcile()

    assert [s.state for s in report.settled] == [IntentState.RESOLVED_ABSENT]
    assert rig.broker.in_flight("SBIN-EQ") == ""
    assert rig.broker.submit(SBIN, "BUY", 5, last_price(rig), reason="entry")
    assert len(rig.sim_orders()) == 1


def test_a_symbol_with_an_unsettled_intent_gets_no_new_order(live_rig):
    rig = live_rig()
    tag = new_ordertag(rig.sim.clock)
    rig.store.record_intent(tag, OrderRequest("SBIN-EQ", "3045", "BUY", 5).body(tag))
    rig.store.update(tag, "sent")

    refused = rig.broker.submit(SBIN, "SELL", 5, last_price(rig), reason="exit")
    other = rig.broker.submit(
        Instrument("INFY-EQ", "1594"), "BUY", 1, 1500.0, reason="entry"
    )

    assert refused is None and other is not None
    skipped = rig.of_kind(EventKind.TRADE_SKIPPED)
    assert len(skipped) == 1
    assert skipped[0].fields["in_flight"] == f"order {tag} is sent in the journal"
    assert [o["tradingsymbol"] for o in rig.sim_orders()] == ["INFY-EQ"]


def test_an_order_still_open_is_in_flight_then_applied_when_it_fills(live_rig):
    rig = live_rig(broker_options={"fill_checks": 2})
    rig.broker.client = LaggingOrderBook(rig.broker.client, reads=2)

    pending = rig.broker.submit(
        SBIN, "BUY", 5, last_price(rig), reason="entry", stop=1.0, target=5000.0
    )

    assert pending is None
    (placed,) = rig.events
    assert placed.kind == EventKind.ORDER_PLACED and "not filled yet" in placed.text
    assert "not filled yet" in rig.broker.in_flight("SBIN-EQ")
    assert rig.broker.submit(SBIN, "BUY", 5, 800.0, reason="entry") is None
    assert rig.book.get("SBIN-EQ") is None

    (fill,) = rig.broker.poll_open_orders()

    assert fill.ordertag == placed.fields["ordertag"] and fill.quantity == 5
    held = rig.book.get("SBIN-EQ")
    assert (held.quantity, held.stop, held.target) == (5, 1.0, 5000.0)
    assert rig.broker.in_flight("SBIN-EQ") == ""
    assert rig.broker.poll_open_orders() == []
    assert len(rig.sim_orders()) == 1


def test_a_live_broker_needs_the_live_book(live_rig, tmp_path):
    rig = live_rig()
    store = SqliteStore(tmp_path / "paper.sqlite3", rig.sim.clock)
    paper = PositionBook("paper", store, rig.sim.clock)
    try:
        with pytest.raises(ValueError, match="live book"):
            LiveBroker(rig.stack, paper, rig.sim.clock)
    finally:
        store.close()
