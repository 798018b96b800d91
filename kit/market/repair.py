"""The bootstrap's background thread: re-bootstrap and backfills.

One thread, ``kit-bootstrap``, takes the due jobs of the
:class:`~kit.market.backfill.JobBook` one at a time:

- a *re-bootstrap* loads the history of the symbols building from ticks, over
  the warm-up window and back to when they began building from ticks; when it
  fails it is due again ``rebootstrap_interval_s`` later, until it succeeds;
- a *backfill* fetches a range of minutes for the symbols that have history
  (the others are covered by their re-bootstrap); when it fails it waits by
  cause (10 s, 30 s, 5 s) and is abandoned after ``backfill_attempts``.

It waits on the injected clock and wakes for a new job or a stop; a request in
flight is not cut short, so a stop takes effect within one paced request.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from datetime import datetime
from functools import partial

from kit.clock import IST
from kit.market.backfill import Job, JobKind
from kit.market.bootstrap_events import (
    BackfillDone,
    BackfillFailed,
    BackfillScheduled,
    HistoryRestored,
    RebootstrapFailed,
)
from kit.market.bootstrap_state import BootstrapContext
from kit.market.candles import Candle
from kit.market.handoff import Batch
from kit.market.history import Round, Symbol, describe
from kit.market.warmup import MINUTE, floor_minute, session_minutes_between

IDLE_S = 60.0  # the thread looks at its jobs at least this often


class RepairWorker:
    """Runs the jobs; schedules backfills and re-bootstraps for anyone."""

    def __init__(self, ctx: BootstrapContext) -> None:
        self.ctx = ctx
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # The thread.

    def start(self) -> None:
        with self._lock:
            if self.ctx.stop.is_set():
                raise RuntimeError("a stopped bootstrap cannot be started again")
            if self._thread is not None:
                return
            self._thread = threading.Thread(
                target=self._loop, name="kit-bootstrap", daemon=True
            )
            thread = self._thread
        thread.start()

    def join(self, timeout_real_s: float) -> bool:
        """After ``ctx.stop`` is set: wait for the thread; True when it ended."""
        with self._lock:
            thread = self._thread
        if thread is None:
            return True
        thread.join(timeout_real_s)
        if thread.is_alive():
            self.ctx.log.warning("bootstrap: Thread %s still running", thread.name)
            return False
        return True

    @property
    def running(self) -> bool:
        with self._lock:
            return self._thread is not None and self._thread.is_alive()

    def _loop(self) -> None:
        ctx = self.ctx
        while not ctx.stop.is_set():
            ctx.wake.clear()
            job = ctx.jobs.take_due(ctx.clock.time())
            if job is None:
                next_s = ctx.jobs.next_due_s()
                wait_s = IDLE_S if next_s is None else next_s - ctx.clock.time()
                ctx.clock.wait(ctx.wake, min(IDLE_S, max(0.0, wait_s)))
                continue
            try:
                self._run(job)
            except Exception:  # a bug must not end the repairs
                ctx.log.exception("bootstrap: The %s job failed", job.kind)

    def _run(self, job: Job) -> None:
        if job.kind is JobKind.WARMUP:
            symbols = self.ctx.book.without_history(job.tokens)
            if symbols:
                self._rebootstrap(symbols)
        else:
            symbols = self.ctx.book.repairable(job.tokens)
            if symbols:
                self._backfill(job, symbols)

    # Scheduling (any thread).

    def schedule_rebootstrap(self, tokens: set[str]) -> None:
        due_s = self.ctx.clock.time() + self.ctx.config.rebootstrap_interval_s
        self.ctx.jobs.add(Job(JobKind.WARMUP, frozenset(tokens), due_s))
        self.ctx.wake.set()

    def request_backfill(
        self, first: datetime, last: datetime, tokens: set[str], reason: str
    ) -> bool:
        """Schedule the session minutes ``first`` to ``last`` for ``tokens``,
        due once the last one has ended and settled; False when there are none."""
        ctx = self.ctx
        span = session_minutes_between(
            ctx.calendar, floor_minute(first), floor_minute(last)
        )
        if not span or not tokens:
            return False
        due_s = (span[-1] + MINUTE).timestamp() + ctx.config.settle_s
        job = Job(JobKind.BACKFILL, frozenset(tokens), due_s, span[0], span[-1], reason)
        level = logging.DEBUG if ctx.jobs.covers(job) else logging.INFO
        job = ctx.jobs.add(job)
        assert job.first is not None and job.last is not None
        due_at = datetime.fromtimestamp(job.due_s, IST)
        ctx.log.log(
            level, "bootstrap: Backfill of %s-%s scheduled for %s (%s)",
            hm(job.first), hm(job.last), hm(due_at, seconds=True), reason,
        )  # fmt: skip
        minutes = len(session_minutes_between(ctx.calendar, job.first, job.last))
        event = BackfillScheduled(
            ctx.clock.time(), first=job.first, last=job.last, minutes=minutes,
            reason=reason, due_at=due_at,
        )  # fmt: skip
        ctx.emit(event)
        ctx.wake.set()
        return True

    def request_seam(self, last: datetime | None, tokens: set[str], why: str) -> None:
        """Backfill from after ``last`` (history just loaded) to a little past
        now: the minutes since were history-less and may have been seen in part."""
        if last is None or not tokens or self.ctx.stop.is_set():
            return
        end_s = self.ctx.clock.time() + self.ctx.config.backfill_after_s
        end = datetime.fromtimestamp(end_s, IST)
        self.request_backfill(last + MINUTE, end, tokens, why)

    # Re-bootstrap.

    def _rebootstrap(self, symbols: list[Symbol]) -> None:
        ctx = self.ctx
        first, last = ctx.warmup_window()
        since_s = ctx.book.ticks_since_s
        if since_s is not None:  # and every minute built from ticks since
            start_s = since_s - ctx.config.backfill_before_s
            first = min(first, floor_minute(datetime.fromtimestamp(start_s, IST)))
        ctx.log.info(
            "bootstrap: Re-bootstrap: loading history of %d symbols...", len(symbols)
        )
        restored: list[Symbol] = []
        on_loaded = partial(self._loaded, "re-bootstrap", restored)
        result = ctx.fetcher.fetch_round(
            symbols, first, last, on_loaded=on_loaded, stop=ctx.stop
        )
        ctx.skip(result.invalid)
        if restored:
            self._restored(restored, result.candles, last)
        if result.failed and not ctx.stop.is_set():
            self._still_missing(result)

    def _restored(self, symbols: list[Symbol], candles: int, last: datetime) -> None:
        ctx = self.ctx
        ctx.log.info(
            "bootstrap: History restored for %d symbols (%d candles); broker "
            "candles replace the ones built from ticks",
            len(symbols), candles,
        )  # fmt: skip
        names = tuple(sorted(s.symbol for s in symbols))
        ctx.emit(HistoryRestored(ctx.clock.time(), symbols=names, candles=candles))
        self.request_seam(last, {s.token for s in symbols}, "re-bootstrap seam")

    def _still_missing(self, result: Round) -> None:
        ctx = self.ctx
        interval_s = ctx.config.rebootstrap_interval_s
        ctx.log.info(
            "bootstrap: %s for %d symbols: %s; asking again in %.0f s",
            describe(result.cause), len(result.failed), result.error, interval_s,
        )  # fmt: skip
        event = RebootstrapFailed(
            ctx.clock.time(), symbols=tuple(sorted(s.symbol for s in result.failed)),
            cause=result.cause, error=result.error, retry_in_s=interval_s,
        )  # fmt: skip
        ctx.emit(event)
        self.schedule_rebootstrap({s.token for s in result.failed})

    # Backfill.

    def _backfill(self, job: Job, symbols: list[Symbol]) -> None:
        ctx = self.ctx
        first, last = job.first, job.last
        assert first is not None and last is not None
        on_loaded = partial(self._loaded, f"backfill ({job.reason})", None)
        result = ctx.fetcher.fetch_round(
            symbols, first, last, on_loaded=on_loaded, stop=ctx.stop
        )
        ctx.skip(result.invalid)
        if ctx.stop.is_set():
            return
        if result.failed:
            self._backfill_failed(job, result)
            return
        ctx.log.info(
            "bootstrap: Backfilled %s-%s for %d symbols (%d candles)",
            hm(first), hm(last), result.loaded, result.candles,
        )  # fmt: skip
        event = BackfillDone(
            ctx.clock.time(), first=first, last=last, symbols=result.loaded,
            candles=result.candles,
        )  # fmt: skip
        ctx.emit(event)

    def _backfill_failed(self, job: Job, result: Round) -> None:
        ctx, attempt = self.ctx, job.attempts + 1
        cfg = ctx.config
        assert job.first is not None and job.last is not None
        delay_s = cfg.delay_s(result.cause) if attempt < cfg.backfill_attempts else None
        span = f"{hm(job.first)}-{hm(job.last)}"
        if delay_s is None:
            ctx.log.error(
                "bootstrap: Backfill %s abandoned after %d attempts: %s",
                span, attempt, result.error,
            )  # fmt: skip
        else:
            ctx.log.warning(
                "bootstrap: Backfill %s failed for %d symbols (attempt %d/%d): %s; "
                "retrying in %.1f s",
                span, len(result.failed), attempt, cfg.backfill_attempts,
                result.error, delay_s,
            )  # fmt: skip
            tokens = frozenset(s.token for s in result.failed)
            due_s = ctx.clock.time() + delay_s
            ctx.jobs.add(replace(job, tokens=tokens, due_s=due_s, attempts=attempt))
            ctx.wake.set()
        event = BackfillFailed(
            ctx.clock.time(), first=job.first, last=job.last, attempt=attempt,
            max_attempts=cfg.backfill_attempts, cause=result.cause,
            error=result.error, retry_in_s=delay_s,
        )  # fmt: skip
        ctx.emit(event)

    def _loaded(
        self,
        reason: str,
        collect: list[Symbol] | None,
        symbol: Symbol,
        candles: list[Candle],
    ) -> None:
        self.ctx.handoff.put(Batch(symbol, tuple(candles), reason))
        self.ctx.book.loaded(symbol.token)
        if collect is not None:
            collect.append(symbol)


def hm(when: datetime, *, seconds: bool = False) -> str:
    """``HH:MM`` (or ``HH:MM:SS``) in IST, for log lines."""
    return when.astimezone(IST).strftime("%H:%M:%S" if seconds else "%H:%M")
