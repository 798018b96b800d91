"""Outputs replaced in place in a notebook run headless (one output per chart,
holding the latest figure), and the live view on a simulated trading day."""

from __future__ import annotations

import asyncio
import json
import time as _time
from collections.abc import Iterator
from datetime import time
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from kit.clock import IST
from kit.ui.day import TradingDay, start_day
from kit.ui.display import PLOTLY_MIME
from kit.ui.live import ENDED, LiveView

SYMBOLS = ["SBIN-EQ", "INFY-EQ"]

SHOW = """\
import asyncio
import plotly.graph_objects as go
from kit.ui.display import show_board, show_figure

def fig(i):
    return go.Figure(go.Scatter(x=[0, 1], y=[i, 10 * i]), layout_title_text=f"v{i}")

chart = show_figure(fig(0))
"""
UPDATE_LATER = "for i in range(1, 4):\n    show_figure(fig(i), chart)"
SAME_CELL = """\
board = show_board("board 0", status="s0")
for i in range(1, 4):
    show_board(f"board {i} & co", board, status=f"s{i}")
"""
BACKGROUND = """\
later = show_figure(fig(0))

async def update():
    for i in range(1, 4):
        await asyncio.sleep(0.05)
        show_figure(fig(i), later)

task = asyncio.get_running_loop().create_task(update())
"""
AWAIT = "await asyncio.wait_for(task, 30)"


def run_notebook(cells: list[str], folder: Path) -> Any:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    client = NotebookClient(
        nb, kernel_name="python3", timeout=60,
        resources={"metadata": {"path": str(folder)}},
    )  # fmt: skip
    return client.execute()


@pytest.mark.notebook
def test_a_shown_output_is_replaced_in_place_in_a_notebook_run_headless(tmp_path):
    nb = run_notebook([SHOW, UPDATE_LATER, SAME_CELL, BACKGROUND, AWAIT], tmp_path)

    shown, later, board, background, _ = (cell.outputs for cell in nb.cells)
    assert [len(shown), len(later), len(board), len(background)] == [1, 0, 1, 1]
    spec = shown[0]["data"][PLOTLY_MIME]
    assert spec["data"][0]["y"] == [3, 30]
    assert spec["layout"]["title"]["text"] == "v3"
    assert "<b>v3</b>" in shown[0]["data"]["text/html"]
    assert board[0]["data"]["text/html"] == (
        "<div class='kit-status'>s3</div><pre class='kit-board'>board 3 &amp; co</pre>"
    )
    # Updates from a task that an earlier cell started land while a later
    # cell runs.
    assert background[0]["data"][PLOTLY_MIME]["data"][0]["y"] == [3, 30]
    assert len(json.dumps(nb.cells[0].outputs[0])) < 20_000


HEADLESS_DAY = """\
from datetime import time
from kit.ui.day import start_day
from kit.ui.live import LiveView

day = start_day(mode="paper", symbols=["SBIN-EQ", "INFY-EQ"], speed=120,
                start="09:12", chaos="none")
view = LiveView(day.bot, every_real_s=0.2)
view.show()
"""
HEADLESS_RUN = """\
try:
    why = await asyncio.wait_for(view.run(until=time(9, 17), stop_bot=True), 60)
finally:
    day.finish()
    day.cleanup()
print(why)
"""


@pytest.mark.notebook
def test_a_live_view_run_headless_leaves_its_three_outputs_at_the_last_state(
    tmp_path,
):
    nb = run_notebook(["import asyncio", HEADLESS_DAY, HEADLESS_RUN], tmp_path)

    shown = [o for c in nb.cells for o in c.outputs if is_live_view(o)]
    printed = "".join(o.get("text", "") for o in nb.cells[2].outputs)
    assert len(shown) == 3 and all(o in nb.cells[1].outputs for o in shown)
    assert "until" in printed.split()
    board, health, candles = (o["data"] for o in shown)
    assert candles[PLOTLY_MIME]["layout"]["title"]["text"].startswith("SBIN-EQ")
    assert board["text/plain"].startswith("bot stopped")
    assert "WebSocket: ✅ Connected" in board["text/html"]  # the last one measured
    assert len(health[PLOTLY_MIME]["data"][0]["x"]) >= 2
    drawn = [t for t in candles[PLOTLY_MIME]["data"] if t["type"] == "candlestick"]
    assert sum(len(t["x"]) for t in drawn) > 0


def is_live_view(output: Any) -> bool:
    """A board or a chart (not, say, a progress bar of the bot's start)."""
    data = output.get("data", {})
    return PLOTLY_MIME in data or "kit-board" in data.get("text/html", "")


# The live view on the simulator.


@pytest.fixture
def day() -> Iterator[TradingDay]:
    trading = start_day(
        mode="paper", symbols=SYMBOLS, speed=120, start="09:12", until="09:30",
        chaos="none",
    )  # fmt: skip
    try:
        assert trading.bot.wait_ready(60.0), trading.bot.status().error
        yield trading
    finally:
        trading.finish()
        trading.cleanup()


def run(coroutine: Any, timeout_s: float = 60.0) -> Any:
    return asyncio.run(asyncio.wait_for(coroutine, timeout_s))


def test_the_live_view_follows_a_simulated_day_until_the_time_asked(day):
    view = LiveView(day.bot, every_real_s=0.2)
    view.show()

    why = run(view.run(until=time(9, 18)))

    assert why == "until"
    assert day.clock.now().astimezone(IST).time() >= time(9, 18)
    board = view.outputs["board"].bundle["text/html"]
    assert "<pre class='kit-board'>" in board and "WebSocket: ✅ Connected" in board
    assert "bot running" in board
    frame = view.health_frame()
    assert len(frame) >= 2 and bool(frame["feed_connected"].iloc[-1])
    candles = view.outputs["candles"].bundle[PLOTLY_MIME]
    assert candles["layout"]["title"]["text"] == "SBIN-EQ: 1-minute candles"
    drawn = [t for t in candles["data"] if t["type"] == "candlestick"]
    assert sum(len(t["x"]) for t in drawn) > 0
    newest = max(x for t in drawn for x in t["x"])
    assert newest >= f"{day.day} 09:15:00"  # today's candles, not only history
    health = view.outputs["health"].bundle[PLOTLY_MIME]
    assert len(health["data"][0]["x"]) == len(frame)

    view.symbol = "INFY-EQ"  # not running: redrawn at once

    title = view.outputs["candles"].bundle[PLOTLY_MIME]["layout"]["title"]["text"]
    assert title == "INFY-EQ: 1-minute candles"
    assert len(view.candle_figure().data) > 0


def test_a_background_view_ends_when_stopped_or_when_the_bot_stops(day):
    async def scenario() -> tuple[str, int, str]:
        view = LiveView(day.bot, every_real_s=0.05)
        task = view.start_background()
        await until_true(lambda: view.refreshes >= 3)
        view.stop()
        stopped = await task

        follower = LiveView(lambda: day.bot, "INFY-EQ", every_real_s=0.05)
        task = follower.start_background()
        await until_true(lambda: follower.health_frame().shape[0] >= 1)
        await asyncio.to_thread(day.bot.stop)
        ended = await task
        return stopped, ended, follower.board_text()

    stopped, ended, board = run(scenario())

    assert (stopped, ended) == ("view stopped", "bot stopped")
    assert set(ENDED) >= {stopped, ended}
    assert "WebSocket" in board  # the last board measured stays on screen


def test_a_view_with_no_bot_yet_says_not_started():
    view = LiveView(lambda: None)

    view.show()
    view.refresh()

    board = view.outputs["board"].bundle["text/plain"]
    assert board.startswith("bot not started")
    assert "not measured yet (bot not started)" in board
    assert "No candles yet" in view.outputs["candles"].bundle["text/plain"]
    assert "No health snapshot yet" in view.outputs["health"].bundle["text/plain"]


async def until_true(check: Any, timeout_real_s: float = 20.0) -> None:
    deadline = _time.monotonic() + timeout_real_s
    while not check():
        if _time.monotonic() > deadline:
            raise AssertionError("not reached in time")
        await asyncio.sleep(0.02)
