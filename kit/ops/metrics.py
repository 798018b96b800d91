"""The user's uptime and recovery tables, computed from the activity events.

:func:`compute_metrics` reads a list of :class:`~kit.ops.events.ActivityEvent`
objects; :func:`metrics_for_day` reads one day from a store. Both return a
:class:`Metrics`: dataclasses, :meth:`Metrics.to_frame` for pandas and
:meth:`Metrics.render_tables` for plain text in the layout of the user's design
(:mod:`kit.ops.metrics_render`). Nothing here is claimed: every number comes
from events, by these definitions.

Days are calendar days in IST. An incident counts on the day it was detected,
a crash on the day of the restart.

**Incident** (the convention of :mod:`kit.ops.events`): the events sharing
``fields["incident"]``. Detected at its ``detected`` event (its first event
when there is none); began at ``began_s`` (unknown when absent); closed by its
first ``recovered`` or ``failed`` event; *open* when neither came.

- *Detection time* = detected - began (negative: warned ahead of the fault).
- *Recovery time* = recovered - detected, for recovered incidents only.
- *Total time* = recovered - began (detected when unknown), at least 0.
- *Auto-recovered*: recovered, and none of its events needed a person
  (``event.needs_person``). *Auto-recovery rate* = auto-recovered incidents /
  all incidents (open and failed ones count as not recovered).

**Runs and crashes.** A run goes from ``bot_started`` to ``bot_stopped`` (a
clean stop). A ``bot_started`` while a run is going is a *crash* of that run;
so is a ``crash_detected`` event, unless its start was counted already. The
crash's downtime goes from the crashed run's last event (or the later
``last_seen_s`` of ``crash_detected``) to the restart.

**Downtime** by cause: the faults that stop data or trading
(:data:`DOWNTIME_FAULTS`: the feed dropped or silent, the session expired)
and crashes. An incident is down from its start (began, else detected) to its
recovery; one that failed or stayed open is down to the end of its run (a
clean stop, the last sign of life before a crash, or ``as_of`` / the last
event for a run still going). Intervals are clipped to each day's market
session (09:15-15:30 IST on trading days; the whole day with
``market_hours_only=False``). Overlapping intervals of one cause are merged;
the day's total is the union over all causes, so it may be less than the sum
of the causes.

**Manual interventions**: the events that needed a person, one per incident
(all its warnings are one ask) plus one per such event outside an incident;
counted on the day of the first.

**Reconnects**: the ``ws_disconnect`` and ``ws_stale`` incidents of a day.
*Success rate* = recovered / all of them; *reconnect time* = their recovery
times (p50, p95, max).

**API failure recovery**: the auto-recovered share of the day's
``api_rate_limit``, ``network_timeout`` and ``server_error`` incidents.

Percentiles interpolate linearly between the closest ranks (numpy's default):
the p95 of 10, 20, 30, 40 s is 38.5 s.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from kit.clock import IST, NseCalendar
from kit.ops.events import ActivityEvent, FaultKind
from kit.ops.metrics_incidents import (
    Crash,
    IncidentRecord,
    find_runs,
    pair_incidents,
)

if TYPE_CHECKING:
    import pandas as pd

DOWNTIME_FAULTS: frozenset[str] = frozenset(
    {FaultKind.WS_DISCONNECT, FaultKind.WS_STALE, FaultKind.TOKEN_EXPIRY}
)
"""Faults during which the bot has no data or cannot trade."""

RECONNECT_FAULTS: frozenset[str] = frozenset(
    {FaultKind.WS_DISCONNECT, FaultKind.WS_STALE}
)
API_FAULTS: frozenset[str] = frozenset(
    {FaultKind.API_RATE_LIMIT, FaultKind.NETWORK_TIMEOUT, FaultKind.SERVER_ERROR}
)
CRASH_CAUSE = FaultKind.CRASH.value
TABLE_FAULTS = tuple(kind.value for kind in FaultKind if kind is not FaultKind.CRASH)
"""The rows the recovery table always shows, in the matrix's order."""


class EventSource(Protocol):
    """What :func:`metrics_for_day` needs of a store."""

    def events(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        kinds: Collection[str] | None = None,
        limit: int | None = None,
    ) -> list[ActivityEvent]: ...


@dataclass(frozen=True)
class ReconnectStats:
    """The feed's reconnect episodes of a day (see the module docstring)."""

    episodes: int = 0
    recovered: int = 0
    failed: int = 0
    open: int = 0
    time_p50_s: float | None = None
    time_p95_s: float | None = None
    time_max_s: float | None = None

    @property
    def success_rate(self) -> float | None:
        return self.recovered / self.episodes if self.episodes else None


@dataclass(frozen=True)
class DayStats:
    """One day's uptime figures."""

    day: date
    crashes: int
    interventions: int
    downtime_s: float
    downtime_by_cause: Mapping[str, float]
    reconnects: ReconnectStats
    incidents: int
    auto_recovered: int
    api_incidents: int
    api_auto_recovered: int

    @property
    def auto_recovery_rate(self) -> float | None:
        return self.auto_recovered / self.incidents if self.incidents else None

    @property
    def api_recovery_rate(self) -> float | None:
        if not self.api_incidents:
            return None
        return self.api_auto_recovered / self.api_incidents


@dataclass(frozen=True)
class FaultStats:
    """One row of the recovery table: the incidents of one fault."""

    fault: str
    count: int = 0
    recovered: int = 0
    failed: int = 0
    open: int = 0
    auto_recovered: int = 0
    detection_p50_s: float | None = None
    detection_max_s: float | None = None
    recovery_p50_s: float | None = None
    recovery_p95_s: float | None = None
    recovery_max_s: float | None = None
    total_p50_s: float | None = None
    total_max_s: float | None = None

    @property
    def auto_share(self) -> float | None:
        return self.auto_recovered / self.count if self.count else None


@dataclass(frozen=True)
class Metrics:
    """The tables of one or more days; see the module docstring."""

    days: tuple[DayStats, ...]
    faults: tuple[FaultStats, ...]
    incidents: tuple[IncidentRecord, ...]
    crashes: tuple[Crash, ...]
    market_hours_only: bool = True

    @property
    def auto_recovery_rate(self) -> float | None:
        """Auto-recovered incidents over all incidents counted."""
        count = sum(row.count for row in self.faults)
        return sum(row.auto_recovered for row in self.faults) / count if count else None

    def day(self, day: date) -> DayStats:
        for stats in self.days:
            if stats.day == day:
                return stats
        raise KeyError(f"no figures for {day}")

    def to_frame(self, table: str = "uptime") -> pd.DataFrame:
        """One table as a DataFrame: ``uptime`` (a row a day), ``downtime``
        (seconds, a row a day, a column a cause), ``recovery`` (a row a
        fault) or ``incidents`` (a row an incident)."""
        from kit.ops.metrics_render import frame  # noqa: PLC0415 -- pandas is heavy

        return frame(self, table)

    def render_tables(self) -> str:
        """The uptime and recovery tables as plain text."""
        from kit.ops.metrics_render import render_tables  # noqa: PLC0415

        return render_tables(self)

    def to_dict(self) -> dict[str, Any]:
        """Every figure as JSON values (for ``kit report --json``)."""
        from kit.ops.metrics_render import as_dict  # noqa: PLC0415

        return as_dict(self)


def compute_metrics(
    events: Iterable[ActivityEvent],
    *,
    day: date | None = None,
    as_of: datetime | None = None,
    calendar: NseCalendar | None = None,
    market_hours_only: bool = True,
    downtime_faults: Collection[str] = DOWNTIME_FAULTS,
) -> Metrics:
    """The tables of ``day`` (every day the events touch when None)."""
    ordered = sorted(events, key=lambda event: event.at)
    runs, crashes = find_runs(ordered, as_of)
    incidents = pair_incidents(ordered, runs)
    calendar = calendar or NseCalendar()
    days = [day] if day is not None else sorted({_day_of(e.at) for e in ordered})

    windows = {d: _window(d, calendar, market_hours_only) for d in days}
    intervals = _down_intervals(incidents, crashes, downtime_faults)
    day_stats = tuple(
        _day_stats(
            d,
            window=windows[d],
            events=ordered,
            incidents=incidents,
            crashes=crashes,
            intervals=intervals,
        )
        for d in days
    )
    chosen = [i for i in incidents if i.day in windows]
    return Metrics(
        days=day_stats,
        faults=fault_table(chosen),
        incidents=tuple(chosen),
        crashes=tuple(c for c in crashes if c.day in windows),
        market_hours_only=market_hours_only,
    )


def metrics_for_day(
    store: EventSource,
    day: date,
    *,
    as_of: datetime | None = None,
    calendar: NseCalendar | None = None,
    market_hours_only: bool = True,
) -> Metrics:
    """The tables of ``day``, from the events of that day and the one before
    (to see the run that was going at midnight)."""
    midnight = datetime.combine(day, datetime.min.time(), IST)
    events = store.events(
        since=midnight - timedelta(days=1), until=midnight + timedelta(days=1)
    )
    return compute_metrics(
        events, day=day, as_of=as_of, calendar=calendar,
        market_hours_only=market_hours_only,
    )  # fmt: skip


def fault_table(incidents: Sequence[IncidentRecord]) -> tuple[FaultStats, ...]:
    """The recovery table: every fault of :data:`TABLE_FAULTS`, then others."""
    seen = {i.fault for i in incidents}
    order = [*TABLE_FAULTS, *sorted(seen - set(TABLE_FAULTS))]
    return tuple(_fault_stats(f, [i for i in incidents if i.fault == f]) for f in order)


def _fault_stats(fault: str, incidents: Sequence[IncidentRecord]) -> FaultStats:
    detection = [i.detection_s for i in incidents if i.detection_s is not None]
    recovery = [i.recovery_s for i in incidents if i.recovery_s is not None]
    total = [i.total_s for i in incidents if i.total_s is not None]
    return FaultStats(
        fault=fault,
        count=len(incidents),
        recovered=sum(i.outcome == "recovered" for i in incidents),
        failed=sum(i.outcome == "failed" for i in incidents),
        open=sum(i.outcome == "open" for i in incidents),
        auto_recovered=sum(i.auto_recovered for i in incidents),
        detection_p50_s=percentile(detection, 50),
        detection_max_s=max(detection, default=None),
        recovery_p50_s=percentile(recovery, 50),
        recovery_p95_s=percentile(recovery, 95),
        recovery_max_s=max(recovery, default=None),
        total_p50_s=percentile(total, 50),
        total_max_s=max(total, default=None),
    )


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile, linear between the closest ranks; None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


# Days, windows and intervals.

Interval = tuple[float, float]  # epoch seconds, start < end


def _day_of(when: datetime) -> date:
    return when.astimezone(IST).date()


def _window(
    day: date, calendar: NseCalendar, market_hours_only: bool
) -> Interval | None:
    """The part of ``day`` that downtime counts in; None: none of it."""
    if not market_hours_only:
        midnight = datetime.combine(day, datetime.min.time(), IST)
        return midnight.timestamp(), (midnight + timedelta(days=1)).timestamp()
    if not calendar.is_trading_day(day):
        return None
    return calendar.session_open(day).timestamp(), calendar.session_close(
        day
    ).timestamp()


def _down_intervals(
    incidents: Sequence[IncidentRecord],
    crashes: Sequence[Crash],
    faults: Collection[str],
) -> dict[str, list[Interval]]:
    """Every downtime interval, by cause."""
    by_cause: dict[str, list[Interval]] = {}
    spans = [(i.fault, i.down_interval()) for i in incidents if i.fault in faults]
    spans += [(CRASH_CAUSE, crash.down_interval()) for crash in crashes]
    for cause, span in spans:
        if span is not None:
            start, end = span
            by_cause.setdefault(cause, []).append((start.timestamp(), end.timestamp()))
    return by_cause


def merged_length_s(intervals: Iterable[Interval], window: Interval | None) -> float:
    """The length of the union of ``intervals`` within ``window``."""
    if window is None:
        return 0.0
    low, high = window
    clipped = sorted(
        (max(start, low), min(end, high))
        for start, end in intervals
        if max(start, low) < min(end, high)
    )
    total, reach = 0.0, low
    for start, end in clipped:
        if end <= reach:
            continue
        total += end - max(start, reach)
        reach = end
    return total


def _day_stats(
    day: date,
    *,
    window: Interval | None,
    events: Sequence[ActivityEvent],
    incidents: Sequence[IncidentRecord],
    crashes: Sequence[Crash],
    intervals: Mapping[str, list[Interval]],
) -> DayStats:
    todays = [i for i in incidents if i.day == day]
    api = [i for i in todays if i.fault in API_FAULTS]
    by_cause = {
        cause: merged_length_s(spans, window)
        for cause, spans in sorted(intervals.items())
    }
    every = [span for spans in intervals.values() for span in spans]
    return DayStats(
        day=day,
        crashes=sum(crash.day == day for crash in crashes),
        interventions=_interventions(day, events),
        downtime_s=merged_length_s(every, window),
        downtime_by_cause={cause: s for cause, s in by_cause.items() if s > 0},
        reconnects=_reconnects([i for i in todays if i.fault in RECONNECT_FAULTS]),
        incidents=len(todays),
        auto_recovered=sum(i.auto_recovered for i in todays),
        api_incidents=len(api),
        api_auto_recovered=sum(i.auto_recovered for i in api),
    )


def _interventions(day: date, events: Sequence[ActivityEvent]) -> int:
    first_ask: dict[str, date] = {}
    for event in events:
        if not event.needs_person:
            continue
        incident = event.fields.get("incident")
        key = incident if isinstance(incident, str) and incident else event.id
        first_ask.setdefault(key, _day_of(event.at))
    return sum(asked == day for asked in first_ask.values())


def _reconnects(incidents: Sequence[IncidentRecord]) -> ReconnectStats:
    times = [i.recovery_s for i in incidents if i.recovery_s is not None]
    return ReconnectStats(
        episodes=len(incidents),
        recovered=sum(i.outcome == "recovered" for i in incidents),
        failed=sum(i.outcome == "failed" for i in incidents),
        open=sum(i.outcome == "open" for i in incidents),
        time_p50_s=percentile(times, 50),
        time_p95_s=percentile(times, 95),
        time_max_s=max(times, default=None),
    )
