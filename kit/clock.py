"""Time for the whole kit: a Clock interface, three clocks, and the NSE calendar.

Nothing in the kit calls ``time.time()``, ``time.sleep()`` or ``Event.wait()``
directly: it asks a Clock. That is what lets a test run a day of backoffs on a
:class:`ManualClock` without sleeping, and a drill run a whole trading day in a few
minutes on a :class:`ScaledClock` shared by the simulator and the bot.

- :class:`RealClock`: the machine's time.
- :class:`ScaledClock`: a simulated day running ``speed`` times faster than real
  time, starting at a chosen instant. Sleeps and waits are shortened by ``speed``.
- :class:`ManualClock`: time moves only when a test calls :meth:`ManualClock.advance`
  (or, with ``auto_advance=True``, when someone sleeps).

:class:`NseCalendar` knows the NSE cash market day in IST: pre-open 09:00-09:08,
the pre-open buffer 09:08-09:15, the session 09:15-15:30, post-close 15:30-16:00,
weekends, and exchange holidays from the ``holidays`` package's "XNSE" financial
calendar (a maintained, pure-Python source updated every year; special sessions
such as Muhurat trading are not modelled).
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from enum import StrEnum

import holidays

IST = timezone(timedelta(hours=5, minutes=30), "IST")
"""India Standard Time. India keeps no daylight saving, so a fixed offset is exact."""

# How often a blocked ManualClock.wait() looks at its event, in real seconds.
_MANUAL_POLL_S = 0.002


class Clock(ABC):
    """Wall time, monotonic time, sleeping and waiting, as one injectable object."""

    speed: float = 1.0
    """Simulated seconds per real second (1 for the real clock)."""

    @abstractmethod
    def time(self) -> float:
        """Wall time as seconds since the epoch."""

    @abstractmethod
    def monotonic(self) -> float:
        """Seconds on a clock that never goes back; only differences mean anything."""

    @abstractmethod
    def sleep(self, seconds: float) -> None:
        """Block the calling thread for ``seconds`` of this clock's time."""

    @abstractmethod
    def wait(self, event: threading.Event, timeout_s: float | None) -> bool:
        """Wait for ``event`` at most ``timeout_s`` of this clock's time.

        Returns True when the event is set, like ``Event.wait``.
        """

    @abstractmethod
    async def sleep_async(self, seconds: float) -> None:
        """Suspend the calling coroutine for ``seconds`` of this clock's time."""

    def now(self) -> datetime:
        """The current time as an aware datetime in IST."""
        return datetime.fromtimestamp(self.time(), IST)

    def time_ms(self) -> int:
        """Wall time in epoch milliseconds, the unit of exchange timestamps."""
        return int(self.time() * 1000)


class RealClock(Clock):
    """The machine's own time."""

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))

    def wait(self, event: threading.Event, timeout_s: float | None) -> bool:
        return event.wait(timeout_s)

    async def sleep_async(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class ScaledClock(Clock):
    """A simulated day running ``speed`` times faster than real time.

    The clock reads ``start`` at the real instant ``anchor`` (epoch seconds, now by
    default) and then runs ``speed`` times as fast. Two processes given the same
    ``start``, ``speed`` and ``anchor`` read the same time, which is how a
    standalone simulator and a bot share one simulated day.
    """

    def __init__(
        self, start: datetime, speed: float, *, anchor: float | None = None
    ) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be positive, got {speed}")
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware (use kit.clock.IST)")
        self.speed = float(speed)
        self.start = start
        self.anchor = time.time() if anchor is None else anchor
        self._start_epoch = start.timestamp()
        # Elapsed real time is measured on the monotonic clock from creation on.
        self._mono0 = time.monotonic() - (time.time() - self.anchor)

    def _elapsed_s(self) -> float:
        return (time.monotonic() - self._mono0) * self.speed

    def time(self) -> float:
        return self._start_epoch + self._elapsed_s()

    def monotonic(self) -> float:
        return self._elapsed_s()

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds) / self.speed)

    def wait(self, event: threading.Event, timeout_s: float | None) -> bool:
        return event.wait(None if timeout_s is None else timeout_s / self.speed)

    async def sleep_async(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.speed)


@dataclass
class _AsyncWaiter:
    deadline: float
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[None]


class ManualClock(Clock):
    """A clock for tests: time moves only when told to.

    With ``auto_advance=False`` (the default) a thread that sleeps blocks until
    another thread advances the clock past its deadline; :meth:`wait_for_sleepers`
    lets a test wait until the code under test is blocked before advancing. With
    ``auto_advance=True`` a sleep moves the clock itself, for single-threaded code.
    """

    def __init__(self, start: datetime | float, *, auto_advance: bool = False) -> None:
        self._now = start.timestamp() if isinstance(start, datetime) else float(start)
        self._mono = 0.0
        self.auto_advance = auto_advance
        self._cond = threading.Condition()
        self._sleepers = 0
        self._async_waiters: list[_AsyncWaiter] = []

    def time(self) -> float:
        with self._cond:
            return self._now

    def monotonic(self) -> float:
        with self._cond:
            return self._mono

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` and wake whoever is due."""
        if seconds < 0:
            raise ValueError("a ManualClock never goes back")
        with self._cond:
            self._now += seconds
            self._mono += seconds
            due = [w for w in self._async_waiters if w.deadline <= self._mono]
            self._async_waiters = [w for w in self._async_waiters if w not in due]
            self._cond.notify_all()
        for waiter in due:
            waiter.loop.call_soon_threadsafe(_resolve, waiter.future)

    def advance_to(self, when: datetime) -> None:
        """Move time forward to the instant ``when``."""
        self.advance(max(0.0, when.timestamp() - self.time()))

    @property
    def sleepers(self) -> int:
        """How many threads are blocked in sleep() or wait() right now."""
        with self._cond:
            return self._sleepers

    def wait_for_sleepers(self, count: int = 1, *, timeout_real_s: float = 5.0) -> None:
        """Block (in real time) until ``count`` threads are asleep on this clock."""
        deadline = time.monotonic() + timeout_real_s
        with self._cond:
            while self._sleepers < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"{self._sleepers} of {count} threads asleep after "
                        f"{timeout_real_s} s"
                    )
                self._cond.wait(min(left, 0.05))

    def sleep(self, seconds: float) -> None:
        if self.auto_advance:
            self.advance(max(0.0, seconds))
            return
        with self._cond:
            deadline = self._mono + max(0.0, seconds)
            self._sleepers += 1
            self._cond.notify_all()
            try:
                while self._mono < deadline:
                    self._cond.wait()
            finally:
                self._sleepers -= 1

    def wait(self, event: threading.Event, timeout_s: float | None) -> bool:
        if event.is_set():
            return True
        if self.auto_advance and timeout_s is not None:
            self.advance(max(0.0, timeout_s))
            return event.is_set()
        with self._cond:
            deadline = None if timeout_s is None else self._mono + max(0.0, timeout_s)
            self._sleepers += 1
            self._cond.notify_all()
            try:
                while not event.is_set():
                    if deadline is not None and self._mono >= deadline:
                        return False
                    # An Event cannot wake a Condition, so look at it often.
                    self._cond.wait(_MANUAL_POLL_S)
                return True
            finally:
                self._sleepers -= 1

    async def sleep_async(self, seconds: float) -> None:
        if self.auto_advance:
            self.advance(max(0.0, seconds))
            return
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._cond:
            deadline = self._mono + max(0.0, seconds)
            if deadline <= self._mono:
                return
            self._async_waiters.append(_AsyncWaiter(deadline, loop, future))
        await future


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


# The NSE calendar.


class MarketPhase(StrEnum):
    """Where the NSE cash market day stands at a given instant."""

    CLOSED = "closed"
    PRE_OPEN = "pre_open"  # 09:00-09:08 order entry
    PRE_OPEN_BUFFER = "pre_open_buffer"  # 09:08-09:15 matching and buffer
    OPEN = "open"  # 09:15-15:30 continuous trading
    POST_CLOSE = "post_close"  # 15:30-16:00


@dataclass(frozen=True)
class SessionTimes:
    """The times of an NSE cash market day, as minutes after midnight IST."""

    pre_open_min: int = 9 * 60
    pre_open_end_min: int = 9 * 60 + 8
    open_min: int = 9 * 60 + 15
    close_min: int = 15 * 60 + 30
    post_close_end_min: int = 16 * 60


@dataclass
class NseCalendar:
    """NSE trading days and session times, in IST.

    ``extra_holidays`` adds closures the holiday package does not know yet;
    ``extra_sessions`` opens days it marks closed (a special session).
    """

    times: SessionTimes = field(default_factory=SessionTimes)
    extra_holidays: Iterable[date] = ()
    extra_sessions: Iterable[date] = ()

    def __post_init__(self) -> None:
        self._extra_holidays = frozenset(self.extra_holidays)
        self._extra_sessions = frozenset(self.extra_sessions)

    def holiday_name(self, day: date) -> str | None:
        """The exchange holiday on ``day``, or None."""
        if day in self._extra_holidays:
            return "exchange holiday (settings)"
        name: str | None = _xnse_holidays(day.year).get(day)
        return name

    def is_trading_day(self, day: date) -> bool:
        if day in self._extra_sessions:
            return True
        return day.weekday() < 5 and self.holiday_name(day) is None

    def session_open(self, day: date) -> datetime:
        return _at_minute(day, self.times.open_min)

    def session_close(self, day: date) -> datetime:
        return _at_minute(day, self.times.close_min)

    def phase(self, when: datetime) -> MarketPhase:
        local = when.astimezone(IST)
        if not self.is_trading_day(local.date()):
            return MarketPhase.CLOSED
        minute = local.hour * 60 + local.minute + local.second / 60
        t = self.times
        if t.pre_open_min <= minute < t.pre_open_end_min:
            return MarketPhase.PRE_OPEN
        if t.pre_open_end_min <= minute < t.open_min:
            return MarketPhase.PRE_OPEN_BUFFER
        if t.open_min <= minute < t.close_min:
            return MarketPhase.OPEN
        if t.close_min <= minute < t.post_close_end_min:
            return MarketPhase.POST_CLOSE
        return MarketPhase.CLOSED

    def is_open(self, when: datetime) -> bool:
        """True during continuous trading, 09:15 to 15:30 on a trading day."""
        return self.phase(when) is MarketPhase.OPEN

    def next_trading_day(self, day: date) -> date:
        """The first trading day strictly after ``day``."""
        return next(self._trading_days(day, step=1))

    def previous_trading_day(self, day: date) -> date:
        """The last trading day strictly before ``day``."""
        return next(self._trading_days(day, step=-1))

    def next_open(self, when: datetime) -> datetime:
        """The first session open at or after ``when``."""
        day = when.astimezone(IST).date()
        if self.is_trading_day(day) and when <= self.session_open(day):
            return self.session_open(day)
        return self.session_open(self.next_trading_day(day))

    def last_close(self, when: datetime) -> datetime:
        """The last session close at or before ``when``."""
        day = when.astimezone(IST).date()
        if self.is_trading_day(day) and when >= self.session_close(day):
            return self.session_close(day)
        return self.session_close(self.previous_trading_day(day))

    def session_minutes(self, day: date) -> list[datetime]:
        """The start of every one-minute candle of the session on ``day``."""
        if not self.is_trading_day(day):
            return []
        first = self.session_open(day)
        count = self.times.close_min - self.times.open_min
        return [first + timedelta(minutes=i) for i in range(count)]

    def _trading_days(self, day: date, *, step: int) -> Iterator[date]:
        current = day
        for _ in range(3660):  # ten years either way is far beyond any real gap
            current += timedelta(days=step)
            if self.is_trading_day(current):
                yield current
        raise ValueError(f"no trading day within ten years of {day}")


def _at_minute(day: date, minute: int) -> datetime:
    return datetime(day.year, day.month, day.day, minute // 60, minute % 60, tzinfo=IST)


@functools.lru_cache(maxsize=32)
def _xnse_holidays(year: int) -> dict[date, str]:
    return dict(holidays.financial_holidays("XNSE", years=year).items())
