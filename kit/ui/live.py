"""The live view of a notebook: the status board, the health chart and one
symbol's candles, each one output replaced in place as the bot runs.

::

    view = LiveView(day.bot, "SBIN-EQ")     # or LiveView() for Bot.current()
    view.show()                             # three outputs in this cell
    await view.run(until=end)               # papermill: the last cell awaits

    view = LiveView(day.bot, widgets=True)  # JupyterLab: charts as widgets
    view.show()
    view.start_background()                 # the cell returns; charts go on
    view.symbol = "INFY-EQ"                 # switch the candle chart
    view.stop()

Run headless, the saved notebook holds one output per chart with the latest
figure (see :mod:`kit.ui.display`). In JupyterLab, Plotly's renderer keeps
drawing the first figure of an output that is replaced (the board, plain
HTML, does update): there ``widgets=True`` draws the charts as FigureWidgets,
which redraw live but leave no picture in a notebook run headless.

The loop runs on the kernel's asyncio loop. What it asks of the bot (which may
wait on the engine thread or the store) is asked from a worker thread, so
widgets stay responsive; the outputs are drawn on the loop. It refreshes every
``every_real_s`` real seconds, which is a screen's pace, and ends on the bot's
own clock: at ``until``, or when the bot stops or fails.

Health comes from ``bot.status().health`` at each refresh (the latest sample,
kept once per time), after the store's published snapshots of the window on
the first read of each bot, so a view opened late still has a history. At a
drill's speed the UI sees only some samples; the store keeps one a minute.
When the bot stops, the last board, candles and trades stay on screen.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta
from typing import Any

import pandas as pd
import plotly.graph_objects as go  # type: ignore[import-untyped]

from kit.bot import Bot
from kit.clock import IST
from kit.market.candle_book import candles_to_frame
from kit.ops.events import ActivityEvent
from kit.ops.health_snapshot import HealthSnapshot
from kit.ui.charts import candle_figure, health_figure, health_frame
from kit.ui.display import Shown, show_board, show_figure

logger = logging.getLogger(__name__)

BotSource = Bot | Callable[[], Bot | None] | None
ENDED = ("until", "bot stopped", "bot failed", "view stopped")  # what run() returns
MAX_SNAPSHOTS = 5000
NOT_STARTED = "bot not started"


@dataclass
class _Reading:
    """What one refresh read from the bot (in a worker thread)."""

    bot: Bot | None
    phase: str = "not started"
    mode: str = ""
    error: str = ""
    now: datetime | None = None
    symbol: str | None = None  # the symbol of ``candles``
    symbols: tuple[str, ...] = ()
    board: str | None = None  # None: no snapshot measured
    snapshots: list[HealthSnapshot] = field(default_factory=list)
    candles: pd.DataFrame | None = None  # None: not read, keep what is shown
    trades: list[ActivityEvent] | None = None


class LiveView:
    """See the module."""

    def __init__(
        self,
        bot_or_getter: BotSource = None,
        symbol: str | None = None,
        *,
        window_min: float = 120.0,
        every_real_s: float = 1.0,
        widgets: bool = False,
    ) -> None:
        if window_min <= 0 or every_real_s <= 0:
            raise ValueError("window_min and every_real_s must be positive")
        self._source = bot_or_getter
        self._symbol = symbol
        self.window_min = window_min
        self.every_real_s = every_real_s
        self.widgets = widgets
        self.refreshes = 0
        self._reading = _Reading(None)
        self._snapshots: deque[HealthSnapshot] = deque(maxlen=MAX_SNAPSHOTS)
        self._backfilled: weakref.WeakSet[Bot] = weakref.WeakSet()  # store read
        self._board = ""
        self._candles = candles_to_frame([])
        self._candles_of: str | None = None
        self._trades: list[ActivityEvent] = []
        self._handles: dict[str, Shown] = {}
        self._drawn: dict[str, Any] = {}  # what each chart last showed
        self._task: asyncio.Task[str] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._stop_asked = False
        self._failures = 0

    # What is shown.

    @property
    def symbol(self) -> str | None:
        """The candle chart's symbol (None: the bot's first)."""
        return self._symbol or next(iter(self._reading.symbols), None)

    @symbol.setter
    def symbol(self, value: str | None) -> None:
        self._symbol = value
        if self.running:
            self._poke()
        elif self._handles:
            self.refresh()

    def symbols(self) -> tuple[str, ...]:
        """The bot's symbols as of the last refresh."""
        return self._reading.symbols

    def health_frame(self) -> pd.DataFrame:
        return health_frame(self._snapshots, window=self._window)

    def health_figure(self) -> go.Figure:
        return health_figure(self.health_frame())

    def candle_figure(self) -> go.Figure:
        symbol = self.symbol
        same = symbol is not None and symbol == self._candles_of
        frame = self._candles if same else candles_to_frame([])
        title = f"{symbol or 'no symbol'}: 1-minute candles"
        window = int(self.window_min)
        return candle_figure(
            frame, self._trades if same else None, title=title, window=window
        )

    def board_text(self) -> str:
        """The last board measured (kept once the bot stops), or why none."""
        return self._board or f"HEALTH STATUS: not measured yet ({self._phase()})"

    def status_line(self) -> str:
        r = self._reading
        parts = [self._phase()]
        if r.mode:
            parts.append(f"{r.mode} mode")
        if r.now is not None:
            parts.append(f"bot clock {r.now.astimezone(IST):%H:%M:%S} IST")
        if r.error:
            parts.append(r.error)
        loop = "live view running" if self._loop is not None else "live view idle"
        parts.append(f"{loop}, {self.refreshes} refreshes")
        return " · ".join(parts)

    @property
    def outputs(self) -> dict[str, Shown]:
        """The outputs shown: ``board``, ``health`` and ``candles``."""
        return dict(self._handles)

    def show(self) -> None:
        """Show the board, the health chart and the candle chart (new
        outputs), as the bot is now."""
        self._handles, self._drawn = {}, {}
        self.refresh()

    # Refreshing.

    def refresh(self) -> None:
        """Read the bot now and redraw what changed (blocks while it reads)."""
        self._apply(self._read_safely())
        self._draw()

    async def _refresh_async(self) -> None:
        self._apply(await asyncio.to_thread(self._read_safely))
        self._draw()

    async def run(
        self,
        until: datetime | time | None = None,
        *,
        stop_bot: bool = False,
        end_with_bot: bool = True,
    ) -> str:
        """Refresh until the bot's clock reaches ``until`` (a time of day:
        today, IST), the bot stops or fails (unless ``end_with_bot`` is False)
        or :meth:`stop`; why it ended, one of ``ENDED``. ``stop_bot`` stops
        the bot at the end; the view keeps showing its last state."""
        if self._loop is not None:
            raise RuntimeError("the live view is already running")
        self._loop, self._wake = asyncio.get_running_loop(), asyncio.Event()
        try:  # the first refresh shows the outputs, unless show() did
            while True:
                await self._refresh_async()
                why = self._ended(until, end_with_bot)
                if why is not None:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.every_real_s)
                self._wake.clear()
            bot = self._reading.bot
            if stop_bot and bot is not None:
                await asyncio.to_thread(bot.stop)
                await self._refresh_async()
            return why
        finally:
            self._loop = self._wake = None
            self._stop_asked = False
            self._draw()

    def start_background(
        self,
        until: datetime | time | None = None,
        *,
        stop_bot: bool = False,
        end_with_bot: bool = True,
    ) -> asyncio.Task[str]:
        """Run :meth:`run` as a task of the running loop (a notebook's kernel),
        so the cell returns; the arguments as for :meth:`run`."""
        if self.running:
            raise RuntimeError("the live view is already running")
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(
                "start_background needs a running asyncio loop (a Jupyter "
                "kernel); elsewhere: asyncio.run(view.run(...))"
            ) from None
        if not self._handles:
            self.show()  # in this cell, not wherever the task first runs
        run = self.run(until, stop_bot=stop_bot, end_with_bot=end_with_bot)
        self._task = loop.create_task(run)
        self._task.add_done_callback(_log_failure)
        return self._task

    def stop(self) -> None:
        """End :meth:`run` after its current refresh (from any thread); nothing
        when it does not run."""
        if self.running:
            self._stop_asked = True
            self._poke()

    @property
    def running(self) -> bool:
        """True from :meth:`run` or :meth:`start_background` until it ends."""
        task = self._task
        return self._loop is not None or (task is not None and not task.done())

    # Inside.

    @property
    def _window(self) -> timedelta:
        return timedelta(minutes=self.window_min)

    def _poke(self) -> None:
        """Cut the loop's wait short: it refreshes (or ends) now."""
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            loop.call_soon_threadsafe(wake.set)

    def _bot(self) -> Bot | None:
        source = self._source
        if source is None:
            return Bot.current()
        if isinstance(source, Bot):
            return source
        return source()

    def _phase(self) -> str:
        return (
            NOT_STARTED if self._reading.bot is None else f"bot {self._reading.phase}"
        )

    def _read_safely(self) -> _Reading:
        """A reading; on a failure the last one again, and the failure logged
        (with its traceback the first time, then once in 60)."""
        try:
            return self._read()
        except Exception as exc:
            self._failures += 1
            first = self._failures == 1
            if first or self._failures % 60 == 0:
                logger.warning("Live view: read %d failed: %s", self._failures,
                               exc, exc_info=first)  # fmt: skip
            return replace(self._reading, snapshots=[], candles=None, board=None)

    def _read(self) -> _Reading:
        """Everything a refresh needs from the bot (any thread)."""
        bot = self._bot()
        if bot is None:
            return _Reading(None)
        status = bot.status()
        reading = _Reading(bot, status.phase, status.mode, status.error)
        symbols = bot.symbols()
        if not symbols:  # not running (yet, or any more)
            return reading
        reading.now = bot.now()
        reading.symbols = tuple(symbols)
        if bot not in self._backfilled:
            self._backfilled.add(bot)
            reading.snapshots = bot.health_history(reading.now - self._window)
        if status.health is not None:
            reading.snapshots.append(status.health)
            reading.board = bot.board()
        reading.symbol = symbol = self._symbol or next(iter(reading.symbols), None)
        if status.phase == "running" and symbol is not None:
            reading.candles = bot.candles(symbol)
            reading.trades = bot.trades(symbol)
        return reading

    def _apply(self, reading: _Reading) -> None:
        """Keep what ``reading`` brought (on the loop's thread)."""
        self.refreshes += 1
        if reading.bot is not self._reading.bot and reading.bot is not None:
            self._snapshots.clear()  # another bot: another history
            self._board, self._candles_of, self._trades = "", None, []
        elif not reading.symbols:  # stopped: the symbols it had
            reading.symbols = self._reading.symbols
        self._reading = reading
        newest = self._snapshots[-1].at if self._snapshots else None
        for snap in sorted(reading.snapshots, key=lambda s: s.at):
            if newest is None or snap.at > newest:
                self._snapshots.append(snap)
                newest = snap.at
        while newest is not None and self._snapshots[0].at < newest - self._window:
            self._snapshots.popleft()
        if reading.board is not None:
            self._board = reading.board
        if reading.candles is not None:
            self._candles, self._candles_of = reading.candles, reading.symbol
            self._trades = reading.trades or []

    def _draw(self) -> None:
        """Redraw each output whose content changed since it was drawn."""
        board = (self.status_line(), self.board_text())
        if self._drawn.get("board") != board:
            shown = show_board(board[1], self._handles.get("board"), status=board[0])
            self._handles["board"], self._drawn["board"] = shown, board
        newest = self._snapshots[-1].at if self._snapshots else None
        self._redraw("health", (len(self._snapshots), newest), self.health_figure)
        last = None if self._candles.empty else tuple(self._candles.iloc[-1])
        key = (self.symbol, self._candles_of, len(self._candles), last,
               len(self._trades))  # fmt: skip
        self._redraw("candles", key, self.candle_figure)

    def _redraw(self, name: str, key: object, build: Callable[[], go.Figure]) -> None:
        if name in self._handles and self._drawn.get(name) == key:
            return
        handle = self._handles.get(name)
        self._handles[name] = show_figure(build(), handle, widget=self.widgets)
        self._drawn[name] = key

    def _ended(self, until: datetime | time | None, end_with_bot: bool) -> str | None:
        r = self._reading
        if self._stop_asked:
            return "view stopped"
        if end_with_bot and r.bot is not None and r.phase in ("stopped", "failed"):
            return f"bot {r.phase}"
        if until is not None and r.now is not None:
            at = until
            if isinstance(at, time):
                at = datetime.combine(r.now.astimezone(IST).date(), at, tzinfo=IST)
            if r.now >= at:
                return "until"
        return None


def _log_failure(task: asyncio.Task[str]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("Live view: stopped by an error", exc_info=task.exception())
