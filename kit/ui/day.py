"""A notebook's trading day: the bot started against the configured broker or
the built-in simulator, and what is left to show when it ends.

::

    day = start_day(mode="paper", symbols=["SBIN-EQ", "INFY-EQ"], speed=60)
    day.bot.wait_ready()
    ...                                   # the live view while it trades
    day.finish()                          # the bot stopped, then the simulator
    print(day.tables())                   # the day's recovery tables
    print(day.candle_check())             # on the simulator: held vs true candles

With ``broker = "simulator"`` (the default) the simulator runs in process on a
scaled clock from ``start`` (a time of day, IST) of ``day`` (default: the
last trading day), with a fault plan between ``start`` and ``until`` (default:
the close): ``"scripted"`` (drawn from ``seed``, the same on every run: what
the committed notebooks show), ``"random"`` (a fresh seed) or ``"none"``.
Against Angel One the settings file (or the environment) gives the
credentials; nothing here takes or prints a secret.
"""

from __future__ import annotations

import contextlib
import logging
import random
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from kit.bot import FILL_KINDS, Bot
from kit.bot_parts import INSTRUMENTS_STATE
from kit.clock import IST, Clock, NseCalendar, RealClock
from kit.config import Settings, load_settings
from kit.demo import demo_day
from kit.demo_chaos import (
    Comparison,
    DemoPlan,
    compare,
    demo_plan,
    failed_attempts,
    render_comparison,
)
from kit.errors import ConfigurationError
from kit.market.candle_book import candles_to_frame
from kit.ops.events import ActivityEvent
from kit.ops.metrics import Metrics, metrics_for_day
from kit.sim.runner import SimConfig, Simulator
from kit.store import open_store
from kit.store.base import HealthRecord, Store
from kit.trading.strategy import Strategy

CHAOS_CHOICES = ("scripted", "random", "none")
SCRIPTED_SEED = 11
STORE_NAME = "kit.sqlite3"
LOG_NAME = "kit.log"


@dataclass
class TradingDay:
    """The bot of a notebook, its simulator (if any) and where it keeps things."""

    bot: Bot
    settings: Settings
    clock: Clock
    day: date
    simulator: Simulator | None = None
    chaos: DemoPlan | None = None
    folder: Path | None = None
    _tmp: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)
    _by_symbol: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def chaos_lines(self) -> list[str]:
        """The faults the simulator will inject, one line each."""
        return [] if self.chaos is None else list(self.chaos.lines)

    def finish(self) -> bool:
        """Stop the bot, then the simulator; True when every thread ended."""
        with contextlib.suppress(Exception):  # the record's symbols, if readable
            self._symbols()
        clean = self.bot.stop()
        if self.simulator is not None:
            self.simulator.stop()
        return clean

    def metrics(self) -> Metrics:
        """The day's uptime and recovery metrics, computed from the store."""
        with self._store() as store:
            return self._metrics(store)

    def _metrics(self, store: Store) -> Metrics:
        return metrics_for_day(
            store, self.day, as_of=self.clock.now(),
            calendar=NseCalendar(extra_holidays=self.settings.extra_holidays),
        )  # fmt: skip

    def tables(self) -> str:
        """The recovery tables of ``kit report`` for the day."""
        return self.metrics().render_tables()

    def comparison(self) -> list[Comparison]:
        """On the simulator: a row per kind of injected fault, with what the
        kit measured of it (empty without a simulator)."""
        if self.simulator is None:
            return []
        with self._store() as store:
            metrics = self._metrics(store)
            failures = failed_attempts(store, self.clock.now())
        return compare(self.simulator.chaos.log, metrics, failures)

    def injected_vs_measured(self) -> str:
        """On the simulator: each injected fault beside what the kit measured."""
        if self.simulator is None:
            return "No simulator: nothing was injected."
        return render_comparison(self.comparison())

    def missed_faults(self) -> str:
        """One line naming the kinds of injected fault the kit measured fewer
        of than were injected ("none" when it saw them all). More measured
        than injected is not a miss: on a loaded machine at a drill's speed a
        short real stall is a long simulated one, and the kit rightly sees it."""
        rows = self.comparison()
        if not rows:
            return "No simulator: nothing was injected."
        missed = [row.fault for row in rows if row.measured < row.injected]
        return "Injected faults the kit missed: " + (", ".join(missed) or "none")

    def candle_check(self) -> str:
        """On the simulator: whether every closed candle the bot holds today
        equals the simulator's true candle (open, high, low, close), and how
        many session minutes are missing between the first and the last."""
        if self.simulator is None:
            return "No simulator: no ground truth to compare with."
        with self._store() as store:
            tokens = sorted(self._symbols().values())
            return _candle_check(store, self.simulator, tokens, self.day)

    def health(self) -> list[HealthRecord]:
        """The day's health snapshots from the store (one a minute), oldest first."""
        since, until = self._day_span()
        with self._store() as store:
            return store.health(since=since, until=until)

    def candles(self, symbol: str) -> pd.DataFrame:
        """``symbol``'s closed candles of the day as the store keeps them
        (readable after :meth:`finish`; ``Bot.candles`` is the live book)."""
        token = self._symbols().get(symbol)
        if token is None:
            return candles_to_frame([])
        since, until = self._day_span()
        with self._store() as store:
            held = [
                c for c in store.load_candles(token, since=since) if c.start < until
            ]
        return candles_to_frame(held)

    def trades(self, symbol: str | None = None) -> list[ActivityEvent]:
        """The day's fills (of ``symbol``, or of all) from the store, oldest first."""
        since, until = self._day_span()
        with self._store() as store:
            found = store.events(since=since, until=until, kinds=FILL_KINDS)
        return [
            e
            for e in found
            if "price" in e.fields and symbol in (None, e.fields.get("symbol"))
        ]

    def true_candles(self, symbol: str) -> pd.DataFrame | None:
        """On the simulator: ``symbol``'s true candles of the day up to now."""
        token = self._symbols().get(symbol)
        if self.simulator is None or token is None:
            return None
        since, _ = self._day_span()
        now = self.clock.now().astimezone(IST).replace(second=0, microsecond=0)
        truth = self.simulator.market.candles(token, since, now)
        frame = pd.DataFrame(
            [(c.open, c.high, c.low, c.close, c.volume) for c in truth],
            columns=["open", "high", "low", "close", "volume"],
            index=pd.DatetimeIndex([c.start for c in truth], name="start"),
        )
        return frame.tz_convert(IST) if len(frame) else frame

    @contextlib.contextmanager
    def _store(self) -> Iterator[Store]:
        """The day's store, opened for one reading (the bot has its own)."""
        store = open_store(self.settings, self.clock)
        try:
            yield store
        finally:
            store.close()

    def _symbols(self) -> dict[str, str]:
        """The bot's symbols and their tokens: from the running bot, else as
        the store kept them last (the bot may have been stopped elsewhere)."""
        if not self._by_symbol:
            self._by_symbol = self.bot.symbols() or self._stored_symbols()
        return self._by_symbol

    def _stored_symbols(self) -> dict[str, str]:
        with self._store() as store:
            state = store.load_state(INSTRUMENTS_STATE) or {}
        return {str(k): str(v) for k, v in dict(state.get("tokens", {})).items()}

    def _day_span(self) -> tuple[datetime, datetime]:
        since = datetime.combine(self.day, time(0), tzinfo=IST)
        return since, since + timedelta(days=1)

    def cleanup(self) -> None:
        """Remove the temporary folder (when the day made one)."""
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def start_day(
    *,
    mode: str = "paper",
    symbols: list[str] | tuple[str, ...] | None = None,
    settings_file: str | None = None,
    speed: float = 60.0,
    start: time | str = time(9, 10),
    until: time | str | None = None,
    day: date | str | None = None,
    chaos: str = "scripted",
    seed: int = SCRIPTED_SEED,
    store_dir: str | Path | None = None,
    strategy: Strategy | None = None,
    live_confirmed: bool = False,
    **overrides: Any,
) -> TradingDay:
    """Start the bot of this notebook (see the module). ``store_dir`` None
    keeps the store in a temporary folder, removed by ``cleanup()``."""
    if chaos not in CHAOS_CHOICES:
        raise ConfigurationError(
            f"chaos must be one of {', '.join(CHAOS_CHOICES)}", field="chaos"
        )
    values = dict(overrides, mode=mode, live_confirmed=live_confirmed)
    if symbols:
        values["symbols"] = tuple(symbols)
    tmp = None
    if store_dir is None and "store_path" not in values:
        tmp = tempfile.TemporaryDirectory(prefix="kit-notebook-")
        store_dir = tmp.name
    if store_dir is not None:
        folder = Path(store_dir).resolve()
        folder.mkdir(parents=True, exist_ok=True)
        values.update(
            store_path=folder / STORE_NAME, heartbeat_path=folder / "heartbeat"
        )
    settings = load_settings(settings_file, **values)
    folder = settings.store_path.parent
    log_to_file(folder / LOG_NAME, settings.log_level)

    if settings.broker != "simulator":
        bot = Bot.start(settings, strategy=strategy)
        today = datetime.now(IST).date()
        return TradingDay(bot, settings, RealClock(), today, folder=folder, _tmp=tmp)

    calendar = NseCalendar(extra_holidays=settings.extra_holidays)
    session_day = _session_day(day, calendar)
    begin = datetime.combine(session_day, _time_of_day(start), tzinfo=IST)
    plan = None
    if chaos != "none":
        drawn = seed if chaos == "scripted" else random.randrange(10_000)
        close = calendar.session_close(session_day).astimezone(IST)
        end = (
            close
            if until in (None, "")
            else datetime.combine(session_day, _time_of_day(until), tzinfo=IST)
        )
        plan = demo_plan(drawn, begin, min(end, close), calendar)
    config = SimConfig(
        seed=settings.sim_seed, speed=speed, start=begin, rate_limits=False
    )
    sim = Simulator(config, plan=None if plan is None else plan.plan)
    sim.start()
    settings = settings.model_copy(update={"sim_speed": speed})
    try:
        bot = Bot.start(settings, strategy=strategy, simulator=sim)
    except BaseException:
        sim.stop()
        raise
    return TradingDay(
        bot, settings, sim.clock, session_day, simulator=sim, chaos=plan,
        folder=folder, _tmp=tmp,
    )  # fmt: skip


def log_to_file(path: Path, level: str = "INFO") -> Path:
    """Send the kit's log records at ``level`` to ``path``, leaving only errors
    for the running cell's output: a day of warnings printed in a notebook
    would grow the saved file without bound (the console notifications, a line
    per warning with flood control, still show). A notebook's earlier file is
    replaced, so re-running a cell does not log twice."""
    kit_logger = logging.getLogger("kit")
    for handler in list(kit_logger.handlers):
        if getattr(handler, "kit_notebook", False):
            kit_logger.removeHandler(handler)
            handler.close()
    path.parent.mkdir(parents=True, exist_ok=True)
    to_file = logging.FileHandler(path, encoding="utf-8")
    to_file.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    errors = logging.StreamHandler(sys.stderr)
    errors.setLevel(logging.ERROR)
    for handler in (to_file, errors):
        setattr(handler, "kit_notebook", True)  # noqa: B010 -- a mark, not an API
        kit_logger.addHandler(handler)
    kit_logger.setLevel(level)
    return path


def until_time(value: str | time | None, clock: Clock) -> datetime | None:
    """A notebook's ``until`` parameter ("HH:MM", a time or None) as the next
    such moment on ``clock``, IST."""
    if value is None or value == "":
        return None
    at = _time_of_day(value)
    now = clock.now().astimezone(IST)
    end = datetime.combine(now.date(), at, tzinfo=IST)
    return end if end > now else end + timedelta(days=1)


def _session_day(day: date | str | None, calendar: NseCalendar) -> date:
    if day is None or day == "":
        return demo_day(datetime.now(IST).date(), calendar)
    return trading_day(day, calendar, field="day")


def trading_day(value: date | str, calendar: NseCalendar, *, field: str) -> date:
    """A notebook parameter's day (a date or "YYYY-MM-DD"), which must be an
    NSE trading day; anything else is a ConfigurationError naming ``field``."""
    try:
        found = date.fromisoformat(value) if isinstance(value, str) else value
    except ValueError:
        raise ConfigurationError(
            f"{value!r} is not a date (YYYY-MM-DD)", field=field
        ) from None
    if not calendar.is_trading_day(found):
        raise ConfigurationError(f"{found} is not an NSE trading day", field=field)
    return found


def _time_of_day(value: time | str) -> time:
    if isinstance(value, time):
        return value
    try:
        return time.fromisoformat(value)
    except ValueError:
        raise ConfigurationError(
            f"{value!r} is not a time of day (HH:MM)", field="until"
        ) from None


def _candle_check(store: Any, sim: Simulator, tokens: list[str], day: date) -> str:
    """See :meth:`TradingDay.candle_check`."""
    midnight = datetime.combine(day, time(0), tzinfo=IST)
    now_minute = sim.clock.now().astimezone(IST).replace(second=0, microsecond=0)
    compared = wrong = missing = 0
    calendar = NseCalendar()
    for token in tokens:
        held = [
            c for c in store.load_candles(token, since=midnight) if c.start < now_minute
        ]
        if not held:
            continue
        first, last = held[0].start, held[-1].start
        truth = {
            c.start: c
            for c in sim.market.candles(token, first, last + timedelta(minutes=1))
        }
        for candle in held:
            true = truth.get(candle.start)
            compared += 1
            if true is None or (candle.open, candle.high, candle.low, candle.close) != (
                true.open,
                true.high,
                true.low,
                true.close,
            ):
                wrong += 1
        starts = {c.start for c in held}
        session = [m for m in calendar.session_minutes(day) if first <= m <= last]
        missing += sum(1 for m in session if m not in starts)
    verdict = "yes" if compared and not wrong and not missing else "NO"
    return (
        f"Symbols compared with the simulator's true candles: {len(tokens)}\n"
        f"Closed candles that differ from the truth: {wrong}\n"
        f"Session minutes missing: {missing}\n"
        f"Every closed candle equals the truth: {verdict}"
    )
