"""The demo's chaos: a seeded random fault plan, and what was injected set
beside what the kit measured.

:func:`demo_plan` spreads a few faults over a simulated morning: feed
connections dropped (a TCP reset, a clean close), one silent stall, a burst
of rate-limit refusals on the first history requests, a server error or two on
a later history request, and history requests failing now and then (AB1004 at
random). The same seed gives the same plan. Every fault is aimed at the feed
or at the ``candles`` route: reads there are retried one by one, so each
injected REST fault is exactly one failed attempt the kit records.

:func:`compare` counts the simulator's record of what it injected
(``sim.chaos.log``) and what the kit measured (the report's incidents and the
failed history attempts in the store's events), a row per kind of fault.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from kit.clock import IST, NseCalendar
from kit.ops.activity_adapters import api_fault
from kit.ops.events import ActivityEvent, EventKind
from kit.ops.events import FaultKind as Incident
from kit.ops.metrics import Metrics
from kit.ops.metrics_incidents import IncidentRecord
from kit.ops.metrics_render import table
from kit.sim.chaos import Fault, FaultKind, FaultPlan, InjectedFault, RandomFault
from kit.sim.chaos import ScheduledFault as Scheduled

FEED_FAULT_SPACING_S = 8 * 60  # at least this much simulated time per feed fault
FEED_FAULTS_AFTER_OPEN_S = 5 * 60  # the first one no sooner after the open
FEED_FAULTS_END_BEFORE_S = 6 * 60  # the last one this long before the end
MAX_FEED_FAULTS = 4
HISTORY_FAILURE_RATE = 0.1  # AB1004 on this share of the history requests

_DROPS = (FaultKind.TCP_ABORT, FaultKind.CLEAN_CLOSE)
_HISTORY = "candles"
_READ_FAILURES = (EventKind.API_RETRY.value, EventKind.API_FAILED.value)
_FEED_INCIDENTS = (Incident.WS_DISCONNECT, Incident.WS_STALE)


@dataclass(frozen=True)
class DemoPlan:
    """The fault plan and one line a fault, for the terminal."""

    plan: FaultPlan
    lines: tuple[str, ...]


def demo_plan(
    seed: int, start: datetime, end: datetime, calendar: NseCalendar | None = None
) -> DemoPlan:
    """A seeded random plan for a simulated session from ``start`` to ``end``."""
    rng = random.Random(seed)
    plan = FaultPlan(seed=seed)
    lines: list[str] = []

    # History: a rate-limit burst on the warm-up, server errors on a later read.
    burst = rng.randint(2, 3)
    _schedule(plan, start, Fault(FaultKind.RATE_LIMIT, _HISTORY), burst)
    lines.append(f"{start:%H:%M:%S}  {burst} rate-limit refusals (403) on history")
    feed_times = _feed_times(rng, start, end, calendar or NseCalendar())
    errors_at = feed_times[0] if feed_times else start
    errors = rng.randint(1, 2)
    _schedule(plan, errors_at, Fault(FaultKind.SERVER_ERROR, _HISTORY), errors)
    lines.append(f"{errors_at:%H:%M:%S}  {errors} server error(s) (503) on history")
    plan.random.append(
        RandomFault(Fault(FaultKind.AB1004, _HISTORY), HISTORY_FAILURE_RATE)
    )
    lines.append(f"any time  AB1004 on {HISTORY_FAILURE_RATE:.0%} of history requests")

    # The feed: drops and one silent stall, in a shuffled order.
    kinds = [FaultKind.SILENT_STALL, *(_DROPS[i % 2] for i in range(3))]
    kinds = kinds[: len(feed_times)]
    rng.shuffle(kinds)
    for at, kind in zip(feed_times, kinds, strict=True):
        stall_s = float(rng.randint(45, 90)) if kind is FaultKind.SILENT_STALL else 0
        _schedule(plan, at, Fault(kind, "feed", duration_s=stall_s), 1)
        lines.append(f"{at:%H:%M:%S}  feed {_feed_text(kind, stall_s)}")
    lines.sort()
    return DemoPlan(plan, tuple(lines))


def _feed_times(
    rng: random.Random, start: datetime, end: datetime, calendar: NseCalendar
) -> list[datetime]:
    """One moment in each of up to MAX_FEED_FAULTS equal slots of the session."""
    opened = max(start, calendar.session_open(start.astimezone(IST).date()))
    first = opened + timedelta(seconds=FEED_FAULTS_AFTER_OPEN_S)
    last = end - timedelta(seconds=FEED_FAULTS_END_BEFORE_S)
    span_s = (last - first).total_seconds()
    count = min(MAX_FEED_FAULTS, int(span_s // FEED_FAULT_SPACING_S))
    if count < 1:
        return []
    slot_s = span_s / count
    return [
        first + timedelta(seconds=round(slot_s * (i + rng.uniform(0.2, 0.8))))
        for i in range(count)
    ]


def _schedule(plan: FaultPlan, at: datetime, fault: Fault, count: int) -> None:
    plan.scheduled.append(Scheduled(at.timestamp(), fault, count))


def _feed_text(kind: FaultKind, stall_s: float) -> str:
    if kind is FaultKind.SILENT_STALL:
        return f"silent for {stall_s:g} s (no data, no pong)"
    if kind is FaultKind.TCP_ABORT:
        return "connection reset (no close frame)"
    return "connection closed by the server"


# Injected against measured.


@dataclass(frozen=True)
class Comparison:
    """One kind of fault: how often it was injected and how often measured."""

    fault: str
    injected: int
    measured_as: str
    measured: int
    incidents: int
    recovered: int

    @property
    def matches(self) -> bool:
        return self.injected == self.measured


def compare(
    injected: Sequence[InjectedFault],
    metrics: Metrics,
    events: Sequence[ActivityEvent],
) -> list[Comparison]:
    """A row per kind of fault the demo injects (see the module docstring)."""
    kinds = [entry.kind for entry in injected]

    def row(name: str, count: int, label: str, fault: Incident) -> Comparison:
        if fault in _FEED_INCIDENTS:  # one incident per fault
            found = [i for i in metrics.incidents if i.fault == fault.value]
            return Comparison(name, count, label, len(found), *_outcomes(found))
        failures = [
            event
            for event in events
            if event.kind in _READ_FAILURES
            and event.fields.get("route") == _HISTORY
            and _attempt_fault(event) == fault.value
        ]  # one failed attempt per fault
        ids = {event.fields.get("incident") for event in failures}
        found = [i for i in metrics.incidents if i.id in ids]
        return Comparison(name, count, label, len(failures), *_outcomes(found))

    drops = sum(kind in _DROPS for kind in kinds)
    errors = kinds.count(FaultKind.SERVER_ERROR) + kinds.count(FaultKind.AB1004)
    return [
        row("feed dropped", drops, "WebSocket disconnects", Incident.WS_DISCONNECT),
        row("feed silent", kinds.count(FaultKind.SILENT_STALL), "WebSocket silent",
            Incident.WS_STALE),
        row("history 403 rate limit", kinds.count(FaultKind.RATE_LIMIT),
            "history reads refused", Incident.API_RATE_LIMIT),
        row("history 5xx / AB1004", errors, "history reads failed",
            Incident.SERVER_ERROR),
    ]  # fmt: skip


def failed_attempts(store: Any, as_of: datetime) -> list[ActivityEvent]:
    """The failed REST attempts the store holds from a day before ``as_of``
    (retries and calls given up), as :func:`compare` reads them."""
    found: list[ActivityEvent] = store.events(
        since=as_of - timedelta(days=1),
        until=as_of + timedelta(minutes=1),
        kinds=list(_READ_FAILURES),
    )
    return found


def _attempt_fault(event: ActivityEvent) -> object:
    """The fault of the attempt an event reports: its own cause, not the
    incident's (a read refused three times and then failing on a 503 is one
    incident opened as a rate limit, but its last attempt was a server error)."""
    cause = event.fields.get("cause")
    if isinstance(cause, str) and cause:
        return api_fault(cause).value
    return event.fields.get("fault")


def _outcomes(incidents: Sequence[IncidentRecord]) -> tuple[int, int]:
    return len(incidents), sum(i.outcome == "recovered" for i in incidents)


def render_comparison(rows: Sequence[Comparison]) -> str:
    """The comparison as a table, with a last line saying whether all match."""
    cells = [
        [
            row.fault,
            str(row.injected),
            row.measured_as,
            str(row.measured),
            f"{row.recovered} of {row.incidents}",
            "yes" if row.matches else "NO",
        ]
        for row in rows
    ]
    headers = ["Injected fault", "Injected", "Measured as", "Measured",
               "Incidents recovered", "Match"]  # fmt: skip
    verdict = (
        "Every injected fault was measured."
        if all(row.matches for row in rows)
        else "Some injected faults were not measured as injected (see above)."
    )
    return "\n".join([table(headers, cells), "", verdict])
