"""One connection of the simulated feed: its subscriptions, its ticks, its faults.

A :class:`FeedConnection` keeps a :class:`Subscriptions` book of (exchange type,
token, mode) keys, each with the last trade it was sent, and runs a sender task
that wakes every ``tick_interval_s`` of simulated time. At each wake it asks the
chaos plan for a fault on ``feed:<id>`` and then sends what :func:`plan_trades`
says every subscription is owed, as binary frames of :func:`kit.broker.wire.encode`.

Faults carried out here: a clean close (1000 or the fault's ``status``), a TCP
reset with no close frame (SO_LINGER 0, then abort), a silent stall (nothing sent,
nothing read, for ``duration_s``) and one frame of the wrong length.

:class:`kit.sim.feed.FeedHub` owns the upgrade and reads the requests.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import date

from aiohttp import WSCloseCode, web

from kit.broker import wire
from kit.broker.routes import Mode
from kit.clock import Clock
from kit.sim.chaos import Chaos, Fault, FaultKind
from kit.sim.market import DayPath, Market
from kit.sim.replies import reset_connection

logger = logging.getLogger(__name__)

BACKLOG_CAP = 300
"""Trades a subscription is sent at most per wake; older ones are skipped."""

DEFAULT_STALL_S = 60.0
"""A silent stall whose fault gives no ``duration_s`` lasts this long (simulated)."""

CLOSE_TIMEOUT_S = 5.0
"""Real seconds a close handshake may take before the socket is dropped."""

MALFORMED_LENGTH = 40
"""A malformed frame is an LTP frame cut to this many bytes (a real one is 51)."""

SubKey = tuple[int, str, Mode]
"""One subscription: exchange type, token, mode."""

Sent = tuple[date, int]
"""The last trade a subscription was sent: trading day and trade index."""


class LimitExceeded(Exception):
    """A subscribe that would take a connection over its limit (E1002)."""


class Subscriptions:
    """One connection's subscriptions and, per key, the last trade it was sent."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._sent: dict[SubKey, Sent | None] = {}

    def __len__(self) -> int:
        return len(self._sent)

    def __contains__(self, key: object) -> bool:
        return key in self._sent

    def all_keys(self) -> list[SubKey]:
        """A copy of the keys, in the order they were subscribed."""
        return list(self._sent)

    def add(self, keys: tuple[SubKey, ...]) -> list[SubKey]:
        """Add ``keys``, all or none; return the ones that were new.

        Raises :class:`LimitExceeded` when the new ones would take the book over
        its limit; keys already subscribed are ignored and do not count.
        """
        new = [key for key in dict.fromkeys(keys) if key not in self._sent]
        if len(self._sent) + len(new) > self.limit:
            raise LimitExceeded(f"{len(self._sent)} + {len(new)} > {self.limit}")
        self._sent.update((key, None) for key in new)
        return new

    def remove(self, keys: tuple[SubKey, ...]) -> int:
        """Drop ``keys``, ignoring those not subscribed; return how many went."""
        present = [key for key in dict.fromkeys(keys) if key in self._sent]
        for key in present:
            del self._sent[key]
        return len(present)

    def last_sent(self, key: SubKey) -> Sent | None:
        return self._sent.get(key)

    def mark_sent(self, key: SubKey, sent: Sent) -> None:
        if key in self._sent:
            self._sent[key] = sent


@dataclass(frozen=True)
class TradePlan:
    """The trade indexes of ``day`` to send now, and how many were skipped."""

    day: date
    indexes: range
    skipped: int = 0


def plan_trades(
    last: Sent | None,
    day: date,
    index: int,
    *,
    per_trade: bool,
    in_session: bool,
    backlog_cap: int = BACKLOG_CAP,
) -> TradePlan:
    """Which trades a subscription is owed when the latest trade is ``(day, index)``.

    - Nothing when the latest trade was already sent, or the clock went back.
    - Outside the session only the trades of the day already being sent (the
      last seconds before the close), never a first frame.
    - ``per_trade``: every trade since the last one sent (from the open on a new
      day), at most ``backlog_cap`` of them, the latest; else only the latest.
    """
    empty = TradePlan(day, range(0))
    if last is not None and last >= (day, index):
        return empty
    if not in_session and (last is None or last[0] != day):
        return empty
    if not per_trade or last is None:
        return TradePlan(day, range(index, index + 1))

    start = last[1] + 1 if last[0] == day else 0
    skipped = max(0, index - start + 1 - backlog_cap)
    return TradePlan(day, range(start + skipped, index + 1), skipped)


class FeedConnection:
    """One open feed connection: its socket, subscriptions and sender task."""

    def __init__(
        self,
        connection_id: int,
        client_code: str,
        request: web.Request,
        *,
        market: Market,
        chaos: Chaos,
        clock: Clock,
        tick_interval_s: float,
        max_subscriptions: int,
    ) -> None:
        self.id = connection_id
        self.label = f"feed:{connection_id}"
        self.client_code = client_code
        self.request = request
        self.market = market
        self.chaos = chaos
        self.clock = clock
        self.tick_interval_s = tick_interval_s
        self.ws = web.WebSocketResponse(autoping=False, timeout=CLOSE_TIMEOUT_S)
        self.subs = Subscriptions(max_subscriptions)
        self.frames_sent = 0
        self.stalled = False  # nothing is sent or read while True
        self.closing = False  # the server started a close
        self.sender: asyncio.Task[None] | None = None
        self.finished = asyncio.Event()  # set once the route has let go
        self.opened_s = clock.monotonic()
        self._send_lock = asyncio.Lock()  # keeps each key's frames in trade order

    def known(self, key: SubKey) -> bool:
        """Whether ``key`` ticks: its token is in the market, on its segment."""
        instrument = self.market.get(key[1])
        return instrument is not None and instrument.exchange_type == key[0]

    # Life cycle.

    def start(self) -> None:
        self.sender = asyncio.create_task(self._run(), name=f"{self.label} sender")

    async def stop(self) -> None:
        """End the sender task; a close it started may finish first."""
        sender = self.sender
        if sender is None:
            return
        if self.closing and not sender.done():
            await asyncio.wait({sender}, timeout=CLOSE_TIMEOUT_S)
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)

    async def close(self, code: int) -> None:
        """Stop sending, close with ``code`` and wait until the route lets go."""
        self.closing = True
        if self.sender is not None:
            self.sender.cancel()
            await asyncio.gather(self.sender, return_exceptions=True)
        if self.ws.prepared:
            await self.ws.close(code=code, message=b"Going away")
        try:
            await asyncio.wait_for(self.finished.wait(), CLOSE_TIMEOUT_S)
        except TimeoutError:
            logger.warning("%s: still open after the close timeout", self.label)

    # Sending.

    async def send_text(self, text: str) -> None:
        try:
            await self.ws.send_str(text)
        except ConnectionError:
            logger.debug("%s: reply not sent, the connection is closing", self.label)

    async def pong(self, payload: bytes) -> None:
        try:
            await self.ws.pong(payload)
        except ConnectionError:
            logger.debug("%s: pong not sent, the connection is closing", self.label)

    async def send_snapshot(self, keys: list[SubKey]) -> None:
        """Send each of ``keys`` one frame of its latest trade, now."""
        now_s = self.clock.time()
        async with self._send_lock:
            frames: list[bytes] = []
            for key in keys:
                if key in self.subs and self.known(key):
                    path, index = self.market.last_trade(key[1], now_s)
                    frames.append(self._frame(key, path, index))
                    self.subs.mark_sent(key, (path.day, index))
            await self._send_frames(frames)

    async def _run(self) -> None:
        try:
            while True:
                await self.clock.sleep_async(self.tick_interval_s)
                fault = self.chaos.feed_fault(self.id)
                if fault is not None and not await self._inject(fault):
                    return
                await self._send_due()
        except ConnectionError:
            logger.debug("%s: sender stopped, the connection is closing", self.label)
        except Exception:
            logger.exception("%s: sender failed; closing with 1011", self.label)
            self.closing = True
            await self.ws.close(code=WSCloseCode.INTERNAL_ERROR)

    async def _send_due(self) -> None:
        now_s = self.clock.time()
        in_session = self.market.calendar.is_open(self.clock.now())
        per_trade = self.tick_interval_s <= 1.0
        skipped = 0
        async with self._send_lock:
            frames: list[bytes] = []
            for key in self.subs.all_keys():
                if not self.known(key):
                    continue
                path, index = self.market.last_trade(key[1], now_s)
                last = self.subs.last_sent(key)
                plan = plan_trades(
                    last, path.day, index, per_trade=per_trade, in_session=in_session
                )
                if plan.indexes:
                    frames += [self._frame(key, path, i) for i in plan.indexes]
                    self.subs.mark_sent(key, (plan.day, plan.indexes[-1]))
                skipped += plan.skipped
            await self._send_frames(frames)
        if skipped:
            self.chaos.count("feed.skipped_trades", skipped)
            logger.info("%s: %d trades of backlog skipped", self.label, skipped)

    async def _send_frames(self, frames: list[bytes]) -> None:
        sent = 0
        try:
            for frame in frames:
                await self.ws.send_bytes(frame)
                sent += 1
        finally:
            if sent:
                self.frames_sent += sent
                self.chaos.count("feed.frames", sent)
                self.chaos.count(f"{self.label}.frames", sent)

    def _frame(self, key: SubKey, path: DayPath, index: int) -> bytes:
        """The frame of trade ``index`` of ``path`` in the key's mode."""
        return wire.encode(self.market.tick(key[1], key[2], path.open_s + index))

    # Chaos.

    async def _inject(self, fault: Fault) -> bool:
        """Carry out ``fault``; False when the connection is gone."""
        kind, target = fault.kind, self.label
        if kind is FaultKind.CLEAN_CLOSE:
            code = fault.status or WSCloseCode.OK
            self.chaos.record(kind, target, f"close code {code}")
            logger.warning("%s: chaos, closing with code %d", target, code)
            self.closing = True
            await self.ws.close(code=code, message=b"Closed by the server")
            return False
        if kind is FaultKind.TCP_ABORT:
            self.chaos.record(kind, target, "TCP reset, no close frame")
            logger.warning("%s: chaos, resetting the TCP connection", target)
            reset_connection(self.request)
            return False
        if kind is FaultKind.SILENT_STALL:
            duration_s = fault.duration_s or DEFAULT_STALL_S
            self.chaos.record(kind, target, f"silent for {duration_s:g} s")
            logger.warning("%s: chaos, silent for %.1f s", target, duration_s)
            await self._stall(duration_s)
            return True
        if kind is FaultKind.MALFORMED_FRAME:
            frame = self._malformed_frame()
            self.chaos.record(kind, target, f"a frame of {len(frame)} bytes")
            logger.warning("%s: chaos, sending a %d-byte frame", target, len(frame))
            async with self._send_lock:
                await self._send_frames([frame])
            return True
        logger.warning("%s: chaos fault %s does not apply to a feed", target, kind)
        return True

    async def _stall(self, duration_s: float) -> None:
        self.stalled = True
        try:
            await self.clock.sleep_async(duration_s)
        finally:
            self.stalled = False
        logger.info("%s: stall over, sending again", self.label)

    def _malformed_frame(self) -> bytes:
        now_s = self.clock.time()
        for key in self.subs.all_keys():
            if self.known(key):
                tick = self.market.tick(key[1], Mode.LTP, now_s)
                return wire.encode(tick)[:MALFORMED_LENGTH]
        filler = wire.LtpTick(int(Mode.LTP), 1, "0", 0, self.clock.time_ms(), 0.0)
        return wire.encode(filler)[:MALFORMED_LENGTH]
