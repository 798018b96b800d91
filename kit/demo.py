"""``kit demo``: a simulated trading morning, with faults, in about a minute.

It starts the built-in simulator on a scaled clock at 09:10 IST of the last
trading day, with a seeded random fault plan (:mod:`kit.demo_chaos`), and the
paper bot against it (the store, its heartbeat and the log in a temporary
folder unless ``store_dir`` is given; no Telegram). It prints the start-up
summary, every injected fault as it happens, the bot's own warnings (its
notifier's console lines), the health board every few simulated minutes, and
at the end, after a clean stop, the uptime and recovery tables that
``kit report`` prints for the simulated day, and the injected faults set
beside what the kit measured.

Timing: the simulated session runs from 09:10 to ``until`` (11:30). Give any
two of ``speed`` (simulated seconds per real second), ``duration_s`` (real
seconds) and ``until``; without them the session takes about a minute.
Lines go to ``out``, which the CLI points at the terminal.
"""

from __future__ import annotations

import contextlib
import math
import random
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

from kit.bot import Bot
from kit.clock import IST, Clock, NseCalendar
from kit.config import Settings, load_settings
from kit.demo_chaos import (
    DemoPlan,
    compare,
    demo_plan,
    failed_attempts,
    render_comparison,
)
from kit.demo_watch import (
    LOG_NAME,
    open_count,
    rupees,
    start_bot,
    stop_on_signals,
    terminal_logging,
    watch,
)
from kit.errors import ConfigurationError
from kit.ops.metrics import metrics_for_day
from kit.sim.chaos import InjectedFault
from kit.sim.runner import SimConfig, Simulator
from kit.store import open_store
from kit.trading.engine import EngineStatus

START = time(9, 10)
UNTIL = time(11, 30)
DURATION_S = 60.0
REAL_S_BETWEEN_BOARDS = 5.0  # the board every few simulated minutes, not faster
STORE_NAME = "kit.sqlite3"
MAX_SPEED = 200.0
"""Faster, the feed's 20 s liveness deadline would shrink to about the 0.05
real seconds its reader waits between two checks, and a quiet connection
(before the open) would be taken for a dead one."""

Out = Callable[[str], None]


@dataclass(frozen=True)
class DemoOptions:
    """What the demo runs; None picks the default (see the module)."""

    speed: float | None = None
    duration_s: float | None = None
    until: time | None = None
    seed: int | None = None  # the fault plan's; None: a fresh one, printed
    store_dir: Path | None = None
    board_every_min: int | None = None  # None: every few real seconds
    settings_file: str | None = None
    day: date | None = None  # the simulated day; None: the last trading day


@dataclass(frozen=True)
class Timing:
    """The simulated session of a demo and how fast it runs."""

    start: datetime
    end: datetime
    speed: float

    @property
    def duration_s(self) -> float:
        return (self.end - self.start).total_seconds() / self.speed


def timing_of(options: DemoOptions, day: date) -> Timing:
    """The session from 09:10 of ``day``: its end and speed from any two of
    speed, duration and until. ConfigurationError for all three, an end before
    the start, or a speed above :data:`MAX_SPEED`."""
    start = datetime.combine(day, START, tzinfo=IST)
    speed, duration_s, until = options.speed, options.duration_s, options.until
    if speed is not None and duration_s is not None:
        if until is not None:
            raise ConfigurationError(
                "give at most two of --speed, --duration and --until", field="until"
            )
        end = start + timedelta(seconds=speed * duration_s)
    else:
        end = datetime.combine(day, until or UNTIL, tzinfo=IST)
        span_s = (end - start).total_seconds()
        if span_s <= 0:
            raise ConfigurationError(
                f"--until must be after {START:%H:%M}", field="until"
            )
        speed = speed or span_s / (duration_s or DURATION_S)

    if not 0 < speed <= MAX_SPEED:
        raise ConfigurationError(
            f"a speed of {speed:g}x is outside what the feed's liveness checks "
            f"allow: at most {MAX_SPEED:g}x (a longer --duration or an earlier "
            "--until)",
            field="speed",
        )
    return Timing(start, end, speed)


def demo_day(today: date, calendar: NseCalendar) -> date:
    """Today when it is a trading day, else the last one before it."""
    return (
        today
        if calendar.is_trading_day(today)
        else calendar.previous_trading_day(today)
    )


def run_demo(options: DemoOptions, out: Out) -> int:
    """Run the demo (see the module); the exit code: 0, or 1 when the bot failed."""
    calendar = NseCalendar()
    day = options.day or demo_day(datetime.now(IST).date(), calendar)
    timing = timing_of(options, day)
    seed = options.seed if options.seed is not None else random.randrange(10_000)
    chaos = demo_plan(seed, timing.start, timing.end, calendar)
    every_min = options.board_every_min or max(
        1, math.ceil(timing.speed * REAL_S_BETWEEN_BOARDS / 60)
    )

    with _folder(options.store_dir) as folder:
        settings = load_settings(
            options.settings_file, mode="paper", broker="simulator",
            live_confirmed=False, store_url=None, store_path=folder / STORE_NAME,
            heartbeat_path=folder / "heartbeat", telegram_bot_token=None,
            telegram_chat_id=None, sim_speed=timing.speed,
        )  # fmt: skip
        where = str(folder) if options.store_dir else "a temporary folder"
        _header(timing, chaos, every_min, where, out)
        with terminal_logging(folder / LOG_NAME, settings.log_level):
            run = _trade(settings, timing, chaos, 60.0 * every_min, out)
        if run is None:
            return 1
        if run.ended == "failed":
            out(f"The bot failed: {run.error}")
            return 1

        if run.engine is not None:
            engine = run.engine
            out(f"Trading at {run.clock.now():%H:%M}: {engine.orders} orders, "
                f"realised {rupees(engine.realised_pnl)}, "
                f"{open_count(engine)} positions open "
                f"({rupees(engine.unrealised_pnl)})")  # fmt: skip
        _tables(settings, run.clock, day, run.injected, out)
        if options.store_dir is not None:
            out(f"The store stays in {folder}: kit report --date {day} "
                f"--store sqlite:///{folder / STORE_NAME}")  # fmt: skip
    return 0


@dataclass(frozen=True)
class _Run:
    """How the bot's session went: its end, last status and the faults."""

    ended: str
    error: str
    engine: EngineStatus | None
    injected: list[InjectedFault]
    clock: Clock


def _trade(
    settings: Settings, timing: Timing, chaos: DemoPlan, every_s: float, out: Out
) -> _Run | None:
    """The simulator and the bot, watched until the end; None when the bot
    did not start."""
    # The simulator's own rate limits stay off: the pacer's margin is in
    # simulated seconds, so at 140x a millisecond of loopback jitter is enough
    # to earn a refusal the plan did not ask for. The plan's refusals
    # (rate_limit on history) are injected all the same.
    config = SimConfig(
        seed=settings.sim_seed, speed=timing.speed, start=timing.start,
        rate_limits=False,
    )  # fmt: skip
    with Simulator(config, plan=chaos.plan) as sim, stop_on_signals() as stopping:
        bot = Bot.start(settings, simulator=sim)
        try:
            if not start_bot(bot, out):
                return None
            printer = _ChaosPrinter(sim, out)
            ended = watch(
                bot, sim.clock, until=timing.end, every_s=every_s, out=out,
                stopping=stopping, on_poll=printer.poll,
            )  # fmt: skip
            engine = bot.status().engine
        finally:
            bot.stop()
        printer.poll()
        return _Run(ended, bot.error, engine, sim.chaos.log, sim.clock)


@contextlib.contextmanager
def _folder(store_dir: Path | None) -> Iterator[Path]:
    if store_dir is not None:
        store_dir.mkdir(parents=True, exist_ok=True)
        yield store_dir.resolve()
        return
    with tempfile.TemporaryDirectory(prefix="kit-demo-") as tmp:
        yield Path(tmp)


def _header(
    timing: Timing, chaos: DemoPlan, every_min: int, where: str, out: Out
) -> None:
    out(
        f"kit demo: paper trading on the simulator, {timing.start:%H:%M} to "
        f"{timing.end:%H:%M} IST of {timing.start:%a %d %b %Y}, at {timing.speed:g}x "
        f"(about {timing.duration_s:.0f} s)"
    )
    seed = chaos.plan.seed
    out(f"Faults planned (seed {seed}; --seed {seed} plans them again):")
    for line in chaos.lines:
        out(f"  {line}")
    out(f"Store, heartbeat and log ({LOG_NAME}) in {where}; "
        f"the board every {every_min} simulated minute(s).")  # fmt: skip
    out("")


class _ChaosPrinter:
    """Prints each fault the simulator injects, once, as it happens."""

    def __init__(self, sim: Simulator, out: Out) -> None:
        self.sim, self.out, self.seen = sim, out, 0

    def poll(self) -> None:
        log = self.sim.chaos.log
        for entry in log[self.seen :]:
            detail = f" ({entry.detail})" if entry.detail else ""
            self.out(
                f"{entry.at.astimezone(IST):%Y-%m-%d %H:%M:%S} CHAOS    "
                f"{entry.kind} on {entry.target}{detail}"
            )
        self.seen = len(log)


def _tables(
    settings: Settings,
    clock: Clock,
    day: date,
    injected: list[InjectedFault],
    out: Out,
) -> None:
    """The report's tables for ``day``, and injected against measured."""
    as_of = clock.now()
    store = open_store(settings, clock)
    try:
        metrics = metrics_for_day(
            store, day, as_of=as_of,
            calendar=NseCalendar(extra_holidays=settings.extra_holidays),
        )  # fmt: skip
        failures = failed_attempts(store, as_of)
    finally:
        store.close()
    out("")
    out(metrics.render_tables())
    out("")
    out(f"Injected by the simulator, measured by the kit ({day}):")
    out("")
    out(render_comparison(compare(injected, metrics, failures)))
