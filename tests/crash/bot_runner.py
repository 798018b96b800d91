"""A bot in a process of its own, for the crash trials: run until killed.

::

    KIT_API_KEY=... KIT_CLIENT_CODE=... KIT_MPIN=... KIT_TOTP_SECRET=... \
    python -m tests.crash.bot_runner --folder DIR --mode paper \
        --rest-url http://127.0.0.1:PORT --feed-url ws://127.0.0.1:PORT/smart-stream \
        --symbols SBIN-EQ,INFY-EQ --start 2026-12-03T09:20 --speed 60 --anchor EPOCH

The bot keeps its store in ``DIR/kit.sqlite3`` and its log in ``DIR/bot.log``
(appended by every run); it trades with :class:`~tests.crash.strategy.CrashPlan`
(held while ``DIR/hold`` exists) on a :class:`~kit.clock.ScaledClock` of the
simulator's start, speed and anchor, against the simulator at the given URLs
(``broker = "angel"``: the bot does not start a simulator of its own). The
credentials are the simulator's fake ones, from ``KIT_`` variables.

Once the bot runs (or failed to start) and the events of its start are in the
store, the runner writes ``DIR/ready-PID.json`` with its phase and error.
SIGTERM stops the bot cleanly; ``kill -9`` is what the trials do instead.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from datetime import datetime
from pathlib import Path
from types import FrameType

from kit.bot import Bot
from kit.clock import IST, ScaledClock
from kit.config import Settings, load_settings
from tests.crash.strategy import CrashPlan

STORE_NAME = "kit.sqlite3"
LOG_NAME = "bot.log"
HOLD_NAME = "hold"


def ready_path(folder: Path, pid: int) -> Path:
    return folder / f"ready-{pid}.json"


def settings_for(args: argparse.Namespace) -> Settings:
    """The bot's settings: the simulator as ``angel``, limits that let the
    plan trade all day (credentials come from the environment)."""
    folder = Path(args.folder)
    return load_settings(
        mode=args.mode,
        broker="angel",
        live_confirmed=args.mode == "live",
        rest_url=args.rest_url,
        feed_url=args.feed_url,
        symbols=tuple(args.symbols.split(",")),
        store_path=folder / STORE_NAME,
        store_url=None,
        heartbeat_path="",
        telegram_bot_token=None,
        telegram_chat_id=None,
        risk_max_open_positions=10,
        risk_daily_loss_limit=10_000_000.0,
        risk_max_orders_per_minute=120,
        risk_resume_after_s=5.0,
        sim_speed=args.speed,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--folder", required=True)
    parser.add_argument("--mode", choices=("paper", "live"), required=True)
    parser.add_argument("--rest-url", required=True)
    parser.add_argument("--feed-url", required=True)
    parser.add_argument("--symbols", required=True, help="comma-separated")
    parser.add_argument("--start", required=True, help="ISO time, IST if no zone")
    parser.add_argument("--speed", type=float, required=True)
    parser.add_argument("--anchor", type=float, required=True, help="epoch seconds")
    args = parser.parse_args(argv)

    folder = Path(args.folder)
    logging.basicConfig(
        filename=folder / LOG_NAME,
        level=logging.INFO,
        format=f"%(asctime)s [{os.getpid()}] %(levelname)s %(name)s: %(message)s",
    )
    start = datetime.fromisoformat(args.start)
    if start.tzinfo is None:
        start = start.replace(tzinfo=IST)
    clock = ScaledClock(start, args.speed, anchor=args.anchor)
    settings = settings_for(args)
    strategy = CrashPlan(list(settings.symbols), hold_path=folder / HOLD_NAME)

    stop = threading.Event()

    def on_signal(number: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    bot = Bot.start(settings, strategy=strategy, clock=clock)
    try:
        bot.wait_ready()
        if bot.parts is not None:  # the start's events stored before "ready"
            bot.parts.activity.flush(timeout_s=5.0)
        _write_ready(folder, bot.phase, bot.error)
        while not stop.wait(0.2) and bot.phase == "running":
            pass
    finally:
        bot.stop()
    return 0 if bot.error == "" else 1


def _write_ready(folder: Path, phase: str, error: str) -> None:
    """The ready file, written whole (renamed into place)."""
    path = ready_path(folder, os.getpid())
    draft = path.with_suffix(".tmp")
    draft.write_text(json.dumps({"pid": os.getpid(), "phase": phase, "error": error}))
    draft.replace(path)


if __name__ == "__main__":
    sys.exit(main())
