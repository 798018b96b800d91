"""kit.sim.orders: ids, the order and trade books' shape, lookups, counters."""

from __future__ import annotations

import threading
import uuid

import pytest

from kit.sim.orders import OrderRefused
from tests.sim.order_fakes import CLIENT, OTHER_CLIENT, Bench, body

# Every field of SMARTAPI.md §2.5's orderBook item, plus ordertag and the ids.
ORDER_BOOK_FIELDS = {
    "variety", "ordertype", "producttype", "duration", "price", "triggerprice",
    "quantity", "disclosedquantity", "squareoff", "stoploss", "trailingstoploss",
    "tradingsymbol", "transactiontype", "exchange", "symboltoken", "ordertag",
    "instrumenttype", "strikeprice", "optiontype", "expirydate", "lotsize",
    "cancelsize", "averageprice", "filledshares", "unfilledshares", "orderid",
    "text", "status", "orderstatus", "updatetime", "exchtime",
    "exchorderupdatetime", "fillid", "filltime", "parentorderid", "uniqueorderid",
    "exchangeorderid",
}  # fmt: skip
TRADE_BOOK_FIELDS = {
    "exchange", "producttype", "tradingsymbol", "instrumenttype", "symbolgroup",
    "strikeprice", "optiontype", "expirydate", "marketlot", "precision",
    "multiplier", "tradevalue", "transactiontype", "fillprice", "fillsize",
    "orderid", "fillid", "filltime",
}  # fmt: skip


def test_the_books_are_null_while_empty():
    bench = Bench()

    assert bench.desk.order_book(CLIENT) is None
    assert bench.desk.trade_book(CLIENT) is None


def test_an_order_book_entry_has_every_field_as_a_string():
    bench = Bench()

    orderid = bench.place(ordertag="bot-1")

    entry = bench.entry(orderid)
    assert set(entry) == ORDER_BOOK_FIELDS
    assert all(isinstance(value, str) for value in entry.values())
    assert entry["updatetime"] == "03-Dec-2026 10:00:00"
    assert entry["exchtime"] == "03-Dec-2026 10:00:00"
    assert entry["ordertag"] == "bot-1"
    assert entry["exchangeorderid"] != ""


def test_a_trade_book_entry_has_every_field_as_a_string():
    bench = Bench()
    bench.place()

    [trade] = bench.desk.trade_book(CLIENT) or []

    assert set(trade) == TRADE_BOOK_FIELDS
    assert all(isinstance(value, str) for value in trade.values())


def test_order_ids_are_fifteen_digits_from_the_date_and_a_sequence():
    bench = Bench()

    first, second = bench.place(), bench.place()

    assert len(first) == 15
    assert first.isdigit()
    assert first.startswith("261203")
    assert int(second) == int(first) + 1


def test_unique_order_ids_are_uuids_repeated_by_the_same_seed():
    def ids(seed: int) -> list[tuple[str, str]]:
        bench = Bench(seed=seed)
        replies = [bench.desk.place(CLIENT, body()) for _ in range(3)]
        return [(r["orderid"], r["uniqueorderid"]) for r in replies]

    same_a, same_b, other = ids(7), ids(7), ids(8)

    assert same_a == same_b
    assert [o for o, _ in other] == [o for o, _ in same_a]
    assert [u for _, u in other] != [u for _, u in same_a]
    assert len({u for _, u in same_a}) == 3
    assert all(uuid.UUID(u).version == 4 for _, u in same_a)


def test_accounts_are_independent():
    bench = Bench()

    bench.place()

    assert bench.desk.order_book(OTHER_CLIENT) is None
    assert bench.desk.trade_book(OTHER_CLIENT) is None
    assert bench.desk.counters(OTHER_CLIENT) == {}


def test_find_by_tag_returns_the_newest_order_with_that_tag():
    bench = Bench()
    bench.place(ordertag="entry-1", ordertype="LIMIT", price="790")
    newest = bench.place(ordertag="entry-1")
    bench.place(ordertag="exit-1", client=OTHER_CLIENT)

    found = bench.desk.find_by_tag(CLIENT, "entry-1")

    assert found is not None
    assert found["orderid"] == newest
    assert bench.desk.find_by_tag(CLIENT, "exit-1") is None
    assert bench.desk.find_by_tag(CLIENT, "") is None


def test_order_details_finds_an_order_by_its_unique_id():
    bench = Bench()
    orderid = bench.place()
    unique = bench.entry(orderid)["uniqueorderid"]

    details = bench.desk.order_details(CLIENT, unique)

    assert details["orderid"] == orderid
    with pytest.raises(OrderRefused) as caught:
        bench.desk.order_details(OTHER_CLIENT, unique)
    assert caught.value.code == "AB1013"


def test_counters_sort_requests_by_outcome():
    bench = Bench()
    bench.place()  # complete
    bench.place(producttype="DELIVERY", quantity="500")  # rejected: funds
    resting = bench.place(ordertype="LIMIT", price="790")
    bench.desk.cancel(CLIENT, resting, "NORMAL")
    with pytest.raises(OrderRefused):
        bench.place(variety="SPECIAL")
    bench.place(client=OTHER_CLIENT)

    mine = bench.desk.counters(CLIENT)
    everyone = bench.desk.counters()

    assert mine == {
        "received": 4,
        "refused": 1,
        "accepted": 2,
        "rejected": 1,
        "complete": 1,
        "cancelled": 1,
    }
    assert everyone["received"] == 5
    assert everyone["complete"] == 2


def test_listeners_hear_every_change_and_a_failing_one_harms_nothing():
    bench = Bench()
    heard: list[tuple[str, str, str]] = []

    def failing(client: str, entry: dict[str, str]) -> None:
        raise RuntimeError("listener bug")

    bench.desk.on_update(failing)
    bench.desk.on_update(lambda c, e: heard.append((c, e["orderid"], e["status"])))
    orderid = bench.place(ordertype="LIMIT", price="795")
    bench.move("3045", 790.0)

    assert heard == [(CLIENT, orderid, "open"), (CLIENT, orderid, "complete")]


def test_concurrent_orders_from_many_threads_get_distinct_ids():
    bench = Bench()
    bench.desk.set_cash(CLIENT, 10_000_000.0)
    ids: list[str] = []
    ids_lock = threading.Lock()

    def place_many() -> None:
        for _ in range(25):
            orderid = bench.place()
            with ids_lock:
                ids.append(orderid)

    threads = [threading.Thread(target=place_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert len(set(ids)) == 100
    assert bench.desk.counters(CLIENT)["complete"] == 100
    assert len(bench.desk.trade_book(CLIENT) or []) == 100
