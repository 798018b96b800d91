"""One-minute candles from ticks: the builder, and the policy that closes a minute.

The builder only accumulates; :class:`ClosePolicy` alone says when a minute is
final; :class:`~kit.market.candle_book.CandleBook` joins the two and keeps the
closed candles. A tick belongs to the IST minute of its ``exchange_ts_ms``,
never to the minute it arrived in, and ticks are ordered by their *key*,
``(exchange_ts_ms, sequence)``.

Update rules, applied in this order to every tick of the builder's token:

1. Outside the session (not in a session minute of a trading day by the
   calendar): dropped and counted as ``outside``. A price not above zero:
   dropped and counted as ``invalid``.
2. Duplicate (the same sequence number and exchange time as a tick already
   applied to an open candle, or as the latest tick applied): ignored and
   counted as ``duplicates``.
3. Stale (a tick for a minute already closed): dropped and counted as
   ``stale``. A closed candle may have been acted on; it never changes again
   because of a tick.
4. New period (a tick for a minute with no open candle): appends a new candle
   whose open, high, low and close are the tick's price.
5. Same period (a tick for an open candle): updates that candle. The high and
   low widen to the price; the close moves to the tick if its key is the latest
   of the minute, the open if its key is the earliest. A tick older than the
   latest one applied is still applied this way while its minute is open
   (counted as ``late``): arrival order never shapes a candle, exchange time
   does. Once its minute has closed such a tick is stale (rule 3).

Volume. QUOTE and SNAP_QUOTE ticks carry the day's cumulative volume. A candle's
volume is the cumulative volume at its last tick minus the cumulative volume at
the last tick of the previous minute, or minus 0 for the session's first minute:
:attr:`VolumeBasis.EXACT`. When the previous minute has no tick-built candle
(the first tick seen is mid-session, or the feed was away) only what traded
after the minute's first seen tick is known: that lower bound is the volume,
marked :attr:`VolumeBasis.PARTIAL`. LTP ticks carry no volume at all: the
volume is 0, marked :attr:`VolumeBasis.NONE`; the number of ticks is kept apart
in :attr:`Candle.ticks` and never passed off as volume.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum

from kit.broker.wire import LtpTick, QuoteTick, SnapQuoteTick
from kit.clock import IST, NseCalendar

MINUTE_MS = 60_000
_DAY_MS = 86_400_000
_IST_OFFSET_MS = 19_800_000  # 05:30, a whole number of minutes
_EPOCH_DAY = date(1970, 1, 1)
_SESSIONS_CACHED = 32
_INF = math.inf

PriceTick = LtpTick | QuoteTick | SnapQuoteTick
"""The ticks that carry a traded price (DEPTH ticks do not)."""

_Key = tuple[int, int]  # (exchange_ts_ms, sequence)


class Provenance(StrEnum):
    """Where a candle's values came from."""

    BROKER = "broker"  # the broker's history (getCandleData)
    TICKS = "ticks"  # built here from ticks
    MIXED = "mixed"  # a broker candle of a minute extended by that minute's ticks


class VolumeBasis(StrEnum):
    """How far a candle's volume can be trusted."""

    EXACT = "exact"  # the minute's whole volume
    PARTIAL = "partial"  # a lower bound: part of the minute was not seen
    NONE = "none"  # LTP ticks only: no volume known, the volume is 0


class TickOutcome(StrEnum):
    """What the builder did with one tick (see the update rules above)."""

    NEW = "new"
    UPDATED = "updated"
    DUPLICATE = "duplicate"
    STALE = "stale"
    OUTSIDE = "outside"
    INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class Candle:
    """One 1-minute candle; ``start`` is the minute's first instant, in IST.

    ``ticks`` is how many distinct ticks built it (0 for a broker candle).
    """

    start: datetime
    open: float
    high: float
    low: float
    close: float
    volume: int
    provenance: Provenance
    volume_basis: VolumeBasis = VolumeBasis.EXACT
    ticks: int = 0

    @property
    def start_ms(self) -> int:
        """The minute's start in epoch milliseconds."""
        return to_ms(self.start)

    def same_values(self, other: Candle) -> bool:
        """True when open, high, low, close and volume are all equal."""
        mine = (self.open, self.high, self.low, self.close, self.volume)
        return mine == (other.open, other.high, other.low, other.close, other.volume)


@dataclass
class TickCounts:
    """What happened to the ticks given to a builder, one counter per outcome.

    ``late`` counts the ticks applied out of order (a subset of ``updated`` and
    ``new``); the others partition every tick.
    """

    new: int = 0
    updated: int = 0
    late: int = 0
    duplicates: int = 0
    stale: int = 0
    outside: int = 0
    invalid: int = 0

    @property
    def applied(self) -> int:
        return self.new + self.updated

    @property
    def dropped(self) -> int:
        return self.duplicates + self.stale + self.outside + self.invalid


@dataclass(frozen=True)
class ClosePolicy:
    """When a minute is final: at its end on the exchange clock, plus a grace.

    A minute ``[t, t + 60 s)`` is final once the latest exchange time seen
    reaches ``t + 60 s + grace_s`` (ticks up to ``grace_s`` late still count),
    or once the local clock reaches ``t + 60 s + clock_grace_s`` (so a minute
    closes even when no tick comes; this grace also absorbs clock skew and
    feed latency). Both graces are in seconds, from 0 up to (not including) 60.
    """

    grace_s: float = 2.0
    clock_grace_s: float = 5.0
    _grace_ms: int = field(default=0, init=False, repr=False, compare=False)
    _clock_grace_ms: int = field(default=0, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("grace_s", "clock_grace_s"):
            value = getattr(self, name)
            if not 0 <= value < 60:
                raise ValueError(f"{name} must be in [0, 60) seconds, got {value}")
        # Asked on every tick: the graces in ms, worked out once.
        object.__setattr__(self, "_grace_ms", round(self.grace_s * 1000))
        object.__setattr__(self, "_clock_grace_ms", round(self.clock_grace_s * 1000))

    @property
    def grace_ms(self) -> int:
        """The grace for late ticks, in milliseconds."""
        return self._grace_ms

    def final_before_ms(
        self, *, exchange_ms: int | None = None, now_ms: int | None = None
    ) -> int:
        """Every minute starting before the returned epoch ms is final.

        ``exchange_ms`` is the latest exchange time seen, ``now_ms`` the local
        clock; either may be None (0 means nothing is final).
        """
        boundary = 0
        if exchange_ms is not None:
            shifted = exchange_ms - self._grace_ms
            boundary = shifted - shifted % MINUTE_MS
        if now_ms is not None:
            shifted = now_ms - self._clock_grace_ms
            by_clock = shifted - shifted % MINUTE_MS
            boundary = max(boundary, by_clock)
        return boundary

    def is_final(
        self,
        start: datetime,
        *,
        exchange_ms: int | None = None,
        now_ms: int | None = None,
    ) -> bool:
        """Whether the minute starting at ``start`` is final."""
        boundary = self.final_before_ms(exchange_ms=exchange_ms, now_ms=now_ms)
        return to_ms(start) < boundary


class _Bar:
    """The accumulator of one open minute."""

    __slots__ = (
        "close",
        "cum_first",
        "cum_last",
        "first_key",
        "high",
        "keys",
        "last_key",
        "low",
        "open",
        "start_ms",
    )

    def __init__(self, start_ms: int, key: _Key, price: float, cum: int | None) -> None:
        self.start_ms = start_ms
        self.open = self.high = self.low = self.close = price
        self.first_key = self.last_key = key
        self.cum_first = self.cum_last = cum
        self.keys = {key}

    def update(self, key: _Key, price: float, cum: int | None) -> None:
        """Rule 5 for a tick whose key :attr:`keys` already holds."""
        if price > self.high:
            self.high = price
        elif price < self.low:
            self.low = price
        if key > self.last_key:
            self.last_key, self.close = key, price
        elif key < self.first_key:
            self.first_key, self.open = key, price
        if cum is not None:
            self.add_cum(cum)

    def add_cum(self, cum: int) -> None:
        """Widen the day's cumulative volume seen in this minute."""
        # The day's volume only grows: the minute's last tick has the most.
        if self.cum_last is None or cum > self.cum_last:
            self.cum_last = cum
        if self.cum_first is None or cum < self.cum_first:
            self.cum_first = cum


class CandleBuilder:
    """Accumulates the ticks of one token into open 1-minute candles.

    It never decides on its own that a minute is over: :meth:`close_before`
    is told so (by a :class:`ClosePolicy`, through the book). Not locked: one
    thread (the engine) owns it.
    """

    def __init__(self, token: str, *, calendar: NseCalendar | None = None) -> None:
        self.token = token
        self.calendar = calendar or NseCalendar()
        self.counts = TickCounts()
        self.latest_exchange_ms: int | None = None
        self.closed_before_ms = 0  # every minute starting before this is closed
        self._bars: dict[int, _Bar] = {}
        self._latest_key: _Key | None = None
        self._prev_cum: tuple[int, int] | None = None  # (start_ms, cum) last closed
        self._sessions: dict[int, tuple[int, int] | None] = {}
        self._open_ms = self._close_ms = 0  # the session of the latest tick's day

    def add(self, tick: PriceTick) -> TickOutcome:
        """Apply one tick by the update rules and say what was done with it.

        The hot path: session bounds cached, each key hashed once."""
        if tick.token != self.token:
            raise ValueError(f"tick of token {tick.token} given to {self.token}")
        ts_ms, price, counts = tick.exchange_ts_ms, tick.ltp, self.counts

        if not self._open_ms <= ts_ms < self._close_ms and not self._in_session(ts_ms):
            counts.outside += 1
            return TickOutcome.OUTSIDE
        if not 0.0 < price < _INF:  # also refuses NaN
            counts.invalid += 1
            return TickOutcome.INVALID
        key = (ts_ms, tick.sequence)
        latest = self._latest_key
        start_ms = ts_ms - ts_ms % MINUTE_MS
        bar = self._bars.get(start_ms)
        cum = None if isinstance(tick, LtpTick) else tick.volume

        if latest is not None and key <= latest:
            return self._add_older(key, start_ms, bar, price, cum)
        # Newer than every tick seen: neither a duplicate nor late.
        if bar is None:
            if start_ms < self.closed_before_ms:
                counts.stale += 1
                return TickOutcome.STALE
            self._latest_key, self.latest_exchange_ms = key, ts_ms
            self._bars[start_ms] = _Bar(start_ms, key, price, cum)
            counts.new += 1
            return TickOutcome.NEW
        self._latest_key, self.latest_exchange_ms = key, ts_ms
        # Rule 5 for the newest tick of the minute, inlined: the hot path.
        bar.keys.add(key)
        bar.last_key, bar.close = key, price
        if price > bar.high:
            bar.high = price
        elif price < bar.low:
            bar.low = price
        if cum is not None:
            bar.add_cum(cum)
        counts.updated += 1
        return TickOutcome.UPDATED

    def _add_older(
        self, key: _Key, start_ms: int, bar: _Bar | None, price: float, cum: int | None
    ) -> TickOutcome:
        """A tick not newer than the latest: a duplicate, stale or late."""
        counts = self.counts
        if bar is None:
            if key == self._latest_key:  # the latest tick's minute may have closed
                counts.duplicates += 1
                return TickOutcome.DUPLICATE
            if start_ms < self.closed_before_ms:
                counts.stale += 1
                return TickOutcome.STALE
            counts.late += 1
            self._bars[start_ms] = _Bar(start_ms, key, price, cum)
            counts.new += 1
            return TickOutcome.NEW
        keys = bar.keys
        size = len(keys)
        keys.add(key)  # one hash for "seen?" and "remember"
        if len(keys) == size:
            counts.duplicates += 1
            return TickOutcome.DUPLICATE
        counts.late += 1
        bar.update(key, price, cum)
        counts.updated += 1
        return TickOutcome.UPDATED

    def close_before(self, boundary_ms: int) -> list[Candle]:
        """Close every minute starting before ``boundary_ms``; the candles of
        those that had ticks, oldest first. Later ticks for them are stale."""
        if boundary_ms <= self.closed_before_ms:
            return []
        self.closed_before_ms = floor_minute_ms(boundary_ms)
        closed: list[Candle] = []
        for start_ms in sorted(s for s in self._bars if s < self.closed_before_ms):
            bar = self._bars[start_ms]
            closed.append(self._candle(bar))
            del self._bars[start_ms]
            self._prev_cum = None if bar.cum_last is None else (start_ms, bar.cum_last)
        return closed

    def open_candles(self) -> list[Candle]:
        """The candles still open, oldest first, as they stand now (not final)."""
        return [self._candle(self._bars[s]) for s in sorted(self._bars)]

    def open_starts_ms(self) -> list[int]:
        """The starts of the minutes still open, oldest first."""
        return sorted(self._bars)

    def _candle(self, bar: _Bar) -> Candle:
        volume, basis = self._volume(bar)
        return Candle(
            start=from_ms(bar.start_ms),
            open=bar.open,
            high=bar.high,
            low=bar.low,
            close=bar.close,
            volume=volume,
            provenance=Provenance.TICKS,
            volume_basis=basis,
            ticks=len(bar.keys),
        )

    def _volume(self, bar: _Bar) -> tuple[int, VolumeBasis]:
        if bar.cum_last is None or bar.cum_first is None:
            return 0, VolumeBasis.NONE
        before = self._cum_before(bar.start_ms)
        if before is not None:
            return max(0, bar.cum_last - before), VolumeBasis.EXACT
        return max(0, bar.cum_last - bar.cum_first), VolumeBasis.PARTIAL

    def _cum_before(self, start_ms: int) -> int | None:
        """The cumulative volume at the end of the previous minute, if known."""
        prev_ms = start_ms - MINUTE_MS
        prev_bar = self._bars.get(prev_ms)
        if prev_bar is not None:
            return prev_bar.cum_last
        if self._prev_cum is not None and self._prev_cum[0] == prev_ms:
            return self._prev_cum[1]
        bounds = self._session(start_ms)
        if bounds is not None and bounds[0] == start_ms:
            return 0  # the session's first minute: the day starts from nothing
        return None

    def _in_session(self, ts_ms: int) -> bool:
        bounds = self._session(ts_ms)
        if bounds is None:
            return False
        self._open_ms, self._close_ms = bounds  # the fast check in add() uses it
        return bounds[0] <= ts_ms < bounds[1]

    def _session(self, ts_ms: int) -> tuple[int, int] | None:
        """The (open, close) epoch ms of the IST day of ``ts_ms``, if it trades."""
        day_number = (ts_ms + _IST_OFFSET_MS) // _DAY_MS
        if day_number not in self._sessions:
            if len(self._sessions) >= _SESSIONS_CACHED:
                self._sessions.clear()
            day = _EPOCH_DAY + timedelta(days=day_number)
            bounds = None
            if self.calendar.is_trading_day(day):
                open_ms = to_ms(self.calendar.session_open(day))
                bounds = (open_ms, to_ms(self.calendar.session_close(day)))
            self._sessions[day_number] = bounds
        return self._sessions[day_number]


def floor_minute_ms(ts_ms: int) -> int:
    """The start of the minute holding ``ts_ms`` (IST and UTC minutes agree)."""
    return ts_ms - ts_ms % MINUTE_MS


def to_ms(when: datetime) -> int:
    """An aware datetime as epoch milliseconds."""
    if when.tzinfo is None:
        raise ValueError(f"naive datetime {when}: give it a timezone (kit.clock.IST)")
    return round(when.timestamp() * 1000)


def from_ms(ts_ms: int) -> datetime:
    """Epoch milliseconds as an aware datetime in IST."""
    return datetime.fromtimestamp(ts_ms / 1000, IST)
