"""The bootstrap's pending work: background re-bootstraps and backfills.

A :class:`Job` is one piece of history to fetch for a set of tokens, due at a
time of the clock. The :class:`JobBook` holds them for the bootstrap's thread
and takes new ones from any thread (feed events arrive on the feed's thread):

- one *warm-up* job at most: the re-bootstrap of the symbols that have no
  history yet; a new one joins it (tokens united, the earlier due time kept);
- *backfill* jobs for ranges of minutes; a new range that overlaps or touches a
  waiting one for the same tokens joins it (the later due time kept), so a burst
  of reconnects costs one request per symbol, not one per reconnect.

:func:`outage_span` turns a feed event into the minutes to repair.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from kit.broker.feed_events import Connected, FeedEvent, Reconnected, TicksDropped
from kit.clock import IST
from kit.market.history import BootstrapConfig
from kit.market.warmup import MINUTE, floor_minute


class JobKind(StrEnum):
    WARMUP = "warm-up"
    BACKFILL = "backfill"


@dataclass
class Job:
    """History to fetch for ``tokens``; ``first`` and ``last`` are the minutes of a
    backfill (both included); a warm-up job works its window out when it runs."""

    kind: JobKind
    tokens: frozenset[str]
    due_s: float
    first: datetime | None = None
    last: datetime | None = None
    reason: str = ""
    attempts: int = 0

    def joins(self, other: Job) -> bool:
        """Whether ``other`` can be merged into this job."""
        if self.kind is not other.kind:
            return False
        if self.kind is JobKind.WARMUP:
            return True
        assert self.first and self.last and other.first and other.last
        return (
            self.tokens == other.tokens
            and other.first <= self.last + MINUTE
            and self.first <= other.last + MINUTE
        )

    def merged(self, other: Job) -> Job:
        if self.kind is JobKind.WARMUP:
            return replace(
                self,
                tokens=self.tokens | other.tokens,
                due_s=min(self.due_s, other.due_s),
            )
        assert self.first and self.last and other.first and other.last
        return replace(
            self,
            first=min(self.first, other.first),
            last=max(self.last, other.last),
            due_s=max(self.due_s, other.due_s),
            attempts=max(self.attempts, other.attempts),
        )


class JobBook:
    """Waiting jobs, ordered by due time; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: list[Job] = []

    def add(self, job: Job) -> Job:
        """Keep ``job`` (joined with a waiting one where it can); the job kept."""
        with self._lock:
            for n, waiting in enumerate(self._jobs):
                if waiting.joins(job):
                    self._jobs[n] = job = waiting.merged(job)
                    break
            else:
                self._jobs.append(job)
            return job

    def covers(self, job: Job) -> bool:
        """Whether a waiting backfill already holds every minute of ``job``."""
        assert job.first is not None and job.last is not None
        with self._lock:
            return any(
                w.kind is JobKind.BACKFILL
                and w.tokens >= job.tokens
                and w.first is not None
                and w.last is not None
                and w.first <= job.first
                and job.last <= w.last
                for w in self._jobs
            )

    def take_due(self, now_s: float) -> Job | None:
        """Remove and return the job due first, if one is due at ``now_s``."""
        with self._lock:
            due = [j for j in self._jobs if j.due_s <= now_s]
            if not due:
                return None
            job = min(due, key=lambda j: j.due_s)
            self._jobs.remove(job)
            return job

    def next_due_s(self) -> float | None:
        with self._lock:
            return min((j.due_s for j in self._jobs), default=None)

    def drop_token(self, token: str) -> None:
        """Forget ``token`` in every job (a symbol the broker does not know)."""
        with self._lock:
            kept = [replace(j, tokens=j.tokens - {token}) for j in self._jobs]
            self._jobs = [j for j in kept if j.tokens]

    def snapshot(self) -> list[Job]:
        with self._lock:
            return list(self._jobs)

    def __len__(self) -> int:
        with self._lock:
            return len(self._jobs)


def outage_span(
    event: FeedEvent, config: BootstrapConfig, *, covered_through: datetime | None
) -> tuple[datetime, datetime, str] | None:
    """The minutes (first, last, reason) a feed event says may hold missed ticks.

    - :class:`Reconnected`: from ``backfill_before_s`` before the connection
      was noticed down to ``backfill_after_s`` after it came back.
    - :class:`Connected` (a first connection): from the end of the history
      loaded at start (``covered_through``) or ``backfill_before_s`` back, to
      ``backfill_after_s`` after: the minute it connected in was seen in part.
    - :class:`TicksDropped`: around the report, reaching one report interval
      past it, since drops between reports are only counted.
    """
    at_s = event.at_s
    if isinstance(event, Reconnected):
        start_s = at_s - event.downtime_s - config.backfill_before_s
        end_s = at_s + config.backfill_after_s
        reason = f"{event.connection} down {event.downtime_s:.0f} s"
    elif isinstance(event, Connected):
        start_s = at_s - config.backfill_before_s
        if covered_through is not None:
            start_s = min(start_s, (covered_through + MINUTE).timestamp())
        end_s = at_s + config.backfill_after_s
        reason = f"{event.connection} connected"
    elif isinstance(event, TicksDropped):
        start_s = at_s - config.backfill_before_s
        end_s = at_s + config.dropped_ticks_window_s + config.backfill_after_s
        reason = f"{event.connection} dropped ticks"
    else:
        return None
    first = floor_minute(datetime.fromtimestamp(start_s, IST))
    last = floor_minute(datetime.fromtimestamp(end_s, IST))
    return first, last, reason
