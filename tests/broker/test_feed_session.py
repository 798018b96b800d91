"""LiveSession on a scripted socket: every kind of frame a server may send, in
one deterministic run on the test's own thread (no network, no sleep)."""

from __future__ import annotations

import json
import logging
import random
import threading
from collections import deque
from typing import Any

import websocket

from kit.broker import wire
from kit.broker.backoff import AttemptCounter
from kit.broker.feed_config import FeedConfig
from kit.broker.feed_credentials import CredentialCache, FeedCredentials
from kit.broker.feed_events import Subscribed, SubscriptionRefused
from kit.broker.feed_output import EventSink, TickOutput
from kit.broker.feed_session import ConnParts, FeedContext, LiveSession
from kit.broker.feed_state import ConnStats
from kit.broker.feed_subscriptions import SubKey, SubscriptionBook, sub_keys
from kit.broker.feed_watch import TokenWatch
from kit.clock import ManualClock, NseCalendar
from tests.broker.feed_helpers import SESSION

BINARY, TEXT, CLOSE = (
    websocket.ABNF.OPCODE_BINARY,
    websocket.ABNF.OPCODE_TEXT,
    websocket.ABNF.OPCODE_CLOSE,
)
SECRET_FEED_TOKEN = "feed-token-very-secret"


class ScriptedSocket:
    """Hands out scripted frames, then times out; records what is sent.

    A script entry is ``(opcode, payload)``, or a callable run when reached
    (to act between frames, as a server's later reply would).
    """

    def __init__(self, script: list[Any]) -> None:
        self.script = deque(script)
        self.sent: list[str] = []
        self.timeouts = 0

    def settimeout(self, timeout: float) -> None:
        pass

    def send(self, text: str) -> None:
        self.sent.append(text)

    def recv_data(self, control_frame: bool = False) -> tuple[int, bytes]:
        while self.script and callable(self.script[0]):
            self.script.popleft()(self)
        if not self.script:
            raise websocket.WebSocketConnectionClosedException("end of script")
        entry = self.script.popleft()
        if entry is None:
            self.timeouts += 1
            raise websocket.WebSocketTimeoutException("quiet")
        return entry


def ltp_frame(token: str, price: float = 100.0) -> bytes:
    return wire.encode(wire.LtpTick(1, 1, token, 1, int(SESSION.timestamp()), price))


def make_session(script: list[Any], *, book: SubscriptionBook | None = None):
    clock = ManualClock(SESSION)
    log = logging.getLogger("kit.broker.feed")
    events: list[Any] = []
    sink = EventSink(events.append, keep=100, logger=log, clock=clock)
    creds = FeedCredentials("jwt", "key", "client", SECRET_FEED_TOKEN)
    cache = CredentialCache(lambda *, refresh=False: creds)
    cache.current()
    book = book or SubscriptionBook(max_connections=3, max_per_connection=1000)
    ctx = FeedContext(
        url="ws://unused", config=FeedConfig(), clock=clock,
        calendar=NseCalendar(), rng=random.Random(1), credentials=cache,
        book=book, events=sink, logger=log,
        output=TickOutput(100, None, events=sink, logger=log, clock=clock),
    )  # fmt: skip
    parts = ConnParts(
        slot=0, name="feed-1", stats=ConnStats(),
        watch=TokenWatch(15.0, 120.0), counter=AttemptCounter(30.0),
        stop=threading.Event(), reconnect=threading.Event(),
    )  # fmt: skip
    ws = ScriptedSocket(script)
    session = LiveSession(ws, ctx, parts, resubscribe=False)  # type: ignore[arg-type]
    return session, ws, parts, ctx, events


def test_every_kind_of_frame_is_handled_and_none_ends_the_session(caplog):
    caplog.set_level(logging.INFO, logger="kit.broker.feed")
    book = SubscriptionBook(max_connections=3, max_per_connection=1000)
    book.add(sub_keys(["3045", "2885"]))
    script = [
        None,  # a quiet poll: the subscribe goes out first
        (TEXT, b"hello " + SECRET_FEED_TOKEN.encode()),
        (TEXT, b"hello again"),
        (TEXT, b"pong"),
        (BINARY, ltp_frame("3045")),
        (BINARY, ltp_frame("3045")[:40]),  # malformed
        (BINARY, ltp_frame("2885")),
        (CLOSE, b"\x03\xe9going away"),  # 1001
    ]
    session, ws, parts, ctx, events = make_session(script, book=book)

    reason = session.run()

    stats = parts.stats
    assert reason == "server closed the connection, code 1001"
    assert (stats.frames, stats.bad_frames, stats.pongs) == (3, 1, 1)
    assert (stats.texts, stats.unknown_texts) == (3, 2)
    assert [t.token for t in _drain(ctx)] == ["3045", "2885"]
    (subscribe,) = ws.sent
    assert json.loads(subscribe)["params"]["tokenList"] == [
        {"exchangeType": 1, "tokens": ["2885", "3045"]}
    ]
    assert [type(e) for e in events] == [Subscribed]
    unknown = [r for r in caplog.records if "Unknown text" in r.getMessage()]
    assert len(unknown) == 1  # logged once
    assert SECRET_FEED_TOKEN not in caplog.text
    bad = [r for r in caplog.records if "Bad frame" in r.getMessage()]
    assert len(bad) == 1 and (bad[0].exc_info or bad[0].exc_text)


def test_an_e1002_reply_takes_the_refused_request_off_this_connection():
    book = SubscriptionBook(max_connections=3, max_per_connection=1000)
    book.add(sub_keys(["1", "2"]))

    def refuse_first_request(ws: ScriptedSocket) -> None:
        cid = json.loads(ws.sent[0])["correlationID"]
        reply = {
            "correlationID": cid,
            "errorCode": "E1002",
            "errorMessage": "Invalid Request. Subscription Limit Exceeded",
        }
        ws.script.appendleft((TEXT, json.dumps(reply).encode()))

    session, _, _, _, events = make_session([None, refuse_first_request], book=book)

    assert session.run() == "connection lost, no close frame"

    refused = [e for e in events if isinstance(e, SubscriptionRefused)]
    assert [(e.code, len(e.keys), e.moved) for e in refused] == [("E1002", 2, 2)]
    assert session.held == set()
    assert book.wanted(1) == frozenset(sub_keys(["1", "2"]))


def test_the_deadline_ends_a_silent_session_and_a_ping_goes_out_before():
    session, ws, parts, ctx, _ = make_session([None] * 3)
    clock = ctx.clock

    def later(seconds: float):
        return lambda _ws: clock.advance(seconds)

    ws.script = deque([None, later(10.0), None, later(10.0), None, None])

    assert session.run() == "no pong or data for 20.0 s"
    assert ws.sent == ["ping"]  # at 10 s; at 20 s the deadline came first
    assert parts.stats.pings == 1


def test_stop_and_reconnect_requests_end_the_session():
    session, _, parts, _, _ = make_session([None] * 10)
    parts.reconnect.set()
    assert session.run() == "reconnect requested"

    session, _, parts, _, _ = make_session([None] * 10)
    parts.stop.set()
    assert session.run() == "stopped"


def test_a_failed_send_ends_the_session_as_a_network_error():
    book = SubscriptionBook(max_connections=1, max_per_connection=10)
    book.add([SubKey(1, 1, "1")])
    session, ws, _, _, _ = make_session([None], book=book)

    def broken(text: str) -> None:
        raise BrokenPipeError("gone")

    ws.send = broken  # type: ignore[method-assign]

    assert session.run() == "send failed: BrokenPipeError"


def _drain(ctx: FeedContext) -> list[Any]:
    queue = ctx.output.queue
    return [queue.get_nowait() for _ in range(queue.qsize())]
