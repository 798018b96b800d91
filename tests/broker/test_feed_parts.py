"""The feed's pure parts: the token watch, credentials, output, state and
settings. No socket, no thread, no sleep."""

from __future__ import annotations

import logging
import threading

import pytest

from kit.broker.feed_config import FeedConfig
from kit.broker.feed_credentials import CredentialCache, FeedCredentials, scrub
from kit.broker.feed_events import TicksDropped
from kit.broker.feed_output import EventSink, Throttle, TickOutput, TickQueue
from kit.broker.feed_state import ConnState, ConnStats, FeedState, feed_state
from kit.broker.feed_subscriptions import SubKey, SubscriptionBook
from kit.broker.feed_watch import Liveness, TokenWatch
from kit.broker.routes import ExchangeType, Mode
from kit.broker.wire import LtpTick
from kit.clock import ManualClock

LTP, QUOTE = int(Mode.LTP), int(Mode.QUOTE)
NSE, NFO = int(ExchangeType.NSE_CM), int(ExchangeType.NSE_FO)


def tokens(count: int, start: int = 100_000) -> list[str]:
    return [str(start + i) for i in range(count)]


def book(connections: int = 3, per_connection: int = 1000) -> SubscriptionBook:
    return SubscriptionBook(
        max_connections=connections, max_per_connection=per_connection
    )


# Liveness and the token watch.


def test_liveness_wants_a_ping_every_interval_and_expires_at_the_deadline():
    live = Liveness(ping_interval_s=10.0, deadline_s=20.0, now_s=0.0)

    assert not live.ping_due(9.9) and live.ping_due(10.0)
    live.pinged(10.0)
    assert not live.ping_due(19.9)
    assert not live.expired(19.9) and live.expired(20.0)
    live.heard(15.0)
    assert not live.expired(34.9) and live.expired(35.0)


A, B, C = (SubKey(LTP, NSE, t) for t in ("1", "2", "3"))


def test_a_token_silent_after_a_resubscribe_is_asked_again_then_reported():
    watch = TokenWatch(window_s=10.0, stale_after_s=60.0)
    watch.expect([A, B], now_s=0.0)
    watch.seen(A, 2.0)

    early = watch.judge(9.0, market_open=True, held=[A, B])
    again = watch.judge(10.0, market_open=True, held=[A, B])
    waiting = watch.judge(19.0, market_open=True, held=[A, B])
    silent = watch.judge(20.0, market_open=True, held=[A, B])

    assert early.ask_again == [] and again.ask_again == [B]
    assert waiting.silent == [] and silent.silent == [B]
    assert watch.counts() == (0, 1, 0)
    watch.seen(B, 25.0)  # it ticks after all
    assert watch.counts() == (0, 0, 0)


def test_nothing_is_judged_outside_market_hours_and_windows_run_from_the_open():
    watch = TokenWatch(window_s=10.0, stale_after_s=30.0)
    watch.expect([A], now_s=0.0)
    watch.seen(B, 0.0)

    closed = watch.judge(500.0, market_open=False, held=[A, B])
    after_open = watch.judge(505.0, market_open=True, held=[A, B])
    later = watch.judge(510.0, market_open=True, held=[A, B])
    quiet_since_open = watch.judge(535.0, market_open=True, held=[A, B])

    assert closed.ask_again == closed.stale == []
    assert after_open.ask_again == []  # the window runs from 500, not 0
    assert later.ask_again == [A]
    # B last ticked before the open: its quiet counts from the open (505).
    assert after_open.stale == later.stale == []
    assert quiet_since_open.stale == [B]


def test_a_stale_token_is_reported_once_until_it_ticks_again():
    watch = TokenWatch(window_s=10.0, stale_after_s=30.0)
    watch.seen(A, 0.0)
    watch.seen(C, 0.0)

    first = watch.judge(30.0, market_open=True, held=[A])  # C not held here
    second = watch.judge(40.0, market_open=True, held=[A])
    watch.seen(A, 41.0)
    third = watch.judge(71.0, market_open=True, held=[A])

    assert (first.stale, second.stale, third.stale) == ([A], [], [A])


def test_forgotten_tokens_owe_nothing():
    watch = TokenWatch(window_s=10.0, stale_after_s=30.0)
    watch.expect([A], 0.0)
    watch.forget([A])

    assert watch.judge(100.0, market_open=True, held=[]).ask_again == []


# Credentials.


def creds(n: int) -> FeedCredentials:
    return FeedCredentials(f"jwt-{n}-abc", "key-abc", "CLIENT1", f"feed-{n}-xyz")


def test_credentials_are_fetched_once_and_refreshed_once_per_refusal():
    calls: list[bool] = []

    def provider(*, refresh: bool = False) -> FeedCredentials:
        calls.append(refresh)
        return creds(len(calls))

    cache = CredentialCache(provider)
    first, generation = cache.current()
    again, _ = cache.current()
    asked = [cache.refused(generation) for _ in range(3)]  # three connections
    fresh, new_generation = cache.current()

    assert first is again and fresh.feed_token == "feed-2-xyz"
    assert asked == [True, False, False]
    assert calls == [False, True]
    assert new_generation == generation + 1
    assert cache.refused(generation) is False  # an old refusal changes nothing


def test_a_failing_provider_is_asked_again_next_time():
    calls: list[bool] = []

    def provider(*, refresh: bool = False) -> FeedCredentials:
        calls.append(refresh)
        if len(calls) == 1:
            raise ConnectionError("login failed")
        return creds(1)

    cache = CredentialCache(provider)
    with pytest.raises(ConnectionError):
        cache.current()

    assert cache.current()[0].jwt == "jwt-1-abc"


def test_credentials_never_show_in_their_repr_and_are_scrubbed_from_text():
    c = creds(1)
    text = f"refused {c.jwt} for CLIENT1 with feed-1-xyz and key-abc ({c!r})"

    assert scrub(text, c.secrets()) == "refused *** for *** with *** and *** " + (
        "(FeedCredentials(***))"
    )
    assert "Authorization: Bearer jwt-1-abc" in c.headers()
    assert scrub("x" * 500, ()).endswith("...") and len(scrub("x" * 500, ())) == 200


# Output and events.


def test_a_full_queue_drops_counts_and_reports_without_blocking(caplog):
    clock = ManualClock(0.0)
    events = EventSink(None, keep=10, logger=logging.getLogger("t"), clock=clock)
    output = TickOutput(2, None, events=events, logger=logging.getLogger("t"),
                        clock=clock)  # fmt: skip
    stats = ConnStats()
    tick = LtpTick(1, 1, "1", 0, 0, 1.0)

    with caplog.at_level(logging.WARNING):
        for _ in range(5):
            output.put(tick, stats, "feed-1")
        clock.advance(10.0)
        output.put(tick, stats, "feed-1")

    assert output.queue.qsize() == 2
    assert (stats.drops, output.drops) == (4, 4)
    reports = [e for e in events.snapshot() if isinstance(e, TicksDropped)]
    assert [(e.total, e.since_last) for e in reports] == [(1, 1), (4, 3)]
    assert len([r for r in caplog.records if "Tick queue full" in r.message]) == 2


def test_a_failing_tick_callback_is_counted_and_logged_with_its_traceback(caplog):
    clock = ManualClock(0.0)
    log = logging.getLogger("t")
    events = EventSink(None, keep=10, logger=log, clock=clock)

    def explode(tick: object) -> None:
        raise ZeroDivisionError("consumer bug")

    output = TickOutput(10, explode, events=events, logger=log, clock=clock)
    stats = ConnStats()
    with caplog.at_level(logging.ERROR):
        for _ in range(3):
            output.put(LtpTick(1, 1, "1", 0, 0, 1.0), stats, "feed-1")

    assert stats.callback_errors == 3
    assert output.queue.qsize() == 3  # the ticks still went to the queue
    (record,) = caplog.records  # throttled: one line
    assert record.exc_info is not None or record.exc_text


def test_a_failing_event_callback_never_loses_the_event():
    clock = ManualClock(0.0)

    def explode(event: object) -> None:
        raise RuntimeError("observer bug")

    sink = EventSink(explode, keep=2, logger=logging.getLogger("t"), clock=clock)
    for n in range(3):
        sink.emit(TicksDropped("feed-1", float(n), n, 1))

    assert [e.at_s for e in sink.snapshot()] == [1.0, 2.0]
    assert sink.callback_errors == 3


def test_a_throttle_lets_one_through_per_interval_and_counts_the_rest():
    throttle = Throttle(10.0)

    assert [throttle.allow(t) for t in (0.0, 1.0, 2.0, 10.0)] == [0, None, None, 2]


# State and settings.


@pytest.mark.parametrize(
    ("started", "stopped", "states", "expected"),
    [
        (False, False, [], FeedState.IDLE),
        (True, True, [ConnState.CONNECTED], FeedState.STOPPED),
        (True, False, [ConnState.CONNECTED] * 2, FeedState.CONNECTED),
        (True, False, [ConnState.CONNECTED, ConnState.WAITING], FeedState.DEGRADED),
        (True, False, [ConnState.CONNECTING], FeedState.CONNECTING),
        (True, False, [ConnState.WAITING], FeedState.RECONNECTING),
        (True, False, [ConnState.FAILED, ConnState.WAITING], FeedState.FAILED),
    ],
)
def test_the_feed_state_follows_its_connections(started, stopped, states, expected):
    assert feed_state(started, stopped, states) is expected


@pytest.mark.parametrize(
    "options",
    [
        {"ping_interval_s": 31.0},
        {"ping_interval_s": 10.0, "liveness_deadline_s": 10.0},
        {"verify_window_s": 0.0},
        {"queue_maxsize": 0},
        {"max_connections": 4},
        {"max_per_connection": 1001},
    ],
)
def test_contradictory_feed_settings_are_refused(options):
    with pytest.raises(ValueError):
        FeedConfig(**options)


def test_a_batch_takes_what_fits_in_order_and_counts_the_rest():
    bounded, unbounded = TickQueue(3), TickQueue()
    ticks = [LtpTick(1, 1, str(n), n, 0, 1.0) for n in range(5)]

    assert bounded.put_batch(ticks) == 2
    assert bounded.put_batch(ticks) == 5  # full
    assert unbounded.put_batch(ticks) == 0
    assert [bounded.get_nowait().token for _ in range(3)] == ["0", "1", "2"]
    assert unbounded.qsize() == 5
    for _ in range(3):
        bounded.task_done()
    bounded.join()  # every taken tick was counted as a task


def test_a_batch_wakes_a_waiting_consumer():
    waiting = TickQueue(10)
    got: list[object] = []
    consumer = threading.Thread(target=lambda: got.append(waiting.get(timeout=5)))
    consumer.start()

    waiting.put_batch([LtpTick(1, 1, "7", 0, 0, 1.0)])
    consumer.join(5)

    assert [t.token for t in got] == ["7"]
