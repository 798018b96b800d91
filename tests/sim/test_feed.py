"""kit.sim.feed: the simulator's WebSocket 2.0 feed, seen by a real client.

Each test serves only the feed route on 127.0.0.1 (an aiohttp runner on its own
event loop in a background thread) over a seeded market, on a clock running 40
times faster than real time, and talks to it with websocket-client, the library
the official SDK uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import struct
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import pytest
import websocket
from aiohttp import web

from kit.broker import wire
from kit.broker.routes import FEED_PATH, Mode
from kit.clock import IST, ScaledClock
from kit.errors import FrameError
from kit.sim.chaos import Chaos, FaultKind
from kit.sim.feed import BadRequest, FeedHub, parse_request
from kit.sim.feed_connection import (
    LimitExceeded,
    Subscriptions,
    TradePlan,
    plan_trades,
)
from kit.sim.market import Market

T = TypeVar("T")

SESSION = datetime(2026, 12, 3, 10, 0, tzinfo=IST)  # a Thursday, in the session
BEFORE_OPEN = datetime(2026, 12, 3, 8, 0, tzinfo=IST)
SPEED = 40.0  # one simulated second every 25 ms
FEED_TOKEN = "feed-token-ok"
BAD_FEED_TOKEN_MESSAGE = "Invalid Header - Invalid Feed Token"
SBIN, RELIANCE, INFY = "3045", "2885", "1594"
NSE_CM = 1


class FakeAuth:
    """Admits any client code with the right feed token."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str | None, str | None]] = []

    def verify_feed(
        self,
        client_code: str,
        feed_token: str,
        authorization: str | None,
        api_key: str | None,
    ) -> str | None:
        self.calls.append((client_code, feed_token, authorization, api_key))
        return None if feed_token == FEED_TOKEN else BAD_FEED_TOKEN_MESSAGE


@dataclass
class Sim:
    """A running feed: the hub, its parts, and the URL to reach it."""

    hub: FeedHub
    chaos: Chaos
    market: Market
    auth: FakeAuth
    url: str
    loop: asyncio.AbstractEventLoop
    clients: list[websocket.WebSocket] = field(default_factory=list)

    def call(self, make: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Run a coroutine on the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(make(), self.loop).result(10)

    def connect(
        self, client: str = "C1", feed_token: str = FEED_TOKEN
    ) -> websocket.WebSocket:
        headers = [
            "Authorization: Bearer jwt-abc",
            "x-api-key: key-abc",
            f"x-client-code: {client}",
            f"x-feed-token: {feed_token}",
        ]
        ws = websocket.create_connection(self.url, header=headers, timeout=5)
        self.clients.append(ws)
        return ws


@pytest.fixture(scope="module")
def market() -> Market:
    return Market(seed=7)


@pytest.fixture
def make_sim(market: Market) -> Iterator[Callable[..., Sim]]:
    """Start a feed server; stop it after the test and check no task is left."""
    started: list[tuple[Sim, web.AppRunner, threading.Thread]] = []

    def start(start: datetime = SESSION, **hub_options: Any) -> Sim:
        clock = ScaledClock(start, SPEED)
        chaos = Chaos(clock)
        auth = FakeAuth()
        hub = FeedHub(market, auth, chaos, clock, **hub_options)
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="feed-server")
        thread.start()
        runner, url = asyncio.run_coroutine_threadsafe(_serve(hub), loop).result(5)
        sim = Sim(hub, chaos, market, auth, url, loop)
        started.append((sim, runner, thread))
        return sim

    yield start

    for sim, runner, thread in started:
        for ws in sim.clients:
            with contextlib.suppress(websocket.WebSocketException, OSError):
                ws.close(timeout=1)
            ws.shutdown()  # close() leaves a reset or closed socket open
        sim.call(sim.hub.close_all)
        sim.call(runner.cleanup)
        pending = sim.call(_other_tasks)
        sim.loop.call_soon_threadsafe(sim.loop.stop)
        thread.join(5)
        sim.loop.close()
        assert pending == []


async def _serve(hub: FeedHub) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_get(FEED_PATH, hub.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    return runner, f"ws://127.0.0.1:{port}{FEED_PATH}"


async def _other_tasks() -> list[str]:
    current = asyncio.current_task()
    return [t.get_name() for t in asyncio.all_tasks() if t is not current]


# Client helpers.


def _request(
    mode: int, tokens: list[str], *, action: int = 1, cid: str = "abcde12345"
) -> str:
    return json.dumps(
        {
            "correlationID": cid,
            "action": action,
            "params": {
                "mode": mode,
                "tokenList": [{"exchangeType": NSE_CM, "tokens": tokens}],
            },
        }
    )


def _recv(ws: websocket.WebSocket, timeout_s: float) -> tuple[int, bytes] | None:
    """The next frame (data or control) as (opcode, payload), or None on timeout."""
    ws.settimeout(timeout_s)
    try:
        opcode, data = ws.recv_data(control_frame=True)
    except websocket.WebSocketTimeoutException:
        return None
    return opcode, data


def _binary(ws: websocket.WebSocket, count: int, timeout_s: float = 5.0) -> list[bytes]:
    """The next ``count`` binary frames; text and control frames are skipped."""
    frames: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    while len(frames) < count:
        got = _recv(ws, max(0.01, deadline - time.monotonic()))
        assert got is not None, f"{len(frames)} of {count} frames in {timeout_s} s"
        if got[0] == websocket.ABNF.OPCODE_BINARY:
            frames.append(got[1])
    return frames


def _text(ws: websocket.WebSocket, timeout_s: float = 5.0) -> tuple[str, list[bytes]]:
    """The next text frame, and the binary frames that came before it."""
    frames: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    while True:
        got = _recv(ws, max(0.01, deadline - time.monotonic()))
        assert got is not None, f"no text frame in {timeout_s} s"
        if got[0] == websocket.ABNF.OPCODE_TEXT:
            return got[1].decode(), frames
        if got[0] == websocket.ABNF.OPCODE_BINARY:
            frames.append(got[1])


def _barrier(ws: websocket.WebSocket) -> list[bytes]:
    """Send a text ping and wait for its pong: every earlier request is applied."""
    ws.send("ping")
    reply, frames = _text(ws)
    assert reply == "pong"
    return frames


def _close_code(ws: websocket.WebSocket, timeout_s: float = 5.0) -> int:
    deadline = time.monotonic() + timeout_s
    while True:
        got = _recv(ws, max(0.01, deadline - time.monotonic()))
        assert got is not None, f"no close frame in {timeout_s} s"
        if got[0] == websocket.ABNF.OPCODE_CLOSE:
            code: int = struct.unpack("!H", got[1][:2])[0]
            return code


def _wait_for(predicate: Callable[[], bool], timeout_s: float = 3.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def _sequences(frames: list[bytes], token: str) -> list[int]:
    return [t.sequence for t in map(wire.decode, frames) if t.token == token]


def _assert_consecutive(sequences: list[int]) -> None:
    start = sequences[0]
    assert sequences == list(range(start, start + len(sequences)))


def _faults(sim: Sim) -> list[tuple[FaultKind, str]]:
    return [(entry.kind, entry.target) for entry in sim.chaos.log]


# The upgrade.


def test_bad_feed_token_is_refused_401_with_x_error_message(make_sim):
    sim = make_sim()

    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        sim.connect(feed_token="stale")

    assert refused.value.status_code == 401
    assert refused.value.resp_headers["x-error-message"] == BAD_FEED_TOKEN_MESSAGE
    assert sim.auth.calls == [("C1", "stale", "Bearer jwt-abc", "key-abc")]
    assert sim.hub.snapshot().connections == ()


def test_missing_client_code_is_refused_401_without_asking_auth(make_sim):
    sim = make_sim()

    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(sim.url, header=[f"x-feed-token: {FEED_TOKEN}"])

    assert refused.value.status_code == 401
    message = refused.value.resp_headers["x-error-message"]
    assert message == "Invalid Header - Invalid Client Code"
    assert sim.auth.calls == []


def test_browser_query_parameters_are_accepted(make_sim):
    sim = make_sim()
    url = f"{sim.url}?clientCode=C9&feedToken={FEED_TOKEN}&apiKey=key-q"

    ws = websocket.create_connection(url, timeout=5)
    sim.clients.append(ws)

    assert sim.auth.calls == [("C9", FEED_TOKEN, None, "key-q")]
    assert sim.hub.snapshot().by_client() == {"C9": 1}


def test_fourth_connection_of_a_client_code_is_refused_429(make_sim):
    sim = make_sim()
    first, _, _ = (sim.connect("C1") for _ in range(3))
    sim.connect("C2")

    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        sim.connect("C1")

    assert refused.value.status_code == 429
    assert sim.hub.snapshot().by_client() == {"C1": 3, "C2": 1}
    first.close()
    _wait_for(lambda: sim.hub.snapshot().by_client().get("C1") == 2)
    sim.connect("C1")
    assert sim.chaos.counts["feed.refused_429"] == 1


def test_upgrade_faults_answer_401_then_429_and_are_recorded(make_sim):
    sim = make_sim()
    sim.chaos.inject(FaultKind.UPGRADE_401, "feed")

    with pytest.raises(websocket.WebSocketBadStatusException) as first:
        sim.connect()
    sim.chaos.inject(FaultKind.UPGRADE_429, "feed")
    with pytest.raises(websocket.WebSocketBadStatusException) as second:
        sim.connect()
    sim.connect()  # both faults spent

    assert first.value.status_code == 401
    assert first.value.resp_headers["x-error-message"] == BAD_FEED_TOKEN_MESSAGE
    assert second.value.status_code == 429
    assert _faults(sim) == [
        (FaultKind.UPGRADE_401, "feed"),
        (FaultKind.UPGRADE_429, "feed"),
    ]
    assert sim.auth.calls == [("C1", FEED_TOKEN, "Bearer jwt-abc", "key-abc")]


# Ticks.


@pytest.mark.parametrize(
    ("mode", "length"), [(Mode.LTP, 51), (Mode.QUOTE, 123), (Mode.SNAP_QUOTE, 379)]
)
def test_ticks_have_the_mode_length_and_the_market_values(make_sim, mode, length):
    sim = make_sim()
    ws = sim.connect()

    ws.send(_request(mode, [SBIN]))
    frames = _binary(ws, 12)

    assert {len(frame) for frame in frames} == {length}
    ticks = [wire.decode(frame) for frame in frames]
    for tick in ticks:
        assert tick.mode == mode and tick.token == SBIN
        at_s = tick.exchange_ts_ms / 1000
        assert tick == sim.market.tick(SBIN, mode, at_s)
    _assert_consecutive([t.sequence for t in ticks])  # type: ignore[union-attr]


def test_every_trade_is_sent_so_candles_can_be_rebuilt(make_sim):
    sim = make_sim()
    ws = sim.connect()

    ws.send(_request(Mode.LTP, [SBIN, RELIANCE]))
    frames = _binary(ws, 60)

    for token in (SBIN, RELIANCE):
        ticks = [t for t in map(wire.decode, frames) if t.token == token]
        stamps = [t.exchange_ts_ms for t in ticks]
        assert stamps == list(range(stamps[0], stamps[0] + 1000 * len(stamps), 1000))
        _assert_consecutive([t.sequence for t in ticks])  # type: ignore[union-attr]


def test_depth_subscription_sends_443_byte_frames(make_sim):
    sim = make_sim()
    ws = sim.connect()

    ws.send(_request(Mode.DEPTH, [SBIN]))
    frames = _binary(ws, 3)

    assert {len(frame) for frame in frames} == {443}
    tick = wire.decode(frames[-1])
    assert tick == sim.market.tick(SBIN, Mode.DEPTH, tick.exchange_ts_ms / 1000)


def test_interval_over_a_second_sends_only_the_latest_trade(make_sim):
    sim = make_sim(tick_interval_s=5.0)
    ws = sim.connect()

    ws.send(_request(Mode.LTP, [SBIN]))
    sequences = _sequences(_binary(ws, 6), SBIN)

    gaps = [b - a for a, b in itertools.pairwise(sequences)]
    assert all(gap >= 3 for gap in gaps[1:]), gaps  # the first follows the snapshot


def test_before_the_open_a_subscription_gets_one_snapshot_and_then_silence(make_sim):
    sim = make_sim(start=BEFORE_OPEN)
    ws = sim.connect()

    ws.send(_request(Mode.LTP, [SBIN]))
    frames = _barrier(ws) + _barrier(ws)
    time.sleep(0.3)  # a dozen wakes of the sender
    frames += _barrier(ws)

    assert len(frames) == 1
    tick = wire.decode(frames[0])
    closing_trade = datetime(2026, 12, 2, 15, 29, 59, tzinfo=IST)
    assert tick.exchange_ts_ms == closing_trade.timestamp() * 1000


def test_without_snapshots_nothing_is_sent_before_the_open(make_sim):
    sim = make_sim(start=BEFORE_OPEN, snapshot_on_subscribe=False)
    ws = sim.connect()

    ws.send(_request(Mode.LTP, [SBIN]))
    time.sleep(0.3)

    assert _barrier(ws) == []
    assert sim.hub.snapshot().subscriptions() == {1: 1}


def test_unsubscribe_stops_that_subscription_only(make_sim):
    sim = make_sim()
    ws = sim.connect()
    ws.send(_request(Mode.LTP, [SBIN, RELIANCE]))
    _binary(ws, 4)

    ws.send(_request(Mode.LTP, [SBIN, "999999"], action=0))  # 999999: never had
    _barrier(ws)
    time.sleep(0.3)
    frames = _barrier(ws)

    assert frames and {wire.decode(f).token for f in frames} == {RELIANCE}
    assert sim.hub.snapshot().subscriptions() == {1: 1}


def test_duplicate_subscribe_is_ignored(make_sim):
    sim = make_sim()
    ws = sim.connect()
    ws.send(_request(Mode.LTP, [SBIN]))
    ws.send(_request(Mode.LTP, [SBIN, SBIN]))
    ws.send(_request(Mode.QUOTE, [SBIN]))  # another mode is another pair
    _barrier(ws)
    time.sleep(0.2)

    frames = _barrier(ws)

    assert sim.hub.snapshot().subscriptions() == {1: 2}
    ltp = [f for f in frames if len(f) == 51]
    _assert_consecutive(_sequences(ltp, SBIN))


# Requests refused.


def test_bad_payload_gets_e1001_with_the_correlation_id(make_sim):
    sim = make_sim()
    ws = sim.connect()

    ws.send(_request(9, [SBIN], cid="req0000001"))
    reply, _ = _text(ws)
    ws.send("{not json")
    reply_without_id, _ = _text(ws)
    ws.send_binary(b"\x01\x00")
    reply_to_binary, _ = _text(ws)

    assert json.loads(reply) == {
        "correlationID": "req0000001",
        "errorCode": "E1001",
        "errorMessage": "Invalid Request Payload",
    }
    assert json.loads(reply_without_id)["correlationID"] == ""
    assert json.loads(reply_without_id)["errorCode"] == "E1001"
    assert json.loads(reply_to_binary)["errorCode"] == "E1001"
    assert sim.hub.snapshot().subscriptions() == {1: 0}
    assert sim.chaos.counts["feed.bad_requests"] == 3


def test_subscribe_over_1000_pairs_gets_e1002_and_changes_nothing(make_sim):
    sim = make_sim()
    ws = sim.connect()
    unknown = [str(900_000 + i) for i in range(999)]
    ws.send(_request(Mode.LTP, [SBIN, *unknown]))
    _barrier(ws)

    ws.send(_request(Mode.LTP, [RELIANCE, INFY], cid="over000001"))
    reply, _ = _text(ws)
    ws.send(_request(Mode.LTP, [SBIN]))  # a duplicate does not count
    _barrier(ws)
    frames = _binary(ws, 5)

    assert json.loads(reply) == {
        "correlationID": "over000001",
        "errorCode": "E1002",
        "errorMessage": "Invalid Request. Subscription Limit Exceeded",
    }
    assert sim.hub.snapshot().subscriptions() == {1: 1000}
    assert {wire.decode(f).token for f in frames} == {SBIN}
    assert sim.chaos.counts["feed.unknown_tokens"] == 999


# Heartbeats.


def test_text_ping_is_answered_pong(make_sim):
    ws = make_sim().connect()

    ws.send("ping")

    assert _text(ws)[0] == "pong"


@pytest.mark.parametrize("payload", [b"", b"ping", b"hb-42"])
def test_protocol_ping_is_answered_with_its_payload(make_sim, payload):
    ws = make_sim().connect()

    ws.ping(payload)
    got = _recv(ws, 5.0)

    assert got == (websocket.ABNF.OPCODE_PONG, payload)


# Chaos on an open connection.


@pytest.mark.parametrize(("status", "code"), [(None, 1000), (1001, 1001)])
def test_clean_close_fault_closes_with_its_code(make_sim, status, code):
    sim = make_sim()
    ws = sim.connect()
    ws.send(_request(Mode.LTP, [SBIN]))
    _binary(ws, 1)

    sim.chaos.inject(FaultKind.CLEAN_CLOSE, "feed", status=status)

    assert _close_code(ws) == code
    assert _faults(sim) == [(FaultKind.CLEAN_CLOSE, "feed:1")]
    _wait_for(lambda: sim.hub.snapshot().connections == ())
    assert sim.chaos.counts["feed.connections_closed"] == 1


def test_tcp_abort_fault_resets_the_connection_without_a_close_frame(make_sim):
    sim = make_sim()
    ws = sim.connect()
    ws.send(_request(Mode.LTP, [SBIN]))
    _binary(ws, 1)

    sim.chaos.inject(FaultKind.TCP_ABORT, "feed")
    opcodes: list[int] = []
    with pytest.raises(ConnectionResetError):
        for _ in range(1000):
            got = _recv(ws, 5.0)
            assert got is not None, "the connection stayed open"
            opcodes.append(got[0])

    assert websocket.ABNF.OPCODE_CLOSE not in opcodes
    assert _faults(sim) == [(FaultKind.TCP_ABORT, "feed:1")]
    _wait_for(lambda: sim.hub.snapshot().connections == ())


def test_silent_stall_withholds_data_and_pongs_then_ticks_resume(make_sim):
    sim = make_sim()
    ws = sim.connect()
    ws.send(_request(Mode.LTP, [SBIN]))
    frames = _binary(ws, 2)

    sim.chaos.inject(FaultKind.SILENT_STALL, "feed", duration_s=60.0)  # 1.5 s real
    _wait_for(lambda: sim.hub.snapshot().connections[0].stalled, 1.0)
    while (got := _recv(ws, 0.1)) is not None:  # what was sent before the stall
        frames.append(got[1])
    ws.send("ping")
    ws.ping(b"anyone")
    during_stall = _recv(ws, 0.4)
    frames += _binary(ws, 5)
    after = _barrier(ws)

    assert during_stall is None
    assert not sim.hub.snapshot().connections[0].stalled
    _assert_consecutive(_sequences(frames + after, SBIN))  # the backlog came too
    assert _faults(sim) == [(FaultKind.SILENT_STALL, "feed:1")]
    assert sim.chaos.counts["feed.stall_dropped"] >= 2


def test_malformed_frame_fault_sends_one_short_frame_and_goes_on(make_sim):
    sim = make_sim()
    ws = sim.connect()
    ws.send(_request(Mode.LTP, [SBIN]))
    _binary(ws, 1)

    sim.chaos.inject(FaultKind.MALFORMED_FRAME, "feed")
    frames = _binary(ws, 40)

    short = [f for f in frames if len(f) != 51]
    assert [len(f) for f in short] == [40]
    with pytest.raises(FrameError):
        wire.decode(short[0])
    after = frames[frames.index(short[0]) + 1 :]
    assert after and all(wire.decode(f).token == SBIN for f in after)
    assert _faults(sim) == [(FaultKind.MALFORMED_FRAME, "feed:1")]


# Counting and stopping.


def test_frames_and_connections_are_counted(make_sim):
    sim = make_sim()
    ws = sim.connect()
    ws.send(_request(Mode.LTP, [SBIN]))
    received = len(_binary(ws, 10))

    ws.close()
    _wait_for(lambda: sim.hub.snapshot().connections == ())

    snap = sim.hub.snapshot()
    assert snap.frames_sent >= received
    assert sim.chaos.counts["feed.frames"] == snap.frames_sent
    assert sim.chaos.counts["feed:1.frames"] == snap.frames_sent
    assert sim.chaos.counts["feed.connections_opened"] == 1
    assert sim.chaos.counts["feed.connections_closed"] == 1


def test_close_all_closes_every_connection_with_1001(make_sim):
    sim = make_sim()
    clients = [sim.connect("C1"), sim.connect("C2")]
    for ws in clients:
        ws.send(_request(Mode.LTP, [SBIN]))
        _binary(ws, 1)

    closing = asyncio.run_coroutine_threadsafe(sim.hub.close_all(), sim.loop)
    codes = [_close_code(ws) for ws in clients]
    closing.result(5)

    assert codes == [1001, 1001]
    assert sim.hub.snapshot().connections == ()
    senders = sim.call(_other_tasks)
    assert not [name for name in senders if name.endswith("sender")]


# The request parser, the subscription book and the trade plan, offline.


def _body(**overrides: Any) -> str:
    body: dict[str, Any] = {
        "correlationID": "abc",
        "action": 1,
        "params": {"mode": 1, "tokenList": [{"exchangeType": 1, "tokens": ["1"]}]},
    }
    params = overrides.pop("params", {})
    body.update(overrides)
    body["params"] = {**body["params"], **params}
    return json.dumps(body)


@pytest.mark.parametrize(
    "text",
    [
        "[]",
        _body(action=2),
        _body(action=True),
        _body(action="1"),
        _body(params={"mode": 5}),
        _body(params={"mode": "1"}),
        _body(params={"tokenList": []}),
        _body(params={"tokenList": {"exchangeType": 1, "tokens": ["1"]}}),
        _body(params={"tokenList": [{"exchangeType": 6, "tokens": ["1"]}]}),
        _body(params={"tokenList": [{"exchangeType": 1, "tokens": "1594"}]}),
        _body(params={"tokenList": [{"exchangeType": 1, "tokens": [1594]}]}),
        _body(params={"tokenList": [{"exchangeType": 1, "tokens": [""]}]}),
        _body(params={"tokenList": [{"exchangeType": 1}]}),
        _body(params={"mode": 4, "tokenList": [{"exchangeType": 2, "tokens": ["1"]}]}),
        _body(
            params={
                "mode": 4,
                "tokenList": [
                    {"exchangeType": 1, "tokens": [str(i) for i in range(51)]}
                ],
            }
        ),
    ],
)
def test_parse_request_refuses_bad_payloads_keeping_the_correlation_id(text):
    with pytest.raises(BadRequest) as refused:
        parse_request(text)

    assert refused.value.correlation_id == ("" if text == "[]" else "abc")


def test_parse_request_refuses_a_non_string_correlation_id():
    with pytest.raises(BadRequest) as refused:
        parse_request(_body(correlationID=12))

    assert refused.value.correlation_id == ""


def test_parse_request_reads_keys_in_order_without_duplicates():
    entries = [
        {"exchangeType": 1, "tokens": ["3045", "2885", "3045"]},
        {"exchangeType": 5, "tokens": ["234230"]},
    ]
    request = parse_request(_body(action=0, params={"mode": 2, "tokenList": entries}))

    assert request.action == 0 and request.mode is Mode.QUOTE
    assert request.keys == (
        (1, "3045", Mode.QUOTE),
        (1, "2885", Mode.QUOTE),
        (5, "234230", Mode.QUOTE),
    )


def test_parse_request_takes_depth_for_50_nse_tokens():
    tokens = [str(i) for i in range(50)]
    entries = [{"exchangeType": 1, "tokens": tokens}]

    request = parse_request(_body(params={"mode": 4, "tokenList": entries}))

    assert len(request.keys) == 50


def test_subscriptions_refuse_over_the_limit_all_or_nothing():
    book = Subscriptions(3)
    assert book.add(((1, "a", Mode.LTP), (1, "b", Mode.LTP))) == [
        (1, "a", Mode.LTP),
        (1, "b", Mode.LTP),
    ]

    with pytest.raises(LimitExceeded):
        book.add(((1, "c", Mode.LTP), (1, "d", Mode.LTP)))
    assert book.add(((1, "a", Mode.LTP), (1, "c", Mode.LTP))) == [(1, "c", Mode.LTP)]
    assert book.remove(((1, "a", Mode.LTP), (1, "zz", Mode.LTP))) == 1
    assert book.all_keys() == [(1, "b", Mode.LTP), (1, "c", Mode.LTP)]


DAY = datetime(2026, 12, 3).date()
YESTERDAY = datetime(2026, 12, 2).date()


@pytest.mark.parametrize(
    ("last", "index", "per_trade", "in_session", "expected"),
    [
        ((DAY, 10), 13, True, True, TradePlan(DAY, range(11, 14))),
        ((DAY, 10), 13, False, True, TradePlan(DAY, range(13, 14))),
        ((DAY, 13), 13, True, True, TradePlan(DAY, range(0))),
        ((DAY, 14), 13, True, True, TradePlan(DAY, range(0))),  # clock went back
        (None, 13, True, True, TradePlan(DAY, range(13, 14))),
        ((YESTERDAY, 22_499), 2, True, True, TradePlan(DAY, range(0, 3))),
        ((DAY, 0), 1000, True, True, TradePlan(DAY, range(701, 1001), 700)),
        ((DAY, 22_497), 22_499, True, False, TradePlan(DAY, range(22_498, 22_500))),
        (None, 22_499, True, False, TradePlan(DAY, range(0))),
        ((YESTERDAY, 22_499), 22_499, True, False, TradePlan(DAY, range(0))),
    ],
)
def test_plan_trades(last, index, per_trade, in_session, expected):
    plan = plan_trades(
        last, DAY, index, per_trade=per_trade, in_session=in_session, backlog_cap=300
    )

    assert plan == expected
