"""The simulator's REST routes seen from a plain HTTP client, faults included."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pyotp
import pytest
import requests

from kit.broker.routes import HEADER_API_KEY, RATE_LIMIT_TEXT, ROUTES
from kit.clock import IST, ManualClock
from kit.sim.chaos import FaultKind
from kit.sim.runner import SimConfig

START = datetime(2026, 12, 3, 11, 0, tzinfo=IST)


class Client:
    """Just enough of a SmartAPI client to poke the simulator."""

    def __init__(self, sim: Any) -> None:
        self.sim = sim
        self.jwt = ""

    def login(self) -> dict[str, Any]:
        account = self.sim.account
        totp = pyotp.TOTP(account.totp_secret).at(self.sim.clock.time())
        body = {
            "clientcode": account.client_code,
            "password": account.mpin,
            "totp": totp,
        }
        reply = self.call("login", body)
        self.jwt = reply.json()["data"]["jwtToken"]
        return reply.json()

    def call(self, route: str, body: dict[str, Any] | None = None, **kw: Any):
        spec = ROUTES[route]
        headers = {HEADER_API_KEY: self.sim.account.api_key}
        if self.jwt:
            headers["Authorization"] = f"Bearer {self.jwt}"
        return requests.request(
            spec.method,
            self.sim.rest_url + spec.path,
            data=json.dumps(body or {}),
            params="{}" if spec.method == "GET" else None,  # as the SDK sends it
            headers=headers,
            timeout=kw.get("timeout", 5),
        )


@pytest.fixture
def client(simulator):
    sim = simulator(SimConfig(start=START, speed=1.0, rate_limits=False))
    c = Client(sim)
    c.login()
    return c


def order(tag: str = "t1", qty: str = "1") -> dict[str, str]:
    return {
        "variety": "NORMAL", "tradingsymbol": "SBIN-EQ", "symboltoken": "3045",
        "transactiontype": "BUY", "exchange": "NSE", "ordertype": "MARKET",
        "producttype": "INTRADAY", "duration": "DAY", "price": "0",
        "quantity": qty, "ordertag": tag,
    }  # fmt: skip


def test_login_returns_three_tokens_and_a_jwt_with_a_real_expiry(client):
    reply = client.login()

    assert reply["status"] is True
    assert set(reply["data"]) >= {"jwtToken", "refreshToken", "feedToken"}


def test_a_wrong_totp_is_ab1050_in_the_normal_dialect(client):
    account = client.sim.account
    body = {
        "clientcode": account.client_code,
        "password": account.mpin,
        "totp": "000000",
    }

    reply = client.call("login", body).json()

    assert (reply["status"], reply["errorcode"]) == (False, "AB1050")


def test_a_secure_route_without_a_token_is_ag8003_in_the_gateway_dialect(client):
    client.jwt = ""

    reply = client.call("order_book")

    assert reply.status_code == 401
    assert reply.json() == {
        "success": False, "message": "Token missing", "errorCode": "AG8003", "data": ""
    }  # fmt: skip


def test_an_ordertag_over_20_characters_is_ab4008(client):
    reply = client.call("place_order", order(tag="x" * 21)).json()

    assert reply["errorcode"] == "AB4008"


def test_an_order_book_starts_null_and_shows_a_filled_order(client):
    assert client.call("order_book").json()["data"] is None

    placed = client.call("place_order", order()).json()["data"]
    book = client.call("order_book").json()["data"]

    assert book[0]["orderid"] == placed["orderid"]
    assert book[0]["status"] == "complete"


def test_ltp_quote_and_search_read_the_market(client):
    ltp = client.call(
        "ltp", {"exchange": "NSE", "tradingsymbol": "SBIN-EQ", "symboltoken": "3045"}
    ).json()["data"]
    quote = client.call(
        "quote", {"mode": "FULL", "exchangeTokens": {"NSE": ["3045", "424242"]}}
    ).json()["data"]
    found = client.call("search_scrip", {"exchange": "NSE", "searchscrip": "INFY"})

    assert ltp["ltp"] == client.sim.market.price("3045", client.sim.clock.time())
    assert quote["fetched"][0]["symbolToken"] == "3045"
    assert len(quote["fetched"][0]["depth"]["buy"]) == 5
    assert quote["unfetched"][0]["errorCode"] == "AB4018"
    assert found.json()["data"] == [
        {"exchange": "NSE", "tradingsymbol": "INFY-EQ", "symboltoken": "1594"}
    ]


def test_quote_refuses_more_than_50_tokens(client):
    tokens = [str(n) for n in range(51)]

    reply = client.call("quote", {"mode": "LTP", "exchangeTokens": {"NSE": tokens}})

    assert reply.json()["status"] is False


@pytest.mark.parametrize(
    ("fromdate", "todate", "message"),
    [
        ("2026-12-03 10:00", "2026-12-03 09:30", "Something Went Wrong"),
        ("2026-12-03 10:00", "2026-12-03 12:00", "greater than current datetime"),
        ("2026-10-01 09:15", "2026-12-03 10:00", "Something Went Wrong"),
    ],
)
def test_candle_requests_are_checked_like_angel_one(client, fromdate, todate, message):
    body = {"exchange": "NSE", "symboltoken": "3045", "interval": "ONE_MINUTE",
            "fromdate": fromdate, "todate": todate}  # fmt: skip

    reply = client.call("candles", body).json()

    assert (reply["status"], reply["errorcode"]) == (False, "AB1004")
    assert message in reply["message"]


def test_five_minute_candles_aggregate_the_minutes_and_exclude_the_forming_one(client):
    body = {"exchange": "NSE", "symboltoken": "3045", "interval": "FIVE_MINUTE",
            "fromdate": "2026-12-03 09:15", "todate": "2026-12-03 11:00"}  # fmt: skip

    rows = client.call("candles", body).json()["data"]
    minutes = client.sim.market.candles(
        "3045", START.replace(hour=9, minute=15), START.replace(hour=9, minute=20)
    )

    assert len(rows) == 21  # 09:15 to 10:55; the 11:00 candle is still forming
    assert rows[0][1:] == [
        minutes[0].open, max(c.high for c in minutes), min(c.low for c in minutes),
        minutes[-1].close, sum(c.volume for c in minutes),
    ]  # fmt: skip


def test_the_published_rate_limit_is_a_plain_text_403(simulator):
    clock = ManualClock(START)
    sim = simulator(SimConfig(start=START), clock=clock)
    c = Client(sim)
    c.login()

    first = c.call("search_scrip", {"exchange": "NSE", "searchscrip": "SBI"})
    second = c.call("search_scrip", {"exchange": "NSE", "searchscrip": "SBI"})
    clock.advance(1.0)
    third = c.call("search_scrip", {"exchange": "NSE", "searchscrip": "SBI"})

    assert first.status_code == 200 and third.status_code == 200
    assert (second.status_code, second.text) == (403, RATE_LIMIT_TEXT)


# Chaos: each REST fault kind, seen by a plain client and recorded.


def _recorded(sim: Any, kind: FaultKind) -> list[Any]:
    return [e for e in sim.chaos.log if e.kind is kind]


@pytest.mark.parametrize(
    ("kind", "status", "check"),
    [
        (FaultKind.RATE_LIMIT, 403, lambda r: r.text == RATE_LIMIT_TEXT),
        (FaultKind.INVALID_TOKEN, 401, lambda r: r.json()["errorCode"] == "AG8001"),
        (FaultKind.SERVER_ERROR, 503, lambda r: "503" in r.text),
        (FaultKind.AB1004, 200, lambda r: r.json()["errorcode"] == "AB1004"),
        (FaultKind.EMPTY_BODY, 200, lambda r: r.content == b""),
        (FaultKind.HTML_REJECTION, 200, lambda r: "Request Rejected" in r.text),
    ],
)
def test_a_rest_fault_is_seen_once_by_the_client_and_recorded(
    client, kind, status, check
):
    client.sim.chaos.inject(kind, "order_book")

    faulty = client.call("order_book")
    healthy = client.call("order_book")

    assert faulty.status_code == status and check(faulty)
    assert healthy.status_code == 200 and healthy.json()["status"] is True
    (entry,) = _recorded(client.sim, kind)
    assert entry.target == "order_book"


def test_latency_beyond_the_client_timeout_times_the_client_out(simulator):
    sim = simulator(SimConfig(start=START, speed=100.0, rate_limits=False))
    c = Client(sim)
    c.login()
    sim.chaos.inject(FaultKind.LATENCY, "ltp", duration_s=60)  # 0.6 s real

    with pytest.raises(requests.ReadTimeout):
        c.call("ltp", {"exchange": "NSE", "symboltoken": "3045"}, timeout=0.2)

    assert _recorded(sim, FaultKind.LATENCY)


def test_a_late_order_is_in_the_book_although_the_client_gave_up(simulator):
    sim = simulator(SimConfig(start=START, speed=100.0, rate_limits=False))
    c = Client(sim)
    c.login()
    sim.chaos.inject(FaultKind.LATE_ORDER, "place_order", duration_s=60)

    with pytest.raises(requests.ReadTimeout):
        c.call("place_order", order(tag="late-1"), timeout=0.2)

    assert sim.desk.find_by_tag(sim.account.client_code, "late-1") is not None
    assert _recorded(sim, FaultKind.LATE_ORDER)


def test_history_is_refused_before_the_open_when_planned(simulator):
    early = datetime(2026, 12, 3, 9, 0, tzinfo=IST)
    sim = simulator(SimConfig(start=early, rate_limits=False))
    c = Client(sim)
    c.login()
    sim.chaos.inject(FaultKind.HISTORY_BEFORE_OPEN, "candles")
    body = {"exchange": "NSE", "symboltoken": "3045", "interval": "ONE_MINUTE",
            "fromdate": "2026-12-02 09:15", "todate": "2026-12-02 15:29"}  # fmt: skip

    refused = c.call("candles", body).json()
    served = c.call("candles", body).json()

    assert refused["errorcode"] == "AB1004"
    assert len(served["data"]) == 375
    assert _recorded(sim, FaultKind.HISTORY_BEFORE_OPEN)


def test_expired_tokens_are_refused_until_a_new_login(client):
    client.sim.chaos.inject(FaultKind.EXPIRE_TOKENS)

    refused = client.call("order_book")
    client.login()
    served = client.call("order_book")

    assert refused.status_code == 401
    assert refused.json()["errorCode"] in {"AG8001", "AG8002"}
    assert served.json()["status"] is True
    assert _recorded(client.sim, FaultKind.EXPIRE_TOKENS)


def test_admin_routes_show_faults_stats_and_ground_truth(client):
    client.sim.chaos.inject(FaultKind.AB1004, "order_book")
    client.call("order_book")
    base = client.sim.rest_url

    faults = requests.get(f"{base}/__sim/chaos", timeout=5).json()
    stats = requests.get(f"{base}/__sim/stats", timeout=5).json()
    window = {"from": "2026-12-03T09:15:00+05:30", "to": "2026-12-03T09:20:00+05:30"}
    truth = requests.get(
        f"{base}/__sim/candles", params={"token": "3045", **window}, timeout=5
    ).json()

    assert faults[0]["kind"] == "ab1004"
    assert stats["counts"]["rest.order_book"] >= 1
    assert len(truth) == 5


def test_admin_route_injects_a_fault(client):
    base = client.sim.rest_url

    reply = requests.post(
        f"{base}/__sim/chaos", json={"kind": "ab1004", "target": "rms"}, timeout=5
    )

    assert reply.status_code == 200
    assert client.call("rms").json()["errorcode"] == "AB1004"


@pytest.mark.parametrize(
    ("kind", "placed"),
    [
        (FaultKind.HANDLED_THEN_5XX, True),
        (FaultKind.HANDLED_THEN_CUT, True),
        (FaultKind.CUT_BEFORE, False),
    ],
)
def test_a_reply_lost_around_an_order_leaves_the_book_telling_the_truth(
    client, kind, placed
):
    client.sim.chaos.inject(kind, "place_order")

    try:
        reply = client.call("place_order", order(tag=f"cut-{kind}"[:20]))
        failed = reply.status_code >= 500
    except requests.ConnectionError:
        failed = True

    found = client.sim.desk.find_by_tag(
        client.sim.account.client_code, f"cut-{kind}"[:20]
    )
    assert failed
    assert (found is not None) is placed
    assert _recorded(client.sim, kind)
