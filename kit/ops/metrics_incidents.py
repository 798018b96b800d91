"""What the recovery tables count: incidents, runs of the bot, and crashes,
read back from activity events. The definitions are in :mod:`kit.ops.metrics`.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from kit.clock import IST
from kit.ops.events import ActivityEvent, EventKind, Phase

Outcome = Literal["recovered", "failed", "open"]

_CLOSING = {Phase.RECOVERED.value, Phase.FAILED.value}


@dataclass(frozen=True)
class IncidentRecord:
    """One incident as the events tell it. ``run_end`` is where the bot's run
    that noticed it ended (a clean stop, its last sign of life before a
    crash, or the end of what is known), which bounds an incident left open."""

    id: str
    fault: str
    detected_at: datetime
    began_at: datetime | None
    closed_at: datetime | None
    outcome: Outcome
    needs_person: bool
    events: int
    run_end: datetime

    @property
    def day(self) -> date:
        return self.detected_at.astimezone(IST).date()

    @property
    def detection_s(self) -> float | None:
        """Detection minus the fault's start; negative for an advance warning."""
        if self.began_at is None:
            return None
        return (self.detected_at - self.began_at).total_seconds()

    @property
    def recovery_s(self) -> float | None:
        """Detection to recovery, for a recovered incident."""
        if self.outcome != "recovered" or self.closed_at is None:
            return None
        return (self.closed_at - self.detected_at).total_seconds()

    @property
    def total_s(self) -> float | None:
        """The fault's start (its detection when unknown) to its recovery; at
        least 0 (a fault dealt with before it began lasted nothing)."""
        if self.outcome != "recovered" or self.closed_at is None:
            return None
        start = self.began_at or self.detected_at
        return max(0.0, (self.closed_at - start).total_seconds())

    @property
    def auto_recovered(self) -> bool:
        return self.outcome == "recovered" and not self.needs_person

    def down_interval(self) -> tuple[datetime, datetime] | None:
        """While the fault lasted: from its start (or detection) to its
        recovery; an incident that failed or stayed open lasts to the end of
        its run. None when that is no time at all."""
        start = self.began_at or self.detected_at
        end = self.closed_at if self.outcome == "recovered" else self.run_end
        if end is None or end <= start:
            return None
        return start, end


@dataclass(frozen=True)
class Run:
    """One run of the bot: from a start (None: before the log begins) to a
    clean stop, or to its last sign of life."""

    started_at: datetime | None
    ended_at: datetime
    clean: bool


@dataclass(frozen=True)
class Crash:
    """A start that found the previous run ended without a clean stop (or a
    ``crash_detected`` event): ``at`` the restart, ``down_from`` the last sign
    of life before it (None when unknown)."""

    at: datetime
    down_from: datetime | None

    @property
    def day(self) -> date:
        return self.at.astimezone(IST).date()

    def down_interval(self) -> tuple[datetime, datetime] | None:
        if self.down_from is None or self.down_from >= self.at:
            return None
        return self.down_from, self.at


@dataclass
class _Current:
    start: datetime | None
    last: datetime
    crash_counted: bool = False


def find_runs(
    events: Sequence[ActivityEvent], as_of: datetime | None = None
) -> tuple[list[Run], list[Crash]]:
    """The runs and the crashes in ``events`` (oldest first).

    A ``bot_started`` while a run is going (no ``bot_stopped`` since its
    events) is a crash of that run. A ``crash_detected`` (which the bot
    records after its ``bot_started``) is a crash unless that start was
    already counted as one; its ``last_seen_s`` field, when later than the
    run's last event, moves the start of the crash's downtime. A run still
    going at the end of the log ends at ``as_of`` when given, else at its
    last event. Events after a clean stop and before the next start belong to
    no run; events before the first start make a run whose start is unknown.
    """
    runs: list[Run] = []
    crashes: list[Crash] = []
    current: _Current | None = None
    stopped = False
    for event in events:
        if event.kind == EventKind.BOT_STARTED:
            counted = current is not None
            if current is not None:
                runs.append(Run(current.start, current.last, clean=False))
                crashes.append(Crash(event.at, current.last))
            current = _Current(event.at, event.at, crash_counted=counted)
        elif event.kind == EventKind.BOT_STOPPED:
            if current is not None or not stopped:
                start = current.start if current is not None else None
                runs.append(Run(start, event.at, clean=True))
            current, stopped = None, True
        elif current is not None:
            current.last = event.at
            if event.kind == EventKind.CRASH_DETECTED:
                _crash_detected(event, current, runs, crashes)
        elif not stopped:
            current = _Current(None, event.at)  # the log begins inside a run
            if event.kind == EventKind.CRASH_DETECTED:
                _crash_detected(event, current, runs, crashes)

    if current is not None:
        end = max(current.last, as_of) if as_of is not None else current.last
        runs.append(Run(current.start, end, clean=False))
    return runs, crashes


def _crash_detected(
    event: ActivityEvent, current: _Current, runs: list[Run], crashes: list[Crash]
) -> None:
    """Count a ``crash_detected`` event, or let it refine the crash counted at
    its run's start (the crashed run then lasted until ``last_seen_s``)."""
    seen = event.fields.get("last_seen_s")
    seen_at = None
    if isinstance(seen, int | float) and not isinstance(seen, bool):
        restart = current.start or event.at
        seen_at = min(datetime.fromtimestamp(float(seen), IST), restart)
    if not current.crash_counted:
        current.crash_counted = True
        crashes.append(Crash(current.start or event.at, seen_at))
        return

    previous = crashes[-1]
    if seen_at is None or (previous.down_from and seen_at <= previous.down_from):
        return
    crashes[-1] = Crash(previous.at, seen_at)
    crashed = runs[-1]
    if not crashed.clean:
        runs[-1] = Run(crashed.started_at, seen_at, clean=False)


def pair_incidents(
    events: Sequence[ActivityEvent], runs: Sequence[Run]
) -> list[IncidentRecord]:
    """The incidents of ``events`` (oldest first), in order of detection."""
    grouped: dict[str, list[ActivityEvent]] = {}
    for event in events:
        incident = event.fields.get("incident")
        if isinstance(incident, str) and incident:
            grouped.setdefault(incident, []).append(event)
    ends = _RunEnds(runs)
    records = [
        _record(incident, members, ends) for incident, members in grouped.items()
    ]
    return sorted(records, key=lambda record: record.detected_at)


def _record(
    incident: str, members: list[ActivityEvent], ends: _RunEnds
) -> IncidentRecord:
    detected = next(
        (e for e in members if e.fields.get("phase") == Phase.DETECTED.value),
        members[0],
    )
    closing = next(
        (
            e
            for e in members
            if e.fields.get("phase") in _CLOSING and e.at >= detected.at
        ),
        None,
    )
    fault = next((str(e.fields["fault"]) for e in members if "fault" in e.fields), "")
    outcome: Outcome = "open"
    if closing is not None:
        outcome = "recovered" if closing.fields["phase"] == "recovered" else "failed"
    return IncidentRecord(
        id=incident,
        fault=fault,
        detected_at=detected.at,
        began_at=_began(detected, members),
        closed_at=closing.at if closing is not None else None,
        outcome=outcome,
        needs_person=any(e.needs_person for e in members),
        events=len(members),
        run_end=max(ends.end_of(detected.at), detected.at),
    )


def _began(
    detected: ActivityEvent, members: Iterable[ActivityEvent]
) -> datetime | None:
    for event in (detected, *members):
        began = event.fields.get("began_s")
        if isinstance(began, int | float) and not isinstance(began, bool):
            return datetime.fromtimestamp(float(began), IST)
    return None


class _RunEnds:
    """The end of the run that holds a given instant."""

    def __init__(self, runs: Sequence[Run]) -> None:
        self._runs = sorted(runs, key=lambda run: run.ended_at)
        self._ends = [run.ended_at for run in self._runs]

    def end_of(self, when: datetime) -> datetime:
        index = bisect.bisect_left(self._ends, when)
        if index == len(self._runs):
            return when  # after every run
        run = self._runs[index]
        if run.started_at is not None and run.started_at > when:
            return when  # between a clean stop and the next start
        return run.ended_at
