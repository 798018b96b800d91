"""A running bot on the terminal, for ``kit demo`` and ``kit run``.

:func:`watch` prints the health board every ``every_s`` seconds of the bot's
clock (with a line on trading under it) until a time, a signal or the bot's
failure. :func:`stop_on_signals` turns Ctrl-C and SIGTERM into a stop request,
so both commands end with a clean stop and exit 0. :func:`run_bot` is
``kit run``.

What reaches the terminal: the boards, and the activity events of ``warning``
and above, which the bot's notifier prints one line each. The kit's log
records go to a file beside the store (``kit.log``), and only errors to the
terminal as well, so that a warning is not printed twice (once as a log
record, once as the event that says the same).
"""

from __future__ import annotations

import contextlib
import logging
import math
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, time, timedelta
from pathlib import Path
from types import FrameType

from kit.bot import Bot
from kit.clock import IST, Clock, NseCalendar
from kit.config import Settings
from kit.trading.engine import EngineStatus

logger = logging.getLogger(__name__)

POLL_REAL_S = 0.05  # how often the watch loop looks at the clock
READY_TIMEOUT_REAL_S = 120.0
LOG_NAME = "kit.log"

Out = Callable[[str], None]


# The terminal.


@contextlib.contextmanager
def terminal_logging(log_path: Path | None, level: str = "INFO") -> Iterator[None]:
    """Kit log records at ``level`` to ``log_path``; on the terminal only errors.

    The root logger's handlers get a floor of ERROR for the duration, and are
    given back their levels after.
    """
    kit_logger = logging.getLogger("kit")
    handlers = list(logging.getLogger().handlers)
    saved = [(handler, handler.level) for handler in handlers]
    saved_level = kit_logger.level
    file_handler: logging.Handler | None = None
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        file_handler = logging.FileHandler(log_path, encoding="utf-8")
        file_handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        )
        kit_logger.addHandler(file_handler)
    try:
        for handler in handlers:
            handler.setLevel(max(handler.level, logging.ERROR))
        kit_logger.setLevel(level)
        yield
    finally:
        kit_logger.setLevel(saved_level)
        for handler, was in saved:
            handler.setLevel(was)
        if file_handler is not None:
            kit_logger.removeHandler(file_handler)
            file_handler.close()


@contextlib.contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An event set by Ctrl-C or SIGTERM while inside (main thread only;
    elsewhere the event is only set by its owner)."""
    stopping = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stopping
        return

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    saved = {
        signum: signal.signal(signum, request_stop)
        for signum in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield stopping
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)


# Watching.


def watch(
    bot: Bot,
    clock: Clock,
    *,
    until: datetime,
    every_s: float,
    out: Out,
    stopping: threading.Event,
    on_poll: Callable[[], None] | None = None,
) -> str:
    """Print the board every ``every_s`` clock seconds (on whole multiples of
    it) until ``until``; how it ended: ``until``, ``signal`` or ``failed``."""
    next_board_s = _next_multiple(clock.time(), every_s)
    while not stopping.wait(POLL_REAL_S):
        if on_poll is not None:
            on_poll()
        if bot.phase != "running":
            return "failed"
        now_s = clock.time()
        if now_s >= next_board_s:
            out(bot.board())
            out(trading_line(bot))
            next_board_s = _next_multiple(now_s, every_s)
        if now_s >= until.timestamp():
            return "until"
    return "signal"


def _next_multiple(now_s: float, every_s: float) -> float:
    return (math.floor(now_s / every_s) + 1) * every_s


def open_count(engine: EngineStatus) -> int:
    """Positions with a quantity (flat ones stay listed for their P&L)."""
    return sum(1 for p in engine.positions if p.quantity)


def trading_line(bot: Bot) -> str:
    """One line on trading: level, state, orders, positions and P&L."""
    engine = bot.status().engine
    if engine is None:
        return "Trading: not started yet"
    reason = f" ({engine.level_reason})" if engine.level_reason else ""
    return (
        f"Trading: level {engine.level}{reason}, {engine.trading_state}; "
        f"{engine.orders} orders, {open_count(engine)} open; "
        f"realised {rupees(engine.realised_pnl)}, "
        f"unrealised {rupees(engine.unrealised_pnl)}; "
        f"{engine.warm}/{engine.symbols} symbols warm"
    )


def rupees(amount: float) -> str:
    sign = "-" if amount < 0 else "+" if amount > 0 else ""
    return f"{sign}₹{abs(amount):,.0f}"


def start_bot(bot: Bot, out: Out) -> bool:
    """Wait for ``bot`` to run and print its start-up summary; False (the
    reason printed) when it did not start."""
    if bot.wait_ready(READY_TIMEOUT_REAL_S):
        out(bot.startup_summary())
        return True
    why = bot.error or f"not running after {READY_TIMEOUT_REAL_S:g} s ({bot.phase})"
    print(f"kit: the bot did not start: {why}", file=sys.stderr, flush=True)
    return False


# kit run.


def run_bot(settings: Settings, until: time | None, out: Out) -> int:
    """``kit run``: start the bot, show it every minute, stop at ``until`` (a
    time of day, IST: its next occurrence), at the session's close, or on
    Ctrl-C / SIGTERM. Exit code 0, or 1 when the bot failed."""
    log_path = settings.store_path.parent / LOG_NAME
    with terminal_logging(log_path, settings.log_level), stop_on_signals() as stop:
        bot = Bot.start(settings)  # live without confirmation raises here
        try:
            if not start_bot(bot, out):
                return 1
            clock = bot.parts.clock if bot.parts is not None else None
            assert clock is not None
            end = end_of_run(clock.now(), until, settings)
            out(
                f"Running until {end:%a %d %b %H:%M} IST; Ctrl-C stops. Log: {log_path}"
            )
            ended = watch(bot, clock, until=end, every_s=60.0, out=out, stopping=stop)
        finally:
            clean = bot.stop()
    if ended == "failed":
        print(f"kit: the bot failed: {bot.error}", file=sys.stderr, flush=True)
        return 1
    out(f"Stopped ({_ENDINGS[ended]}){'' if clean else '; a thread did not end'}.")
    return 0


_ENDINGS = {"until": "the time was reached", "signal": "asked to stop"}


def end_of_run(now: datetime, until: time | None, settings: Settings) -> datetime:
    """The next ``until`` after ``now``; without one, the close of the session
    now open or of the next one."""
    now = now.astimezone(IST)
    if until is not None:
        end = datetime.combine(now.date(), until, tzinfo=IST)
        return end if end > now else end + timedelta(days=1)
    calendar = NseCalendar(extra_holidays=settings.extra_holidays)
    day = now.date()
    if calendar.is_trading_day(day) and now < calendar.session_close(day):
        return calendar.session_close(day)
    return calendar.session_close(calendar.next_trading_day(day))
