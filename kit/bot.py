"""The Bot: every part of the kit wired together, started and stopped as one.

::

    bot = Bot.start(settings)          # again in the same process: the same bot
    print(bot.board())                 # the health board
    bot.run_until(time(15, 30))        # headless: block until then (or stop())
    bot.stop()

What :meth:`Bot.start` does, in a thread of its own so that a notebook cell
returns at once (``status().phase`` says how far it got):

1. open the store and the activity feed (with the notifier behind it), record
   ``bot_started`` and, when the last run did not stop cleanly,
   ``crash_detected``;
2. log in (or resume the stored session), resolve the symbols (invalid ones are
   skipped with an event), restore the candles the store kept;
3. start the market feed (QUOTE mode), then load the warm-up history; when
   history is refused the books build from ticks and the bootstrap keeps
   retrying in the background;
4. in live mode, reconcile the journal and the positions with the broker;
5. run the engine thread (the one owner of candles, positions and orders) and
   the health monitor thread.

:meth:`stop` ends them in the reverse order, promptly, and records
``bot_stopped``; a process that dies instead leaves no ``bot_stopped`` and the
next start reports the crash. Against the simulator (``broker = "simulator"``)
the bot starts one in process, on a clock ``sim_speed`` times faster, unless
one is given.
"""

from __future__ import annotations

import logging
import threading
import time as _time
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any, ClassVar

import pandas as pd

from kit.bot_parts import BotParts, open_parts
from kit.clock import IST, Clock
from kit.config import Settings, load_settings
from kit.errors import ConfigurationError
from kit.market.candle_book import candles_to_frame
from kit.ops.board import render_board, render_startup_summary
from kit.ops.events import ActivityEvent, EventKind, Severity
from kit.ops.health import HealthSnapshot
from kit.trading.engine import EngineStatus
from kit.trading.risk import TradingState
from kit.trading.strategy import Strategy

logger = logging.getLogger(__name__)

USER_PAUSE = "user"  # the risk source of the notebook's "pause entries"
ENGINE_ANSWER_REAL_S = 5.0
STATUS_POLL_REAL_S = 0.005
FILL_KINDS = frozenset(
    str(k)
    for k in (
        EventKind.ORDER_PLACED,
        EventKind.POSITION_OPENED,
        EventKind.POSITION_CLOSED,
    )
)


@dataclass(frozen=True)
class BotStatus:
    """The bot at a glance, for the board and the UI (any thread)."""

    phase: str  # starting, bootstrapping, running, stopping, stopped, failed
    mode: str
    engine: EngineStatus | None
    health: HealthSnapshot | None
    error: str = ""


class Bot:
    """One bot per process; see the module."""

    _running: ClassVar[Bot | None] = None
    _class_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self,
        settings: Settings,
        *,
        strategy: Strategy | None = None,
        simulator: Any = None,
        clock: Clock | None = None,
    ) -> None:
        if settings.mode == "live" and not settings.live_confirmed:
            raise ConfigurationError(
                "live_confirmed: live mode places real orders; set "
                "live_confirmed = true to confirm",
                field="live_confirmed",
            )
        self.settings = settings
        self.strategy = strategy
        self.simulator = simulator
        self.clock = clock
        self.parts: BotParts | None = None
        self._opening: BotParts | None = None  # the parts while they open
        self.phase = "created"
        self.error = ""
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._engine_thread: threading.Thread | None = None
        self._stop_lock = threading.Lock()

    # Lifecycle.

    @classmethod
    def start(cls, settings: Settings | None = None, **options: Any) -> Bot:
        """Start the bot of this process, or return the one already running."""
        with cls._class_lock:
            running = cls._running
            if running is not None and running.phase not in ("stopped", "failed"):
                logger.info("Bot: already running; the running bot is returned")
                return running
            bot = cls(settings or load_settings(), **options)
            cls._running = bot
        bot._begin()
        return bot

    @classmethod
    def current(cls) -> Bot | None:
        return cls._running

    def _begin(self) -> None:
        self.phase = "starting"
        self._thread = threading.Thread(
            target=self._main, name="kit-bot-start", daemon=True
        )
        self._thread.start()

    def wait_ready(self, timeout_real_s: float = 120.0) -> bool:
        """Wait until the engine runs (or the start failed); True if it runs."""
        self._ready.wait(timeout_real_s)
        return self.phase == "running"

    def stop(self, timeout_real_s: float = 10.0) -> bool:
        """Stop every thread and close everything, once; True when all stopped."""
        with self._stop_lock:
            if self.phase in ("stopped", "failed") and self.parts is None:
                return True
            self.phase = "stopping"
            self._stop.set()
            opening = self._opening
            if opening is not None and self.parts is None:
                opening.interrupt()  # a start still loading history ends now
            clean = True
            if self._thread is not None:
                self._thread.join(timeout_real_s)
                clean = not self._thread.is_alive()
            if self._engine_thread is not None:
                self._engine_thread.join(timeout_real_s)
                clean = clean and not self._engine_thread.is_alive()
            if self.parts is not None:
                clean = self.parts.close(clean_stop=clean) and clean
                self.parts = None
            self.phase = "stopped"
            self._ready.set()
            logger.info("Bot: stopped%s", "" if clean else " (a thread did not end)")
            return clean

    def run_until(self, until: datetime | time, *, poll_real_s: float = 0.5) -> str:
        """Block until ``until`` on the bot's clock (a time of day: today, IST),
        or until :meth:`stop`; how it ended: ``until``, ``stopped`` or ``failed``."""
        self.wait_ready()
        clock = self._clock()
        if isinstance(until, time):
            today = clock.now().astimezone(IST).date()
            until = datetime.combine(today, until, tzinfo=IST)
        while not self._stop.is_set() and self.phase == "running":
            if clock.now() >= until:
                return "until"
            self._stop.wait(poll_real_s)
        return "failed" if self.phase == "failed" else "stopped"

    # Reading.

    def status(self) -> BotStatus:
        parts = self.parts
        engine = None if parts is None else parts.engine.status()
        health = None if parts is None else parts.health.latest
        return BotStatus(self.phase, self.settings.mode, engine, health, self.error)

    def board(self) -> str:
        """The health board of the latest snapshot (or a line saying why not)."""
        parts = self.parts
        snapshot = None if parts is None else parts.health.latest
        if parts is None or snapshot is None:
            return f"HEALTH STATUS: not measured yet (bot {self.phase})"
        return render_board(
            snapshot,
            next_check_s=parts.health.next_publish_in_s(),
            updated_every_s=self.settings.health_publish_s,
        )

    def startup_summary(self) -> str:
        parts = self.parts
        if parts is None:
            return f"bot {self.phase}"
        feed = parts.feed.status()
        ticking = len(feed.last_tick_at)
        return render_startup_summary(
            mode=self.settings.mode,
            symbols=list(parts.instruments_by_symbol()),
            bootstrap=parts.bootstrap.status(),
            feed_connected=feed.state.value == "connected",
            prices_flowing=ticking,
            store=parts.store.name,
            notifications=parts.notifier.channel_names,
            now=self._clock().now(),
        )

    # Asking the engine (from a notebook's controls and charts).

    def pause_entries(self, paused: bool = True) -> bool:
        """Hold new entries (exits and protection go on) or lift the hold;
        True once the engine applied it and published a status showing it."""
        parts = self.parts
        if parts is None:
            return False
        risk, activity = parts.risk, parts.activity

        def apply() -> datetime:
            state = TradingState.REDUCING if paused else TradingState.ACTIVE
            risk.set_state(
                state, "entries paused by the user", source=USER_PAUSE, at_once=True
            )
            return parts.clock.now()  # the step's status, published after this

        try:
            applied_at = parts.engine.inbox.post(apply).result(ENGINE_ANSWER_REAL_S)
        except Exception as exc:
            logger.warning("Bot: pause entries not applied: %s", exc)
            return False
        text = "entries paused by the user" if paused else "entries resumed by the user"
        activity.record(EventKind.MANUAL_ACTION, Severity.INFO, text, paused=paused)
        _wait_for_status_since(parts, applied_at)
        return True

    def now(self) -> datetime:
        """The bot's clock (the simulator's, when it runs on one)."""
        return self._clock().now()

    def symbols(self) -> dict[str, str]:
        """The running bot's symbols and their tokens (empty when not running)."""
        parts = self.parts
        if parts is None:
            return {}
        return {s: i.token for s, i in parts.instruments_by_symbol().items()}

    def health_history(self, since: datetime) -> list[HealthSnapshot]:
        """The health snapshots the bot published since ``since``, from its
        store (empty when not running or when the store does not answer)."""
        parts = self.parts
        if parts is None:
            return []
        try:
            records = parts.store.health(since=since)
        except Exception as exc:
            logger.warning("Bot: health history not read: %s", exc)
            return []
        return [HealthSnapshot.from_record(r) for r in records]

    def candles(self, symbol: str, *, include_open: bool = True) -> pd.DataFrame:
        """A copy of ``symbol``'s candle book as a DataFrame (empty when the
        bot does not run or holds no such symbol)."""
        parts = self.parts
        if parts is None:
            return candles_to_frame([])
        instrument = parts.instruments_by_symbol().get(symbol)
        book = None if instrument is None else parts.engine.books.get(instrument.token)
        if book is None:
            return candles_to_frame([])
        try:
            return parts.engine.inbox.post(
                lambda: book.frame(include_open=include_open)
            ).result(ENGINE_ANSWER_REAL_S)
        except Exception as exc:
            logger.warning("Bot: candles of %s not read: %s", symbol, exc)
            return candles_to_frame([])

    def trades(
        self, symbol: str | None = None, *, limit: int = 500
    ) -> list[ActivityEvent]:
        """Today's fills (of ``symbol``, or of all), oldest first, from the store."""
        parts = self.parts
        if parts is None:
            return []
        today = (
            parts.clock.now()
            .astimezone(IST)
            .replace(hour=0, minute=0, second=0, microsecond=0)
        )
        try:
            found = parts.store.events(since=today, kinds=FILL_KINDS, limit=limit)
        except Exception as exc:
            logger.warning("Bot: trades not read: %s", exc)
            return []
        fills = [e for e in found if "price" in e.fields]
        if symbol is None:
            return fills
        return [e for e in fills if e.fields.get("symbol") == symbol]

    # Inside: the start thread, then the engine thread.

    def _main(self) -> None:
        try:
            parts = open_parts(
                self.settings,
                strategy=self.strategy,
                simulator=self.simulator,
                clock=self.clock,
                stop=self._stop,
                on_phase=self._set_phase,
                on_parts=self._set_opening,
            )
            if self._stop.is_set():  # stopped while starting: close them here,
                parts.close(clean_stop=True)  # stop() may have stopped waiting
                return
            self.parts = parts
            self._engine_thread = threading.Thread(
                target=parts.engine.run, args=(self._stop,), name="kit-engine",
                daemon=True,
            )  # fmt: skip
            self._engine_thread.start()
            # The first health sample sees what the engine's first step made.
            first_step_by = _time.monotonic() + 10.0
            while parts.engine.status() is None and _time.monotonic() < first_step_by:
                if self._stop.wait(0.05):
                    return  # stop() closes the parts
            parts.health.start()
            self.phase = "running"
            logger.info("Bot: running\n%s", _plain(self.startup_summary()))
        except Exception as exc:
            self.phase, self.error = "failed", f"{type(exc).__name__}: {exc}"
            logger.exception("Bot: start failed")
            if self.parts is not None:
                self.parts.activity.record(
                    EventKind.BOT_STOPPED, Severity.ERROR, f"start failed: {exc}"
                )
        finally:
            self._ready.set()

    def _set_phase(self, phase: str) -> None:
        if not self._stop.is_set():
            self.phase = phase

    def _set_opening(self, parts: BotParts) -> None:
        self._opening = parts

    def _clock(self) -> Clock:
        if self.parts is not None:
            return self.parts.clock
        if self.clock is not None:
            return self.clock
        raise RuntimeError("the bot has no clock before it starts")


def _wait_for_status_since(parts: BotParts, applied_at: datetime) -> None:
    """Wait (bounded) for the status the engine publishes at the end of the
    step that applied a change at ``applied_at`` (or of a later one): a status
    a step published while the change waited in the inbox does not show it."""
    deadline = _time.monotonic() + ENGINE_ANSWER_REAL_S
    while _time.monotonic() < deadline:
        status = parts.engine.status()
        if status is not None and status.at >= applied_at:
            return
        _time.sleep(STATUS_POLL_REAL_S)


def _plain(text: str) -> str:
    """``text`` without its status symbols: log lines are plain ASCII."""
    lines = []
    for line in text.split("\n"):
        indent = len(line) - len(line.lstrip(" "))
        words = line.encode("ascii", "ignore").decode().split()
        lines.append(" " * indent + " ".join(words) if words else "")
    return "\n".join(lines)
