"""The activity feed's vocabulary: one typed event per thing that happened.

An :class:`ActivityEvent` is what the kit writes to the store, shows on the
board, sends as a notification and counts in the recovery tables. It holds a
kind from :class:`EventKind`, a :class:`Severity`, a one-line ``text`` for a
person, and ``fields``: JSON values (str, int, float, bool, None, and lists of
them) that the metrics read. Events never hold a credential or a token.

Incidents: the events of one fault share ``fields["incident"]`` (a string
unique within the day) and name ``fields["fault"]`` (a :class:`FaultKind`, one
per row of the user's recovery matrix, plus what the kit adds). The event that
notices the fault has ``fields["phase"] = "detected"`` and, when known, the
epoch second the fault began in ``fields["began_s"]`` (the last tick before a
silent feed, the moment a connection dropped). The event that ends it has
``"recovered"`` (the kit fixed it) or ``"failed"`` (it gave up: a person is
needed). Detection time is ``detected.at - began_s``, recovery time
``recovered.at - detected.at``.

The phases are the values of :class:`Phase`. Events between the two (a
reconnect scheduled, another retry) carry the incident's id and fault and no
phase. A fault that is noticed and dealt with in one step (an invalid symbol
skipped, a trade skipped for margin) is one event with phase ``"recovered"``
and no ``"detected"`` event: its detection is its own time. A ``began_s``
later than the detection (a token warned about before it expires) is an
advance warning: the fault has not begun yet, and a negative detection time
says how far ahead it was seen. :func:`new_incident_id` makes the ids.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from kit.clock import IST


class Severity(StrEnum):
    """How much an event matters; notifications start at ``warning``."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RANKS[self]


_RANKS = {
    Severity.INFO: 0,
    Severity.WARNING: 1,
    Severity.ERROR: 2,
    Severity.CRITICAL: 3,
}


class FaultKind(StrEnum):
    """What went wrong: the rows of the user's recovery matrix, and the kit's."""

    WS_DISCONNECT = "ws_disconnect"  # the feed's connection dropped
    WS_STALE = "ws_stale"  # connected, but no data: closed and reconnected
    BOOTSTRAP_FAILURE = "bootstrap_failure"  # warm-up history refused
    API_RATE_LIMIT = "api_rate_limit"
    NETWORK_TIMEOUT = "network_timeout"  # no answer, or no answer in time
    SERVER_ERROR = "server_error"  # 5xx, AB1004, garbled bodies
    TOKEN_EXPIRY = "token_expiry"  # the session nears or passes its expiry
    INVALID_SYMBOL = "invalid_symbol"
    INSUFFICIENT_MARGIN = "insufficient_margin"
    MARKET_CLOSED = "market_closed"
    STORE_DOWN = "store_down"  # the store stopped answering
    CRASH = "crash"  # the process ended without a clean stop


class Phase(StrEnum):
    """Where an event stands in its incident (``fields["phase"]``)."""

    DETECTED = "detected"
    RECOVERED = "recovered"  # the kit fixed it or worked around it
    FAILED = "failed"  # the kit gave up; a person is needed


def new_incident_id(fault: FaultKind | str) -> str:
    """A fresh incident id naming its fault, unique across runs of a day."""
    return f"{FaultKind(fault).value}-{uuid.uuid4().hex[:10]}"


class EventKind(StrEnum):
    """Every kind of event the kit records. Grouped by the part that emits it."""

    # The bot's life.
    BOT_STARTED = "bot_started"
    BOT_STOPPED = "bot_stopped"  # a clean stop
    CRASH_DETECTED = "crash_detected"  # a start found the last run unfinished
    MANUAL_ACTION = "manual_action"  # a person did something (login, restart)

    # The feed.
    FEED_CONNECTED = "feed_connected"
    FEED_DISCONNECTED = "feed_disconnected"
    FEED_CONNECT_FAILED = "feed_connect_failed"  # an attempt failed before the upgrade
    FEED_RECONNECTING = "feed_reconnecting"  # the next attempt is scheduled
    FEED_STILL_DOWN = "feed_still_down"  # an alert attempt of the backoff policy
    FEED_RECONNECTED = "feed_reconnected"
    FEED_REFUSED = "feed_refused"  # 401 or 429 on the upgrade
    FEED_GAVE_UP = "feed_gave_up"
    FEED_STALE = "feed_stale"  # data stopped while connected
    FEED_RECONNECT_REQUESTED = "feed_reconnect_requested"  # by the health monitor
    FEED_SUBSCRIBED = "feed_subscribed"
    FEED_RESUBSCRIBED = "feed_resubscribed"  # every pair again after a reconnect
    SUBSCRIPTION_REFUSED = "subscription_refused"
    SUBSCRIPTIONS_UNPLACED = "subscriptions_unplaced"  # no connection has room
    TOKENS_ASKED_AGAIN = "tokens_asked_again"  # silent after a subscribe
    TOKENS_SILENT = "tokens_silent"  # subscribed tokens that never ticked
    TOKENS_STALE = "tokens_stale"  # tokens that ticked, then went quiet
    TICKS_DROPPED = "ticks_dropped"  # the tick queue was full

    # Candles and history.
    BOOTSTRAP_ATTEMPT = "bootstrap_attempt"
    BOOTSTRAP_ATTEMPT_FAILED = "bootstrap_attempt_failed"
    HISTORY_LOADED = "history_loaded"
    BUILDING_FROM_TICKS = "building_from_ticks"
    HISTORY_RETRY_FAILED = "history_retry_failed"  # the background retry, still no
    HISTORY_RESTORED = "history_restored"
    MARKET_CLOSED_WAIT = "market_closed_wait"
    SYMBOL_SKIPPED = "symbol_skipped"  # an invalid symbol
    BACKFILL_SCHEDULED = "backfill_scheduled"
    BACKFILL_DONE = "backfill_done"
    BACKFILL_FAILED = "backfill_failed"
    HISTORY_MERGED = "history_merged"
    CANDLE_REVISED = "candle_revised"

    # REST calls.
    API_RETRY = "api_retry"  # a read failed and will be tried again
    API_RECOVERED = "api_recovered"  # a read succeeded after retries
    API_FAILED = "api_failed"  # a read gave up

    # The broker session.
    TOKEN_EXPIRY_WARNING = "token_expiry_warning"
    SESSION_EXPIRED = "session_expired"
    SESSION_RENEWED = "session_renewed"

    # Trading.
    ORDER_PLACED = "order_placed"
    ORDER_REJECTED = "order_rejected"
    ORDER_UNKNOWN = "order_unknown"  # the outcome could not be resolved
    ORDER_RESENT = "order_resent"  # proven absent from the book, sent again
    ORDER_RETRY = "order_retry"  # refused before it was taken; sent again
    ORDER_RETRY_RECOVERED = "order_retry_recovered"  # taken after refusals
    TRADE_SKIPPED = "trade_skipped"  # margin, limits, a symbol not warm
    POSITION_OPENED = "position_opened"
    POSITION_CLOSED = "position_closed"
    TRADING_STATE_CHANGED = "trading_state_changed"
    DEGRADATION_CHANGED = "degradation_changed"
    RECONCILE_MISMATCH = "reconcile_mismatch"
    STRATEGY_ERROR = "strategy_error"

    # Health, store and notifications.
    HEALTH_GRADE_CHANGED = "health_grade_changed"
    RESOURCE_WARNING = "resource_warning"  # memory growth, threads, files
    STORE_UNAVAILABLE = "store_unavailable"
    STORE_RESTORED = "store_restored"
    NOTIFICATION_FAILED = "notification_failed"


NEEDS_PERSON = frozenset(
    {
        EventKind.MANUAL_ACTION,
        EventKind.FEED_GAVE_UP,
        EventKind.TOKEN_EXPIRY_WARNING,
        EventKind.SESSION_EXPIRED,
        EventKind.ORDER_UNKNOWN,
        EventKind.RECONCILE_MISMATCH,
    }
)
"""Kinds that ask a person to act; ``fields["needs_person"]`` marks others."""


@dataclass(frozen=True)
class ActivityEvent:
    """One thing that happened, as stored and shown.

    ``at`` is timezone-aware. ``id`` is unique (a store writes an event once
    even when the write is retried).
    """

    at: datetime
    kind: str
    severity: Severity
    text: str
    fields: Mapping[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            raise ValueError("an event's time must be timezone-aware")
        object.__setattr__(self, "severity", Severity(self.severity))
        object.__setattr__(self, "fields", dict(self.fields))
        try:
            json.dumps(self.fields, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"{self.kind}: fields must be JSON values: {exc}"
            ) from None

    @property
    def needs_person(self) -> bool:
        return self.kind in NEEDS_PERSON or bool(self.fields.get("needs_person"))

    def line(self) -> str:
        """One readable line: time (IST), severity, kind and text."""
        when = self.at.astimezone(IST).strftime("%Y-%m-%d %H:%M:%S")
        return f"{when} {self.severity.value.upper():<8} {self.kind}: {self.text}"
