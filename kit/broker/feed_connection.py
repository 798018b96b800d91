"""One feed connection's supervisor: connect, serve, tear down, wait, again.

A :class:`ConnectionSupervisor` owns one thread and one loop. Each turn
connects (asking the credential cache, fresh tokens after a 401), serves the
socket with a :class:`~kit.broker.feed_session.LiveSession` until it ends, logs
one summary line, then waits as the backoff policy says, on the clock, woken
early only by ``stop()`` or ``reconnect()``. Nothing reconnects from inside a
callback, and nothing reconnects after ``stop()``.

Log lines start with the connection's name (``feed-1``) and use a fixed
vocabulary: "Connecting...", "Connected", "Reconnected after 2.1 s down",
"Disconnected (<why>): up 12.3 s, 345 frames, 17595 bytes",
"Reconnecting in 2.0 s (attempt 3/10)", "Giving up after 10 attempts".
"""

from __future__ import annotations

import contextlib
import socket
import threading

import websocket

from kit.broker.backoff import AttemptCounter
from kit.broker.feed_credentials import scrub
from kit.broker.feed_events import (
    Connected,
    ConnectFailed,
    Disconnected,
    GaveUp,
    ReconnectAlert,
    Reconnected,
    ReconnectScheduled,
    Refused,
)
from kit.broker.feed_protocol import handshake, new_socket
from kit.broker.feed_session import ConnParts, FeedContext, LiveSession
from kit.broker.feed_state import ConnectionStatus, ConnState, ConnStats, Counters
from kit.broker.feed_state import frozen_ticks as _frozen_ticks
from kit.broker.feed_watch import TokenWatch
from kit.errors import HandshakeRefused, KitError

_ENDING_THREAD_REAL_S = 1.0  # how long reconnect() waits for a given-up thread


class ConnectionSupervisor:
    """The thread and loop of connection ``slot`` (named ``feed-<slot+1>``)."""

    def __init__(self, slot: int, ctx: FeedContext) -> None:
        cfg = ctx.config
        self.slot = slot
        self.name = f"feed-{slot + 1}"
        self._ctx = ctx
        self._log = ctx.logger
        self._wake = threading.Event()  # set by stop() and reconnect()
        self.parts = ConnParts(
            slot=slot,
            name=self.name,
            stats=ConnStats(),
            watch=TokenWatch(cfg.verify_window_s, cfg.stale_after_s),
            counter=AttemptCounter(cfg.backoff.stable_window_s),
            stop=threading.Event(),
            reconnect=threading.Event(),
        )
        self.state = ConnState.IDLE
        self._thread = self._new_thread()
        self._ws: websocket.WebSocket | None = None
        self._session: LiveSession | None = None
        self._limited = False  # the last attempt met a 429
        self._ever_up = False
        self._down_since_s: float | None = None

    @property
    def thread_name(self) -> str:
        return self._thread.name

    def start(self) -> None:
        self._thread.start()

    def request_stop(self) -> None:
        """Ask the loop to end; wakes a wait, a read or a handshake in progress."""
        self.parts.stop.set()
        self._wake.set()
        self._interrupt_socket()

    def join(self, timeout_real_s: float) -> bool:
        """Wait for the thread; True when it has ended."""
        if self._thread.ident is not None:
            self._thread.join(timeout_real_s)
        return not self._thread.is_alive()

    def request_reconnect(self) -> None:
        """Close the connection and make it again; revive a connection that gave up."""
        if self.parts.stop.is_set():
            return
        if self.state is ConnState.FAILED:
            self._thread.join(_ENDING_THREAD_REAL_S)  # it has given up and is ending
            if not self._thread.is_alive():
                self.parts.counter.attempt = 0
                self._thread = self._new_thread()
                self._thread.start()
            return
        self.parts.reconnect.set()
        self._wake.set()

    def status(self) -> ConnectionStatus:
        clock = self._ctx.clock
        now_s, wall_s = clock.monotonic(), clock.time()
        session = self._session
        up = session is not None and self.state is ConnState.CONNECTED
        pending, silent, stale = self.parts.watch.counts()
        return ConnectionStatus(
            name=self.name,
            state=self.state,
            uptime_s=now_s - session.opened_s if up and session else 0.0,
            attempt=self.parts.counter.attempt,
            last_message_age_s=(
                session.liveness.silent_for_s(now_s) if session else None
            ),
            wanted=len(self._ctx.book.wanted(self.slot)),
            held=len(session.held) if session else 0,
            pending=pending,
            silent=silent,
            stale=stale,
            counters=Counters.of(self.parts.stats),
            last_tick_at=_frozen_ticks(self.parts.watch.last_tick_s(), now_s, wall_s),
        )

    # The loop.

    def _new_thread(self) -> threading.Thread:
        return threading.Thread(target=self._run, name=f"kit-{self.name}", daemon=True)

    def _run(self) -> None:
        stop = self.parts.stop
        while not stop.is_set():
            try:
                self._cycle()
            except Exception:  # a bug must not end the feed; log it and go on
                self._log.exception("%s: Unexpected failure; reconnecting", self.name)
                self._close_socket()
                self._session = None
                self._mark_down()
            if stop.is_set() or not self._wait_to_retry():
                break
        if self.state is not ConnState.FAILED:
            self.state = ConnState.STOPPED

    def _cycle(self) -> None:
        """Connect, serve until the connection ends, tear down."""
        ws = self._open()
        if ws is None:
            return
        self._on_up()
        session = LiveSession(ws, self._ctx, self.parts, resubscribe=self._ever_up)
        self._ever_up = True
        self._session = session
        try:
            reason = session.run()
        finally:
            self._close_socket()
        self._on_down(session, reason)

    def _open(self) -> websocket.WebSocket | None:
        """A connected socket, or None when this attempt failed."""
        self.state = ConnState.CONNECTING
        self._limited = False
        self._log.info("%s: Connecting...", self.name)
        ws = new_socket()
        self._ws = ws
        if self.parts.stop.is_set():
            return None
        generation = 0
        timeout_real_s = self._ctx.config.connect_timeout_s / self._ctx.clock.speed
        try:
            credentials, generation = self._ctx.credentials.current()
            handshake(ws, self._ctx.url, credentials, timeout_real_s=timeout_real_s)
        except HandshakeRefused as exc:
            self._refused(exc, generation)
            return None
        except KitError as exc:
            self._connect_failed(exc.message)
            return None
        except Exception as exc:  # the credentials provider failed
            secrets = self._ctx.credentials.secrets()
            why = f"credentials unavailable: {type(exc).__name__}: {exc}"
            self._connect_failed(scrub(why, secrets))
            return None
        return ws

    def _refused(self, exc: HandshakeRefused, generation: int) -> None:
        status, reason = exc.status, exc.reason or "no reason given"
        if status == 401:
            self._ctx.credentials.refused(generation)
            self._log.warning(
                "%s: Upgrade refused: 401 %s; fresh tokens before the next attempt",
                self.name, reason,
            )  # fmt: skip
        elif status == 429:
            self._limited = True
            self._log.warning(
                "%s: Upgrade refused: 429 (connection limit); waiting at least %.1f s",
                self.name, self._ctx.config.backoff.limit_delay_s,
            )  # fmt: skip
        else:
            self._log.warning("%s: Upgrade refused: HTTP %d", self.name, status)
        self._ctx.events.emit(
            Refused(self.name, self._ctx.clock.time(), status, reason)
        )
        self._mark_down()

    def _connect_failed(self, reason: str) -> None:
        if self.parts.stop.is_set():
            return  # stop() cut the attempt short; nothing failed
        self._log.warning("%s: Connect failed: %s", self.name, reason)
        self._ctx.events.emit(ConnectFailed(self.name, self._ctx.clock.time(), reason))
        self._mark_down()

    def _on_up(self) -> None:
        clock, name = self._ctx.clock, self.name
        now_s = clock.monotonic()
        self.state = ConnState.CONNECTED
        self.parts.counter.connected(now_s)
        self._log.info("%s: Connected", name)
        if not self._ever_up:
            self._ctx.events.emit(Connected(name, clock.time()))
        elif self._down_since_s is not None:
            downtime_s = now_s - self._down_since_s
            attempts = self.parts.counter.attempt
            self.parts.stats.reconnects += 1
            self._log.info(
                "%s: Reconnected after %.1f s down (%d attempts)",
                name, downtime_s, attempts,
            )  # fmt: skip
            event = Reconnected(name, clock.time(), downtime_s, attempts)
            self._ctx.events.emit(event)
        self._down_since_s = None

    def _on_down(self, session: LiveSession, reason: str) -> None:
        """One summary line and one event for the connection that ended."""
        now_s = self._ctx.clock.monotonic()
        stats = self.parts.stats
        uptime_s = now_s - session.opened_s
        frames = stats.frames - session.frames_at_open
        size = stats.bytes - session.bytes_at_open
        self._log.info(
            "%s: Disconnected (%s): up %.1f s, %d frames, %d bytes",
            self.name, reason, uptime_s, frames, size,
        )  # fmt: skip
        event = Disconnected(
            self.name, self._ctx.clock.time(), reason, uptime_s, frames, size
        )
        self._ctx.events.emit(event)
        self._session = None
        self._mark_down()

    def _mark_down(self) -> None:
        if self._ever_up and self._down_since_s is None:
            self._down_since_s = self._ctx.clock.monotonic()
        if not self.parts.stop.is_set():
            self.state = ConnState.WAITING

    def _wait_to_retry(self) -> bool:
        """Wait before the next attempt; False when stopped or given up."""
        policy, clock, name = self._ctx.config.backoff, self._ctx.clock, self.name
        attempt = self.parts.counter.failed()
        if not policy.allows(attempt):
            self._log.error("%s: Giving up after %d attempts", name, attempt - 1)
            self._ctx.events.emit(GaveUp(name, clock.time(), attempt - 1))
            self.state = ConnState.FAILED
            return False

        delay_s = policy.delay_s(attempt, self._ctx.rng, limited=self._limited)
        self._log.info(
            "%s: Reconnecting in %.1f s (attempt %s)",
            name, delay_s, policy.describe_attempt(attempt),
        )  # fmt: skip
        scheduled = ReconnectScheduled(
            name, clock.time(), attempt, delay_s, policy.max_attempts
        )
        self._ctx.events.emit(scheduled)
        if policy.alerts_at(attempt):
            self._log.warning("%s: Still disconnected at attempt %d", name, attempt)
            self._ctx.events.emit(ReconnectAlert(name, clock.time(), attempt))

        self.state = ConnState.WAITING
        clock.wait(self._wake, delay_s)
        self._wake.clear()
        self.parts.reconnect.clear()
        return not self.parts.stop.is_set()

    # The socket.

    def _interrupt_socket(self) -> None:
        """Wake a blocked read or handshake from another thread."""
        ws = self._ws
        sock = ws.sock if ws is not None else None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _close_socket(self) -> None:
        ws, self._ws = self._ws, None
        if ws is None:
            return
        with contextlib.suppress(Exception):
            ws.close(timeout=self._ctx.config.close_timeout_real_s)
        with contextlib.suppress(Exception):
            ws.shutdown()  # type: ignore[no-untyped-call]  # unannotated upstream
