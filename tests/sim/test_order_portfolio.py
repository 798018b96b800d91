"""kit.sim.orders with kit.sim.portfolio: positions, P&L, margin and RMS."""

from __future__ import annotations

import pytest

from kit.sim.portfolio import Position
from tests.sim.order_fakes import CLIENT, OTHER_CLIENT, SBIN, Bench

RMS_FIELDS = {
    "net", "availablecash", "availableintradaypayin", "availablelimitmargin",
    "collateral", "m2munrealized", "m2mrealized", "utiliseddebits", "utilisedspan",
    "utilisedoptionpremium", "utilisedholdingsales", "utilisedexposure",
    "utilisedturnover", "utilisedpayout",
}  # fmt: skip
POSITION_FIELDS = {
    "exchange", "symboltoken", "producttype", "tradingsymbol", "symbolname",
    "instrumenttype", "priceden", "pricenum", "genden", "gennum", "precision",
    "multiplier", "boardlotsize", "buyqty", "sellqty", "buyamount", "sellamount",
    "symbolgroup", "strikeprice", "optiontype", "expirydate", "lotsize", "cfbuyqty",
    "cfsellqty", "cfbuyamount", "cfsellamount", "buyavgprice", "sellavgprice",
    "avgnetprice", "netvalue", "netqty", "totalbuyvalue", "totalsellvalue",
    "cfbuyavgprice", "cfsellavgprice", "totalbuyavgprice", "totalsellavgprice",
    "netprice", "ltp", "pnl", "realised", "unrealised",
}  # fmt: skip


def only_position(bench: Bench, client: str = CLIENT) -> dict[str, str]:
    [position] = bench.desk.positions(client) or []
    return position


def test_a_fresh_account_has_its_cash_and_no_positions():
    bench = Bench()

    rms = bench.desk.rms(CLIENT)

    assert set(rms) == RMS_FIELDS
    assert all(isinstance(value, str) for value in rms.values())
    assert (rms["net"], rms["availablecash"]) == ("100000.00", "100000.00")
    assert (rms["utiliseddebits"], rms["m2munrealized"]) == ("0.00", "0.00")
    assert bench.desk.positions(CLIENT) is None


def test_a_round_trip_realises_its_profit_into_cash():
    bench = Bench()

    bench.place(quantity="10")  # buy at 800
    bench.move(SBIN.token, 820.0)
    open_position = only_position(bench)
    open_rms = bench.desk.rms(CLIENT)
    bench.place(transactiontype="SELL", quantity="10")  # sell at 820
    closed = only_position(bench)
    closed_rms = bench.desk.rms(CLIENT)

    assert set(open_position) == POSITION_FIELDS
    assert open_position["netqty"] == "10"
    assert open_position["ltp"] == "820.00"
    assert open_position["buyavgprice"] == open_position["avgnetprice"] == "800.00"
    assert open_position["netvalue"] == "-8000.00"
    assert (open_position["unrealised"], open_position["realised"]) == (
        "200.00",
        "0.00",
    )
    assert open_position["pnl"] == "200.00"
    assert open_rms["m2munrealized"] == "200.00"
    assert open_rms["utiliseddebits"] == "1600.00"  # 20 % of 8000

    assert (closed["netqty"], closed["buyqty"], closed["sellqty"]) == ("0", "10", "10")
    assert closed["sellavgprice"] == "820.00"
    assert closed["netvalue"] == "200.00"
    assert (closed["realised"], closed["unrealised"], closed["pnl"]) == (
        "200.00",
        "0.00",
        "200.00",
    )
    assert closed_rms["availablecash"] == closed_rms["net"] == "100200.00"
    assert closed_rms["m2mrealized"] == "200.00"
    assert closed_rms["utiliseddebits"] == "0.00"


def test_a_short_round_trip_profits_when_the_price_falls():
    bench = Bench()

    bench.place(transactiontype="SELL", quantity="10")
    bench.move(SBIN.token, 780.0)
    bench.place(transactiontype="BUY", quantity="10")

    assert only_position(bench)["realised"] == "200.00"
    assert bench.desk.rms(CLIENT)["availablecash"] == "100200.00"


def test_unrealised_losses_reduce_the_margin_left_and_profits_do_not_add_to_it():
    bench = Bench()
    bench.place(quantity="10")

    bench.move(SBIN.token, 780.0)
    losing = bench.desk.rms(CLIENT)
    bench.move(SBIN.token, 820.0)
    winning = bench.desk.rms(CLIENT)

    assert (losing["m2munrealized"], losing["net"]) == ("-200.00", "98200.00")
    assert (winning["m2munrealized"], winning["net"]) == ("200.00", "98400.00")


def test_an_open_order_blocks_margin_until_it_is_cancelled():
    bench = Bench()

    orderid = bench.place(ordertype="LIMIT", price="790", producttype="DELIVERY")
    blocked = bench.desk.rms(CLIENT)
    bench.desk.cancel(CLIENT, orderid, "NORMAL")
    released = bench.desk.rms(CLIENT)

    assert (blocked["utiliseddebits"], blocked["net"]) == ("7900.00", "92100.00")
    assert (released["utiliseddebits"], released["net"]) == ("0.00", "100000.00")


def test_delivery_blocks_the_full_value():
    bench = Bench()

    bench.place(producttype="DELIVERY", quantity="100")

    assert bench.desk.rms(CLIENT)["utiliseddebits"] == "80000.00"


def test_a_sell_that_reduces_a_long_needs_no_extra_margin():
    bench = Bench()
    bench.place(producttype="DELIVERY", quantity="120")  # 96000 of 100000 blocked
    exit_fields = {"transactiontype": "SELL", "producttype": "DELIVERY"}

    too_big = bench.place(ordertype="LIMIT", price="900", quantity="130", **exit_fields)
    exit_order = bench.place(
        ordertype="LIMIT", price="900", quantity="120", **exit_fields
    )
    second_exit = bench.place(
        ordertype="LIMIT", price="900", quantity="120", **exit_fields
    )
    bench.move(SBIN.token, 900.0)

    assert bench.status(too_big) == "rejected"  # 10 of it would open a short
    assert "9000.00" in bench.entry(too_big)["text"]
    assert bench.status(exit_order) == "complete"
    assert bench.status(second_exit) == "rejected"  # the first exit already covers it
    assert bench.desk.rms(CLIENT)["availablecash"] == "112000.00"


def test_set_cash_changes_an_accounts_opening_cash_only():
    bench = Bench()

    bench.desk.set_cash(CLIENT, 1000.0)
    orderid = bench.place(producttype="DELIVERY", quantity="2")

    assert bench.status(orderid) == "rejected"
    assert "1000.00" in bench.entry(orderid)["text"]
    assert bench.desk.rms(OTHER_CLIENT)["availablecash"] == "100000.00"


def test_positions_are_valued_at_the_instant_asked_for():
    bench = Bench()
    bench.place()
    at_s = bench.clock.time() + 120

    bench.desk.positions(CLIENT, at_s)
    bench.desk.rms(CLIENT, at_s)

    assert bench.market.asked[-1] == (SBIN.token, at_s)
    assert bench.desk.positions(OTHER_CLIENT) is None


def test_intraday_and_delivery_positions_are_kept_apart():
    bench = Bench()

    bench.place(producttype="INTRADAY", quantity="5")
    bench.place(producttype="DELIVERY", quantity="7")

    positions = bench.desk.positions(CLIENT) or []
    by_product = {p["producttype"]: p["netqty"] for p in positions}
    assert by_product == {"INTRADAY": "5", "DELIVERY": "7"}


def make_position() -> Position:
    return Position("3045", "SBIN-EQ", "SBIN", "NSE", "INTRADAY", 1)


def test_a_position_averages_fills_in_its_direction():
    position = make_position()

    position.apply_fill("BUY", 10, 100.0)
    position.apply_fill("BUY", 30, 104.0)

    assert position.net_qty == 40
    assert position.net_avg_rupees == pytest.approx(103.0)
    assert position.realised_rupees == 0.0
    assert position.margin_rupees() == pytest.approx(40 * 103.0 * 0.2)


def test_a_position_turned_over_realises_the_closed_part_and_opens_the_rest():
    position = make_position()

    position.apply_fill("BUY", 10, 100.0)
    position.apply_fill("SELL", 15, 110.0)

    assert position.net_qty == -5
    assert position.realised_rupees == pytest.approx(100.0)
    assert position.net_avg_rupees == pytest.approx(110.0)
    assert position.unrealised_rupees(108.0) == pytest.approx(10.0)


def test_a_second_round_trip_realises_against_its_own_entry():
    position = make_position()

    for side, price in (("BUY", 100.0), ("SELL", 110.0), ("BUY", 120.0)):
        position.apply_fill(side, 10, price)

    assert position.realised_rupees == pytest.approx(100.0)
    assert (position.net_qty, position.net_avg_rupees) == (10, pytest.approx(120.0))
