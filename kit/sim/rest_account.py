"""Session and order routes of the simulator (SMARTAPI.md §2.4, §2.5).

Each handler takes the simulator's state, the caller's client code (from the
JWT, or from the body for login) and the request body, and returns the reply's
``data``. Refusals raise: :class:`~kit.sim.auth.AuthFailure`,
:class:`~kit.sim.orders.OrderRefused` or :class:`~kit.sim.replies.SimError`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kit.sim.history import candle_rows
from kit.sim.replies import SimError
from kit.sim.rest_market import ltp_data, quote_data, search_data

if TYPE_CHECKING:
    from kit.sim.server import SimState


@dataclass(frozen=True)
class Call:
    """One REST request as the handlers see it."""

    client: str  # the caller's client code ("" before login)
    body: dict[str, Any]
    bearer: str  # the Authorization header as sent
    api_key: str  # the X-PrivateKey header


Handler = Callable[["SimState", Call], Any]


def login(state: SimState, call: Call) -> Any:
    tokens = state.auth.login(
        str(call.body.get("clientcode", "")),
        str(call.body.get("password", "")),
        str(call.body.get("totp", "")),
        call.api_key,
    )
    data = tokens.as_data()
    if "state" in call.body:
        data["state"] = call.body["state"]
    return data


def generate_tokens(state: SimState, call: Call) -> Any:
    return state.auth.generate_tokens(
        str(call.body.get("refreshToken", "")), call.bearer
    ).as_data()


def profile(state: SimState, call: Call) -> Any:
    return state.auth.profile(call.client)


def logout(state: SimState, call: Call) -> Any:
    if str(call.body.get("clientcode", call.client)) != call.client:
        raise SimError("AB1011", "Client not login")
    state.auth.logout(call.client, call.bearer)
    return ""


def rms(state: SimState, call: Call) -> Any:
    return state.desk.rms(call.client, state.clock.time())


def place_order(state: SimState, call: Call) -> Any:
    return state.desk.place(call.client, call.body)


def modify_order(state: SimState, call: Call) -> Any:
    return state.desk.modify(call.client, call.body)


def cancel_order(state: SimState, call: Call) -> Any:
    orderid = str(call.body.get("orderid", ""))
    return state.desk.cancel(call.client, orderid, str(call.body.get("variety", "")))


def order_book(state: SimState, call: Call) -> Any:
    return state.desk.order_book(call.client)


def trade_book(state: SimState, call: Call) -> Any:
    return state.desk.trade_book(call.client)


def order_details(state: SimState, call: Call) -> Any:
    return state.desk.order_details(
        call.client, str(call.body.get("uniqueorderid", ""))
    )


def position(state: SimState, call: Call) -> Any:
    return state.desk.positions(call.client, state.clock.time())


def ltp(state: SimState, call: Call) -> Any:
    return ltp_data(state.market, call.body, state.clock.time())


def quote(state: SimState, call: Call) -> Any:
    return quote_data(state.market, call.body, state.clock.time())


def search_scrip(state: SimState, call: Call) -> Any:
    return search_data(state.market, call.body)


def candles(state: SimState, call: Call) -> Any:
    return candle_rows(state.market, call.body, state.clock.time())


def holding(state: SimState, call: Call) -> Any:
    return []  # intraday only: the simulator keeps no holdings


HANDLERS: dict[str, Handler] = {
    "login": login,
    "generate_tokens": generate_tokens,
    "profile": profile,
    "logout": logout,
    "rms": rms,
    "place_order": place_order,
    "modify_order": modify_order,
    "cancel_order": cancel_order,
    "order_book": order_book,
    "trade_book": trade_book,
    "order_details": order_details,
    "ltp": ltp,
    "position": position,
    "holding": holding,
    "all_holding": holding,
    "search_scrip": search_scrip,
    "candles": candles,
    "quote": quote,
}
