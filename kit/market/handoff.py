"""Broker candles handed from the bootstrap's threads to the engine thread.

The engine thread owns the candle books (DESIGN.md, "Data flow"), so the
bootstrap never writes to a book. Whatever history it fetches, on any thread,
goes into a queue as a :class:`Batch`; the engine calls :meth:`Handoff.apply`
with its books between ticks, and only then are the candles merged.

The rule of the merge: a broker candle is merged only once the book has closed
its minute. Until then it waits here. So a broker candle never meets a minute
still taking ticks (it never becomes ``mixed``), and it replaces what the book
holds for a closed minute: tick-built candles missing the ticks of an outage,
or nothing at all. Each replacement is a :class:`CandleRevised` event, each
merge a :class:`HistoryMerged` event, both on the engine thread.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from kit.clock import Clock
from kit.market.bootstrap_events import BootstrapEvent, CandleRevised, HistoryMerged
from kit.market.candle_book import CandleBook, CandleRevision
from kit.market.candles import Candle
from kit.market.history import Symbol


@dataclass(frozen=True)
class Batch:
    """Broker candles of one symbol, oldest first, and why they were fetched."""

    symbol: Symbol
    candles: tuple[Candle, ...]
    reason: str


@dataclass
class Applied:
    """What one :meth:`Handoff.apply` did to the books."""

    merged: int = 0  # broker candles merged
    filled: int = 0  # of those, minutes the book lacked
    revisions: list[CandleRevision] = field(default_factory=list)
    waiting: int = 0  # broker candles held back: their minutes are still open


class Handoff:
    """The queue of fetched candles, and their merge on the engine thread."""

    def __init__(
        self,
        *,
        clock: Clock,
        emit: Callable[[BootstrapEvent], None],
        logger: logging.Logger,
    ) -> None:
        self._clock = clock
        self._emit = emit
        self._log = logger
        self._queue: queue.SimpleQueue[Batch] = queue.SimpleQueue()
        self._waiting: dict[str, list[Batch]] = {}  # the engine thread's alone
        self._no_book: set[str] = set()

    def put(self, batch: Batch) -> None:
        """Hand a batch on; any thread, never blocks."""
        if batch.candles:
            self._queue.put(batch)

    def apply(self, books: Mapping[str, CandleBook]) -> Applied:
        """Merge every batch whose minutes the books have closed (engine thread)."""
        while True:
            try:
                batch = self._queue.get_nowait()
            except queue.Empty:
                break
            self._waiting.setdefault(batch.symbol.token, []).append(batch)

        applied = Applied()
        for token in list(self._waiting):
            book = books.get(token)
            if book is None:
                self._drop(token)
                continue
            later = [
                self._merge(book, batch, applied) for batch in self._waiting[token]
            ]
            kept = [b for b in later if b is not None]
            applied.waiting += sum(len(b.candles) for b in kept)
            if kept:
                self._waiting[token] = kept
            else:
                del self._waiting[token]
        return applied

    def _merge(self, book: CandleBook, batch: Batch, applied: Applied) -> Batch | None:
        """Merge the closed minutes of ``batch``; the rest as a batch, or None."""
        closed_before_ms = book.builder.closed_before_ms
        ready = [c for c in batch.candles if c.start_ms < closed_before_ms]
        later = tuple(c for c in batch.candles if c.start_ms >= closed_before_ms)
        if ready:
            filled = sum(book.get(c.start) is None for c in ready)
            revisions = book.merge_broker(_rows(ready))
            self._report(batch, revisions, len(ready), filled)
            applied.merged += len(ready)
            applied.filled += filled
            applied.revisions += revisions
        return Batch(batch.symbol, later, batch.reason) if later else None

    def _report(
        self,
        batch: Batch,
        revisions: Sequence[CandleRevision],
        merged: int,
        filled: int,
    ) -> None:
        now_s, symbol = self._clock.time(), batch.symbol
        for r in revisions:
            revised = CandleRevised(
                now_s, symbol=symbol.symbol, token=symbol.token, start=r.start,
                old=r.old, new=r.new, reason=batch.reason,
            )  # fmt: skip
            self._emit(revised)
        event = HistoryMerged(
            now_s, symbol=symbol.symbol, token=symbol.token, reason=batch.reason,
            candles=merged, filled=filled, revised=len(revisions),
        )  # fmt: skip
        self._emit(event)

    def _drop(self, token: str) -> None:
        dropped = sum(len(b.candles) for b in self._waiting.pop(token))
        if token not in self._no_book:
            self._no_book.add(token)
            self._log.warning(
                "bootstrap: No candle book for token %s; %d candles dropped",
                token, dropped,
            )  # fmt: skip


def _rows(candles: Sequence[Candle]) -> list[tuple[object, ...]]:
    return [(c.start, c.open, c.high, c.low, c.close, c.volume) for c in candles]
