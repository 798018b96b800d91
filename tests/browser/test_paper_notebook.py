"""The paper-trading notebook in JupyterLab, in a real Chromium: run all its
cells, see the status lights and the candle chart come alive, pause entries
with the panel's button and see the trading state follow; the page asks
nothing of any host but the server.

The notebook is copied with its parameters set by papermill (prepare only,
nothing run), so the simulated day lasts long enough for the checks. A
full-page screenshot, one of the candle chart and the browser's console are
saved in ``test-artifacts/browser`` whatever the outcome.
"""

from __future__ import annotations

import time
from pathlib import Path

import papermill
import pytest

from tests.browser.conftest import ROOT, BrowserPage, LabServer

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

NOTEBOOK = ROOT / "notebooks" / "01_paper_trading.ipynb"
NAME = "01_paper_trading.ipynb"
# 09:20 to 11:00 at 60x is 100 real seconds of trading: the checks need ~30.
# No faults, so the feed stays connected; widgets, which redraw live in Lab.
PARAMETERS = {
    "speed": 60, "start": "09:20", "until": "11:00", "chaos": "none",
    "widgets": True,
}  # fmt: skip
LAB_READY_MS = 60_000
BOT_RUNNING_MS = 60_000
CHART_MS = 45_000
PAUSED_MS = 15_000

# The notebook's kernel status, once JupyterLab shows it (None before).
KERNEL_STATUS = """() => {
  const widget = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const context = widget && widget.sessionContext;
  const kernel = context && context.session && context.session.kernel;
  return widget && widget.context && widget.context.isReady && kernel
    ? kernel.status : null;
}"""
# Start running every cell; not awaited: the last cell runs for the whole day.
RUN_ALL = """() => {
  const commands = window.jupyterapp.commands;
  const found = commands.hasCommand('notebook:run-all-cells');
  if (found) commands.execute('notebook:run-all-cells');
  return found;
}"""
# Points of each candlestick trace of each Plotly chart on the page.
CANDLE_POINTS = """() => Array.from(document.querySelectorAll('.js-plotly-plot'))
  .flatMap(el => (el._fullData || el.data || [])
    .filter(trace => trace.type === 'candlestick')
    .map(trace => (trace.x && trace.x.length) || 0))"""
CANDLES_DRAWN = ".js-plotly-plot .trace.boxes path"


def prepare(lab: LabServer) -> Path:
    """The notebook in the server's folder, its parameters injected."""
    target = lab.root_dir / NAME
    papermill.execute_notebook(
        str(NOTEBOOK), str(target), parameters=PARAMETERS,
        prepare_only=True, kernel_name="python3", progress_bar=False,
    )  # fmt: skip
    return target


def test_paper_notebook_runs_live_in_jupyterlab_and_pauses_entries(
    chromium: Path, lab_server: LabServer, browser_page: BrowserPage
) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415

    began = time.monotonic()
    prepare(lab_server)
    page = browser_page.page
    lights = page.locator(".kit-lights").first
    try:
        # Open the notebook and wait for its kernel to be idle.
        page.goto(lab_server.url(f"/lab/tree/{NAME}"))
        page.wait_for_function(
            f"() => ({KERNEL_STATUS})() === 'idle'", timeout=LAB_READY_MS
        )
        opened = time.monotonic()

        # Run all cells (the last one awaits while the bot trades).
        assert page.evaluate(RUN_ALL), "JupyterLab has no notebook:run-all-cells"
        expect(lights.locator("[data-kit=phase]")).to_have_text(
            "running", timeout=BOT_RUNNING_MS
        )
        expect(lights.locator("[data-kit=feed]")).to_have_text(
            "connected", timeout=BOT_RUNNING_MS
        )
        running = time.monotonic()

        # The candle chart has candles, and Plotly drew them.
        page.wait_for_function(
            f"() => ({CANDLE_POINTS})().some(n => n > 0)"
            f" && document.querySelectorAll('{CANDLES_DRAWN}').length > 0",
            timeout=CHART_MS,
        )
        points = page.evaluate(CANDLE_POINTS)
        drawn = page.locator(CANDLES_DRAWN).count()
        charted = time.monotonic()

        # Pause entries: the engine reduces, the button offers to resume.
        page.get_by_role("button", name="Pause entries", exact=True).click()
        expect(lights.locator("[data-kit=trading-state]")).to_have_text(
            "REDUCING", timeout=PAUSED_MS
        )
        expect(page.locator(".kit-pause").first).to_have_text(
            "Resume entries", timeout=PAUSED_MS
        )
        expect(lights.locator("[data-kit=phase]")).to_have_text("running")
        paused = time.monotonic()

        # Everything came from the server: the notebook works offline.
        assert not browser_page.off_machine, browser_page.off_machine
    finally:
        candles = page.locator(".js-plotly-plot", has_text="1-minute candles")
        browser_page.save_artifacts("paper_notebook", candles=candles.first)

    lab_server.shutdown_kernels()
    print(
        f"lab open {opened - began:.1f} s, bot running +{running - opened:.1f} s, "
        f"candles drawn +{charted - running:.1f} s, paused +{paused - charted:.1f} s,"
        f" kernel shut down: {time.monotonic() - began:.1f} s in all; "
        f"candles per trace {points}, {drawn} paths drawn"
    )
