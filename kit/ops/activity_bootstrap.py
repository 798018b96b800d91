"""The bootstrap's events as activity events.

Incidents (fields as in :mod:`kit.ops.events`):

- the first :class:`AttemptFailed` of a start-up opens ``bootstrap_failure``
  (``market_closed`` when the cause is the market not being open yet); it
  began when the first attempt started. Later failures join it.
- :class:`HistoryLoaded` closes it as recovered (history came back within the
  attempts), and so does :class:`BuildingFromTicks` (the kit works around it:
  candles from ticks; the user's design counts this as recovered at once).
- :class:`RebootstrapFailed` and :class:`HistoryRestored` name the last
  bootstrap incident, without a phase: they follow it up.
- :class:`SymbolSkipped` is an ``invalid_symbol`` incident in one event,
  recovered (the symbol is skipped).

Backfills, merges and revised candles are plain events; a revised candle whose
values did not move (only its provenance) makes none.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from kit.market.bootstrap_events import (
    AttemptFailed,
    AttemptStarted,
    BackfillDone,
    BackfillFailed,
    BackfillScheduled,
    BootstrapEvent,
    BuildingFromTicks,
    CandleRevised,
    FailureCause,
    HistoryLoaded,
    HistoryMerged,
    HistoryRestored,
    RebootstrapFailed,
    SymbolSkipped,
)
from kit.ops.activity_incidents import (
    Incident,
    Incidents,
    event_at,
    hhmm,
    plain_fields,
    snake_case,
)
from kit.ops.events import ActivityEvent, EventKind, FaultKind, Phase, Severity

_BOOT = ("bootstrap",)
_LISTED = 20  # symbols named in one event's fields

_CAUSE_WORDS = {
    FailureCause.RATE_LIMIT: "rate limited",
    FailureCause.MARKET_CLOSED: "market data not available yet",
    FailureCause.OTHER: "history request failed",
}


class BootstrapAdapter:
    """Translates :class:`BootstrapEvent` objects; keeps the bootstrap incident."""

    def __init__(self, incidents: Incidents) -> None:
        self._incidents = incidents
        self._lock = threading.Lock()
        self._first_attempt_s: float | None = None
        self._last: Incident | None = None
        self._handlers: dict[type, Callable[[Any], ActivityEvent | None]] = {
            AttemptStarted: self._attempt_started,
            AttemptFailed: self._attempt_failed,
            HistoryLoaded: self._history_loaded,
            BuildingFromTicks: self._building_from_ticks,
            RebootstrapFailed: self._rebootstrap_failed,
            HistoryRestored: self._history_restored,
            SymbolSkipped: self._symbol_skipped,
            BackfillScheduled: self._backfill_scheduled,
            BackfillDone: self._backfill_done,
            BackfillFailed: self._backfill_failed,
            HistoryMerged: self._history_merged,
            CandleRevised: self._candle_revised,
        }

    def translate(self, event: BootstrapEvent) -> ActivityEvent | None:
        handler = self._handlers.get(type(event))
        if handler is None:
            kind = f"bootstrap_{snake_case(event.kind)}"
            text = f"bootstrap: {event.kind}"
            return event_at(
                event.at_s, kind, Severity.INFO, text, **plain_fields(event)
            )
        return handler(event)

    # Start-up.

    def _attempt_started(self, e: AttemptStarted) -> ActivityEvent:
        with self._lock:
            if e.attempt == 1 or self._first_attempt_s is None:
                self._first_attempt_s = e.at_s
        text = (
            f"bootstrap: loading history of {e.symbols} symbols "
            f"(attempt {e.attempt}/{e.max_attempts})"
        )
        return event_at(
            e.at_s, EventKind.BOOTSTRAP_ATTEMPT, Severity.INFO, text,
            attempt=e.attempt, max_attempts=e.max_attempts, symbols=e.symbols,
        )  # fmt: skip

    def _attempt_failed(self, e: AttemptFailed) -> ActivityEvent:
        closed = e.cause is FailureCause.MARKET_CLOSED
        fault = FaultKind.MARKET_CLOSED if closed else FaultKind.BOOTSTRAP_FAILURE
        with self._lock:
            began_s = self._first_attempt_s or e.at_s
        incident, phase = self._incidents.join_or_open(_BOOT, fault, began_s)
        then = (
            f"retrying in {e.retry_in_s:.0f} s"
            if e.retry_in_s is not None
            else "no attempts left"
        )
        text = (
            f"bootstrap: {_CAUSE_WORDS[e.cause]} (attempt {e.attempt}/"
            f"{e.max_attempts}): {e.error}; {then}"
        )
        kind = (
            EventKind.MARKET_CLOSED_WAIT
            if closed
            else EventKind.BOOTSTRAP_ATTEMPT_FAILED
        )
        severity = Severity.INFO if closed else Severity.WARNING
        return event_at(
            e.at_s, kind, severity, text,
            attempt=e.attempt, max_attempts=e.max_attempts, cause=e.cause.value,
            error=e.error, pending=e.pending, retry_in_s=e.retry_in_s,
            **incident.fields(phase),
        )  # fmt: skip

    def _history_loaded(self, e: HistoryLoaded) -> ActivityEvent:
        incident = self._close()
        text = (
            f"bootstrap: history loaded for {e.symbols} symbols "
            f"({e.candles} candles) in {e.elapsed_s:.1f} s"
        )
        closing = incident.fields(Phase.RECOVERED) if incident else {}
        return event_at(
            e.at_s, EventKind.HISTORY_LOADED, Severity.INFO, text,
            symbols=e.symbols, candles=e.candles, elapsed_s=round(e.elapsed_s, 3),
            **closing,
        )  # fmt: skip

    def _building_from_ticks(self, e: BuildingFromTicks) -> ActivityEvent:
        incident = self._close()
        text = (
            f"bootstrap: building candles from ticks for {len(e.symbols)} symbols; "
            f"warm at {hhmm(e.warm_at)}; history asked again every "
            f"{e.retry_every_s:.0f} s"
        )
        closing = incident.fields(Phase.RECOVERED) if incident else {}
        return event_at(
            e.at_s, EventKind.BUILDING_FROM_TICKS, Severity.WARNING, text,
            symbols=len(e.symbols), symbol_list=list(e.symbols[:_LISTED]),
            candles_needed=e.candles_needed, warm_at=e.warm_at.isoformat(),
            retry_every_s=e.retry_every_s, mode="ticks", **closing,
        )  # fmt: skip

    def _close(self) -> Incident | None:
        incident = self._incidents.close(_BOOT)
        with self._lock:
            self._first_attempt_s = None
            if incident is not None:
                self._last = incident
        return incident

    # In the background.

    def _follow_up(self) -> dict[str, Any]:
        with self._lock:
            last = self._last
        return last.fields() if last is not None else {}

    def _rebootstrap_failed(self, e: RebootstrapFailed) -> ActivityEvent:
        text = (
            f"bootstrap: history still unavailable for {len(e.symbols)} symbols "
            f"({_CAUSE_WORDS[e.cause]}: {e.error}); asking again in "
            f"{e.retry_in_s:.0f} s"
        )
        return event_at(
            e.at_s, EventKind.HISTORY_RETRY_FAILED, Severity.INFO, text,
            symbols=len(e.symbols), cause=e.cause.value, error=e.error,
            retry_in_s=e.retry_in_s, **self._follow_up(),
        )  # fmt: skip

    def _history_restored(self, e: HistoryRestored) -> ActivityEvent:
        text = (
            f"bootstrap: history restored for {len(e.symbols)} symbols "
            f"({e.candles} candles); broker candles replace those built from ticks"
        )
        return event_at(
            e.at_s, EventKind.HISTORY_RESTORED, Severity.INFO, text,
            symbols=len(e.symbols), symbol_list=list(e.symbols[:_LISTED]),
            candles=e.candles, **self._follow_up(),
        )  # fmt: skip

    def _symbol_skipped(self, e: SymbolSkipped) -> ActivityEvent:
        incident = Incident.new(FaultKind.INVALID_SYMBOL, e.at_s)
        text = f"{e.symbol} ({e.token}) skipped: {e.reason}"
        return event_at(
            e.at_s, EventKind.SYMBOL_SKIPPED, Severity.WARNING, text,
            symbol=e.symbol, token=e.token, reason=e.reason,
            **incident.fields(Phase.RECOVERED),
        )  # fmt: skip

    # Gaps and candles.

    def _backfill_scheduled(self, e: BackfillScheduled) -> ActivityEvent:
        text = (
            f"backfill of {e.minutes} min ({hhmm(e.first)}-{hhmm(e.last)}) "
            f"due at {e.due_at.strftime('%H:%M:%S')}: {e.reason}"
        )
        return event_at(
            e.at_s, EventKind.BACKFILL_SCHEDULED, Severity.INFO, text,
            first=e.first.isoformat(), last=e.last.isoformat(), minutes=e.minutes,
            reason=e.reason, due_at=e.due_at.isoformat(),
        )  # fmt: skip

    def _backfill_done(self, e: BackfillDone) -> ActivityEvent:
        text = (
            f"backfill done: {hhmm(e.first)}-{hhmm(e.last)}, {e.symbols} symbols, "
            f"{e.candles} candles"
        )
        return event_at(
            e.at_s, EventKind.BACKFILL_DONE, Severity.INFO, text,
            first=e.first.isoformat(), last=e.last.isoformat(), symbols=e.symbols,
            candles=e.candles,
        )  # fmt: skip

    def _backfill_failed(self, e: BackfillFailed) -> ActivityEvent:
        abandoned = e.retry_in_s is None
        then = "abandoned" if abandoned else f"retrying in {e.retry_in_s:.0f} s"
        text = (
            f"backfill {hhmm(e.first)}-{hhmm(e.last)} failed (attempt {e.attempt}/"
            f"{e.max_attempts}, {_CAUSE_WORDS[e.cause]}: {e.error}); {then}"
        )
        severity = Severity.ERROR if abandoned else Severity.WARNING
        return event_at(
            e.at_s, EventKind.BACKFILL_FAILED, severity, text,
            first=e.first.isoformat(), last=e.last.isoformat(), attempt=e.attempt,
            max_attempts=e.max_attempts, cause=e.cause.value, error=e.error,
            retry_in_s=e.retry_in_s,
        )  # fmt: skip

    def _history_merged(self, e: HistoryMerged) -> ActivityEvent:
        text = (
            f"{e.symbol}: {e.candles} broker candles merged ({e.filled} filled, "
            f"{e.revised} revised): {e.reason}"
        )
        return event_at(
            e.at_s, EventKind.HISTORY_MERGED, Severity.INFO, text,
            symbol=e.symbol, token=e.token, reason=e.reason, candles=e.candles,
            filled=e.filled, revised=e.revised,
        )  # fmt: skip

    def _candle_revised(self, e: CandleRevised) -> ActivityEvent | None:
        if not e.changed:
            return None
        old, new = e.old, e.new
        text = (
            f"{e.symbol} {hhmm(e.start)} candle revised ({e.reason}): close "
            f"{old.close:g} -> {new.close:g}, volume {old.volume} -> {new.volume}"
        )
        return event_at(
            e.at_s, EventKind.CANDLE_REVISED, Severity.INFO, text,
            symbol=e.symbol, token=e.token, start=e.start.isoformat(),
            reason=e.reason, old_close=old.close, new_close=new.close,
            old_volume=old.volume, new_volume=new.volume,
        )  # fmt: skip
