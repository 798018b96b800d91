"""The notebook's control panel: widgets made from the strategy's typed
parameters, refusals said in the panel (live without confirmation, bad
symbols, bad parameters, a failing start), and a simulated day driven by its
buttons while the status lights follow it."""

from __future__ import annotations

import asyncio
import functools
import html
import re
import time
from dataclasses import dataclass, fields
from typing import Any

import ipywidgets as w
import pandas as pd
import pytest

from kit.bot import Bot
from kit.trading.ema_cross import EmaCrossRsiAtr, EmaCrossRsiAtrParams
from kit.trading.strategy import Signal, Strategy, StrategyParams
from kit.ui.day import start_day
from kit.ui.panel import ControlPanel

LIGHT = re.compile(r'<span data-kit="([\w-]+)">([^<]*)</span>')
MESSAGE = re.compile(r'<span data-kit="message">([^<]*)</span>')
SIM_DAY = functools.partial(start_day, speed=120, start="09:12", until="09:30")


def lights(panel: ControlPanel) -> dict[str, str]:
    return dict(LIGHT.findall(panel.lights.value))


def message(panel: ControlPanel) -> str:
    found = MESSAGE.search(panel.message.value)
    assert found is not None, panel.message.value
    return html.unescape(found.group(1))


@dataclass(frozen=True)
class MixedParams(StrategyParams):
    lookback: int = 20
    band: float = 0.5
    shorts: bool = True
    label: str = "breakout"
    levels: tuple[float, ...] = (1.0, 2.0)  # no widget for this type


class Mixed(Strategy):
    def __init__(self, params: MixedParams | None = None) -> None:
        self.params = params or MixedParams()

    @property
    def warmup(self) -> int:
        return 5

    def on_candle(self, symbol: str, candles: pd.DataFrame) -> Signal | None:
        return None


def refusing_starter(calls: list[dict[str, Any]]) -> Any:
    def starter(**options: Any) -> Any:
        calls.append(options)
        raise AssertionError("the panel should not have started a day")

    return starter


def test_widgets_are_made_from_the_strategys_typed_parameters():
    default = ControlPanel()
    mixed = ControlPanel(strategy_factory=Mixed)

    names = [f.name for f in fields(EmaCrossRsiAtrParams)]
    assert list(default.params) == names
    for name, widget in default.params.items():
        value = getattr(EmaCrossRsiAtrParams(), name)
        kind = w.IntText if isinstance(value, int) else w.FloatText
        assert type(widget) is kind, name
        assert widget.value == value and widget.description == name
    kinds = {name: type(widget) for name, widget in mixed.params.items()}
    assert kinds == {
        "lookback": w.IntText, "band": w.FloatText,
        "shorts": w.Checkbox, "label": w.Text,
    }  # fmt: skip
    assert [mixed.params[n].value for n in kinds] == [20, 0.5, True, "breakout"]
    buttons = [default.start_button, default.stop_button, default.pause_button]
    assert [b.description for b in buttons] == ["Start", "Stop", "Pause entries"]
    assert lights(default) == {
        "phase": "not started", "feed": "unknown", "trading-state": "unknown",
        "grade": "unknown", "level": "unknown",
    }  # fmt: skip


def test_live_without_the_confirmation_is_refused_in_the_panel():
    calls: list[dict[str, Any]] = []
    panel = ControlPanel(starter=refusing_starter(calls))
    hidden_in_paper = panel.confirm.layout.display

    panel.mode.value = "live"
    shown_in_live = panel.confirm.layout.display
    panel.start_button.click()

    assert hidden_in_paper == "none" and shown_in_live == ""
    assert "I confirm live orders" in message(panel)
    assert "Nothing was started" in message(panel)
    assert calls == [] and panel.day is None and panel.bot is None


def test_bad_symbols_bad_parameters_and_a_failing_start_are_said_in_the_panel():
    calls: list[dict[str, Any]] = []
    panel = ControlPanel(starter=refusing_starter(calls))
    failing = ControlPanel(starter=start_day, day_options={"chaos": "sometimes"})

    panel.symbols.value = "SBIN-EQ, sbin-eq"
    twice = message(panel)
    panel.start_button.click()
    refused_twice = message(panel)
    panel.symbols.value = "SBIN EQ"
    panel.start_button.click()
    refused_space = message(panel)
    panel.symbols.value = "SBIN-EQ"
    panel.params["slow_period"].value = 3  # below fast_period (9)
    panel.start_button.click()
    refused_params = message(panel)
    failing.start_button.click()

    assert twice == "Symbols: listed twice: SBIN-EQ"
    assert refused_twice == "Not started: listed twice: SBIN-EQ"
    assert refused_space.startswith("Not started: 'SBIN EQ' is not a trading symbol")
    assert "slow_period must be above fast_period (9), got 3" in refused_params
    assert calls == [] and panel.day is None
    assert message(failing).startswith("Start failed: ConfigurationError: chaos")
    assert failing.day is None


def test_auto_refresh_needs_a_running_loop():
    panel = ControlPanel()

    with pytest.raises(RuntimeError):
        panel.auto_refresh()


def test_a_simulated_day_driven_by_the_buttons():
    panel = ControlPanel(
        starter=SIM_DAY, symbols=["SBIN-EQ", "INFY-EQ"], day_options={"chaos": "none"}
    )
    panel.params["fast_period"].value = 5
    try:
        panel.start_button.click()
        bot = panel.bot
        assert bot is not None, message(panel)
        panel.start_button.click()
        second = message(panel)
        asyncio.run(_lights_follow_without_refresh(panel))
        running = lights(panel)

        panel.pause_button.click()
        paused = lights(panel), panel.pause_button.description
        panel.pause_button.click()
        resumed_at_once = lights(panel), panel.pause_button.description

        panel.stop_button.click()
        stopped, said = lights(panel), message(panel)
    finally:
        panel.close()

    assert second.startswith("A bot is already running")
    assert Bot.current() is bot and bot.strategy is not None
    assert bot.strategy.params.fast_period == 5  # type: ignore[attr-defined]
    assert isinstance(bot.strategy, EmaCrossRsiAtr)
    assert running["phase"] == "running" and running["feed"] == "connected"
    assert running["trading-state"] == "ACTIVE" and running["level"] in "1234"
    assert paused == ({**paused[0], "trading-state": "REDUCING"}, "Resume entries")
    # a person's resume has no hold window: ACTIVE with the next status
    assert resumed_at_once == (
        {**paused[0], "trading-state": "ACTIVE"},
        "Pause entries",
    )
    assert stopped["phase"] == "stopped" and panel.pause_button.disabled
    assert said == "Stopped."


async def _lights_follow_without_refresh(panel: ControlPanel) -> None:
    """Only the auto-refresh task updates the lights here."""
    panel.auto_refresh(every_real_s=0.02)
    deadline = time.monotonic() + 20.0
    try:
        while time.monotonic() < deadline:
            now = lights(panel)
            if now["phase"] == "running" and now["feed"] == "connected":
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"the lights did not reach running: {lights(panel)}")
    finally:
        panel.stop_auto_refresh()
