"""The simulator's WebSocket 2.0 market feed, served at ``/smart-stream``.

It speaks SmartAPI's feed as SMARTAPI.md §4 describes it:

- the upgrade carries ``Authorization``, ``x-api-key``, ``x-client-code`` and
  ``x-feed-token`` (or the browser's ``clientCode``, ``feedToken`` and ``apiKey``
  query parameters); a refusal is HTTP 401 with ``x-error-message``, a fourth
  connection of one client code HTTP 429;
- requests are text JSON, refused with E1001 (a bad payload) or E1002 (over
  the subscription limit, nothing applied) as text JSON; a text ``ping`` is
  answered ``pong`` and a protocol ping with a pong echoing its payload;
- ticks are the exact binary frames of :func:`kit.broker.wire.encode`
  (:mod:`kit.sim.feed_connection`). The market trades once a simulated second;
  at every wake (``tick_interval_s`` of simulated time) a subscription is sent
  every trade since its last frame when the interval is at most a second, so a
  client can rebuild the true candles, else only the latest trade. Ticks flow
  while the session is open; a new subscription gets a snapshot of the latest
  trade at once, in the session or not. Unknown tokens are accepted and never
  tick.

Chaos (:class:`kit.sim.chaos.Chaos`) is asked before every upgrade (401, 429) and
at every wake of every connection (clean close, TCP reset, silent stall, a frame
of the wrong length); each injection is recorded.

Mount it with ``app.router.add_get("/smart-stream", hub.handle)`` and call
:meth:`FeedHub.close_all` on shutdown. Log lines name connections by id, never
a client code, a token or a key.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import threading
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from aiohttp import WSCloseCode, WSMsgType, web

from kit.broker.routes import (
    FEED_DEPTH_MAX_TOKENS,
    FEED_ERROR_BAD_PAYLOAD,
    FEED_ERROR_LIMIT,
    FEED_HEADER_API_KEY,
    FEED_HEADER_AUTH,
    FEED_HEADER_CLIENT_CODE,
    FEED_HEADER_ERROR,
    FEED_HEADER_FEED_TOKEN,
    FEED_MAX_CONNECTIONS,
    FEED_MAX_SUBSCRIPTIONS,
    FEED_PING_TEXT,
    FEED_PONG_TEXT,
    Action,
    ExchangeType,
    Mode,
)
from kit.clock import Clock
from kit.sim.auth import FEED_BAD_CLIENT, FEED_BAD_FEED_TOKEN
from kit.sim.chaos import Chaos, Fault, FaultKind
from kit.sim.feed_connection import FeedConnection, LimitExceeded, SubKey
from kit.sim.market import Market

logger = logging.getLogger(__name__)

BAD_PAYLOAD_MESSAGE = "Invalid Request Payload"
LIMIT_MESSAGE = "Invalid Request. Subscription Limit Exceeded"
MISSING_CLIENT_CODE = FEED_BAD_CLIENT
MISSING_FEED_TOKEN = FEED_BAD_FEED_TOKEN
CHAOS_401_MESSAGE = FEED_BAD_FEED_TOKEN

_EXCHANGE_TYPES = frozenset(int(e) for e in ExchangeType)
_MODES = frozenset(int(m) for m in Mode)
_ACTIONS = frozenset(int(a) for a in Action)


# Requests.


class BadRequest(ValueError):
    """A request the feed answers with E1001; ``correlation_id`` is echoed."""

    def __init__(self, reason: str, correlation_id: str = "") -> None:
        super().__init__(reason)
        self.correlation_id = correlation_id


@dataclass(frozen=True)
class FeedRequest:
    """A valid subscribe or unsubscribe; ``keys`` are distinct, in request order."""

    correlation_id: str
    action: Action
    mode: Mode
    keys: tuple[SubKey, ...]


def error_reply(code: str, correlation_id: str) -> str:
    """The text frame of an E1001 or E1002 refusal."""
    message = LIMIT_MESSAGE if code == FEED_ERROR_LIMIT else BAD_PAYLOAD_MESSAGE
    body = {"correlationID": correlation_id, "errorCode": code, "errorMessage": message}
    return json.dumps(body)


def parse_request(text: str) -> FeedRequest:
    """Read one request; raise :class:`BadRequest` for anything SmartAPI would refuse.

    Refused: text that is not a JSON object, a ``correlationID`` that is not a
    string, an unknown ``action``, ``mode`` or ``exchangeType``, a ``tokenList``
    that is not a non-empty list of ``{"exchangeType", "tokens"}`` objects, tokens
    that are not a non-empty list of non-empty strings, and DEPTH (mode 4) on a
    segment other than NSE_CM or for more than 50 tokens.
    """
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):
        raise BadRequest("not JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("not a JSON object")
    correlation_id = body.get("correlationID", "")
    if not isinstance(correlation_id, str):
        raise BadRequest("correlationID is not a string")

    try:
        action = _code(body.get("action"), _ACTIONS, "action")
        params = body.get("params")
        if not isinstance(params, dict):
            raise BadRequest("params is not an object")
        mode = Mode(_code(params.get("mode"), _MODES, "mode"))
        keys = _parse_token_list(params.get("tokenList"), mode)
    except BadRequest as exc:
        raise BadRequest(str(exc), correlation_id) from None
    return FeedRequest(correlation_id, Action(action), mode, keys)


def _parse_token_list(entries: object, mode: Mode) -> tuple[SubKey, ...]:
    if not isinstance(entries, list) or not entries:
        raise BadRequest("tokenList is not a non-empty list")
    keys: dict[SubKey, None] = {}
    for entry in entries:
        if not isinstance(entry, dict):
            raise BadRequest("a tokenList entry is not an object")
        exchange_type = _code(
            entry.get("exchangeType"), _EXCHANGE_TYPES, "exchangeType"
        )
        if mode is Mode.DEPTH and exchange_type != ExchangeType.NSE_CM:
            raise BadRequest("DEPTH is for NSE_CM only")
        tokens = entry.get("tokens")
        if not isinstance(tokens, list) or not tokens:
            raise BadRequest("tokens is not a non-empty list")
        if not all(isinstance(t, str) and t for t in tokens):
            raise BadRequest("a token is not a non-empty string")
        keys.update(((exchange_type, token, mode), None) for token in tokens)
    if mode is Mode.DEPTH and len(keys) > FEED_DEPTH_MAX_TOKENS:
        raise BadRequest(f"DEPTH takes at most {FEED_DEPTH_MAX_TOKENS} tokens")
    return tuple(keys)


def _code(value: object, allowed: frozenset[int], name: str) -> int:
    # bool is an int in Python but never a valid code on the wire.
    if isinstance(value, bool) or not isinstance(value, int) or value not in allowed:
        raise BadRequest(f"{name} is not one of {sorted(allowed)}")
    return value


# The hub.


class FeedAuth(Protocol):
    """Checks the credentials of an upgrade (:class:`kit.sim.auth.AuthService`)."""

    def verify_feed(
        self,
        client_code: str,
        feed_token: str,
        authorization: str | None,
        api_key: str | None,
    ) -> str | None:
        """None when the upgrade may proceed, else its ``x-error-message``."""


@dataclass(frozen=True)
class ConnectionInfo:
    connection_id: int
    client_code: str
    subscriptions: int
    frames_sent: int
    stalled: bool


@dataclass(frozen=True)
class FeedSnapshot:
    """What the hub holds right now, for tests and the admin route."""

    connections: tuple[ConnectionInfo, ...]
    frames_sent: int  # by every connection ever opened

    def by_client(self) -> dict[str, int]:
        """Open connections per client code."""
        counts: dict[str, int] = {}
        for info in self.connections:
            counts[info.client_code] = counts.get(info.client_code, 0) + 1
        return counts

    def subscriptions(self) -> dict[int, int]:
        """Token x mode subscriptions per connection id."""
        return {info.connection_id: info.subscriptions for info in self.connections}


class FeedHub:
    """Every feed connection of the simulator, and the route that opens them."""

    def __init__(
        self,
        market: Market,
        auth: FeedAuth,
        chaos: Chaos,
        clock: Clock,
        *,
        tick_interval_s: float = 1.0,
        snapshot_on_subscribe: bool = True,
        max_connections: int = FEED_MAX_CONNECTIONS,
        max_subscriptions: int = FEED_MAX_SUBSCRIPTIONS,
    ) -> None:
        if tick_interval_s <= 0:
            raise ValueError(f"tick_interval_s must be positive, got {tick_interval_s}")
        if max_connections < 1 or max_subscriptions < 1:
            raise ValueError("max_connections and max_subscriptions must be >= 1")
        self.market = market
        self.auth = auth
        self.chaos = chaos
        self.clock = clock
        self.tick_interval_s = tick_interval_s
        self.snapshot_on_subscribe = snapshot_on_subscribe
        self.max_connections = max_connections
        self.max_subscriptions = max_subscriptions
        self._lock = threading.Lock()  # the registry; snapshots come from any thread
        self._connections: dict[int, FeedConnection] = {}
        self._ids = itertools.count(1)
        self._closed_frames = 0
        logger.info(
            "Feed: tick interval %.2f s, snapshot on subscribe %s, "
            "%d connections a client, %d subscriptions a connection",
            tick_interval_s, snapshot_on_subscribe, max_connections,
            max_subscriptions,
        )  # fmt: skip

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Upgrade ``request`` to a feed connection and serve it until it ends."""
        if not web.WebSocketResponse().can_prepare(request).ok:
            return web.Response(status=400, text="Expected a WebSocket upgrade")
        admitted = self._admit(request)
        if isinstance(admitted, web.Response):
            return admitted

        conn = admitted
        try:
            await conn.ws.prepare(request)
            self.chaos.count("feed.connections_opened")
            logger.info("%s: Connected", conn.label)
            conn.start()
            await self._read(conn)
        finally:
            await conn.stop()
            self._forget(conn)
        return conn.ws

    async def close_all(self) -> None:
        """Close every connection with 1001 and wait until their tasks have ended."""
        with self._lock:
            conns = list(self._connections.values())
        await asyncio.gather(*(conn.close(WSCloseCode.GOING_AWAY) for conn in conns))
        if conns:
            logger.info("Feed: closed %d connections", len(conns))

    def snapshot(self) -> FeedSnapshot:
        """Connections, their subscriptions and frames sent (any thread may ask)."""
        with self._lock:
            conns = list(self._connections.values())
            frames = self._closed_frames
        infos = tuple(
            ConnectionInfo(c.id, c.client_code, len(c.subs), c.frames_sent, c.stalled)
            for c in conns
        )
        return FeedSnapshot(infos, frames + sum(i.frames_sent for i in infos))

    def describe(self) -> dict[str, Any]:
        """The snapshot as JSON-ready data, for the admin route."""
        snap = self.snapshot()
        return {
            "connections": [asdict(info) for info in snap.connections],
            "by_client": snap.by_client(),
            "frames_sent": snap.frames_sent,
        }

    # The upgrade.

    def _admit(self, request: web.Request) -> web.Response | FeedConnection:
        fault = self.chaos.upgrade_fault()
        if fault is not None:
            return self._chaos_refusal(fault)

        headers, query = request.headers, request.query
        client_code = headers.get(FEED_HEADER_CLIENT_CODE) or query.get("clientCode")
        feed_token = headers.get(FEED_HEADER_FEED_TOKEN) or query.get("feedToken")
        authorization = headers.get(FEED_HEADER_AUTH)
        api_key = headers.get(FEED_HEADER_API_KEY) or query.get("apiKey")
        if not client_code:
            return self._unauthorized(MISSING_CLIENT_CODE)
        if not feed_token:
            return self._unauthorized(MISSING_FEED_TOKEN)
        refusal = self.auth.verify_feed(client_code, feed_token, authorization, api_key)
        if refusal is not None:
            return self._unauthorized(refusal)

        with self._lock:
            mine = [
                c for c in self._connections.values() if c.client_code == client_code
            ]
            if len(mine) >= self.max_connections:
                return self._too_many(f"{len(mine)} open already")
            conn = FeedConnection(
                next(self._ids), client_code, request, market=self.market,
                chaos=self.chaos, clock=self.clock,
                tick_interval_s=self.tick_interval_s,
                max_subscriptions=self.max_subscriptions,
            )  # fmt: skip
            self._connections[conn.id] = conn
        return conn

    def _chaos_refusal(self, fault: Fault) -> web.Response:
        if fault.kind is FaultKind.UPGRADE_429:
            self.chaos.record(fault.kind, "feed", "HTTP 429")
            return self._too_many("chaos")
        self.chaos.record(fault.kind, "feed", f"HTTP 401 {CHAOS_401_MESSAGE}")
        return self._unauthorized(CHAOS_401_MESSAGE)

    def _unauthorized(self, message: str) -> web.Response:
        self.chaos.count("feed.refused_401")
        logger.warning("Feed: upgrade refused, 401 %s", message)
        headers = {FEED_HEADER_ERROR: message}
        return web.Response(status=401, text=message, headers=headers)

    def _too_many(self, reason: str) -> web.Response:
        self.chaos.count("feed.refused_429")
        logger.warning("Feed: upgrade refused, 429 (%s)", reason)
        return web.Response(status=429, text="Connection limit exceeded")

    def _forget(self, conn: FeedConnection) -> None:
        with self._lock:
            self._connections.pop(conn.id, None)
            self._closed_frames += conn.frames_sent
        conn.finished.set()
        if conn.ws.prepared:
            self.chaos.count("feed.connections_closed")
            uptime_s = self.clock.monotonic() - conn.opened_s
            logger.info(
                "%s: Disconnected after %.1f s (%d frames, %d subscriptions)",
                conn.label, uptime_s, conn.frames_sent, len(conn.subs),
            )  # fmt: skip

    # Reading.

    async def _read(self, conn: FeedConnection) -> None:
        async for msg in conn.ws:
            if conn.stalled:
                # A stalled server reads nothing: no replies, no pongs.
                self.chaos.count("feed.stall_dropped")
                continue
            if msg.type is WSMsgType.TEXT:
                await self._on_text(conn, msg.data)
            elif msg.type is WSMsgType.BINARY:
                await self._refuse(conn, BadRequest("a binary request"))
            elif msg.type is WSMsgType.PING:
                await conn.pong(msg.data)
            elif msg.type is WSMsgType.ERROR:
                logger.info("%s: read failed: %s", conn.label, conn.ws.exception())
                return

    async def _on_text(self, conn: FeedConnection, text: str) -> None:
        if text == FEED_PING_TEXT:
            await conn.send_text(FEED_PONG_TEXT)
            return
        try:
            request = parse_request(text)
        except BadRequest as exc:
            await self._refuse(conn, exc)
            return

        if request.action is Action.UNSUBSCRIBE:
            conn.subs.remove(request.keys)
            return
        try:
            new = conn.subs.add(request.keys)
        except LimitExceeded as exc:
            self.chaos.count("feed.limit_refusals")
            logger.info("%s: subscribe refused, E1002 (%s)", conn.label, exc)
            await conn.send_text(error_reply(FEED_ERROR_LIMIT, request.correlation_id))
            return

        unknown = sum(not conn.known(key) for key in new)
        if unknown:
            self.chaos.count("feed.unknown_tokens", unknown)
        if self.snapshot_on_subscribe and len(new) > unknown:
            await conn.send_snapshot(new)

    async def _refuse(self, conn: FeedConnection, exc: BadRequest) -> None:
        self.chaos.count("feed.bad_requests")
        logger.info("%s: request refused, E1001 (%s)", conn.label, exc)
        await conn.send_text(error_reply(FEED_ERROR_BAD_PAYLOAD, exc.correlation_id))
