"""The candle book of one symbol: closed candles, their provenance, gaps, repair.

A :class:`CandleBook` joins a :class:`~kit.market.candles.CandleBuilder` (which
accumulates ticks) and a :class:`~kit.market.candles.ClosePolicy` (which says
when a minute is final), keeps the last ``max_candles`` closed candles, and
takes the broker's candles in:

- a broker candle of a final minute replaces whatever the book holds for it
  (ticks, mixed, or an older broker candle), and each replacement is reported
  as a :class:`CandleRevision` with the old and the new candle;
- a broker candle of a minute not final yet (the broker's partial last minute)
  waits, unseen by readers, until the policy closes that minute. If ticks built
  the minute too, the two are joined: provenance ``mixed``, open from the
  broker, high and low over both, close from the ticks, volume the larger;
- the book holds final minutes only, and trusts the broker's candles of final
  minutes to be complete.

Thread model: not locked. The engine thread is the only writer and the only
reader; other threads (health, UI) see what the engine publishes, for instance
a :meth:`CandleBook.frame` built on the engine thread.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd

from kit.clock import IST, NseCalendar
from kit.market.candles import (
    MINUTE_MS,
    Candle,
    CandleBuilder,
    ClosePolicy,
    PriceTick,
    Provenance,
    TickCounts,
    VolumeBasis,
    from_ms,
    to_ms,
)

log = logging.getLogger(__name__)

FRAME_COLUMNS = ["open", "high", "low", "close", "volume", "provenance"]
_FRAME_DTYPES = {
    "open": "float64",
    "high": "float64",
    "low": "float64",
    "close": "float64",
    "volume": "int64",
    "provenance": "str",
}

BrokerCandles = pd.DataFrame | Iterable[Sequence[Any]]
"""getCandleData rows ``[start, open, high, low, close, volume]`` (start an ISO
string with its offset, or an aware datetime), or a frame like ``candles_frame``."""


@dataclass(frozen=True)
class CandleRevision:
    """A held candle replaced by the broker's candle of the same minute."""

    start: datetime
    old: Candle
    new: Candle

    @property
    def changed(self) -> bool:
        """True when the values moved, not only the provenance."""
        return not self.old.same_values(self.new)


class CandleBook:
    """The 1-minute candles of one symbol, bounded to the last ``max_candles``.

    Feed it every tick of its token with :meth:`on_tick`, call :meth:`close_due`
    with the clock now and then (so minutes close when ticks stop), and merge the
    broker's history with :meth:`merge_broker`. Not locked (see the module).
    """

    def __init__(
        self,
        token: str,
        *,
        symbol: str = "",
        policy: ClosePolicy | None = None,
        calendar: NseCalendar | None = None,
        max_candles: int = 2000,
    ) -> None:
        if max_candles < 1:
            raise ValueError(f"max_candles must be at least 1, got {max_candles}")
        self.token = token
        self.symbol = symbol or token
        self.policy = policy or ClosePolicy()
        self.calendar = calendar or NseCalendar()
        self.max_candles = max_candles
        self.builder = CandleBuilder(token, calendar=self.calendar)
        self.evicted = 0  # candles dropped, oldest first, to stay within the bound
        self.revised = 0  # held candles replaced by the broker's
        self._candles: dict[int, Candle] = {}
        self._starts: list[int] = []  # the keys of _candles, sorted
        self._pending: dict[int, Candle] = {}  # broker candles of open minutes
        self._next_close_ms = 0  # on_tick skips close_due() below this exchange time

    # Ticks and closing.

    def on_tick(self, tick: PriceTick) -> list[Candle]:
        """Apply one tick; the candles this closed (usually none), oldest first."""
        self.builder.add(tick)
        latest = self.builder.latest_exchange_ms
        if latest is None or latest < self._next_close_ms:
            return []  # this token's exchange clock cannot have closed a minute yet
        closed = self.close_due()
        # No minute can close before the next boundary plus the grace.
        boundary = self.builder.closed_before_ms
        self._next_close_ms = boundary + MINUTE_MS + self.policy.grace_ms
        return closed

    def close_due(
        self, *, now_ms: int | None = None, exchange_ms: int | None = None
    ) -> list[Candle]:
        """Close the minutes the policy says are final; the closed candles.

        The exchange time used is the latest of this token's ticks and
        ``exchange_ms`` (the latest over all tokens, if the caller knows it);
        ``now_ms`` is the local clock.
        """
        boundary = self._final_before(now_ms=now_ms, exchange_ms=exchange_ms)
        closed = [self._settle(c) for c in self.builder.close_before(boundary)]

        # Broker candles of minutes that closed without a tick become final too.
        final_ms = self.builder.closed_before_ms
        for start in sorted(s for s in self._pending if s < final_ms):
            candle = self._pending.pop(start)
            self._store(candle)
            closed.append(candle)
        closed.sort(key=lambda c: c.start_ms)
        return closed

    def _final_before(self, *, now_ms: int | None, exchange_ms: int | None) -> int:
        latest = self.builder.latest_exchange_ms
        if exchange_ms is not None:
            latest = exchange_ms if latest is None else max(latest, exchange_ms)
        return self.policy.final_before_ms(exchange_ms=latest, now_ms=now_ms)

    def _settle(self, built: Candle) -> Candle:
        start = built.start_ms
        broker = self._pending.pop(start, None) or self._candles.get(start)
        candle = built if broker is None else _extend(broker, built)
        self._store(candle)
        return candle

    # The broker's candles.

    def merge_broker(self, candles: BrokerCandles) -> list[CandleRevision]:
        """Merge the broker's 1-minute candles; the held candles they replaced.

        Minutes the builder has closed are final: their broker candles replace
        what is held. Later minutes (the broker's partial last one) wait until
        they close. A book that has closed nothing yet knows no time and takes
        every minute as final, so call :meth:`close_due` with the clock first.
        A replacement is reported even when only the provenance changes (see
        :attr:`CandleRevision.changed`); re-merging an identical candle is not.
        """
        final_ms = self.builder.closed_before_ms
        open_starts = set(self.builder.open_starts_ms())
        revisions: list[CandleRevision] = []
        merged = 0
        for candle in broker_candles(candles):
            merged += 1
            start = candle.start_ms
            if start in open_starts or (final_ms and start >= final_ms):
                self._pending[start] = candle
                continue
            old = self._candles.get(start)
            self._store(candle)
            if old is not None and old != candle:
                revisions.append(CandleRevision(candle.start, old, candle))

        self.revised += len(revisions)
        if revisions:
            changed = sum(r.changed for r in revisions)
            log.info(
                "merge_broker %s: %d candles, %d replaced (%d with new values)",
                self.symbol, merged, len(revisions), changed,
            )  # fmt: skip
        return revisions

    def restore(self, candles: Iterable[Candle]) -> int:
        """Take back closed candles kept before a restart (any provenance);
        minutes the book already holds keep their candle. The count taken."""
        taken = 0
        for candle in candles:
            if candle.start_ms not in self._candles:
                self._store(candle)
                taken += 1
        return taken

    # Storage.

    def _store(self, candle: Candle) -> None:
        start = candle.start_ms
        if start not in self._candles:
            if not self._starts or start > self._starts[-1]:
                self._starts.append(start)
            else:
                bisect.insort(self._starts, start)
        self._candles[start] = candle

        excess = len(self._starts) - self.max_candles
        if excess > 0:
            for old in self._starts[:excess]:
                del self._candles[old]
            del self._starts[:excess]
            self.evicted += excess

    # Reading.

    def __len__(self) -> int:
        return len(self._starts)

    def __iter__(self) -> Iterator[Candle]:
        return (self._candles[s] for s in self._starts)

    def get(self, start: datetime) -> Candle | None:
        """The closed candle of the minute starting at ``start``, if held."""
        return self._candles.get(to_ms(start))

    def last(self) -> Candle | None:
        """The newest closed candle, if any."""
        return self._candles[self._starts[-1]] if self._starts else None

    @property
    def counts(self) -> TickCounts:
        """A copy of the builder's tick counters."""
        return replace(self.builder.counts)

    def open_candles(self) -> list[Candle]:
        """The minutes not final yet, as they stand now, oldest first: open
        tick candles (joined with the broker's as mixed) and waiting broker
        candles."""
        previews = {c.start_ms: c for c in self._pending.values()}
        for built in self.builder.open_candles():
            broker = previews.get(built.start_ms)
            previews[built.start_ms] = (
                built if broker is None else _extend(broker, built)
            )
        return [previews[s] for s in sorted(previews)]

    def frame(self, *, include_open: bool = False) -> pd.DataFrame:
        """The closed candles (and the open ones if asked) as a DataFrame.

        Indexed by ``start`` (aware IST), columns open, high, low, close,
        volume (int64) and provenance, like the broker client's candle frames.
        """
        candles = list(self)
        if include_open:
            current = self.open_candles()
            starts = {c.start_ms for c in current}
            candles = [c for c in candles if c.start_ms not in starts] + current
            candles.sort(key=lambda c: c.start_ms)
        return candles_to_frame(candles)

    # Gaps.

    def gaps(
        self, start: datetime | None = None, end: datetime | None = None
    ) -> list[datetime]:
        """Session minutes in ``[start, end)`` for which nothing is held.

        ``start`` defaults to the first candle held and ``end`` to just after the
        last one. Minutes not final yet (open ticks, a waiting broker candle)
        are not missing. Only
        minutes of the session (the calendar's ``session_minutes``) can be
        missing: nights, weekends and holidays never are.
        """
        if (start is None or end is None) and not self._starts:
            return []
        start_ms = self._starts[0] if start is None else to_ms(start)
        end_ms = self._starts[-1] + MINUTE_MS if end is None else to_ms(end)
        present = set(self._candles).union(self._pending, self.builder.open_starts_ms())

        missing: list[datetime] = []
        for day in _days(start_ms, end_ms):
            for minute in self.calendar.session_minutes(day):
                minute_ms = to_ms(minute)
                if start_ms <= minute_ms < end_ms and minute_ms not in present:
                    missing.append(minute)
        return missing


def _extend(held: Candle, built: Candle) -> Candle:
    """A held broker candle of a minute extended by that minute's ticks."""
    exact = built.volume_basis is VolumeBasis.EXACT
    return Candle(
        start=held.start,
        open=held.open,
        high=max(held.high, built.high),
        low=min(held.low, built.low),
        close=built.close,
        volume=max(held.volume, built.volume),
        provenance=Provenance.MIXED,
        volume_basis=VolumeBasis.EXACT if exact else VolumeBasis.PARTIAL,
        ticks=held.ticks + built.ticks,
    )


def _days(start_ms: int, end_ms: int) -> Iterator[date]:
    if end_ms <= start_ms:
        return
    day = from_ms(start_ms).date()
    last = from_ms(end_ms - 1).date()
    while day <= last:
        yield day
        day += timedelta(days=1)


def broker_candles(candles: BrokerCandles) -> list[Candle]:
    """The broker's 1-minute candles as :class:`Candle` rows, provenance broker."""
    if isinstance(candles, pd.DataFrame):
        columns = [candles[name].tolist() for name in FRAME_COLUMNS[:5]]
        rows: Iterable[Sequence[Any]] = zip(candles.index, *columns, strict=True)
    else:
        rows = candles
    return [_broker_candle(row) for row in rows]


def _broker_candle(row: Sequence[Any]) -> Candle:
    start, open_, high, low, close, volume = row
    when = _as_ist(start)
    if when.second or when.microsecond:
        raise ValueError(f"a 1-minute candle must start on a minute, not {start}")
    return Candle(
        start=when,
        open=float(open_),
        high=float(high),
        low=float(low),
        close=float(close),
        volume=int(volume),
        provenance=Provenance.BROKER,
        volume_basis=VolumeBasis.EXACT,
    )


def _as_ist(value: object) -> datetime:
    if isinstance(value, pd.Timestamp):
        when = value.to_pydatetime()
    elif isinstance(value, datetime):
        when = value
    elif isinstance(value, str):
        when = datetime.fromisoformat(value)
    else:
        raise TypeError(f"a candle start must be a time, not {value!r}")
    if when.tzinfo is None:
        raise ValueError(f"a candle start needs its offset: {value!r}")
    return when.astimezone(IST)


def candles_to_frame(candles: Sequence[Candle]) -> pd.DataFrame:
    """Candles as a DataFrame indexed by ``start`` (aware IST)."""
    index = pd.DatetimeIndex([c.start for c in candles], tz=IST, name="start")
    data = {
        "open": [c.open for c in candles],
        "high": [c.high for c in candles],
        "low": [c.low for c in candles],
        "close": [c.close for c in candles],
        "volume": [c.volume for c in candles],
        "provenance": [c.provenance.value for c in candles],
    }
    return pd.DataFrame(data, index=index, columns=FRAME_COLUMNS).astype(_FRAME_DTYPES)
