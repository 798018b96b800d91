"""One open feed connection, from its handshake to its end.

:class:`LiveSession` runs on its supervisor's thread and does, in a loop:
housekeeping (stop or reconnect asked for, the liveness deadline, a ``ping``
when due, sending what the subscription registry wants and this socket does not
hold yet, judging tokens once a second), then reads a batch of frames with a
short real timeout. Binary frames are decoded and handed to the tick output;
text frames are sorted (``pong``, E1001/E1002, unknown). Each frame is handled
inside its own guard: a bad frame or a failing callback is counted and logged,
and the session goes on.

:meth:`LiveSession.run` returns why the connection ended; it never reconnects.
That is the supervisor's job (:mod:`kit.broker.feed_connection`).
"""

from __future__ import annotations

import logging
import struct
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

import websocket

from kit.broker.backoff import AttemptCounter, RandomSource
from kit.broker.feed_config import FeedConfig
from kit.broker.feed_credentials import CredentialCache, scrub
from kit.broker.feed_events import (
    Resubscribed,
    Subscribed,
    SubscriptionRefused,
    TokensAskedAgain,
    TokensSilent,
    TokensStale,
)
from kit.broker.feed_output import EventSink, Throttle, TickOutput
from kit.broker.feed_protocol import (
    TextKind,
    TextReply,
    before_read,
    correlation_ids,
    read_text,
    requests_for,
)
from kit.broker.feed_state import ConnStats
from kit.broker.feed_subscriptions import SubKey, SubscriptionBook
from kit.broker.feed_watch import Liveness, TokenWatch
from kit.broker.routes import FEED_PING_TEXT, Action
from kit.broker.wire import Tick, decode
from kit.clock import Clock, NseCalendar
from kit.errors import FeedError, FeedStale, FrameError, KitError, NetworkError

POLL_REAL_S = 0.05
"""The longest a read blocks (real seconds) before housekeeping runs again."""

_BATCH_FRAMES = 256  # frames read before housekeeping runs again
_JUDGE_INTERVAL_S = 1.0
_REQUESTS_KEPT = 64  # subscribe requests remembered for their refusals
_SHOWN_TOKENS = 5  # tokens named in one log line

_BINARY = websocket.ABNF.OPCODE_BINARY
_TEXT = websocket.ABNF.OPCODE_TEXT
_CLOSE = websocket.ABNF.OPCODE_CLOSE


@dataclass(frozen=True)
class FeedContext:
    """What every connection of one feed shares."""

    url: str
    config: FeedConfig
    clock: Clock
    calendar: NseCalendar
    rng: RandomSource
    credentials: CredentialCache
    book: SubscriptionBook
    output: TickOutput
    events: EventSink
    logger: logging.Logger


@dataclass
class ConnParts:
    """What one connection keeps from one socket to the next."""

    slot: int
    name: str
    stats: ConnStats
    watch: TokenWatch
    counter: AttemptCounter
    stop: threading.Event
    reconnect: threading.Event


class LiveSession:
    """One connected socket: read, heartbeat, subscriptions, verification."""

    def __init__(
        self,
        ws: websocket.WebSocket,
        ctx: FeedContext,
        parts: ConnParts,
        *,
        resubscribe: bool,
    ) -> None:
        self._ws = ws
        self._ctx = ctx
        self._parts = parts
        self._log = ctx.logger
        self._name = parts.name
        now_s = ctx.clock.monotonic()
        self.opened_s = now_s
        self.frames_at_open = parts.stats.frames
        self.bytes_at_open = parts.stats.bytes
        cfg = ctx.config
        self.liveness = Liveness(cfg.ping_interval_s, cfg.liveness_deadline_s, now_s)
        self.held: set[SubKey] = set()
        self._requests: OrderedDict[str, tuple[SubKey, ...]] = OrderedDict()
        self._ids = correlation_ids(parts.slot + 1)
        self._synced_version = -1
        self._first_sync = True
        self._resubscribe = resubscribe
        self._next_judge_s = now_s + _JUDGE_INTERVAL_S
        self._bad_frames = Throttle(10.0)
        self._ticks: list[Tick] = []  # decoded, not yet queued

    def run(self) -> str:
        """Serve the socket until it ends; return why it ended."""
        self._ws.settimeout(POLL_REAL_S)
        before_read(self._ws, self._flush)
        try:
            while not self._parts.stop.is_set():
                if self._parts.reconnect.is_set():
                    self._parts.reconnect.clear()
                    return "reconnect requested"
                self._housekeeping()
                self._read_batch()
        except KitError as exc:
            if not self._parts.stop.is_set():
                return exc.message
        finally:
            before_read(self._ws, None)
        return "stopped"

    # Housekeeping.

    def _housekeeping(self) -> None:
        now_s = self._ctx.clock.monotonic()
        if self.liveness.expired(now_s):
            silent_s = self.liveness.silent_for_s(now_s)
            raise FeedStale(f"no pong or data for {silent_s:.1f} s")
        if self.liveness.ping_due(now_s):
            self._send_text(FEED_PING_TEXT)
            self._parts.stats.pings += 1
            self.liveness.pinged(now_s)
        self._sync(now_s)
        if now_s >= self._next_judge_s:
            self._next_judge_s = now_s + _JUDGE_INTERVAL_S
            self._judge(now_s)

    def _sync(self, now_s: float) -> None:
        """Send what the registry wants of this slot and the socket lacks."""
        book = self._ctx.book
        version = book.version
        if version == self._synced_version:
            return
        wanted = book.wanted(self._parts.slot)
        added = sorted(k for k in wanted if k not in self.held)
        removed = sorted(k for k in self.held if k not in wanted)
        self._send_requests(Action.UNSUBSCRIBE, removed)
        self._send_requests(Action.SUBSCRIBE, added)
        self.held.difference_update(removed)
        self.held.update(added)
        self._parts.watch.forget(removed)
        self._parts.watch.expect(added, now_s)
        self._synced_version = version
        self._report_sync(len(added), len(removed))

    def _report_sync(self, added: int, removed: int) -> None:
        first, self._first_sync = self._first_sync, False
        name, at_s = self._name, self._ctx.clock.time()
        if first and self._resubscribe:
            self._log.info("%s: Resubscribed %d tokens", name, added)
            self._ctx.events.emit(Resubscribed(name, at_s, added))
        elif added:
            self._log.info("%s: Subscribed %d tokens", name, added)
            self._ctx.events.emit(Subscribed(name, at_s, added))
        if removed:
            self._log.info("%s: Unsubscribed %d tokens", name, removed)

    def _judge(self, now_s: float) -> None:
        ctx = self._ctx
        market_open = ctx.calendar.is_open(ctx.clock.now())
        verdict = self._parts.watch.judge(
            now_s, market_open=market_open, held=self.held
        )
        if verdict.ask_again:
            keys = [k for k in verdict.ask_again if k in self.held]
            self._send_requests(Action.UNSUBSCRIBE, keys)
            self._send_requests(Action.SUBSCRIBE, keys)
            self._report(TokensAskedAgain, keys, "no tick yet; requested again")
        if verdict.silent:
            self._report(TokensSilent, verdict.silent, "silent after resubscribe")
        if verdict.stale:
            self._report(TokensStale, verdict.stale, "stale")
        ticks_expected = market_open and bool(self.held)
        if self._parts.counter.settle(now_s, ticks_expected=ticks_expected):
            self._log.info("%s: Stable; attempt counter reset", self._name)

    def _report(
        self,
        kind: type[TokensAskedAgain | TokensSilent | TokensStale],
        keys: list[SubKey],
        what: str,
    ) -> None:
        if not keys:
            return
        level = logging.INFO if kind is TokensAskedAgain else logging.WARNING
        self._log.log(
            level, "%s: %d tokens %s: %s", self._name, len(keys), what, _show(keys)
        )
        self._ctx.events.emit(kind(self._name, self._ctx.clock.time(), tuple(keys)))

    # Sending.

    def _send_requests(self, action: Action, keys: list[SubKey]) -> None:
        for request in requests_for(action, keys, self._ids):
            self._send_text(request.text)
            if action is Action.SUBSCRIBE:
                self._requests[request.correlation_id] = request.keys
                while len(self._requests) > _REQUESTS_KEPT:
                    self._requests.popitem(last=False)

    def _send_text(self, text: str) -> None:
        try:
            self._ws.send(text)
        except (OSError, websocket.WebSocketException) as exc:
            raise NetworkError(
                f"send failed: {type(exc).__name__}", sent=False
            ) from None

    # Reading.

    def _read_batch(self) -> None:
        """Read until a poll passes quietly, a poll's time is up, or a batch is in."""
        try:
            self._read_frames()
        finally:
            self._flush()

    def _flush(self) -> None:
        """Queue the ticks decoded so far, in one batch."""
        if self._ticks:
            ticks, self._ticks = self._ticks, []
            self._ctx.output.enqueue(ticks, self._parts.stats, self._name)

    def _read_frames(self) -> None:
        ws, clock, liveness = self._ws, self._ctx.clock, self.liveness
        until_s = clock.monotonic() + POLL_REAL_S * clock.speed
        for _ in range(_BATCH_FRAMES):
            try:
                opcode, data = ws.recv_data(control_frame=True)
            except websocket.WebSocketTimeoutException:
                return
            except websocket.WebSocketConnectionClosedException:
                raise NetworkError(
                    "connection lost, no close frame", sent=True
                ) from None
            except ConnectionResetError:
                raise NetworkError("connection reset", sent=True) from None
            except (OSError, websocket.WebSocketException) as exc:
                raise NetworkError(
                    f"read failed: {type(exc).__name__}", sent=True
                ) from None
            now_s = clock.monotonic()
            liveness.heard(now_s)
            if opcode == _BINARY:
                self._on_binary(data, now_s)
            elif opcode == _TEXT:
                self._on_text(data)
            elif opcode == _CLOSE:
                raise FeedError(_close_reason(data))
            if now_s >= until_s:
                return

    def _on_binary(self, data: bytes, now_s: float) -> None:
        stats = self._parts.stats
        stats.frames += 1
        stats.bytes += len(data)
        try:
            tick = decode(data)
        except FrameError:
            stats.bad_frames += 1
            held_back = self._bad_frames.allow(now_s)
            if held_back is not None:
                self._log.exception(
                    "%s: Bad frame of %d bytes skipped (%d more not shown)",
                    self._name, len(data), held_back,
                )  # fmt: skip
            return
        self._parts.watch.seen(SubKey(tick.mode, tick.exchange_type, tick.token), now_s)
        self._parts.counter.data()
        self._ticks.append(tick)
        self._ctx.output.call(tick, stats, self._name)

    def _on_text(self, data: bytes) -> None:
        stats = self._parts.stats
        stats.texts += 1
        reply = read_text(data)
        if reply.kind is TextKind.PONG:
            stats.pongs += 1
        elif reply.kind is TextKind.ERROR:
            self._on_refusal(reply)
        else:
            stats.unknown_texts += 1
            if stats.unknown_texts == 1:
                text = scrub(reply.text, self._ctx.credentials.secrets(), limit=120)
                self._log.warning(
                    "%s: Unknown text message (logged once): %r", self._name, text
                )

    def _on_refusal(self, reply: TextReply) -> None:
        """E1001 or E1002: take the refused pairs off this socket and re-place them."""
        keys = self._requests.pop(reply.correlation_id, ())
        refused = [key for key in keys if key in self.held]
        self.held.difference_update(refused)
        self._parts.watch.forget(refused)
        moved, unplaced = self._ctx.book.refuse(
            self._parts.slot, refused, reply.code, held=len(self.held)
        )
        message = scrub(reply.message, self._ctx.credentials.secrets(), limit=120)
        self._log.warning(
            "%s: Subscribe refused, %s %s (%d tokens: %d moved, %d unplaced)",
            self._name, reply.code, message, len(refused), len(moved),
            len(unplaced),
        )  # fmt: skip
        event = SubscriptionRefused(
            self._name, self._ctx.clock.time(), reply.code, message,
            tuple(refused), len(moved), tuple(unplaced),
        )  # fmt: skip
        self._ctx.events.emit(event)


def _close_reason(data: bytes) -> str:
    if len(data) >= 2:
        (code,) = struct.unpack("!H", data[:2])
        return f"server closed the connection, code {code}"
    return "server closed the connection"


def _show(keys: Iterable[SubKey]) -> str:
    """A few tokens for a log line (public exchange codes, not secrets)."""
    listed = list(keys)
    shown = ", ".join(key.token for key in listed[:_SHOWN_TOKENS])
    more = len(listed) - _SHOWN_TOKENS
    return f"{shown} and {more} more" if more > 0 else shown
