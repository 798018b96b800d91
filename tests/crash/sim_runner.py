"""The simulator in a process of its own, so the broker outlives the bot.

::

    python -m tests.crash.sim_runner --start 2026-12-03T09:20 --speed 60 \
        --anchor 1767000000.0 [--seed 7]

It runs on a :class:`~kit.clock.ScaledClock` of the given start, speed and
anchor (the bot is given the same three, so both read the same simulated
time), prints one JSON line with its ``rest_url`` and ``feed_url`` once it
listens, and serves until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from datetime import datetime
from types import FrameType

from kit.clock import IST, ScaledClock
from kit.sim.runner import SimConfig, Simulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--start", required=True, help="ISO time, IST if no zone")
    parser.add_argument("--speed", type=float, required=True)
    parser.add_argument("--anchor", type=float, required=True, help="epoch seconds")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    start = datetime.fromisoformat(args.start)
    if start.tzinfo is None:
        start = start.replace(tzinfo=IST)
    clock = ScaledClock(start, args.speed, anchor=args.anchor)
    stop = threading.Event()

    def on_signal(number: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    sim = Simulator(SimConfig(seed=args.seed, speed=args.speed), clock=clock)
    sim.start()
    try:
        line = {"rest_url": sim.rest_url, "feed_url": sim.feed_url}
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()
        while not stop.wait(0.2):
            pass
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
