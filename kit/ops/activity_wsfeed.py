"""The feed's events as activity events, with the feed's incidents.

Each connection (``feed-1`` ...) has at most one open incident:

- ``ws_disconnect`` opens when a connection drops (began: the drop), or when
  an attempt fails (ConnectFailed, Refused) while none is open; ``ws_stale``
  opens when a connection is closed for silence ("no pong or data for N s":
  began N s before) or when the health monitor asks for a reconnect
  (:meth:`FeedAdapter.reconnect_requested`, or a ``feed_reconnect_requested``
  event recorded elsewhere, adopted by :meth:`FeedAdapter.observe`);
- attempts, alerts and refusals in between join it (no phase);
- Reconnected (or Connected) closes it as recovered, GaveUp as failed.

A connection closed by a clean stop opens nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from kit.broker import feed_events as fe
from kit.broker.feed_subscriptions import SubKey
from kit.clock import Clock
from kit.ops.activity_incidents import (
    Incident,
    Incidents,
    adopted,
    event_at,
    plain_fields,
    snake_case,
)
from kit.ops.events import ActivityEvent, EventKind, FaultKind, Phase, Severity

_STALE_REASON = re.compile(r"no pong or data for ([0-9.]+) s")
_REQUESTED_REASON = "reconnect requested"
_STOPPED_REASON = "stopped"
_SHOWN_TOKENS = 10
_CLOSING = (Phase.RECOVERED.value, Phase.FAILED.value)


class FeedAdapter:
    """Translates :class:`~kit.broker.feed_events.FeedEvent` objects."""

    def __init__(self, incidents: Incidents, clock: Clock) -> None:
        self.clock = clock
        self._incidents = incidents
        self._requested: Incident | None = None  # a reconnect asked for
        self._handlers: dict[type, Callable[[Any], ActivityEvent | None]] = {
            fe.Connected: self._connected,
            fe.Disconnected: self._disconnected,
            fe.ConnectFailed: self._connect_failed,
            fe.Refused: self._refused,
            fe.ReconnectScheduled: self._reconnect_scheduled,
            fe.ReconnectAlert: self._reconnect_alert,
            fe.GaveUp: self._gave_up,
            fe.Reconnected: self._reconnected,
            fe.Subscribed: self._subscribed,
            fe.Resubscribed: self._subscribed,
            fe.SubscriptionRefused: self._subscription_refused,
            fe.SubscriptionsUnplaced: self._keys_event,
            fe.TokensAskedAgain: self._keys_event,
            fe.TokensSilent: self._keys_event,
            fe.TokensStale: self._keys_event,
            fe.TicksDropped: self._ticks_dropped,
        }

    def translate(self, event: fe.FeedEvent) -> ActivityEvent | None:
        handler = self._handlers.get(type(event))
        if handler is None:
            kind = f"feed_{snake_case(event.kind)}"
            text = f"{event.connection}: {event.kind}"
            return event_at(
                event.at_s, kind, Severity.INFO, text, **plain_fields(event)
            )
        return handler(event)

    def reconnect_requested(
        self, reason: str, *, silent_s: float | None = None
    ) -> ActivityEvent:
        """The health monitor asks the feed to reconnect because data stopped
        ``silent_s`` ago: opens ``ws_stale``; the feed's events close it."""
        now_s = self.clock.time()
        began_s = now_s - silent_s if silent_s is not None else None
        incident = Incident.new(FaultKind.WS_STALE, began_s)
        self._requested = incident
        return event_at(
            now_s, EventKind.FEED_RECONNECT_REQUESTED, Severity.WARNING,
            f"feed: reconnect requested: {reason}", reason=reason,
            silent_s=silent_s, **incident.fields(Phase.DETECTED),
        )  # fmt: skip

    def observe(self, event: ActivityEvent) -> None:
        """Adopt a stale feed noticed by someone else (the health monitor's
        ``feed_stale`` or ``feed_reconnect_requested``), so the feed's events
        that follow join its incident instead of opening another; forget it
        when that someone closes it."""
        found = adopted(event)
        if found is None or "connection" in event.fields:
            return  # not an incident, or one of this adapter's own
        incident, phase = found
        requested = self._requested
        if phase in _CLOSING:
            if requested is not None and requested.id == incident.id:
                self._requested = None
            return
        kinds = (EventKind.FEED_STALE, EventKind.FEED_RECONNECT_REQUESTED)
        if event.kind in kinds and (requested is None or requested.id != incident.id):
            self._requested = incident

    def _connected(self, e: fe.Connected) -> ActivityEvent:
        incident = self._close_feed(e.connection)
        text = f"{e.connection}: connected"
        if incident is None:
            return event_at(
                e.at_s, EventKind.FEED_CONNECTED, Severity.INFO, text,
                connection=e.connection,
            )  # fmt: skip
        return event_at(
            e.at_s, EventKind.FEED_CONNECTED, Severity.INFO, text,
            connection=e.connection, **incident.fields(Phase.RECOVERED),
        )  # fmt: skip

    def _disconnected(self, e: fe.Disconnected) -> ActivityEvent:
        conn, key = e.connection, ("feed", e.connection)
        facts = {
            "connection": conn, "reason": e.reason, "uptime_s": round(e.uptime_s, 3),
            "frames": e.frames, "bytes": e.bytes,
        }  # fmt: skip
        summary = f"up {e.uptime_s:.1f} s, {e.frames} frames"
        if e.reason == _STOPPED_REASON:
            text = f"{conn}: stopped ({summary})"
            return event_at(
                e.at_s, EventKind.FEED_DISCONNECTED, Severity.INFO, text, **facts
            )

        stale = _STALE_REASON.search(e.reason)
        if stale is not None:
            silent_s = float(stale.group(1))
            began_s = e.at_s - silent_s
            incident, phase = self._incidents.join_or_open(
                key, FaultKind.WS_STALE, began_s
            )
            text = (
                f"{conn}: no data for {silent_s:.1f} s; closed, reconnecting "
                f"({summary})"
            )
            return event_at(
                e.at_s, EventKind.FEED_STALE, Severity.WARNING, text,
                silent_s=silent_s, **facts, **incident.fields(phase),
            )  # fmt: skip

        requested = self._requested
        if e.reason == _REQUESTED_REASON and requested is not None:
            self._incidents.put(key, requested)
            text = f"{conn}: closed on request; reconnecting ({summary})"
            return event_at(
                e.at_s, EventKind.FEED_DISCONNECTED, Severity.INFO, text,
                **facts, **requested.fields(),
            )  # fmt: skip

        incident, phase = self._incidents.join_or_open(
            key, FaultKind.WS_DISCONNECT, e.at_s
        )
        text = f"{conn}: disconnected ({e.reason}); reconnecting ({summary})"
        return event_at(
            e.at_s, EventKind.FEED_DISCONNECTED, Severity.WARNING, text,
            **facts, **incident.fields(phase),
        )  # fmt: skip

    def _connect_failed(self, e: fe.ConnectFailed) -> ActivityEvent:
        key = ("feed", e.connection)
        incident, phase = self._incidents.join_or_open(
            key, FaultKind.WS_DISCONNECT, e.at_s
        )
        severity = Severity.WARNING if phase is not None else Severity.INFO
        return event_at(
            e.at_s, EventKind.FEED_CONNECT_FAILED, severity,
            f"{e.connection}: connect failed: {e.reason}",
            connection=e.connection, reason=e.reason, **incident.fields(phase),
        )  # fmt: skip

    def _refused(self, e: fe.Refused) -> ActivityEvent:
        key = ("feed", e.connection)
        incident, phase = self._incidents.join_or_open(
            key, FaultKind.WS_DISCONNECT, e.at_s
        )
        why = {401: "fresh tokens asked for", 429: "connection limit; waiting longer"}
        text = (
            f"{e.connection}: upgrade refused with HTTP {e.status} "
            f"({e.reason}); {why.get(e.status, 'retrying')}"
        )
        return event_at(
            e.at_s, EventKind.FEED_REFUSED, Severity.WARNING, text,
            connection=e.connection, status=e.status, reason=e.reason,
            **incident.fields(phase),
        )  # fmt: skip

    def _reconnect_scheduled(self, e: fe.ReconnectScheduled) -> ActivityEvent:
        of = f"/{e.max_attempts}" if e.max_attempts is not None else ""
        text = (
            f"{e.connection}: reconnecting in {e.delay_s:.1f} s "
            f"(attempt {e.attempt}{of})"
        )
        return event_at(
            e.at_s, EventKind.FEED_RECONNECTING, Severity.INFO, text,
            connection=e.connection, attempt=e.attempt, delay_s=round(e.delay_s, 3),
            max_attempts=e.max_attempts, **self._feed_follow_up(e.connection),
        )  # fmt: skip

    def _reconnect_alert(self, e: fe.ReconnectAlert) -> ActivityEvent:
        text = f"{e.connection}: still disconnected at attempt {e.attempt}"
        return event_at(
            e.at_s, EventKind.FEED_STILL_DOWN, Severity.WARNING, text,
            connection=e.connection, attempt=e.attempt,
            **self._feed_follow_up(e.connection),
        )  # fmt: skip

    def _gave_up(self, e: fe.GaveUp) -> ActivityEvent:
        incident = self._close_feed(e.connection)
        if incident is None:
            incident = Incident.new(FaultKind.WS_DISCONNECT, e.at_s)
        text = (
            f"{e.connection}: gave up reconnecting after {e.attempts} attempts; "
            "no market data on this connection until the bot is restarted"
        )
        return event_at(
            e.at_s, EventKind.FEED_GAVE_UP, Severity.CRITICAL, text,
            connection=e.connection, attempts=e.attempts,
            **incident.fields(Phase.FAILED),
        )  # fmt: skip

    def _reconnected(self, e: fe.Reconnected) -> ActivityEvent:
        incident = self._close_feed(e.connection)
        if incident is None:
            incident = Incident.new(FaultKind.WS_DISCONNECT, e.at_s - e.downtime_s)
        text = (
            f"{e.connection}: reconnected after {e.downtime_s:.1f} s down "
            f"({e.attempts} attempts)"
        )
        return event_at(
            e.at_s, EventKind.FEED_RECONNECTED, Severity.INFO, text,
            connection=e.connection, downtime_s=round(e.downtime_s, 3),
            attempts=e.attempts, **incident.fields(Phase.RECOVERED),
        )  # fmt: skip

    def _subscribed(self, e: fe.Subscribed | fe.Resubscribed) -> ActivityEvent:
        again = isinstance(e, fe.Resubscribed)
        kind = EventKind.FEED_RESUBSCRIBED if again else EventKind.FEED_SUBSCRIBED
        verb = "resubscribed" if again else "subscribed"
        text = f"{e.connection}: {verb} {e.count} tokens"
        return event_at(
            e.at_s, kind, Severity.INFO, text, connection=e.connection, count=e.count
        )

    def _subscription_refused(self, e: fe.SubscriptionRefused) -> ActivityEvent:
        text = (
            f"{e.connection}: subscription refused ({e.code} {e.message}): "
            f"{len(e.keys)} tokens, {e.moved} moved, {len(e.unplaced)} unplaced"
        )
        severity = Severity.ERROR if e.unplaced else Severity.WARNING
        return event_at(
            e.at_s, EventKind.SUBSCRIPTION_REFUSED, severity, text,
            connection=e.connection, code=e.code, refused=len(e.keys), moved=e.moved,
            unplaced=len(e.unplaced), tokens=_tokens(e.keys),
        )  # fmt: skip

    def _keys_event(
        self,
        e: fe.SubscriptionsUnplaced
        | fe.TokensAskedAgain
        | fe.TokensSilent
        | fe.TokensStale,
    ) -> ActivityEvent:
        kind, severity, words = _KEY_EVENTS[type(e)]
        shown = ", ".join(_tokens(e.keys))
        more = (
            f" and {len(e.keys) - _SHOWN_TOKENS} more"
            if len(e.keys) > _SHOWN_TOKENS
            else ""
        )
        text = f"{e.connection}: {len(e.keys)} tokens {words}: {shown}{more}"
        return event_at(
            e.at_s, kind, severity, text,
            connection=e.connection, count=len(e.keys), tokens=_tokens(e.keys),
        )  # fmt: skip

    def _ticks_dropped(self, e: fe.TicksDropped) -> ActivityEvent:
        text = (
            f"{e.connection}: tick queue full: {e.since_last} ticks dropped "
            f"({e.total} in all)"
        )
        return event_at(
            e.at_s, EventKind.TICKS_DROPPED, Severity.WARNING, text,
            connection=e.connection, dropped=e.since_last, total=e.total,
        )  # fmt: skip

    def _close_feed(self, connection: str) -> Incident | None:
        incident = self._incidents.close(("feed", connection))
        requested = self._requested
        if (
            incident is not None
            and requested is not None
            and incident.id == requested.id
        ):
            self._requested = None
        return incident

    def _feed_follow_up(self, connection: str) -> dict[str, Any]:
        incident = self._incidents.get(("feed", connection))
        return incident.fields() if incident is not None else {}


_KEY_EVENTS: dict[type, tuple[EventKind, Severity, str]] = {
    fe.SubscriptionsUnplaced: (
        EventKind.SUBSCRIPTIONS_UNPLACED, Severity.WARNING,
        "beyond every connection's room, waiting",
    ),
    fe.TokensAskedAgain: (
        EventKind.TOKENS_ASKED_AGAIN, Severity.INFO,
        "silent after subscribing, asked again",
    ),
    fe.TokensSilent: (
        EventKind.TOKENS_SILENT, Severity.WARNING,
        "never ticked, even when asked again",
    ),
    fe.TokensStale: (
        EventKind.TOKENS_STALE, Severity.WARNING, "quiet for too long",
    ),
}  # fmt: skip


def _tokens(keys: tuple[SubKey, ...]) -> list[str]:
    return [str(key.token) for key in keys[:_SHOWN_TOKENS]]
