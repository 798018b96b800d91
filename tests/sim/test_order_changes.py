"""kit.sim.orders: modifying and cancelling orders."""

from __future__ import annotations

import pytest

from kit.sim.orders import OrderRefused
from tests.sim.order_fakes import CLIENT, OTHER_CLIENT, SBIN, Bench


def test_modify_moves_a_resting_limit_to_a_marketable_price_and_it_fills():
    bench = Bench()
    orderid = bench.place(ordertype="LIMIT", price="790")
    unique = bench.entry(orderid)["uniqueorderid"]

    reply = bench.desk.modify(CLIENT, {"orderid": orderid, "price": "800"})

    assert reply == {"orderid": orderid, "uniqueorderid": unique}
    assert bench.status(orderid) == "complete"
    assert bench.entry(orderid)["averageprice"] == "800.00"


def test_modify_changes_quantity_and_keeps_the_order_open():
    bench = Bench()
    orderid = bench.place(ordertype="LIMIT", price="790")
    bench.clock.advance(30)

    bench.desk.modify(
        CLIENT, {"orderid": orderid, "quantity": "20", "variety": "NORMAL"}
    )

    entry = bench.entry(orderid)
    assert (entry["status"], entry["quantity"], entry["price"]) == (
        "open",
        "20",
        "790.00",
    )
    assert entry["updatetime"] == "03-Dec-2026 10:00:30"


def test_modify_to_market_fills_at_the_current_price():
    bench = Bench()
    orderid = bench.place(ordertype="LIMIT", price="790")
    bench.market.prices[SBIN.token] = 801.5

    bench.desk.modify(CLIENT, {"orderid": orderid, "ordertype": "MARKET"})

    assert bench.entry(orderid)["averageprice"] == "801.50"


def test_modify_moves_a_stop_trigger():
    bench = Bench()
    stop = {"variety": "STOPLOSS", "ordertype": "STOPLOSS_MARKET"}
    orderid = bench.place(transactiontype="SELL", triggerprice="790", **stop)

    bench.desk.modify(CLIENT, {"orderid": orderid, "triggerprice": "795"})
    fills = bench.move(SBIN.token, 794.0)

    assert fills == 1
    assert bench.entry(orderid)["triggerprice"] == "795.00"


def test_a_modify_that_breaks_a_rule_is_refused_and_changes_nothing():
    bench = Bench()
    orderid = bench.place(ordertype="LIMIT", price="790")

    with pytest.raises(OrderRefused) as caught:
        bench.desk.modify(CLIENT, {"orderid": orderid, "price": "790.03"})

    assert caught.value.code == "AB9008"
    assert bench.entry(orderid)["price"] == "790.00"
    assert bench.desk.counters(CLIENT)["modify_refused"] == 1


def test_a_modify_beyond_the_funds_is_refused():
    bench = Bench()
    orderid = bench.place(ordertype="LIMIT", price="790")

    with pytest.raises(OrderRefused, match="Insufficient funds"):
        bench.desk.modify(CLIENT, {"orderid": orderid, "quantity": "1000"})

    assert bench.entry(orderid)["quantity"] == "10"


def test_cancel_ends_an_open_order_and_a_second_cancel_is_refused():
    bench = Bench()
    orderid = bench.place(ordertype="LIMIT", price="790")

    reply = bench.desk.cancel(CLIENT, orderid, "NORMAL")
    entry = bench.entry(orderid)
    with pytest.raises(OrderRefused) as again:
        bench.desk.cancel(CLIENT, orderid, "NORMAL")

    assert reply["orderid"] == orderid
    assert (entry["status"], entry["orderstatus"]) == ("cancelled", "cancelled")
    assert (entry["cancelsize"], entry["unfilledshares"]) == ("10", "0")
    assert again.value.code == "AB1013"
    assert bench.move(SBIN.token, 780.0) == 0


@pytest.mark.parametrize("action", ["modify", "cancel"])
def test_unknown_finished_or_foreign_orders_cannot_be_changed(action):
    bench = Bench()
    done = bench.place()
    foreign = bench.place(client=OTHER_CLIENT, ordertype="LIMIT", price="790")

    for orderid in ("261203999999999", done, foreign):
        with pytest.raises(OrderRefused) as caught:
            if action == "modify":
                bench.desk.modify(CLIENT, {"orderid": orderid, "price": "795"})
            else:
                bench.desk.cancel(CLIENT, orderid, "NORMAL")
        assert caught.value.code == "AB1013"
        assert caught.value.message.startswith("Order not found")


def test_cancel_with_an_unknown_variety_is_refused():
    bench = Bench()
    orderid = bench.place(ordertype="LIMIT", price="790")

    with pytest.raises(OrderRefused) as caught:
        bench.desk.cancel(CLIENT, orderid, "SPECIAL")

    assert caught.value.code == "AB1008"
    assert bench.status(orderid) == "open"
