"""kit.sim.orders: refusals, rejections in the book, and fills."""

from __future__ import annotations

from datetime import datetime

import pytest

from kit.clock import IST
from kit.sim.orders import OrderRefused
from tests.sim.order_fakes import CLIENT, INFY, LOTS, SBIN, Bench, body

# Refusals: the request is answered with an error code and no order exists.


@pytest.mark.parametrize(
    ("fields", "code", "words"),
    [
        ({"ordertag": "x" * 21}, "AB4008", "Ordertag length should not exceed 20"),
        ({"symboltoken": "999999"}, "AB1009", "Symbol Not Found"),
        ({"symboltoken": None, "tradingsymbol": "NOPE-EQ"}, "AB1009", "Symbol Not"),
        ({"tradingsymbol": INFY.symbol}, "AB1009", "Symbol Not Found"),
        ({"symboltoken": None, "tradingsymbol": None}, "AB4018", "cannot be empty"),
        ({"variety": "SPECIAL"}, "AB1008", "Invalid Order Variety"),
        ({"variety": None}, "AB1008", "Invalid Order Variety"),
        ({"variety": "STOPLOSS"}, "AB1008", "Invalid Order Variety"),
        (
            {"ordertype": "STOPLOSS_MARKET", "triggerprice": "790"},
            "AB1008",
            "Invalid Order Variety",
        ),
        ({"variety": "ROBO"}, "AB2002", "ROBO order is block"),
        ({"producttype": "FUTURES"}, "AB1012", "Invalid Product Type"),
        ({"producttype": None}, "AB1012", "Invalid Product Type"),
        ({"transactiontype": "HOLD"}, "AB9014", "transactiontype"),
        ({"exchange": "NYSE"}, "AB9010", "exchange"),
        ({"exchange": "BSE"}, "AB9010", "trades on NSE"),
        ({"ordertype": "ICEBERG"}, "AB9001", "ordertype"),
        ({"ordertype": None}, "AB9001", "ordertype is missing"),
        ({"duration": "GTC"}, "AB9001", "duration"),
        ({"duration": None}, "AB9001", "duration is missing"),
        ({"quantity": "ten"}, "AB9006", "quantity"),
        ({"quantity": "0"}, "AB9006", "quantity"),
        ({"quantity": "2.5"}, "AB9006", "quantity"),
        ({"quantity": None}, "AB9006", "quantity"),
        ({"quantity": ["10"]}, "AB9001", "quantity must be a string"),
        ({"ordertype": "LIMIT", "price": "0"}, "AB9008", "price is required"),
        ({"ordertype": "LIMIT", "price": "abc"}, "AB9008", "price"),
        ({"price": "-5"}, "AB9008", "price"),
        (
            {"variety": "STOPLOSS", "ordertype": "STOPLOSS_MARKET"},
            "AB9009",
            "triggerprice is required",
        ),
        ({"triggerprice": "nan"}, "AB9009", "triggerprice"),
        ({"disclosedquantity": "lots"}, "AB9007", "disclosedquantity"),
        ({"squareoff": "x"}, "AB9001", "squareoff"),
    ],
)
def test_place_refuses_a_malformed_request_with_its_code(fields, code, words):
    bench = Bench()

    with pytest.raises(OrderRefused) as caught:
        bench.desk.place(CLIENT, body(**fields))

    assert caught.value.code == code
    assert words in caught.value.message
    assert bench.desk.order_book(CLIENT) is None
    assert bench.desk.counters(CLIENT) == {"received": 1, "refused": 1}


def test_an_ordertag_of_twenty_characters_is_taken_and_echoed():
    bench = Bench()

    orderid = bench.place(ordertag="t" * 20)

    assert bench.entry(orderid)["ordertag"] == "t" * 20


def test_an_order_by_symbol_alone_finds_the_token():
    bench = Bench()

    orderid = bench.place(symboltoken=None)

    assert bench.entry(orderid)["symboltoken"] == SBIN.token


def test_place_answers_with_script_orderid_and_uniqueorderid():
    bench = Bench()

    reply = bench.desk.place(CLIENT, body())

    assert reply["script"] == "SBIN-EQ"
    assert set(reply) == {"script", "orderid", "uniqueorderid"}


# Rejections: the order gets an id and shows as rejected in the book.


def test_an_order_beyond_the_funds_is_rejected_in_the_book_with_the_amounts():
    bench = Bench()

    orderid = bench.place(producttype="DELIVERY", quantity="200")  # 160000 rupees

    entry = bench.entry(orderid)
    assert entry["status"] == entry["orderstatus"] == "rejected"
    assert "insufficient funds" in entry["text"].lower()
    assert "100000.00" in entry["text"]
    assert "160000.00" in entry["text"]
    assert entry["exchtime"] == ""
    assert bench.desk.trade_book(CLIENT) is None


def test_intraday_needs_a_fifth_of_the_order_value():
    bench = Bench()

    taken = bench.place(quantity="600")  # 480000 at 800: 96000 of margin
    refused = bench.place(quantity="30")  # 4800 more than the 4000 left

    assert bench.status(taken) == "complete"
    assert bench.status(refused) == "rejected"
    assert "4000.00" in bench.entry(refused)["text"]


def test_a_quantity_off_the_lot_size_is_rejected():
    bench = Bench()

    odd = bench.place(symboltoken=LOTS.token, tradingsymbol=LOTS.symbol, quantity="30")
    whole = bench.place(
        symboltoken=LOTS.token, tradingsymbol=LOTS.symbol, quantity="50"
    )

    assert bench.status(odd) == "rejected"
    assert "lot size 25" in bench.entry(odd)["text"]
    assert bench.status(whole) == "complete"


def test_a_price_off_the_tick_size_is_rejected():
    bench = Bench()

    orderid = bench.place(ordertype="LIMIT", price="799.97")

    assert bench.status(orderid) == "rejected"
    assert "tick size 0.05" in bench.entry(orderid)["text"]


@pytest.mark.parametrize(
    "when",
    [
        datetime(2026, 12, 3, 8, 0, tzinfo=IST),  # before the open
        datetime(2026, 12, 3, 15, 45, tzinfo=IST),  # after the close
        datetime(2026, 12, 5, 11, 0, tzinfo=IST),  # a Saturday
    ],
)
def test_an_order_outside_the_session_is_rejected(when):
    bench = Bench(start=when)

    orderid = bench.place()

    assert bench.status(orderid) == "rejected"
    assert "Market is closed" in bench.entry(orderid)["text"]


def test_an_amo_order_waits_for_the_open_and_then_fills():
    bench = Bench(start=datetime(2026, 12, 3, 8, 0, tzinfo=IST))

    orderid = bench.place(variety="AMO", ordertype="LIMIT", price="800")
    waiting = bench.status(orderid)
    bench.clock.advance_to(datetime(2026, 12, 3, 9, 15, tzinfo=IST))
    fills = bench.desk.match()

    assert waiting == "open"
    assert fills == 1
    assert bench.status(orderid) == "complete"


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"transactiontype": "SELL", "triggerprice": "805"}, "below the last"),
        ({"transactiontype": "BUY", "triggerprice": "795"}, "above the last"),
        (
            {"ordertype": "STOPLOSS_LIMIT", "triggerprice": "810", "price": "805"},
            "not be below its trigger",
        ),
        ({"triggerprice": "810.02"}, "tick size"),
    ],
)
def test_a_stop_on_the_wrong_side_or_off_tick_is_rejected(fields, words):
    bench = Bench()
    stop = {"variety": "STOPLOSS", "ordertype": "STOPLOSS_MARKET", **fields}

    orderid = bench.place(**stop)

    assert bench.status(orderid) == "rejected"
    assert words in bench.entry(orderid)["text"]


# Fills.


def test_a_market_order_fills_at_once_at_the_current_price():
    bench = Bench()
    bench.clock.advance(5)

    orderid = bench.place()

    entry = bench.entry(orderid)
    assert entry["status"] == "complete"
    assert entry["averageprice"] == "800.00"
    assert entry["filledshares"] == "10"
    assert entry["unfilledshares"] == "0"
    assert (SBIN.token, bench.clock.time()) in bench.market.asked
    [trade] = bench.desk.trade_book(CLIENT) or []
    assert trade["orderid"] == orderid
    assert trade["fillprice"] == "800.00"
    assert trade["fillsize"] == "10"
    assert trade["tradevalue"] == "8000.00"
    assert trade["filltime"] == "10:00:05"


def test_a_limit_order_rests_until_the_price_crosses_then_fills_at_its_limit():
    bench = Bench()

    orderid = bench.place(ordertype="LIMIT", price="795")
    resting = bench.status(orderid)
    no_fill = bench.move(SBIN.token, 796.0)
    still = bench.status(orderid)
    fill = bench.move(SBIN.token, 794.5, after_s=60)

    assert (resting, no_fill, still) == ("open", 0, "open")
    assert fill == 1
    entry = bench.entry(orderid)
    assert entry["status"] == "complete"
    assert entry["averageprice"] == "795.00"
    assert entry["filltime"] == "10:01:01"
    [trade] = bench.desk.trade_book(CLIENT) or []
    assert trade["fillprice"] == "795.00"


def test_a_marketable_sell_limit_fills_on_arrival_at_its_limit():
    bench = Bench()

    orderid = bench.place(transactiontype="SELL", ordertype="LIMIT", price="790")

    assert bench.status(orderid) == "complete"
    assert bench.entry(orderid)["averageprice"] == "790.00"


def test_a_stop_market_waits_for_its_trigger_then_fills_at_the_price():
    bench = Bench()

    orderid = bench.place(
        variety="STOPLOSS",
        ordertype="STOPLOSS_MARKET",
        transactiontype="SELL",
        triggerprice="790",
    )
    pending = bench.status(orderid)
    bench.move(SBIN.token, 790.05)
    still = bench.status(orderid)
    fills = bench.move(SBIN.token, 790.0)  # touching the trigger is enough

    assert (pending, still, fills) == ("trigger pending", "trigger pending", 1)
    assert bench.entry(orderid)["averageprice"] == "790.00"


def test_a_stop_limit_triggers_then_fills_only_within_its_limit():
    bench = Bench()

    orderid = bench.place(
        variety="STOPLOSS",
        ordertype="STOPLOSS_LIMIT",
        triggerprice="810",
        price="812",
    )
    bench.move(SBIN.token, 815.0)  # triggered, but above the limit
    triggered = bench.status(orderid)
    fills = bench.move(SBIN.token, 811.0)

    assert triggered == "open"
    assert fills == 1
    assert bench.entry(orderid)["averageprice"] == "812.00"


def test_a_triggered_stop_limit_can_still_be_modified():
    bench = Bench()
    orderid = bench.place(
        variety="STOPLOSS",
        ordertype="STOPLOSS_LIMIT",
        triggerprice="810",
        price="812",
    )
    bench.move(SBIN.token, 815.0)  # triggered: the trigger now sits below the price

    bench.desk.modify(CLIENT, {"orderid": orderid, "quantity": "20"})
    fills = bench.move(SBIN.token, 811.0)

    assert fills == 1
    assert bench.entry(orderid)["filledshares"] == "20"


def test_an_ioc_order_not_marketable_on_arrival_is_cancelled():
    bench = Bench()

    orderid = bench.place(ordertype="LIMIT", price="790", duration="IOC")

    entry = bench.entry(orderid)
    assert entry["status"] == "cancelled"
    assert entry["cancelsize"] == "10"
    assert "IOC" in entry["text"]


def test_open_orders_expire_at_the_close_and_nothing_fills_after_it():
    bench = Bench()
    orderid = bench.place(ordertype="LIMIT", price="790")

    bench.clock.advance_to(datetime(2026, 12, 3, 15, 31, tzinfo=IST))
    bench.market.prices[SBIN.token] = 780.0
    fills = bench.desk.match()

    assert fills == 0
    entry = bench.entry(orderid)
    assert entry["status"] == "cancelled"
    assert "close" in entry["text"]
    assert bench.desk.counters(CLIENT)["expired"] == 1
