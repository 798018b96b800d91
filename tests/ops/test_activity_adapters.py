"""kit.ops.activity_adapters: the kit's events as activity events, incidents paired."""

from __future__ import annotations

import contextlib
import inspect
import random
from datetime import date, datetime, time

import pytest

from kit.broker import feed_events as fe
from kit.broker.feed_subscriptions import SubKey
from kit.broker.orders import OrderEvent
from kit.broker.retry import RetryEnded, RetryPolicy, RetryScheduled, run_with_retry
from kit.broker.session_types import SessionEvent, SessionEventKind
from kit.clock import IST, ManualClock
from kit.errors import BrokerTimeout, RateLimited, ServerError
from kit.market import bootstrap_events as be
from kit.market.candles import Candle, Provenance
from kit.ops.activity_adapters import EventAdapter, api_fault
from kit.ops.activity_render import render_activity
from kit.ops.events import ActivityEvent, EventKind, FaultKind, Severity
from kit.ops.metrics import compute_metrics

DAY = date(2026, 12, 3)
T0 = datetime.combine(DAY, time(10, 0), IST).timestamp()


@pytest.fixture
def adapter() -> EventAdapter:
    return EventAdapter(ManualClock(T0))


def phase(event: ActivityEvent | None) -> str | None:
    assert event is not None
    return event.fields.get("phase")


# The feed.


def test_a_drop_and_its_reconnect_are_one_recovered_incident(adapter):
    down = adapter.from_feed_event(fe.Disconnected("feed-1", T0, "EOF", 120.0, 50, 9))
    retry = adapter.from_feed_event(fe.ReconnectScheduled("feed-1", T0 + 1, 2, 2.0, 10))
    back = adapter.from_feed_event(fe.Reconnected("feed-1", T0 + 4, 4.0, 2))

    assert down is not None and retry is not None and back is not None
    assert down.kind == EventKind.FEED_DISCONNECTED
    assert down.severity is Severity.WARNING
    assert down.fields["fault"] == FaultKind.WS_DISCONNECT
    assert (phase(down), down.fields["began_s"]) == ("detected", T0)
    assert retry.fields["incident"] == down.fields["incident"]
    assert phase(retry) is None and retry.severity is Severity.INFO
    assert back.kind == EventKind.FEED_RECONNECTED
    assert (phase(back), back.fields["incident"]) == (
        "recovered",
        down.fields["incident"],
    )
    assert back.text == "feed-1: reconnected after 4.0 s down (2 attempts)"


def test_a_silent_connection_opens_a_stale_incident_from_its_last_data(adapter):
    reason = "no pong or data for 31.0 s"
    stale = adapter.from_feed_event(fe.Disconnected("feed-1", T0, reason, 300.0, 9, 9))

    assert stale is not None and stale.kind == EventKind.FEED_STALE
    assert stale.fields["fault"] == FaultKind.WS_STALE
    assert stale.fields["began_s"] == T0 - 31.0
    assert stale.fields["silent_s"] == 31.0


def test_giving_up_fails_the_incident_and_asks_for_a_person(adapter):
    down = adapter.from_feed_event(fe.Disconnected("feed-2", T0, "reset", 9.0, 1, 1))
    alert = adapter.from_feed_event(fe.ReconnectAlert("feed-2", T0 + 60, 5))
    gave_up = adapter.from_feed_event(fe.GaveUp("feed-2", T0 + 300, 10))

    assert alert is not None and alert.severity is Severity.WARNING
    assert alert.fields["incident"] == down.fields["incident"]
    assert gave_up is not None and gave_up.severity is Severity.CRITICAL
    assert (phase(gave_up), gave_up.needs_person) == ("failed", True)
    assert gave_up.fields["incident"] == down.fields["incident"]


def test_connections_have_incidents_of_their_own(adapter):
    one = adapter.from_feed_event(fe.Disconnected("feed-1", T0, "EOF", 9.0, 1, 1))
    two = adapter.from_feed_event(fe.Disconnected("feed-2", T0 + 1, "EOF", 9.0, 1, 1))
    back_two = adapter.from_feed_event(fe.Reconnected("feed-2", T0 + 3, 2.0, 1))

    assert one.fields["incident"] != two.fields["incident"]
    assert back_two.fields["incident"] == two.fields["incident"]


def test_failed_first_connects_open_an_incident_that_connecting_closes(adapter):
    first = adapter.from_feed_event(fe.ConnectFailed("feed-1", T0, "refused"))
    second = adapter.from_feed_event(fe.Refused("feed-1", T0 + 1, 429, "limit"))
    up = adapter.from_feed_event(fe.Connected("feed-1", T0 + 5))

    assert (phase(first), first.severity) == ("detected", Severity.WARNING)
    assert second.fields["incident"] == first.fields["incident"]
    assert phase(second) is None and "connection limit" in second.text
    assert (phase(up), up.fields["incident"]) == ("recovered", first.fields["incident"])


def test_a_clean_stop_and_a_first_connect_are_plain_events(adapter):
    up = adapter.from_feed_event(fe.Connected("feed-1", T0))
    stop = adapter.from_feed_event(fe.Disconnected("feed-1", T0, "stopped", 9.0, 1, 1))

    assert "incident" not in up.fields and "incident" not in stop.fields
    assert stop.severity is Severity.INFO


def test_a_reconnect_the_health_monitor_asked_for_is_one_stale_incident(adapter):
    asked = adapter.reconnect_requested("no ticks for 90 s", silent_s=90.0)
    closed = adapter.from_feed_event(
        fe.Disconnected("feed-1", T0, "reconnect requested", 600.0, 9, 9)
    )
    back = adapter.from_feed_event(fe.Reconnected("feed-1", T0 + 2, 2.0, 1))

    assert asked.kind == EventKind.FEED_RECONNECT_REQUESTED
    assert (asked.fields["fault"], phase(asked)) == (FaultKind.WS_STALE, "detected")
    assert asked.fields["began_s"] == T0 - 90.0
    assert (
        closed.fields["incident"] == asked.fields["incident"] and phase(closed) is None
    )
    assert (back.fields["incident"], phase(back)) == (
        asked.fields["incident"],
        "recovered",
    )


def test_a_reconnect_request_recorded_elsewhere_is_adopted(adapter):
    theirs = ActivityEvent(
        datetime.fromtimestamp(T0, IST), EventKind.FEED_RECONNECT_REQUESTED,
        Severity.WARNING, "asked by the health monitor",
        {"incident": "ws_stale-x1", "fault": "ws_stale", "phase": "detected"},
    )  # fmt: skip
    adapter.observe(theirs)

    closed = adapter.from_feed_event(
        fe.Disconnected("feed-1", T0, "reconnect requested", 600.0, 9, 9)
    )
    back = adapter.from_feed_event(fe.Reconnected("feed-1", T0 + 2, 2.0, 1))

    assert closed.fields["incident"] == back.fields["incident"] == "ws_stale-x1"


def health_event(kind, phase, incident="ws_stale-h1", fault="ws_stale"):
    fields = {"incident": incident, "fault": fault, "phase": phase}
    when = datetime.fromtimestamp(T0, IST)
    return ActivityEvent(
        when, kind, Severity.WARNING, "from the health monitor", fields
    )


def test_the_health_monitors_stale_feed_is_joined_until_it_closes_it(adapter):
    adapter.observe(health_event(EventKind.FEED_STALE, "detected"))
    joined = adapter.from_feed_event(
        fe.Disconnected("feed-1", T0, "reconnect requested", 600.0, 9, 9)
    )
    adapter.from_feed_event(fe.Reconnected("feed-1", T0 + 2, 2.0, 1))
    adapter.observe(health_event(EventKind.FEED_STALE, "recovered"))
    later = adapter.from_feed_event(
        fe.Disconnected("feed-1", T0 + 60, "reconnect requested", 58.0, 9, 9)
    )

    assert joined.fields["incident"] == "ws_stale-h1"
    assert later.fields["incident"] != "ws_stale-h1"
    assert later.fields["fault"] == FaultKind.WS_DISCONNECT


def test_the_health_monitors_token_warning_is_joined_by_the_sessions_events(
    adapter,
):
    adapter.observe(
        health_event(
            EventKind.TOKEN_EXPIRY_WARNING,
            "detected",
            "token_expiry-h2",
            "token_expiry",
        )
    )
    expired = adapter.from_session_event(
        session_event(SessionEventKind.SESSION_EXPIRED, 0)
    )
    renewed = adapter.from_session_event(
        session_event(SessionEventKind.SESSION_RENEWED, action="")
    )

    assert (expired.fields["incident"], phase(expired)) == ("token_expiry-h2", None)
    assert (renewed.fields["incident"], phase(renewed)) == (
        "token_expiry-h2", "recovered",
    )  # fmt: skip


def test_events_naming_no_fault_of_the_kit_are_not_adopted(adapter):
    adapter.observe(health_event(EventKind.FEED_STALE, "detected", fault="other"))

    event = adapter.from_feed_event(
        fe.Disconnected("feed-1", T0, "reconnect requested", 600.0, 9, 9)
    )

    assert event.fields["fault"] == FaultKind.WS_DISCONNECT


KEYS = (SubKey(1, 1, "3045"), SubKey(1, 1, "2885"))
FEED_SAMPLES: list[fe.FeedEvent] = [
    fe.Connected("feed-1", T0),
    fe.Disconnected("feed-1", T0, "EOF", 1.0, 1, 1),
    fe.ConnectFailed("feed-1", T0, "timed out"),
    fe.Refused("feed-1", T0, 401, "expired"),
    fe.ReconnectScheduled("feed-1", T0, 1, 0.0, None),
    fe.ReconnectAlert("feed-1", T0, 5),
    fe.GaveUp("feed-1", T0, 10),
    fe.Reconnected("feed-1", T0, 3.0, 2),
    fe.Subscribed("feed-1", T0, 5),
    fe.Resubscribed("feed-1", T0, 50),
    fe.SubscriptionRefused("feed-1", T0, "E1002", "limit", KEYS, 1, KEYS[1:]),
    fe.SubscriptionsUnplaced("feed-1", T0, KEYS),
    fe.TokensAskedAgain("feed-1", T0, KEYS),
    fe.TokensSilent("feed-1", T0, KEYS),
    fe.TokensStale("feed-1", T0, KEYS),
    fe.TicksDropped("feed-1", T0, 100, 40),
]


def test_the_samples_cover_every_feed_event_class():
    classes = {
        c for _, c in inspect.getmembers(fe, inspect.isclass)
        if issubclass(c, fe.FeedEvent) and c is not fe.FeedEvent
    }  # fmt: skip
    assert classes == {type(sample) for sample in FEED_SAMPLES}


@pytest.mark.parametrize("sample", FEED_SAMPLES, ids=lambda s: type(s).__name__)
def test_every_feed_event_becomes_a_kind_of_the_vocabulary(adapter, sample):
    event = adapter.from_feed_event(sample)

    assert event is not None
    assert event.kind in set(EventKind)
    assert event.text.startswith("feed-1: ")
    assert event.at == datetime.fromtimestamp(T0, IST)


def test_token_lists_are_named_and_cut_short(adapter):
    many = tuple(SubKey(1, 1, str(n)) for n in range(25))
    event = adapter.from_feed_event(fe.TokensStale("feed-1", T0, many))

    assert event.fields["count"] == 25 and len(event.fields["tokens"]) == 10
    assert event.text.endswith("and 15 more")


# The broker session.


def session_event(kind, minutes=None, at_s=T0, action="run kit login"):
    when = datetime.fromtimestamp(at_s, IST)
    return SessionEvent(kind, when, "Angel One session news", minutes, action)


def test_expiry_warnings_open_an_incident_that_renewal_closes(adapter):
    warn = adapter.from_session_event(
        session_event(SessionEventKind.TOKEN_EXPIRY_WARNING, 60)
    )
    later = adapter.from_session_event(
        session_event(SessionEventKind.TOKEN_EXPIRY_WARNING, 10, T0 + 3000)
    )
    expired = adapter.from_session_event(
        session_event(SessionEventKind.SESSION_EXPIRED, 0, T0 + 3600)
    )
    renewed = adapter.from_session_event(
        session_event(SessionEventKind.SESSION_RENEWED, at_s=T0 + 3700, action="")
    )

    incident = warn.fields["incident"]
    assert (warn.fields["fault"], phase(warn)) == (FaultKind.TOKEN_EXPIRY, "detected")
    assert warn.fields["began_s"] == T0 + 3600  # the expiry, an hour ahead
    assert warn.severity is Severity.WARNING and later.severity is Severity.ERROR
    assert warn.text == "Angel One session news. run kit login"
    assert (later.fields["incident"], phase(later)) == (incident, None)
    assert expired.severity is Severity.CRITICAL and expired.needs_person
    assert (renewed.fields["incident"], phase(renewed)) == (incident, "recovered")


def test_a_routine_renewal_is_a_plain_event(adapter):
    renewed = adapter.from_session_event(
        session_event(SessionEventKind.SESSION_RENEWED, action="")
    )

    assert renewed.kind == EventKind.SESSION_RENEWED
    assert "incident" not in renewed.fields and not renewed.needs_person


# The bootstrap.


def failed(attempt, cause=be.FailureCause.OTHER, at_s=T0, retry_in_s=5.0):
    return be.AttemptFailed(at_s, attempt, 3, cause, "AB1004", 50, retry_in_s)


def test_failed_attempts_then_ticks_are_one_recovered_bootstrap_incident(adapter):
    adapter.from_bootstrap_event(be.AttemptStarted(T0, 1, 3, 50))
    first = adapter.from_bootstrap_event(failed(1, at_s=T0 + 20))
    adapter.from_bootstrap_event(be.AttemptStarted(T0 + 25, 2, 3, 50))
    second = adapter.from_bootstrap_event(failed(2, at_s=T0 + 45, retry_in_s=None))
    warm = datetime.fromtimestamp(T0 + 12_000, IST)
    ticks = adapter.from_bootstrap_event(
        be.BuildingFromTicks(T0 + 46, ("INFY", "SBIN"), 200, warm, 300.0)
    )
    restored = adapter.from_bootstrap_event(
        be.HistoryRestored(T0 + 900, ("INFY", "SBIN"), 400)
    )

    incident = first.fields["incident"]
    assert (first.fields["fault"], phase(first)) == (
        FaultKind.BOOTSTRAP_FAILURE,
        "detected",
    )
    assert first.fields["began_s"] == T0  # the first attempt's start
    assert first.kind == EventKind.BOOTSTRAP_ATTEMPT_FAILED
    assert (second.fields["incident"], phase(second)) == (incident, None)
    assert "no attempts left" in second.text
    assert (ticks.fields["incident"], phase(ticks)) == (incident, "recovered")
    assert ticks.severity is Severity.WARNING and ticks.fields["symbols"] == 2
    assert (restored.fields["incident"], phase(restored)) == (incident, None)


def test_history_refused_before_the_open_is_a_market_closed_incident(adapter):
    adapter.from_bootstrap_event(be.AttemptStarted(T0, 1, 3, 50))
    wait = adapter.from_bootstrap_event(failed(1, be.FailureCause.MARKET_CLOSED))
    loaded = adapter.from_bootstrap_event(be.HistoryLoaded(T0 + 60, 50, 10_000, 60.0))

    assert wait.kind == EventKind.MARKET_CLOSED_WAIT and wait.severity is Severity.INFO
    assert wait.fields["fault"] == FaultKind.MARKET_CLOSED
    assert (loaded.fields["incident"], phase(loaded)) == (
        wait.fields["incident"],
        "recovered",
    )


def test_an_invalid_symbol_is_an_incident_recovered_at_once(adapter):
    skipped = adapter.from_bootstrap_event(
        be.SymbolSkipped(T0, "NOPE-EQ", "99999", "the broker has no quote for it")
    )

    assert skipped.kind == EventKind.SYMBOL_SKIPPED
    assert (skipped.fields["fault"], phase(skipped)) == (
        FaultKind.INVALID_SYMBOL, "recovered",
    )  # fmt: skip
    assert skipped.fields["began_s"] == T0


def candle(close: float, provenance: Provenance) -> Candle:
    start = datetime.fromtimestamp(T0, IST)
    return Candle(start, 100.0, 101.0, 99.0, close, 10, provenance)


def test_a_revised_candle_is_kept_only_when_its_values_moved(adapter):
    start = datetime.fromtimestamp(T0, IST)
    ticks, broker = candle(100.5, Provenance.TICKS), candle(100.5, Provenance.BROKER)
    moved = candle(100.7, Provenance.BROKER)

    same = be.CandleRevised(T0, "SBIN", "3045", start, ticks, broker, "repair")
    changed = be.CandleRevised(T0, "SBIN", "3045", start, ticks, moved, "repair")

    assert adapter.from_bootstrap_event(same) is None
    event = adapter.from_bootstrap_event(changed)
    assert event is not None and event.fields["new_close"] == 100.7


WHEN = datetime.fromtimestamp(T0, IST)
BOOT_SAMPLES: list[be.BootstrapEvent] = [
    be.AttemptStarted(T0, 1, 3, 50),
    failed(1),
    be.HistoryLoaded(T0, 50, 100, 3.0),
    be.BuildingFromTicks(T0, ("SBIN",), 200, WHEN, 300.0),
    be.RebootstrapFailed(T0, ("SBIN",), be.FailureCause.RATE_LIMIT, "403", 300.0),
    be.HistoryRestored(T0, ("SBIN",), 200),
    be.SymbolSkipped(T0, "X", "1", "unknown"),
    be.BackfillScheduled(T0, WHEN, WHEN, 3, "reconnect", WHEN),
    be.BackfillDone(T0, WHEN, WHEN, 50, 150),
    be.BackfillFailed(T0, WHEN, WHEN, 3, 3, be.FailureCause.OTHER, "500", None),
    be.HistoryMerged(T0, "SBIN", "3045", "repair", 3, 1, 2),
    be.CandleRevised(
        T0,
        "SBIN",
        "3045",
        WHEN,
        candle(1, Provenance.TICKS),
        candle(2, Provenance.BROKER),
        "repair",
    ),
]


def test_the_samples_cover_every_bootstrap_event_class():
    classes = {
        c for _, c in inspect.getmembers(be, inspect.isclass)
        if issubclass(c, be.BootstrapEvent) and c is not be.BootstrapEvent
    }  # fmt: skip
    assert classes == {type(sample) for sample in BOOT_SAMPLES}


@pytest.mark.parametrize("sample", BOOT_SAMPLES, ids=lambda s: type(s).__name__)
def test_every_bootstrap_event_becomes_a_kind_of_the_vocabulary(adapter, sample):
    event = adapter.from_bootstrap_event(sample)

    assert event is not None and event.kind in set(EventKind)
    assert event.at == datetime.fromtimestamp(T0, IST)


def test_an_abandoned_backfill_is_an_error(adapter):
    event = adapter.from_bootstrap_event(BOOT_SAMPLES[9])

    assert event.severity is Severity.ERROR and event.text.endswith("abandoned")


# Orders.


def test_an_unknown_order_outcome_is_critical_and_needs_a_person(adapter):
    event = adapter.from_order_event(
        OrderEvent("order_unknown", "kit-abc123", "outcome unknown: check the book")
    )

    assert event.kind == EventKind.ORDER_UNKNOWN
    assert event.severity is Severity.CRITICAL and event.needs_person
    assert event.fields["ordertag"] == "kit-abc123"
    assert event.at == datetime.fromtimestamp(T0, IST)


def test_a_resent_order_is_a_warning(adapter):
    event = adapter.from_order_event(OrderEvent("order_resent", "kit-1", "absent"))

    assert (event.kind, event.severity) == (EventKind.ORDER_RESENT, Severity.WARNING)
    assert not event.needs_person


# REST retries.


@pytest.mark.parametrize(
    ("cause", "fault"),
    [
        ("RateLimited", FaultKind.API_RATE_LIMIT),
        ("BrokerTimeout", FaultKind.NETWORK_TIMEOUT),
        ("NetworkError", FaultKind.NETWORK_TIMEOUT),
        ("ServerError", FaultKind.SERVER_ERROR),
    ],
)
def test_rest_failures_are_sorted_into_the_matrix_rows(cause, fault):
    assert api_fault(cause) is fault


def retried(errors, adapter) -> list[ActivityEvent]:
    """Run a read that fails with ``errors`` and translate what it reports."""
    clock = ManualClock(T0, auto_advance=True)
    events: list[ActivityEvent] = []
    remaining = list(errors)

    def call() -> str:
        if remaining:
            raise remaining.pop(0)
        return "data"

    with contextlib.suppress(ServerError):  # a read that gave up
        run_with_retry(
            call, name="candles", policy=RetryPolicy(jitter=0.0), clock=clock,
            rng=random.Random(1),
            observer=lambda n: events.append(adapter.from_retry_notice(n)),
        )  # fmt: skip
    return events


def test_retries_and_the_answer_are_one_recovered_api_incident(adapter):
    first, second, answer = retried(
        [RateLimited("exceeding access rate"), BrokerTimeout("slow", sent=True)],
        adapter,
    )

    assert first.kind == EventKind.API_RETRY and first.severity is Severity.INFO
    assert (first.fields["fault"], phase(first)) == (
        FaultKind.API_RATE_LIMIT,
        "detected",
    )
    assert first.fields["began_s"] == T0
    assert (second.fields["incident"], phase(second)) == (
        first.fields["incident"],
        None,
    )
    assert second.fields["cause"] == "BrokerTimeout"
    assert answer.kind == EventKind.API_RECOVERED
    assert (answer.fields["incident"], phase(answer)) == (
        first.fields["incident"], "recovered",
    )  # fmt: skip
    assert answer.at == datetime.fromtimestamp(T0 + 10 + 4, IST)


def test_a_read_that_gives_up_fails_its_incident(adapter):
    *retries, end = retried([ServerError("down", status=503)] * 4, adapter)

    assert len(retries) == 3
    assert end.kind == EventKind.API_FAILED and end.severity is Severity.ERROR
    assert (end.fields["fault"], phase(end)) == (FaultKind.SERVER_ERROR, "failed")
    assert end.fields["attempts"] == 4


def test_an_end_without_its_retries_still_makes_a_closed_incident(adapter):
    end = adapter.from_retry_notice(
        RetryEnded(99, "ltp", True, 2, 3.0, "ServerError", "AB1004", "x", T0, T0 + 3)
    )

    assert (end.fields["fault"], phase(end)) == (FaultKind.SERVER_ERROR, "recovered")
    assert end.fields["began_s"] == T0


def test_separate_calls_are_separate_incidents(adapter):
    def scheduled(call_id):
        return RetryScheduled(
            call_id, "ltp", 1, 3, "ServerError", None, "x", 2.0, T0, T0
        )

    one = adapter.from_retry_notice(scheduled(1))
    two = adapter.from_retry_notice(scheduled(2))

    assert one.fields["incident"] != two.fields["incident"]


# From the adapters to the tables.


def test_translated_feed_events_pair_up_in_the_recovery_table(adapter):
    events = [
        adapter.from_feed_event(fe.Disconnected("feed-1", T0, "EOF", 9.0, 1, 1)),
        adapter.from_feed_event(fe.ReconnectScheduled("feed-1", T0 + 1, 1, 0.0, None)),
        adapter.from_feed_event(fe.Reconnected("feed-1", T0 + 12, 12.0, 2)),
        adapter.from_feed_event(
            fe.Disconnected("feed-1", T0 + 60, "no pong or data for 20.0 s", 9.0, 1, 1)
        ),
        adapter.from_feed_event(fe.Reconnected("feed-1", T0 + 65, 5.0, 1)),
    ]

    metrics = compute_metrics([e for e in events if e is not None], day=DAY)

    rows = {row.fault: row for row in metrics.faults}
    assert (rows["ws_disconnect"].count, rows["ws_disconnect"].recovery_max_s) == (
        1,
        12,
    )
    stale = rows["ws_stale"]
    assert (stale.count, stale.detection_max_s, stale.total_max_s) == (1, 20, 25)
    assert metrics.day(DAY).reconnects.success_rate == 1.0


# Rendering the activity list.


def test_the_activity_list_folds_incidents_into_one_line(adapter):
    events = [
        adapter.from_feed_event(fe.Connected("feed-1", T0 - 60)),
        adapter.from_feed_event(fe.Disconnected("feed-1", T0, "EOF", 9.0, 1, 1)),
        adapter.from_feed_event(fe.ReconnectScheduled("feed-1", T0 + 1, 1, 0.0, None)),
        adapter.from_feed_event(fe.Reconnected("feed-1", T0 + 12, 12.0, 2)),
        adapter.from_feed_event(fe.TicksDropped("feed-1", T0 + 20, 5, 5)),
    ]

    lines = render_activity(events)

    assert len(lines) == 3
    assert lines[0].endswith("feed_connected: feed-1: connected")
    assert "WARNING  ws_disconnect: recovered after 12.0 s (3 events)" in lines[1]
    assert lines[1].startswith("2026-12-03 10:00:12")
    assert "ticks_dropped" in lines[2]
    assert render_activity(events, min_severity=Severity.WARNING)[0] == lines[1]
    assert len(render_activity(events, fold_incidents=False)) == 5
    assert render_activity(events, limit=1) == lines[-1:]


def test_an_open_incident_says_since_when(adapter):
    events = [adapter.from_feed_event(fe.Disconnected("feed-1", T0, "EOF", 9.0, 1, 1))]

    (line,) = render_activity(events)

    assert "ws_disconnect: open since 10:00:00" in line
