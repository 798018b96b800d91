"""The official SDK, unchanged, against the simulator: REST, frames and the feed.

``SmartConnect(root=<simulator>)`` logs in with a TOTP, reads candles and LTP,
places an order and reads the order book, positions and funds. Frames the
simulator makes are read alike by the SDK's parser and by kit.broker.wire. A
plain websocket-client connection subscribes and receives ticks and a pong.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pyotp
import pytest
import websocket
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kit.broker import wire
from kit.broker.routes import FRAME_LENGTH, Mode
from kit.clock import IST
from kit.sdk_referee import sdk_connect
from kit.sim.market import Market
from kit.sim.runner import SimConfig

pytestmark = pytest.mark.conformance

START = datetime(2026, 12, 3, 11, 0, tzinfo=IST)  # a Thursday, mid-session
TOKENS = ["3045", "2885", "1594", "11536", "99926000"]


@pytest.fixture
def sim(simulator):
    return simulator(SimConfig(start=START, speed=1.0))


def _login(sim):
    smart = sdk_connect(sim.rest_url, api_key=sim.account.api_key)
    totp = pyotp.TOTP(sim.account.totp_secret).at(sim.clock.time())
    session = smart.generateSession(sim.account.client_code, sim.account.mpin, totp)
    return smart, session


def test_the_sdk_logs_in_with_a_totp_and_reads_its_profile(sim):
    _, session = _login(sim)

    assert session["status"] is True
    assert session["data"]["clientcode"] == sim.account.client_code
    assert session["data"]["jwtToken"].startswith("Bearer ")
    assert session["data"]["feedToken"]


def test_the_sdk_reads_candles_equal_to_the_ground_truth(sim):
    smart, _ = _login(sim)

    reply = smart.getCandleData(
        {
            "exchange": "NSE",
            "symboltoken": "3045",
            "interval": "ONE_MINUTE",
            "fromdate": "2026-12-03 09:15",
            "todate": "2026-12-03 10:00",
        }
    )

    truth = sim.market.candles("3045", START.replace(hour=9, minute=15),
                               START.replace(hour=10, minute=1))  # fmt: skip
    assert reply["status"] is True
    assert reply["data"] == [c.broker_row() for c in truth]
    assert len(reply["data"]) == 46


def test_the_sdk_reads_ltp_places_an_order_and_sees_it_filled(sim):
    smart, _ = _login(sim)

    ltp = smart.ltpData("NSE", "SBIN-EQ", "3045")
    orderid = smart.placeOrder(
        {
            "variety": "NORMAL",
            "tradingsymbol": "SBIN-EQ",
            "symboltoken": "3045",
            "transactiontype": "BUY",
            "exchange": "NSE",
            "ordertype": "MARKET",
            "producttype": "INTRADAY",
            "duration": "DAY",
            "price": "0",
            "squareoff": "0",
            "stoploss": "0",
            "quantity": "10",
            "ordertag": "kit-conformance",
        }
    )
    book = smart.orderBook()
    positions = smart.position()
    funds = smart.rmsLimit()

    assert ltp["status"] is True and ltp["data"]["ltp"] > 0
    assert orderid and orderid.isdigit()
    (order,) = book["data"]
    assert (order["orderid"], order["status"]) == (orderid, "complete")
    assert order["ordertag"] == "kit-conformance"
    (held,) = positions["data"]
    assert held["tradingsymbol"] == "SBIN-EQ" and held["netqty"] == "10"
    assert float(funds["data"]["net"]) > 0


def test_an_sdk_failure_reply_is_the_normal_dialect(sim):
    smart, _ = _login(sim)

    reply = smart.getCandleData(
        {
            "exchange": "NSE",
            "symboltoken": "3045",
            "interval": "ONE_MINUTE",
            "fromdate": "2026-12-03 10:00",
            "todate": "2026-12-03 09:15",
        }
    )

    assert reply == {
        "status": False,
        "message": "Something Went Wrong, Please Try After Sometime",
        "errorcode": "AB1004",
        "data": None,
    }


MARKET = Market(seed=7)
DAY_OPEN = datetime(2026, 12, 3, 9, 15, tzinfo=IST).timestamp()
FRAMES = settings(
    max_examples=10_000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@pytest.mark.parametrize("mode", [Mode.LTP, Mode.QUOTE, Mode.SNAP_QUOTE])
def test_simulator_frames_decode_alike_in_the_sdk_and_in_kit(sdk_parse, mode):
    @FRAMES
    @given(token=st.sampled_from(TOKENS), second=st.integers(0, 22_499))
    def check(token: str, second: int) -> None:
        frame = wire.encode(MARKET.tick(token, mode, DAY_OPEN + second))
        ours, theirs = wire.decode(frame), sdk_parse(frame)

        assert len(frame) == FRAME_LENGTH[mode]
        assert ours.token == theirs["token"] == token
        assert ours.sequence == theirs["sequence_number"]
        assert ours.exchange_ts_ms == theirs["exchange_timestamp"]
        assert round(ours.ltp * 100) == theirs["last_traded_price"]
        if isinstance(ours, wire.SnapQuoteTick):
            bids = [round(p * 100) for p in ours.bid_prices]
            assert bids == [lv["price"] for lv in theirs["best_5_buy_data"]]
            asks = [round(p * 100) for p in ours.ask_prices]
            assert asks == [lv["price"] for lv in theirs["best_5_sell_data"]]

    check()


def test_a_plain_websocket_client_subscribes_and_gets_ticks_and_a_pong(sim):
    _, session = _login(sim)
    data = session["data"]
    ws = websocket.create_connection(
        sim.feed_url,
        header=[
            f"Authorization: {data['jwtToken']}",
            f"x-api-key: {sim.account.api_key}",
            f"x-client-code: {sim.account.client_code}",
            f"x-feed-token: {data['feedToken']}",
        ],
        timeout=5,
    )
    try:
        tokens = [{"exchangeType": 1, "tokens": ["3045"]}]
        params = {"mode": 1, "tokenList": tokens}
        ws.send(
            json.dumps({"correlationID": "abcde12345", "action": 1, "params": params})
        )
        ticks = [wire.decode(ws.recv()) for _ in range(3)]
        ws.send("ping")
        replies = [ws.recv() for _ in range(5)]
    finally:
        ws.close()

    assert {t.token for t in ticks} == {"3045"}
    assert all(isinstance(t, wire.LtpTick) for t in ticks)
    assert "pong" in replies
    assert ticks[-1].exchange_ts_ms <= (START + timedelta(minutes=5)).timestamp() * 1000
