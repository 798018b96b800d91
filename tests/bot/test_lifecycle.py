"""The Bot's life on the simulator: one bot per process, a prompt and clean
stop (also in the middle of a start), the crash of the last run reported at
the next start, the status and the board while it runs, and ``run_until``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import datetime, timedelta
from datetime import time as time_of_day

import pyotp
import pytest

from kit.bot import Bot
from kit.clock import IST, ManualClock
from kit.errors import ConfigurationError
from kit.ops.events import EventKind, FaultKind
from kit.sim.chaos import FaultKind as SimFault
from kit.sim.runner import SimConfig
from kit.store.sqlite import SqliteStore
from tests.bot.helpers import (
    SYMBOLS,
    bot_settings,
    engine,
    kit_threads,
    running,
    stored_events,
    wait_until,
)

MIDDAY = datetime(2026, 12, 3, 10, 0, tzinfo=IST)  # a Thursday
EARLY = MIDDAY.replace(hour=9)
SPEED = 50.0


def test_a_second_start_returns_the_running_bot(simulator, start_bot, tmp_path):
    sim = simulator(SimConfig(start=MIDDAY, speed=SPEED))
    settings = bot_settings(tmp_path)

    with running(start_bot(settings, simulator=sim)) as bot:
        again = Bot.start(bot_settings(tmp_path / "other"), simulator=sim)
        current = Bot.current()
        started = len(stored_events(settings.store_path, sim.clock, "bot_started"))

    assert again is bot and current is bot
    assert started == 1  # the second start opened nothing
    after = start_bot(settings, simulator=sim)  # the first one has stopped
    assert after is not bot
    assert after.wait_ready(30.0)


def test_stop_is_prompt_and_clean(simulator, start_bot, tmp_path):
    sim = simulator(SimConfig(start=MIDDAY, speed=SPEED))
    settings = bot_settings(tmp_path)
    bot = start_bot(settings, simulator=sim)
    assert bot.wait_ready(30.0), bot.error
    threads_running = kit_threads()

    began = time.monotonic()
    clean = bot.stop()
    took_s = time.monotonic() - began

    assert clean is True
    assert took_s < 2.0
    assert bot.phase == "stopped" and bot.status().engine is None
    assert {"kit-engine", "kit-health", "kit-feed-1"} <= set(threads_running)
    assert kit_threads() == []
    events = stored_events(settings.store_path, sim.clock)
    assert events[0].kind == EventKind.BOT_STARTED
    assert events[-1].kind == EventKind.BOT_STOPPED
    assert events[-1].text == "bot stopped"
    state = SqliteStore(settings.store_path, sim.clock)
    try:
        assert state.load_state("run")["running"] is False  # type: ignore[index]
    finally:
        state.close()
    assert bot.stop() is True  # again: nothing left to do


def test_a_stop_during_a_refused_bootstrap_ends_the_start_at_once(
    simulator, start_bot, tmp_path
):
    sim = simulator(SimConfig(start=EARLY, speed=10.0))
    sim.chaos.inject(SimFault.HISTORY_BEFORE_OPEN, "candles", count=100)
    settings = bot_settings(tmp_path)
    bot = start_bot(settings, simulator=sim)
    # The first attempt is four requests (the client retries three times).
    wait_until(lambda: len(sim.chaos.log) >= 4, 10.0, "a refused attempt")

    began = time.monotonic()
    clean = bot.stop()
    took_s = time.monotonic() - began

    assert clean is True
    assert took_s < 3.0  # a request in flight may finish; no 30 s wait
    assert bot.phase == "stopped"
    assert kit_threads() == []
    kinds = [e.kind for e in stored_events(settings.store_path, sim.clock)]
    assert kinds[-1] == EventKind.BOT_STOPPED
    assert EventKind.BUILDING_FROM_TICKS not in kinds  # the attempts were cut


def test_a_run_left_running_is_reported_as_a_crash_at_the_next_start(
    simulator, start_bot, tmp_path
):
    sim = simulator(SimConfig(start=MIDDAY, speed=SPEED))
    settings = bot_settings(tmp_path)
    last_seen_s = (MIDDAY - timedelta(minutes=7)).timestamp()
    store = SqliteStore(settings.store_path, ManualClock(MIDDAY))
    store.save_state("run", {"running": True, "last_seen_s": last_seen_s})
    store.close()

    with running(start_bot(settings, simulator=sim)):
        pass
    with running(start_bot(settings, simulator=sim)):  # after a clean stop
        pass

    events = stored_events(settings.store_path, sim.clock)
    crashes = [e for e in events if e.kind == EventKind.CRASH_DETECTED]
    assert len(crashes) == 1
    assert crashes[0].fields["fault"] == FaultKind.CRASH.value
    assert crashes[0].fields["last_seen_s"] == last_seen_s
    kinds = [e.kind for e in events if e.kind.startswith("bot_") or
             e.kind == EventKind.CRASH_DETECTED]  # fmt: skip
    assert kinds == [
        EventKind.BOT_STARTED, EventKind.CRASH_DETECTED, EventKind.BOT_STOPPED,
        EventKind.BOT_STARTED, EventKind.BOT_STOPPED,
    ]  # fmt: skip


CHILD = textwrap.dedent(
    """
    import sys, time
    from datetime import datetime
    from pathlib import Path
    from kit.bot import Bot
    from kit.clock import IST
    from kit.config import load_settings
    from kit.sim.runner import SimConfig, Simulator

    folder = Path(sys.argv[1])
    sim = Simulator(SimConfig(start=datetime(2026, 12, 3, 10, 0, tzinfo=IST),
                              speed=50.0)).start()
    settings = load_settings(None, store_path=folder / "kit.sqlite3",
                             heartbeat_path=folder / "heartbeat",
                             symbols=("SBIN-EQ", "INFY-EQ"))
    bot = Bot.start(settings, simulator=sim)
    said = "running" if bot.wait_ready(60) else "failed " + bot.error
    sys.stdout.write(said + "\\n")  # one write: the notifier's thread prints too
    sys.stdout.flush()
    time.sleep(60)
    """
)


def test_a_killed_process_is_reported_as_a_crash_at_the_next_start(
    simulator, start_bot, tmp_path
):
    errors = tmp_path / "child.log"
    with errors.open("w") as stderr:
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(tmp_path)],
            stdout=subprocess.PIPE, stderr=stderr, text=True, cwd=tmp_path,
            env=os.environ | {"PYTHONPATH": os.getcwd()},
        )  # fmt: skip
    try:
        assert child.stdout is not None
        lines = iter(child.stdout.readline, "")  # the console notifier prints too
        said = next((line for line in lines if line.startswith(("running", "failed"))),
                    "")  # fmt: skip
        assert said.strip() == "running", errors.read_text()[-2000:]
        heartbeat = tmp_path / "heartbeat"
        wait_until(heartbeat.exists, 10.0, "the child's first health sample")
        child.send_signal(signal.SIGKILL)
        child.wait(10.0)
    finally:
        child.kill()
    sim = simulator(SimConfig(start=MIDDAY + timedelta(hours=1), speed=SPEED))

    with running(start_bot(bot_settings(tmp_path), simulator=sim)):
        pass

    events = stored_events(tmp_path / "kit.sqlite3", sim.clock)
    kinds = [e.kind for e in events if e.kind in ("bot_started", "bot_stopped",
                                                   "crash_detected")]  # fmt: skip
    assert child.returncode == -signal.SIGKILL
    assert kinds == ["bot_started", "bot_started", "crash_detected", "bot_stopped"]


def test_status_and_board_while_running(simulator, start_bot, tmp_path):
    sim = simulator(SimConfig(start=MIDDAY, speed=SPEED))
    before = Bot(bot_settings(tmp_path))
    assert before.board() == "HEALTH STATUS: not measured yet (bot created)"
    assert before.status().engine is None

    with running(start_bot(bot_settings(tmp_path), simulator=sim)) as bot:
        wait_until(lambda: bot.status().health is not None, 10.0, "a health sample")
        wait_until(lambda: engine(bot).ticks > 0, 10.0, "ticks")
        status = bot.status()
        board = bot.board()
        summary = bot.startup_summary()

    assert (status.phase, status.mode, status.error) == ("running", "paper", "")
    stepped = status.engine
    assert stepped is not None
    assert stepped.symbols == len(SYMBOLS)
    assert stepped.trading_state == "active"
    assert stepped.ticks > 0 and set(stepped.last_prices) <= set(SYMBOLS)
    assert status.health is not None and status.health.mode == "paper"
    assert "HEALTH STATUS (Updated every 60s) at 10:" in board
    for row in ("WebSocket: ", "Data Flow: ", "Candles: ", "Token Age: "):
        assert row in board
    assert "Mode: PAPER" in summary and f"Symbols: {len(SYMBOLS)}" in summary


def test_run_until_returns_until_at_the_time_and_stopped_after_a_stop(
    simulator, start_bot, tmp_path
):
    sim = simulator(SimConfig(start=MIDDAY, speed=SPEED))

    with running(start_bot(bot_settings(tmp_path), simulator=sim)) as bot:
        ended = bot.run_until(time_of_day(10, 1), poll_real_s=0.02)
        reached = sim.clock.now()
        stopper = threading.Timer(0.3, bot.stop)
        stopper.start()
        stopped = bot.run_until(MIDDAY + timedelta(hours=2), poll_real_s=0.02)
        stopper.join()

    assert ended == "until"
    assert MIDDAY.replace(minute=1) <= reached < MIDDAY.replace(minute=1, second=30)
    assert stopped == "stopped"


def test_live_mode_needs_an_explicit_confirmation(tmp_path):
    settings = bot_settings(
        tmp_path, mode="live", api_key="k", client_code="c", mpin="1234",
        totp_secret=pyotp.random_base32(),
    )  # fmt: skip

    with pytest.raises(ConfigurationError, match="live_confirmed"):
        Bot(settings)
