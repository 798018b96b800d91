"""The activity feed's buffer: events not yet in the store, bounded.

Events wait here, oldest first, until the writer has stored them. The writer
takes a batch out (it is then *in flight*), and either confirms it (stored) or
puts it back at the front (the store did not answer), so the order is kept.

The bound counts waiting and in-flight events. When it is reached, the oldest
waiting event of the lowest severity goes (the oldest ``info`` first, then the
oldest ``warning`` ...) and is counted; an in-flight event is never dropped,
so a buffer can hold at most ``limit`` plus one batch. Not thread-safe: the
feed holds its lock around every call.
"""

from __future__ import annotations

import itertools
from collections import Counter, deque

from kit.ops.events import ActivityEvent, Severity

_BY_RANK = sorted(Severity, key=lambda severity: severity.rank)

Entry = tuple[int, ActivityEvent]
"""An event and its place in the order of arrival."""


class EventBuffer:
    """Events waiting for the store, per severity, in order of arrival."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        self.limit = limit
        self._waiting: dict[Severity, deque[Entry]] = {s: deque() for s in Severity}
        self._in_flight: list[Entry] = []
        self._order = itertools.count()
        self.dropped: Counter[Severity] = Counter()

    def __len__(self) -> int:
        return self.waiting + len(self._in_flight)

    @property
    def waiting(self) -> int:
        return sum(len(queue) for queue in self._waiting.values())

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())

    def push(self, event: ActivityEvent) -> ActivityEvent | None:
        """Keep ``event``; return the event dropped to make room, if any."""
        dropped = self._drop_one() if len(self) >= self.limit else None
        self._waiting[event.severity].append((next(self._order), event))
        return dropped

    def take(self, count: int) -> list[ActivityEvent]:
        """Move the oldest ``count`` waiting events in flight and return them.

        Nothing is taken while a batch is in flight.
        """
        if self._in_flight:
            return []
        while len(self._in_flight) < count:
            queue = self._oldest_queue()
            if queue is None:
                break
            self._in_flight.append(queue.popleft())
        return [event for _, event in self._in_flight]

    def confirm(self) -> int:
        """The batch in flight was stored; return how many it held."""
        stored = len(self._in_flight)
        self._in_flight = []
        return stored

    def put_back(self) -> None:
        """The batch in flight was not stored: it waits again, at the front."""
        for entry in reversed(self._in_flight):
            self._waiting[entry[1].severity].appendleft(entry)
        self._in_flight = []

    def events(self) -> list[ActivityEvent]:
        """Every event held (waiting or in flight), in order of arrival."""
        entries = [*self._in_flight]
        for queue in self._waiting.values():
            entries.extend(queue)
        return [event for _, event in sorted(entries, key=lambda entry: entry[0])]

    def _oldest_queue(self) -> deque[Entry] | None:
        heads = [queue for queue in self._waiting.values() if queue]
        return min(heads, key=lambda queue: queue[0][0], default=None)

    def _drop_one(self) -> ActivityEvent | None:
        for severity in _BY_RANK:
            queue = self._waiting[severity]
            if queue:
                self.dropped[severity] += 1
                return queue.popleft()[1]
        return None
