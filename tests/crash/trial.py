"""The crash trial: a bot killed with SIGKILL at random moments and restarted
on the same store, against a simulator that outlives it.

::

    report = run_trial(TrialConfig(mode="live", kills=20, seed=3), folder)
    assert not report.problems, report.summary()

Each round starts the bot with its strategy held (the ``hold`` file) and kills
it at a moment drawn from the seed: ``kill_after_real_s`` after the start, and
for a share ``aimed`` of the kills moved on to just after the next candle
close, when the orders go out, and for a share ``startup`` drawn early, while
the bot still starts. A kill that lands before the bot runs is a kill during
start-up (login, history, reconciliation). Right after each kill the
store (and, live, the broker's books) is read. Once a restarted bot runs,
still held, what it holds is compared with that reading
(:mod:`tests.crash.checks`); then trading is released until the next kill.
After the last round the bot trades a little, is stopped cleanly, and the day
is checked as a whole. Every problem is one line of ``report.problems``.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from kit.clock import IST, ScaledClock
from kit.ops.events import EventKind
from kit.store.base import TradingMode
from tests.crash import checks
from tests.crash.bot_runner import STORE_NAME
from tests.crash.processes import BotProcess, SimClock, SimProcess, hold_trading
from tests.crash.views import (
    BrokerReader,
    BrokerView,
    StoreView,
    by_symbol,
    read_store,
    replay_prefixes,
)

SYMBOLS = ("RELIANCE-EQ", "TCS-EQ", "INFY-EQ", "SBIN-EQ")
TOKENS = {"RELIANCE-EQ": "2885", "TCS-EQ": "11536", "INFY-EQ": "1594",
          "SBIN-EQ": "3045"}  # fmt: skip
POLL_REAL_S = 0.01
EVENT_WAIT_REAL_S = 5.0


class TrialAborted(Exception):
    """The trial cannot go on (a bot that does not start, or dies by itself)."""


@dataclass(frozen=True)
class TrialConfig:
    mode: TradingMode
    kills: int
    seed: int = 1
    speed: float = 60.0  # simulated seconds per real second
    start: datetime = datetime(2026, 12, 3, 9, 20, tzinfo=IST)  # a Thursday
    symbols: tuple[str, ...] = SYMBOLS
    kill_after_real_s: tuple[float, float] = (0.8, 4.0)  # from each start
    aimed: float = 0.5  # the share of kills aimed at a candle close ...
    aim_sim_s: tuple[float, float] = (2.0, 8.0)  # ... this long after the minute
    startup: float = 0.15  # the share of kills aimed at the start-up ...
    startup_real_s: tuple[float, float] = (0.2, 1.0)  # ... this long after it
    ready_timeout_real_s: float = 60.0
    tail_real_s: float = 2.0  # trading after the last restart, before the stop


@dataclass(frozen=True)
class KillRecord:
    number: int
    during: str  # "start-up" or "trading"
    sim_at: str
    open_positions: int
    open_orders: int  # unresolved journal intents
    in_flight_fills: int  # live: broker fills the book did not hold yet
    candles: int

    def line(self) -> str:
        return (
            f"kill {self.number:2d} at {self.sim_at} during {self.during}: "
            f"{self.open_positions} positions open, {self.open_orders} orders "
            f"open, {self.in_flight_fills} fills in flight, {self.candles} candles"
        )


@dataclass
class TrialReport:
    config: TrialConfig
    kills: list[KillRecord] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    restarts_checked: int = 0
    restart_real_s: list[float] = field(default_factory=list)  # start to running
    orders: int = 0  # live: the broker's orders; paper: the fills stored
    fills: int = 0
    realised_pnl: float = 0.0
    crash_events: int = 0
    mismatches: int = 0
    unknown_outcomes: int = 0
    candle_gaps: dict[str, list[str]] = field(default_factory=dict)
    duration_real_s: float = 0.0

    def summary(self) -> str:
        during = Counter(kill.during for kill in self.kills)
        restart = sorted(self.restart_real_s) or [0.0]
        gaps = {token: len(minutes) for token, minutes in self.candle_gaps.items()}
        lines = [
            f"{self.config.mode}: {len(self.kills)} kills ({during['trading']} while "
            f"trading, {during['start-up']} during start-up) in "
            f"{self.duration_real_s:.1f} s; {self.restarts_checked} restarts checked",
            f"orders {self.orders}, fills {self.fills}, realised "
            f"{self.realised_pnl:,.2f}; at the kills: "
            f"{sum(k.open_orders for k in self.kills)} orders open, "
            f"{sum(k.in_flight_fills for k in self.kills)} fills in flight",
            f"crash_detected {self.crash_events}, reconcile mismatches "
            f"{self.mismatches}, unknown outcomes {self.unknown_outcomes}, "
            f"minutes missing {gaps or 'none'}",
            f"start to running: median {restart[len(restart) // 2]:.2f} s, "
            f"max {restart[-1]:.2f} s",
            *(kill.line() for kill in self.kills),
            *(f"PROBLEM: {problem}" for problem in self.problems),
        ]
        return "\n".join(lines)


def assert_clean(report: TrialReport, kills: int) -> None:
    """A trial with nothing lost or doubled, that traded between its kills."""
    print(report.summary())
    assert not report.problems, report.summary()
    assert len(report.kills) == kills
    assert report.restarts_checked >= 1
    assert report.orders > kills, report.summary()  # the bot traded between kills


def one_kill_while_trading(mode: TradingMode) -> TrialConfig:
    """One kill 5 s into trading and no tail: for the tampering tests, which
    check that the trial notices what was changed behind the bot's back."""
    return TrialConfig(
        mode=mode,
        kills=1,
        kill_after_real_s=(5.0, 5.5),
        aimed=0.0,
        startup=0.0,
        tail_real_s=0,
    )


AfterKill = Callable[[Path, "BrokerReader | None"], None]
"""Called with the store's path and the broker (live) after each kill's
reading: tests tamper with them there, to see the trial notice."""


def run_trial(
    config: TrialConfig, folder: Path, *, after_kill: AfterKill | None = None
) -> TrialReport:
    """Run the trial in ``folder`` (its store, logs and processes' files)."""
    clock = SimClock(config.start, config.speed, anchor=time.time())
    sim = SimProcess(folder, clock)
    reader = None
    try:
        if config.mode == "live":
            sim_clock = ScaledClock(clock.start, clock.speed, anchor=clock.anchor)
            reader = BrokerReader(sim.rest_url, folder, sim_clock)
        trial = _Trial(config, folder, sim, clock, reader)
        trial.after_kill = after_kill
        return trial.run()
    finally:
        if reader is not None:
            reader.close()
        sim.stop()


class _Trial:
    def __init__(
        self, config: TrialConfig, folder: Path, sim: SimProcess, clock: SimClock,
        reader: BrokerReader | None,
    ) -> None:  # fmt: skip
        self.config = config
        self.folder = folder
        self.sim = sim
        self.clock = clock
        self.reader = reader
        self.rng = random.Random(config.seed)
        self.report = TrialReport(config)
        self.bot: BotProcess | None = None
        self.after_kill: AfterKill | None = None

    def run(self) -> TrialReport:
        began = time.monotonic()
        try:
            last_kill = self._rounds()
            self._finish(last_kill)
        except TrialAborted as exc:
            self.report.problems.append(f"aborted: {exc}")
        finally:
            if self.bot is not None:
                self.bot.kill()
            hold_trading(self.folder, False)
            self.report.duration_real_s = time.monotonic() - began
        return self.report

    # The rounds.

    def _rounds(self) -> StoreView | None:
        """Start, kill, read, restart ...; the last kill's reading."""
        pending: StoreView | None = None  # the last kill's, not checked yet
        for number in range(1, self.config.kills + 1):
            bot = self._spawn()
            deadline = self._kill_moment(bot)
            during = "start-up"
            if self._await_ready(bot, deadline):
                if pending is not None:
                    self._check_restart(pending)
                hold_trading(self.folder, False)
                _sleep_until(deadline)
                during = "trading"
            bot.kill()
            pending = self._after_kill(number, during, pending)
        return pending

    def _kill_moment(self, bot: BotProcess) -> float:
        """When to kill ``bot`` (monotonic): a random moment after its start,
        or, for an aimed kill, the orders after the next candle close."""
        config = self.config
        if self.rng.random() < config.startup:
            return bot.started_mono + self.rng.uniform(*config.startup_real_s)
        moment = bot.started_mono + self.rng.uniform(*config.kill_after_real_s)
        if self.rng.random() >= config.aimed:
            return moment
        sim_s = self.clock.sim_time(moment - time.monotonic() + time.time())
        minute_s = (sim_s // 60 + 1) * 60 + self.rng.uniform(*config.aim_sim_s)
        return moment + (minute_s - sim_s) / config.speed

    def _spawn(self) -> BotProcess:
        hold_trading(self.folder, True)
        self.bot = BotProcess(
            self.folder, self.config.mode, self.sim, list(self.config.symbols),
            self.clock,
        )  # fmt: skip
        return self.bot

    def _await_ready(self, bot: BotProcess, deadline_mono: float) -> bool:
        """True once the bot runs; False at ``deadline_mono`` if it does not yet."""
        while time.monotonic() < deadline_mono:
            ready = bot.poll_ready()
            if ready is not None:
                if ready["phase"] != "running":
                    raise TrialAborted(f"the bot did not start: {ready['error']}")
                self.report.restart_real_s.append(time.monotonic() - bot.started_mono)
                return True
            if not bot.alive():
                raise TrialAborted(f"the bot ended by itself ({bot.proc.returncode})")
            time.sleep(POLL_REAL_S)
        return False

    def _after_kill(
        self, number: int, during: str, pending: StoreView | None
    ) -> StoreView:
        """Read what the kill left; at a kill during start-up, paper positions
        must still be those of the kill before."""
        what = f"kill {number}"
        broker = self._broker()
        view = self._read(broker)
        in_flight = 0
        if broker is not None:
            problems, in_flight = checks.prefix_of_broker(view, broker)
            self._problems(what, problems)
            self._problems(what, checks.orders_distinct_and_known(broker, view))
        elif pending is not None and during == "start-up":
            self._problems(what, checks.positions_kept(pending, view))
        self.report.kills.append(
            KillRecord(
                number, during, self._sim_now(),
                sum(1 for p in view.positions.values() if p.quantity),
                len(view.unresolved), in_flight, view.candle_count,
            )
        )  # fmt: skip
        if self.after_kill is not None:
            self.after_kill(self.folder / STORE_NAME, self.reader)
        return view

    # A restart.

    def _check_restart(self, before: StoreView) -> None:
        """The restarted bot (running, held) against the last kill's reading."""
        what = f"restart after kill {len(self.report.kills)}"
        self._await_crash_event(what, before)
        broker = self._broker()
        after = self._read(broker, tags=[i.ordertag for i in before.unresolved])
        if broker is None:
            self._problems(what, checks.positions_kept(before, after))
        else:
            self._problems(what, checks.positions_as_broker(before, after, broker))
            self._problems(what, checks.orders_distinct_and_known(broker, after))
        self._problems(what, checks.positions_protected(after))
        self._problems(what, checks.orders_settled(before, after))
        self._problems(what, checks.candles_kept(before.candles, after.candles))
        self._count_mismatches(what, after)
        self.report.restarts_checked += 1

    def _await_crash_event(self, what: str, before: StoreView) -> None:
        """Wait until the new start's crash_detected is in the store."""
        wanted = len(before.of_kind(EventKind.CRASH_DETECTED)) + 1
        give_up = time.monotonic() + EVENT_WAIT_REAL_S
        while len(self._read(None).of_kind(EventKind.CRASH_DETECTED)) < wanted:
            if time.monotonic() > give_up:
                self._problems(what, ["no crash_detected event"])
                return
            time.sleep(0.05)

    def _count_mismatches(self, what: str, view: StoreView) -> None:
        mismatches = view.of_kind(EventKind.RECONCILE_MISMATCH)
        new = mismatches[self.report.mismatches :]
        self._problems(what, [f"reconcile mismatch: {event.text}" for event in new])
        self.report.mismatches = len(mismatches)

    # The end of the day.

    def _finish(self, last_kill: StoreView | None) -> None:
        """The last restart checked, trading, a clean stop, the day checked."""
        bot = self._spawn()
        deadline = bot.started_mono + self.config.ready_timeout_real_s
        if not self._await_ready(bot, deadline):
            raise TrialAborted("the last restart did not run in time")
        if last_kill is not None:
            self._check_restart(last_kill)
        hold_trading(self.folder, False)
        time.sleep(self.config.tail_real_s)
        code = bot.stop()
        self.bot = None
        if code != 0:
            self._problems("the clean stop", [f"the runner ended with {code}"])
        self._check_day()

    def _check_day(self) -> None:
        broker = self._broker()
        view = self._read(broker)
        fills = view.fills()
        what = "the end"
        if broker is None:
            self.report.orders = self.report.fills = len(fills)
        else:
            self._problems(what, checks.positions_as_broker(view, view, broker))
            self._problems(what, checks.orders_distinct_and_known(broker, view))
            self._problems(what, checks.broker_fills_on_plan(broker))
            if view.unresolved:
                self._problems(what, [f"{len(view.unresolved)} orders unresolved"])
            self.report.orders = len(broker.orders)
            self.report.fills = sum(
                len(replay_prefixes(orders)) - 1
                for orders in by_symbol(broker).values()
            )
        live = self.config.mode == "live"
        self._problems(what, checks.duplicate_fills(fills, live=live))
        self._count_mismatches(what, view)
        self.report.realised_pnl = sum(p.realised_pnl for p in view.positions.values())
        self.report.crash_events = len(view.of_kind(EventKind.CRASH_DETECTED))
        self.report.unknown_outcomes = len(view.of_kind(EventKind.ORDER_UNKNOWN))
        self.report.candle_gaps = checks.candle_gaps(view.candles)
        self._problems(
            what,
            [f"token {token}: minutes missing {minutes}"
             for token, minutes in self.report.candle_gaps.items()],
        )  # fmt: skip

    # Reading.

    def _broker(self) -> BrokerView | None:
        return None if self.reader is None else self.reader.read()

    def _read(
        self, broker: BrokerView | None, *, tags: Sequence[str] = ()
    ) -> StoreView:
        """The store, with the intents of ``tags`` and of the broker's orders."""
        wanted = [*tags, *(broker.tags() if broker else ())]
        return read_store(
            self.folder / STORE_NAME, self.config.mode,
            [TOKENS[s] for s in self.config.symbols], self.config.start, tags=wanted,
        )  # fmt: skip

    def _sim_now(self) -> str:
        now_s = self.clock.sim_time(time.time())
        return datetime.fromtimestamp(now_s, IST).strftime("%H:%M:%S")

    def _problems(self, what: str, problems: list[str]) -> None:
        self.report.problems.extend(f"{what}: {problem}" for problem in problems)


def _sleep_until(deadline_mono: float) -> None:
    left = deadline_mono - time.monotonic()
    if left > 0:
        time.sleep(left)
