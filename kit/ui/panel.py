"""The notebook's control panel: start, stop and pause the bot from widgets.

::

    panel = ControlPanel(day_options={"speed": 60, "until": "15:30"})
    panel                       # the widgets: mode, symbols, strategy, buttons
    panel.auto_refresh()        # the status lights follow the bot while cells await
    ...
    panel.close()               # the bot stopped, its temporary folder removed

A person changes what a notebook cell would pass to
:func:`~kit.ui.day.start_day`: the mode (live only with the confirmation box
ticked), the symbols and the strategy's parameters, one widget per typed field
of its :class:`~kit.trading.strategy.StrategyParams`. A button never raises
into the kernel: what went wrong is written in the panel and in the log.

The status lights are spans a browser test can read by CSS selector
(``[data-kit=feed]``); their text is plain: the bot's phase, the feed
(connected, disconnected or unknown), the trading state (ACTIVE, REDUCING,
HALTED), the health grade and the degradation level.
"""

from __future__ import annotations

import asyncio
import dataclasses
import html
import logging
import re
import typing
from collections.abc import Callable
from typing import Any

import ipywidgets as w  # type: ignore[import-untyped]

from kit.bot import Bot, BotStatus
from kit.config import DEFAULT_SYMBOLS, load_settings
from kit.trading.ema_cross import EmaCrossRsiAtr
from kit.trading.strategy import Strategy, StrategyParams
from kit.ui.day import TradingDay, start_day

logger = logging.getLogger(__name__)

OWN_OPTIONS = ("mode", "symbols", "strategy", "live_confirmed")
SYMBOL = re.compile(r"[A-Z0-9][A-Z0-9&._-]*")
ENDED = ("stopped", "failed")
PARAM_WIDGETS: dict[type, type[w.ValueWidget]] = {
    bool: w.Checkbox,
    int: w.IntText,
    float: w.FloatText,
    str: w.Text,
}
COLOURS = {
    "running": "green", "connected": "green", "ACTIVE": "green",
    "EXCELLENT": "green", "GOOD": "green", "1": "green",
    "starting": "orange", "bootstrapping": "orange", "stopping": "orange",
    "REDUCING": "orange", "DEGRADED": "orange", "2": "orange",
    "failed": "red", "disconnected": "red", "HALTED": "red",
    "CRITICAL": "red", "3": "red", "4": "red",
}  # fmt: skip


def status_lights(status: BotStatus | None) -> dict[str, str]:
    """The text of each light (see the module) for ``status`` (None: no bot)."""
    engine = None if status is None else status.engine
    health = None if status is None else status.health
    feed = None if health is None else health.feed
    connected = None if feed is None else feed.connected
    return {
        "phase": "not started" if status is None else status.phase,
        "feed": {None: "unknown", True: "connected", False: "disconnected"}[connected],
        "trading-state": "unknown" if engine is None else engine.trading_state.upper(),
        "grade": "unknown" if health is None else health.grade.value,
        "level": "unknown" if engine is None else str(engine.level),
    }


def render_lights(status: BotStatus | None) -> str:
    """The lights as HTML: a coloured dot, a label and a ``data-kit`` span each."""
    cells = []
    for name, text in status_lights(status).items():
        colour = COLOURS.get(text, "grey")
        cells.append(
            f'<span style="margin-right:1.2em"><span style="color:{colour}">'
            f'&#9679;</span> {name} <b><span data-kit="{name}">'
            f"{html.escape(text)}</span></b></span>"
        )
    return '<div class="kit-lights">' + "".join(cells) + "</div>"


def parse_symbols(text: str) -> list[str]:
    """Comma-separated symbols, upper-cased; ValueError saying what is wrong."""
    symbols = [s.strip().upper() for s in text.split(",") if s.strip()]
    if not symbols:
        raise ValueError("at least one symbol is needed")
    for symbol in symbols:
        if not SYMBOL.fullmatch(symbol):
            raise ValueError(f"{symbol!r} is not a trading symbol (like SBIN-EQ)")
    twice = sorted({s for s in symbols if symbols.count(s) > 1})
    if twice:
        raise ValueError(f"listed twice: {', '.join(twice)}")
    return symbols


def param_widgets(params: StrategyParams) -> dict[str, w.ValueWidget]:
    """One widget per bool, int, float or str field of ``params``, holding its
    value; fields of other types keep their value and get no widget."""
    hints = typing.get_type_hints(type(params))
    widgets: dict[str, w.ValueWidget] = {}
    for field in dataclasses.fields(params):
        kind = PARAM_WIDGETS.get(hints.get(field.name))  # type: ignore[arg-type]
        if kind is None:
            continue
        widget = kind(
            value=getattr(params, field.name), description=field.name,
            style={"description_width": "initial"},
        )  # fmt: skip
        widget.add_class(f"kit-param-{field.name}")
        widgets[field.name] = widget
    return widgets


class ControlPanel:
    """The widgets of a notebook's trading day; see the module."""

    def __init__(
        self,
        *,
        starter: Callable[..., TradingDay] = start_day,
        strategy_factory: Callable[..., Strategy] | None = EmaCrossRsiAtr,
        symbols: list[str] | tuple[str, ...] | None = None,
        mode: str = "paper",
        day_options: dict[str, Any] | None = None,
        day: TradingDay | None = None,
    ) -> None:
        options = dict(day_options or {})
        taken = sorted(set(options) & set(OWN_OPTIONS))
        if taken:
            raise ValueError(f"day_options: the panel's widgets set {taken}")
        self.starter, self.day_options = starter, options
        self.strategy_factory = strategy_factory
        self.day: TradingDay | None = day
        self._days: list[TradingDay] = [] if day is None else [day]
        self._paused = False
        self._error = ""  # the bot's start error, once shown
        self._task: asyncio.Task[None] | None = None

        self.mode = w.ToggleButtons(options=["paper", "live"], value=mode)
        self.confirm = w.Checkbox(value=False, description="I confirm live orders")
        default = symbols or _settings_symbols(options.get("settings_file"))
        self.symbols = w.Text(value=", ".join(default), description="symbols")
        self._params = None if strategy_factory is None else strategy_factory().params
        self.params = {} if self._params is None else param_widgets(self._params)
        self.start_button = w.Button(description="Start", button_style="success")
        self.stop_button = w.Button(description="Stop", button_style="danger")
        self.pause_button = w.Button(description="Pause entries")
        self.lights = w.HTML(render_lights(None))
        self.message = w.HTML(_message(""))
        for widget, name in (
            (self.mode, "mode"), (self.confirm, "confirm"),
            (self.symbols, "symbols"), (self.start_button, "start"),
            (self.stop_button, "stop"), (self.pause_button, "pause"),
            (self.lights, "lights"), (self.message, "message"),
        ):  # fmt: skip
            widget.add_class(f"kit-{name}")

        self.mode.observe(lambda _: self._show_confirm(), names="value")
        self.symbols.observe(lambda _: self._check_symbols(), names="value")
        self.start_button.on_click(lambda _: self.start())
        self.stop_button.on_click(lambda _: self.stop())
        self.pause_button.on_click(lambda _: self.toggle_pause())
        self.widget = w.VBox([
            w.HBox([self.mode, self.confirm]), self.symbols,
            w.VBox(list(self.params.values())),
            w.HBox([self.start_button, self.stop_button, self.pause_button]),
            self.lights, self.message,
        ])  # fmt: skip
        self._show_confirm()
        self.refresh()

    def _ipython_display_(self) -> None:
        from IPython.display import display  # noqa: PLC0415

        display(self.widget)  # type: ignore[no-untyped-call]

    @property
    def bot(self) -> Bot | None:
        return None if self.day is None else self.day.bot

    @property
    def paused(self) -> bool:
        """Whether this panel paused the running bot's entries."""
        return self._paused

    # The buttons (each says in the panel what it did or why not).

    def start(self) -> bool:
        """Start a day with the widgets' choices; True when one started."""
        return self._guarded("Start", self._start)

    def stop(self) -> bool:
        """Stop the running day (``close()`` also removes its folder)."""
        return self._guarded("Stop", self._stop)

    def toggle_pause(self) -> bool:
        """Pause entries, or resume them when paused; True when applied."""
        return self._guarded("Pause entries", self._toggle_pause)

    def close(self) -> None:
        """Stop refreshing, finish every day of this panel and clean them up."""
        self.stop_auto_refresh()
        for day in self._days:
            try:
                day.finish()
            finally:
                day.cleanup()
        self._days.clear()
        self._say("Closed: the bot stopped, its temporary folder removed.")
        self.refresh()

    # The lights.

    def refresh(self) -> BotStatus | None:
        """Update the lights and the buttons from the bot's status."""
        try:
            bot = self.bot
            status = None if bot is None else bot.status()
            self.lights.value = render_lights(status)
            running = status is not None and status.phase not in ENDED
            if status is not None and status.error and status.error != self._error:
                self._error = status.error
                self._say(f"The bot failed: {status.error}")
            if not running:
                self._set_paused(False)
            for widget in (self.mode, self.symbols, *self.params.values()):
                widget.disabled = running
            self.confirm.disabled = running or self.mode.value != "live"
            self.pause_button.disabled = not running
            return status
        except Exception:
            logger.exception("ControlPanel: refresh failed")
            return None

    def auto_refresh(self, every_real_s: float = 1.0) -> asyncio.Task[None]:
        """Refresh every ``every_real_s`` on the running asyncio loop (the
        kernel's), so the lights move while a cell awaits."""
        if every_real_s <= 0:
            raise ValueError("every_real_s must be above 0")
        self.stop_auto_refresh()
        loop = asyncio.get_running_loop()
        self._task = loop.create_task(self._refresh_every(every_real_s))
        return self._task

    def stop_auto_refresh(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _refresh_every(self, every_real_s: float) -> None:
        while True:
            self.refresh()
            await asyncio.sleep(every_real_s)

    # Inside.

    def _start(self) -> bool:
        for bot in (self.bot, Bot.current()):
            if bot is not None and bot.phase not in ENDED:
                return self._say(f"A bot is already running (phase {bot.phase}).")
        live = self.mode.value == "live"
        if live and not self.confirm.value:
            return self._say("Live mode places real orders: tick 'I confirm live "
                             "orders' first. Nothing was started.")  # fmt: skip
        try:
            symbols = parse_symbols(self.symbols.value)
            strategy = self._strategy()
        except Exception as exc:
            return self._say(f"Not started: {exc}")
        day = self.starter(
            mode=self.mode.value, symbols=symbols, strategy=strategy,
            live_confirmed=live and bool(self.confirm.value), **self.day_options,
        )  # fmt: skip
        self.day = day
        self._days.append(day)
        self._error = ""
        self._set_paused(False)
        self._say(f"Started in {self.mode.value} mode: {', '.join(symbols)}.")
        return True

    def _strategy(self) -> Strategy | None:
        if self.strategy_factory is None or self._params is None:
            return None
        values = {name: widget.value for name, widget in self.params.items()}
        return self.strategy_factory(dataclasses.replace(self._params, **values))

    def _stop(self) -> bool:
        day = self.day
        if day is None or day.bot.phase in ENDED:
            return self._say("No bot is running.")
        clean = day.finish()
        self._say(
            "Stopped." if clean else "Stopped; a thread did not end (see the log)."
        )
        return True

    def _toggle_pause(self) -> bool:
        bot = self.bot
        if bot is None or bot.phase != "running":
            return self._say("No running bot to pause or resume.")
        wanted = not self._paused
        if not bot.pause_entries(wanted):
            return self._say("The engine did not answer: nothing changed.")
        self._set_paused(wanted)
        if wanted:
            self._say("Entries paused: exits and protection go on.")
        else:
            self._say(
                "Entries resumed (the trading state stays restricted while the "
                "health monitor or the degradation level still restricts it)."
            )
        return True

    def _guarded(self, action: str, run: Callable[[], bool]) -> bool:
        try:
            return run()
        except Exception as exc:
            logger.exception("ControlPanel: %s failed", action)
            return self._say(f"{action} failed: {type(exc).__name__}: {exc}")
        finally:
            self.refresh()

    def _say(self, text: str) -> bool:
        """Show ``text`` in the panel; False, for a refusal to return."""
        self.message.value = _message(text)
        if text:
            logger.info("ControlPanel: %s", text)
        return False

    def _set_paused(self, paused: bool) -> None:
        self._paused = paused
        self.pause_button.description = "Resume entries" if paused else "Pause entries"

    def _show_confirm(self) -> None:
        live = self.mode.value == "live"
        self.confirm.layout.display = "" if live else "none"
        self.confirm.disabled = not live
        if not live:
            self.confirm.value = False

    def _check_symbols(self) -> None:
        try:
            parse_symbols(self.symbols.value)
        except ValueError as exc:
            self._say(f"Symbols: {exc}")
        else:
            self._say("")


def _message(text: str) -> str:
    return f'<span data-kit="message">{html.escape(text)}</span>'


def _settings_symbols(settings_file: str | None) -> tuple[str, ...]:
    """The symbols the settings name, or the kit's defaults when they do not load."""
    try:
        return load_settings(settings_file).symbols
    except Exception as exc:
        logger.info("ControlPanel: default symbols (settings not loaded: %s)", exc)
        return DEFAULT_SYMBOLS
