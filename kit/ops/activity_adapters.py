"""The kit's own events as activity events, with their incidents paired.

:class:`EventAdapter` turns the events of the feed (:mod:`kit.broker.feed_events`),
the broker session (:class:`~kit.broker.session_types.SessionEvent`), the
bootstrap (:mod:`kit.ops.activity_bootstrap`), the order placer
(:class:`~kit.broker.orders.OrderEvent`) and the REST client's retries
(:mod:`kit.broker.retry`) into :class:`~kit.ops.events.ActivityEvent` objects.
It remembers the open incidents, so the event that ends a fault names the same
incident as the one that noticed it (the convention of :mod:`kit.ops.events`).

The rows of the user's recovery matrix: what opens each fault's incident and
what closes it.

- ``ws_disconnect``: Disconnected (began: the drop), or ConnectFailed or
  Refused while none is open / Reconnected or Connected: recovered; GaveUp:
  failed (:mod:`kit.ops.activity_wsfeed`).
- ``ws_stale``: Disconnected for silence ("no pong or data for N s"; began N s
  before) or a reconnect asked for by the health monitor
  (:meth:`EventAdapter.reconnect_requested`) / as ``ws_disconnect``.
- ``bootstrap_failure``, ``market_closed``: AttemptFailed (began: the first
  attempt) / HistoryLoaded or BuildingFromTicks: recovered
  (:mod:`kit.ops.activity_bootstrap`).
- ``api_rate_limit``, ``network_timeout``, ``server_error``: the first retry
  of a read, by its cause (began: the call) / the end of the call: recovered,
  or failed when it gave up.
- ``token_expiry``: the first expiry warning (began: the expiry, ahead of
  time) or the expiry itself / the session renewed: recovered.
- ``invalid_symbol``: SymbolSkipped, one event, recovered (skipped).
- ``insufficient_margin``: the risk manager's ``trade_skipped``, one event.
- ``store_down``: the activity feed's writer (:mod:`kit.ops.activity_writer`).

Severities: ``info`` for what the kit does as a matter of course (a reconnect
scheduled, a retry), ``warning`` for a fault noticed or a degraded way of
working, ``error`` for something that failed and stays failed for a while,
``critical`` when a person must act now (the feed gave up, the session
expired, an order's outcome is unknown).

Every method is thread-safe and returns None for an event not worth keeping.
"""

from __future__ import annotations

from typing import Any

from kit.broker import feed_events as fe
from kit.broker.orders import OrderEvent
from kit.broker.retry import RetryEnded, RetryNotice, RetryScheduled
from kit.broker.session_types import SessionEvent, SessionEventKind
from kit.clock import Clock
from kit.market.bootstrap_events import BootstrapEvent
from kit.ops.activity_bootstrap import BootstrapAdapter
from kit.ops.activity_incidents import Incident, Incidents, adopted, event_at
from kit.ops.activity_wsfeed import FeedAdapter
from kit.ops.events import ActivityEvent, EventKind, FaultKind, Phase, Severity

_TOKEN = ("session",)
_URGENT_MINUTES = 15  # an expiry warning this close is an error
_CLOSING = (Phase.RECOVERED.value, Phase.FAILED.value)

_API_FAULTS = {
    "RateLimited": FaultKind.API_RATE_LIMIT,
    "BrokerTimeout": FaultKind.NETWORK_TIMEOUT,
    "NetworkError": FaultKind.NETWORK_TIMEOUT,
}


def api_fault(cause: str) -> FaultKind:
    """The fault a REST failure of class ``cause`` belongs to."""
    return _API_FAULTS.get(cause, FaultKind.SERVER_ERROR)


class EventAdapter:
    """Translates the kit's events; remembers the incidents still open."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._incidents = Incidents()
        self._feed = FeedAdapter(self._incidents, clock)
        self._bootstrap = BootstrapAdapter(self._incidents)

    # The feed.

    def from_feed_event(self, event: fe.FeedEvent) -> ActivityEvent | None:
        return self._feed.translate(event)

    def reconnect_requested(
        self, reason: str, *, silent_s: float | None = None
    ) -> ActivityEvent:
        """The health monitor asks the feed to reconnect because data stopped
        ``silent_s`` ago: opens ``ws_stale``; the feed's events close it."""
        return self._feed.reconnect_requested(reason, silent_s=silent_s)

    def observe(self, event: ActivityEvent) -> None:
        """Adopt incidents that events recorded elsewhere opened (the health
        monitor's stale feed and token warnings), so the kit's own events
        join them instead of opening a second incident for one fault."""
        self._feed.observe(event)
        found = adopted(event)
        if found is None or found[0].fault is not FaultKind.TOKEN_EXPIRY:
            return
        incident, phase = found
        current = self._incidents.get(_TOKEN)
        if phase == Phase.DETECTED and current is None:
            self._incidents.put(_TOKEN, incident)
        elif phase in _CLOSING and current is not None and current.id == incident.id:
            self._incidents.close(_TOKEN)

    # The broker session.

    def from_session_event(self, event: SessionEvent) -> ActivityEvent:
        at_s = event.at.timestamp()
        text = f"{event.message}. {event.action}" if event.action else event.message
        if event.kind is SessionEventKind.SESSION_RENEWED:
            incident = self._incidents.close(_TOKEN)
            closing = incident.fields(Phase.RECOVERED) if incident else {}
            return event_at(
                at_s, EventKind.SESSION_RENEWED, Severity.INFO, text, **closing
            )

        left = event.minutes_left
        began_s: float | None = at_s
        if event.kind is SessionEventKind.SESSION_EXPIRED:
            kind, severity = EventKind.SESSION_EXPIRED, Severity.CRITICAL
        else:
            kind = EventKind.TOKEN_EXPIRY_WARNING
            urgent = left is not None and left <= _URGENT_MINUTES
            severity = Severity.ERROR if urgent else Severity.WARNING
            began_s = at_s + left * 60 if left is not None else None
        incident, phase = self._incidents.join_or_open(
            _TOKEN, FaultKind.TOKEN_EXPIRY, began_s
        )
        return event_at(
            at_s, kind, severity, text, minutes_left=left, action=event.action,
            **incident.fields(phase),
        )  # fmt: skip

    # The bootstrap.

    def from_bootstrap_event(self, event: BootstrapEvent) -> ActivityEvent | None:
        return self._bootstrap.translate(event)

    # Orders.

    def from_order_event(self, event: OrderEvent) -> ActivityEvent:
        now_s = self.clock.time() if event.at_s is None else event.at_s
        kind: str = event.kind
        text = f"order {event.ordertag}: {event.text}"
        key = ("order", event.ordertag)
        fields: dict[str, Any] = {"ordertag": event.ordertag}
        severity = Severity.WARNING
        if kind == EventKind.ORDER_RETRY:
            # A refusal before the broker took the order: an API incident.
            fault = api_fault(event.cause)
            incident, phase = self._incidents.join_or_open(key, fault, now_s)
            fields |= {"cause": event.cause, **incident.fields(phase)}
            severity = Severity.INFO
        elif kind == EventKind.ORDER_RETRY_RECOVERED:
            closed = self._incidents.close(key)
            if closed is not None:
                fields |= {"cause": event.cause, **closed.fields(Phase.RECOVERED)}
            severity = Severity.INFO
        elif kind == EventKind.ORDER_UNKNOWN:
            severity = Severity.CRITICAL  # a person must look at the order book
            closed = self._incidents.close(key)
            if closed is not None:
                fields |= closed.fields(Phase.FAILED)
        return event_at(now_s, kind, severity, text, **fields)

    # REST retries.

    def from_retry_notice(self, notice: RetryNotice) -> ActivityEvent:
        key = ("call", str(notice.call_id))
        if isinstance(notice, RetryScheduled):
            return self._retry(key, notice)
        return self._call_ended(key, notice)

    def _retry(self, key: tuple[str, ...], n: RetryScheduled) -> ActivityEvent:
        fault = api_fault(n.cause)
        incident, phase = self._incidents.join_or_open(key, fault, n.started_s)
        code = f" {n.code}" if n.code else ""
        text = (
            f"{n.name}: retry {n.attempt}/{n.max_retries} in {n.delay_s:.1f} s "
            f"after {n.cause}{code}: {n.message}"
        )
        return event_at(
            n.at_s, EventKind.API_RETRY, Severity.INFO, text,
            route=n.name, attempt=n.attempt, max_retries=n.max_retries,
            cause=n.cause, code=n.code, delay_s=round(n.delay_s, 3),
            **incident.fields(phase),
        )  # fmt: skip

    def _call_ended(self, key: tuple[str, ...], n: RetryEnded) -> ActivityEvent:
        incident = self._incidents.close(key)
        if incident is None:
            incident = Incident.new(api_fault(n.cause), n.started_s)
        facts = {
            "route": n.name, "attempts": n.attempts, "elapsed_s": round(n.elapsed_s, 3),
            "cause": n.cause, "code": n.code,
        }  # fmt: skip
        took = f"{n.attempts} attempts in {n.elapsed_s:.1f} s"
        if n.recovered:
            text = f"{n.name}: answered after {took}"
            return event_at(
                n.at_s, EventKind.API_RECOVERED, Severity.INFO, text,
                **facts, **incident.fields(Phase.RECOVERED),
            )  # fmt: skip
        text = f"{n.name}: gave up after {took}: {n.cause}: {n.message}"
        return event_at(
            n.at_s, EventKind.API_FAILED, Severity.ERROR, text,
            **facts, **incident.fields(Phase.FAILED),
        )  # fmt: skip
