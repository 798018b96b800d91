"""The simulator's aiohttp application: SmartAPI's REST routes and the feed.

Every REST request goes through one pipeline, in Angel One's order of checks:

1. a due simulator-wide fault (all tokens invalidated) is applied;
2. ``X-PrivateKey`` must be present; a secure route needs a live
   ``Authorization: Bearer`` JWT (AG8001/AG8002/AG8003 in the gateway dialect);
3. the published rate limits, per client code, with sliding windows: a refusal
   is the plain-text 403;
4. a due fault of the chaos plan for this route, recorded when injected;
5. the route's handler, whose refusals are rendered in their own dialect.

GET requests may carry a JSON blob as their query string, as the official SDK
sends them; it is ignored. Admin routes under ``/__sim/`` expose the injected
faults, counters and ground truth to tests and tools.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiohttp import web

from kit.broker.routes import FEED_PATH, HEADER_API_KEY, ROUTES, Route
from kit.clock import Clock
from kit.sim import replies
from kit.sim.auth import AuthFailure, AuthService
from kit.sim.chaos import Chaos, Fault, FaultKind
from kit.sim.feed import FeedHub
from kit.sim.limits import RateLimiter
from kit.sim.market import Market
from kit.sim.orders import OrderDesk, OrderRefused
from kit.sim.rest_account import HANDLERS, Call

logger = logging.getLogger(__name__)

_ALIASES = {
    "/order-service/rest/secure/angelbroking/order/v1/getLtpData": "ltp",
}
_DETAILS_PREFIX = ROUTES["order_details"].path + "/"


@dataclass
class SimState:
    """Everything the routes share."""

    clock: Clock
    market: Market
    auth: AuthService
    desk: OrderDesk
    limiter: RateLimiter
    chaos: Chaos
    feed: FeedHub
    waf_support_ids: list[int] = field(default_factory=lambda: [18_400_000_000_000])


STATE = web.AppKey("state", SimState)


def build_app(state: SimState) -> web.Application:
    app = web.Application()
    app[STATE] = state
    app.router.add_get(FEED_PATH, state.feed.handle)
    app.router.add_route("GET", "/__sim/chaos", _admin_chaos)
    app.router.add_route("POST", "/__sim/chaos", _admin_inject)
    app.router.add_route("GET", "/__sim/stats", _admin_stats)
    app.router.add_route("GET", "/__sim/candles", _admin_candles)
    app.router.add_route("GET", "/__sim/instruments", _admin_instruments)
    app.router.add_route("*", "/{tail:.*}", _rest)
    return app


def _route_of(path: str) -> tuple[Route | None, dict[str, Any]]:
    extra: dict[str, Any] = {}
    if path.startswith(_DETAILS_PREFIX):
        extra["uniqueorderid"] = path[len(_DETAILS_PREFIX) :]
        return ROUTES["order_details"], extra
    if path in _ALIASES:
        return ROUTES[_ALIASES[path]], extra
    for route in ROUTES.values():
        if route.path == path:
            return route, extra
    return None, extra


async def _rest(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    route, extra = _route_of(request.path)
    if route is None:
        return web.Response(status=404, text="Not Found")
    state.chaos.count(f"rest.{route.name}")
    _apply_global_faults(state)
    state.desk.match(state.clock.time())

    try:
        call = await _authenticate(state, request, route, extra)
    except AuthFailure as exc:
        return replies.from_error(_as_sim_error(exc))
    if not state.limiter.allow(call.client or "anonymous", route.limit_group):
        state.chaos.count("rest.rate_limited")
        return replies.rate_limited()

    fault = state.chaos.rest_fault(route.name)
    if fault is not None:
        early = await _inject(request, state, route, fault)
        if early is not None:
            return early
    reply = _handle(state, route, call)
    if fault is not None:
        return await _after_handling(request, fault, reply)
    return reply


async def _authenticate(
    state: SimState, request: web.Request, route: Route, extra: dict[str, Any]
) -> Call:
    body = await _body(request)
    body.update(extra)
    api_key = request.headers.get(HEADER_API_KEY, "")
    bearer = request.headers.get("Authorization", "")
    if not api_key:
        raise AuthFailure.of("AG8004")
    if route.secure:
        client = state.auth.verify_bearer(bearer or None)
    else:
        client = str(body.get("clientcode", ""))
    return Call(client, body, bearer, api_key)


async def _body(request: web.Request) -> dict[str, Any]:
    if request.method not in ("POST", "PUT") or not request.can_read_body:
        return {}
    raw = await request.read()
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        return {"__malformed__": True}
    return body if isinstance(body, dict) else {"__malformed__": True}


def _handle(state: SimState, route: Route, call: Call) -> web.Response:
    if call.body.get("__malformed__"):
        return replies.error("AB1004", replies.SOMETHING_WENT_WRONG)
    try:
        data = HANDLERS[route.name](state, call)
    except AuthFailure as exc:
        return replies.from_error(_as_sim_error(exc))
    except OrderRefused as exc:
        return replies.error(exc.code, exc.message)
    except replies.SimError as exc:
        return replies.from_error(exc)
    if route.name == "place_order":
        state.chaos.count("orders.placed")
    return replies.ok(data)


def _as_sim_error(exc: AuthFailure) -> replies.SimError:
    status = 401 if exc.dialect == "gateway" else 200
    return replies.SimError(
        exc.code, exc.message, dialect=exc.dialect, http_status=status
    )


def _apply_global_faults(state: SimState) -> None:
    fault = state.chaos.take_global()
    if fault is not None:
        state.auth.invalidate_all()
        state.chaos.record(fault.kind, "sim", "every token invalidated")


async def _after_handling(
    request: web.Request, fault: Fault, reply: web.Response
) -> web.StreamResponse:
    state = request.app[STATE]
    if fault.kind is FaultKind.LATE_ORDER:
        await state.clock.sleep_async(fault.duration_s or 30.0)
    elif fault.kind is FaultKind.HANDLED_THEN_5XX:
        return replies.server_error(fault.status or 502)
    elif fault.kind is FaultKind.HANDLED_THEN_CUT:
        replies.reset_connection(request)
        return web.Response(status=499)  # never reaches the client
    return reply


async def _inject(
    request: web.Request, state: SimState, route: Route, fault: Fault
) -> web.Response | None:
    """Carry out a REST fault; None when the request then goes on as usual."""
    kind, target = fault.kind, route.name
    reply: web.Response | None
    if kind is FaultKind.LATENCY:
        delay_s = fault.duration_s or 30.0
        state.chaos.record(kind, target, f"reply held {delay_s} s")
        await state.clock.sleep_async(delay_s)
        return None
    if kind is FaultKind.LATE_ORDER:
        state.chaos.record(kind, target, f"reply held {fault.duration_s or 30.0} s")
        return None
    if kind in (FaultKind.HANDLED_THEN_5XX, FaultKind.HANDLED_THEN_CUT):
        state.chaos.record(kind, target, "carried out, then the reply lost")
        return None
    if kind is FaultKind.CUT_BEFORE:
        state.chaos.record(kind, target, "connection cut, request not carried out")
        replies.reset_connection(request)
        return web.Response(status=499)  # never reaches the client
    if kind is FaultKind.HISTORY_BEFORE_OPEN:
        reply = _refuse_history(state, route)
    else:
        reply = _fault_reply(state, fault)
    if reply is not None:
        state.chaos.record(kind, target, f"HTTP {reply.status}")
    return reply


def _fault_reply(state: SimState, fault: Fault) -> web.Response:
    kind = fault.kind
    if kind is FaultKind.RATE_LIMIT:
        return replies.rate_limited()
    if kind is FaultKind.INVALID_TOKEN:
        return replies.gateway_error("AG8001", "Invalid Token")
    if kind is FaultKind.SERVER_ERROR:
        return replies.server_error(fault.status or 503)
    if kind is FaultKind.AB1004:
        return replies.error("AB1004", replies.SOMETHING_WENT_WRONG)
    if kind is FaultKind.EMPTY_BODY:
        return replies.empty_body()
    state.waf_support_ids[0] += 1
    return replies.waf_rejection(state.waf_support_ids[0])


def _refuse_history(state: SimState, route: Route) -> web.Response | None:
    if route.name != "candles":
        return None
    now = state.clock.now()
    if now >= state.market.calendar.session_open(now.date()):
        return None  # the fault only bites before the open
    return replies.error("AB1004", replies.SOMETHING_WENT_WRONG)


# Admin routes: what tests and tools read.


async def _admin_chaos(request: web.Request) -> web.Response:
    state = request.app[STATE]
    return web.json_response([entry.as_dict() for entry in state.chaos.log])


async def _admin_inject(request: web.Request) -> web.Response:
    state = request.app[STATE]
    try:
        spec = await request.json()
        state.chaos.inject(
            spec["kind"],
            spec.get("target", "*"),
            count=int(spec.get("count", 1)),
            duration_s=float(spec.get("duration_s", 0.0)),
            status=spec.get("status"),
        )
    except (KeyError, ValueError, TypeError) as exc:
        return web.json_response({"error": str(exc)}, status=400)
    return web.json_response({"scheduled": spec["kind"]})


async def _admin_stats(request: web.Request) -> web.Response:
    state = request.app[STATE]
    return web.json_response(
        {
            "now": state.clock.now().isoformat(),
            "counts": dict(state.chaos.counts),
            "feed": state.feed.describe(),
        }
    )


async def _admin_candles(request: web.Request) -> web.Response:
    state = request.app[STATE]
    query = request.query
    try:
        start = datetime.fromisoformat(query["from"])
        end = datetime.fromisoformat(query["to"])
        candles = state.market.candles(query["token"], start, end)
    except (KeyError, ValueError) as exc:
        return web.json_response({"error": str(exc)}, status=400)
    return web.json_response([c.broker_row() for c in candles])


async def _admin_instruments(request: web.Request) -> web.Response:
    state = request.app[STATE]
    return web.json_response([i.master_row() for i in state.market.instruments])
