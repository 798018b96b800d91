"""kit.ops.activity: events to subscribers at once, to the store off the caller's
thread, buffered while the store is down and written in order when it is back."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta

import pytest

from kit import logsafe
from kit.broker import feed_events as fe
from kit.broker.retry import RetryScheduled
from kit.clock import IST, ManualClock
from kit.errors import StoreError, StoreUnavailable
from kit.ops.activity import ActivityFeed
from kit.ops.activity_buffer import EventBuffer
from kit.ops.events import ActivityEvent, EventKind, FaultKind, Severity

START = datetime.combine(date(2026, 12, 3), time(10, 0), IST)
WAIT_S = 5.0  # real seconds a test waits for the writer thread, at most


class MemoryStore:
    """A store double: events by id (written once), every append logged; it can
    be taken down (appends and reads raise StoreUnavailable) and brought back."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.rows: dict[str, ActivityEvent] = {}
        self.appended: list[str] = []  # every id of every successful append
        self.attempts = 0
        self.down = False
        self.partial = False  # when down: write the first half, then raise

    def append_events(self, events: Sequence[ActivityEvent]) -> None:
        with self.cond:
            self.attempts += 1
            self.cond.notify_all()
            if self.down:
                if self.partial:
                    self._write(events[: len(events) // 2])
                raise StoreUnavailable("store did not answer within 10.0 s")
            self._write(events)

    def _write(self, events: Sequence[ActivityEvent]) -> None:
        for event in events:
            self.appended.append(event.id)
            self.rows.setdefault(event.id, event)

    def events(self, *, since=None, until=None, kinds=None, limit=None):
        with self.cond:
            if self.down:
                raise StoreUnavailable("store did not answer within 10.0 s")
            chosen = [
                e
                for e in sorted(self.rows.values(), key=lambda e: e.at)
                if (since is None or e.at >= since)
                and (until is None or e.at < until)
                and (kinds is None or e.kind in kinds)
            ]
        return chosen[-limit:] if limit else chosen

    def wait_attempts(self, count: int) -> None:
        with self.cond:
            assert self.cond.wait_for(lambda: self.attempts >= count, WAIT_S)

    def kinds(self) -> list[str]:
        return [self.rows[i].kind for i in dict.fromkeys(self.appended)]


class GatedStore(MemoryStore):
    """Appends block until the gate opens: a store that hangs."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.gate = threading.Event()

    def append_events(self, events: Sequence[ActivityEvent]) -> None:
        self.entered.set()
        assert self.gate.wait(WAIT_S), "the test never opened the gate"
        super().append_events(events)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def feeds():
    made: list[ActivityFeed] = []

    def make(store, clock, **options) -> ActivityFeed:
        feed = ActivityFeed(store, clock, **options)
        made.append(feed)
        return feed

    yield make
    for feed in made:
        feed.close(timeout_s=WAIT_S)


def test_an_event_reaches_subscribers_at_once_and_the_store_after_a_flush(
    store, clock, feeds
):
    seen: list[ActivityEvent] = []
    feed = feeds(store, clock, on_event=seen.append)

    event = feed.record(EventKind.FEED_CONNECTED, Severity.INFO, "feed-1: connected")

    assert seen == [event]
    assert event.at == START
    assert feed.flush(WAIT_S)
    assert list(store.rows.values()) == [event]
    assert feed.status().written == 1 and feed.status().buffered == 0


def test_the_kits_own_events_are_translated_and_kept(store, clock, feeds):
    feed = feeds(store, clock)

    feed.on_feed_event(fe.Disconnected("feed-1", START.timestamp(), "EOF", 9.0, 1, 1))
    feed.on_retry(
        RetryScheduled(1, "ltp", 1, 3, "RateLimited", None, "rate", 10.0, 0.0, 0.0)
    )

    assert feed.flush(WAIT_S)
    assert store.kinds() == [EventKind.FEED_DISCONNECTED, EventKind.API_RETRY]


def test_a_translation_that_fails_is_logged_and_the_caller_goes_on(
    store, clock, feeds, caplog
):
    feed = feeds(store, clock)

    feed.on_feed_event("not an event")  # type: ignore[arg-type]

    assert "activity: cannot translate str" in caplog.text
    assert feed.flush(WAIT_S) and store.rows == {}


# A dead store.


def test_events_wait_while_the_store_is_down_and_are_written_in_order_once(
    store, clock, feeds
):
    seen: list[ActivityEvent] = []
    feed = feeds(store, clock, on_event=seen.append)
    store.down = True

    first = feed.record("tick_note", Severity.INFO, "first")
    assert not feed.flush(WAIT_S)  # the store is down: False at once
    more = [feed.record("tick_note", Severity.INFO, f"note {n}") for n in range(2)]
    clock.wait_for_sleepers(1)
    clock.advance(1.0)  # the writer tries again on the clock, and fails again
    store.wait_attempts(2)
    later = feed.record("tick_note", Severity.INFO, "while down")
    assert not feed.flush(WAIT_S)

    clock.advance(20.0)
    store.down = False
    assert feed.flush(WAIT_S)

    unavailable = [e for e in seen if e.kind == EventKind.STORE_UNAVAILABLE]
    restored = [e for e in seen if e.kind == EventKind.STORE_RESTORED]
    assert len(unavailable) == 1 and len(restored) == 1
    assert store.attempts >= 3
    assert store.appended == [
        first.id, unavailable[0].id, *(e.id for e in more), later.id, restored[0].id,
    ]  # fmt: skip
    assert len(set(store.appended)) == len(store.appended)  # nothing twice


def test_the_outage_is_an_incident_with_its_duration(store, clock, feeds):
    seen: list[ActivityEvent] = []
    feed = feeds(store, clock, on_event=seen.append)
    store.down = True
    feed.record("note", Severity.INFO, "before")
    assert not feed.flush(WAIT_S)

    clock.advance(42.0)
    store.down = False
    assert feed.flush(WAIT_S)

    down, back = [e for e in seen if e.kind.startswith("store_")]
    assert down.kind == EventKind.STORE_UNAVAILABLE
    assert down.severity is Severity.WARNING
    assert down.fields["fault"] == FaultKind.STORE_DOWN
    assert (down.fields["phase"], down.fields["began_s"]) == (
        "detected", START.timestamp(),
    )  # fmt: skip
    assert back.fields["incident"] == down.fields["incident"]
    assert (back.fields["phase"], back.fields["outage_s"]) == ("recovered", 42.0)
    assert back.at == START + timedelta(seconds=42)
    assert feed.status().store_down_since is None


def test_the_writer_retries_on_the_clock_with_growing_waits(store, clock, feeds):
    feed = feeds(store, clock, retry_min_s=1.0, retry_max_s=30.0)
    store.down = True
    feed.record("note", Severity.INFO, "x")
    store.wait_attempts(1)

    clock.wait_for_sleepers(1)
    clock.advance(1.0)  # the first wait is 1 s
    store.wait_attempts(2)
    clock.wait_for_sleepers(1)
    clock.advance(2.0)  # the second 2 s
    store.wait_attempts(3)

    assert feed.status().store_down_since == START


def test_a_batch_half_written_before_the_store_died_is_stored_once(store, clock, feeds):
    feed = feeds(store, clock)
    store.down, store.partial = True, True
    recorded = [feed.record("note", Severity.INFO, f"n{n}") for n in range(4)]
    assert not feed.flush(WAIT_S)

    store.down = False
    assert feed.flush(WAIT_S)

    # Each note once, in the order recorded; where the outage's own events
    # fall among them depends on how the writer batched them.
    notes = [e.id for e in store.rows.values() if e.kind == "note"]
    assert notes == [e.id for e in recorded]
    assert len(store.rows) == 4 + 2  # and the outage's two events


def test_a_full_buffer_drops_the_oldest_info_first_and_counts_it(store, clock, feeds):
    seen: list[ActivityEvent] = []
    feed = feeds(store, clock, on_event=seen.append, buffer_limit=4)
    store.down = True
    feed.record("note", Severity.INFO, "old info")
    assert not feed.flush(WAIT_S)  # holds: old info, store_unavailable (warning)

    feed.record("note", Severity.ERROR, "an error")
    feed.record("note", Severity.INFO, "new info")
    feed.record("note", Severity.WARNING, "a warning")  # full: drops "old info"
    feed.record("note", Severity.INFO, "newest info")  # drops "new info"

    assert feed.status().dropped == 2 and feed.status().buffered == 4
    store.down = False
    assert feed.flush(WAIT_S)
    texts = [store.rows[i].text for i in dict.fromkeys(store.appended)]
    assert texts[0].startswith("store unavailable (")
    assert texts[1:4] == ["an error", "a warning", "newest info"]
    restored = next(e for e in seen if e.kind == EventKind.STORE_RESTORED)
    assert restored.fields["dropped"] == 2


def test_the_caller_is_never_blocked_by_a_hanging_store(clock, feeds):
    store = GatedStore()
    feed = feeds(store, clock)
    feed.record("note", Severity.INFO, "first")
    assert store.entered.wait(WAIT_S)  # the writer hangs in the store now

    done = threading.Event()

    def record_many() -> None:
        for n in range(500):
            feed.record("note", Severity.INFO, f"n{n}")
        done.set()

    worker = threading.Thread(target=record_many)
    worker.start()
    finished = done.wait(WAIT_S)  # while the store still hangs
    store.gate.set()
    worker.join(WAIT_S)

    assert finished
    assert feed.flush(WAIT_S)
    assert len(store.rows) == 501


def test_many_threads_record_at_once_and_every_event_is_stored_once(
    store, clock, feeds
):
    feed = feeds(store, clock, batch_size=7)

    def record(thread: int) -> None:
        for n in range(100):
            feed.record("note", Severity.INFO, f"{thread}-{n}")

    threads = [threading.Thread(target=record, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_S)

    assert feed.flush(WAIT_S)
    assert len(store.appended) == len(set(store.appended)) == 400
    for t in range(4):  # each thread's events in its own order
        mine = [store.rows[i].text for i in store.appended]
        mine = [text for text in mine if text.startswith(f"{t}-")]
        assert mine == [f"{t}-{n}" for n in range(100)]


def test_a_rejected_record_is_skipped_and_the_rest_written(clock, feeds, caplog):
    class Picky(MemoryStore):
        def append_events(self, events):
            if any(e.text == "bad" for e in events):
                raise StoreError("a field too large")
            super().append_events(events)

    store = Picky()
    feed = feeds(store, clock)
    for text in ("good 1", "bad", "good 2"):
        feed.record("note", Severity.INFO, text)

    assert feed.flush(WAIT_S)
    assert [e.text for e in store.rows.values()] == ["good 1", "good 2"]
    assert feed.status().rejected == 1
    assert "the store rejected note" in caplog.text


# Reading.


def test_query_reads_the_store_and_what_is_still_buffered(store, clock, feeds):
    feed = feeds(store, clock)
    first = feed.record("a", Severity.INFO, "stored")
    assert feed.flush(WAIT_S)
    store.down = True
    clock.advance(60)
    second = feed.record("b", Severity.WARNING, "buffered")
    assert not feed.flush(WAIT_S)
    store.down = False  # reads answer; the writer has not written yet

    everything = feed.query()
    assert [e.id for e in everything][:2] == [first.id, second.id]
    assert [e.id for e in feed.query(kinds={"b"})] == [second.id]
    half_way = START + timedelta(seconds=30)
    assert feed.query(since=half_way)[0].id == second.id
    assert [e.id for e in feed.query(until=half_way)] == [first.id]
    assert len(feed.query(limit=1)) == 1


def test_query_on_a_dead_store_raises_and_recent_still_answers(store, clock, feeds):
    feed = feeds(store, clock)
    feed.record("a", Severity.INFO, "one")
    feed.record("b", Severity.ERROR, "two")
    store.down = True

    with pytest.raises(StoreUnavailable):
        feed.query()
    assert [e.text for e in feed.recent(10)] == ["one", "two"]
    assert [e.text for e in feed.recent(10, min_severity=Severity.WARNING)] == ["two"]
    assert [e.text for e in feed.recent(1)] == ["two"]


# Secrets, subscribers, closing.


def test_secrets_are_masked_in_text_and_fields(store, clock, feeds):
    secret = "S3cretApiKeyValue"
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJBMTIzIn0.c2lnbmF0dXJl"
    logsafe.register(secret)
    seen: list[ActivityEvent] = []
    try:
        feed = feeds(store, clock, on_event=seen.append)
        feed.record(
            "note", Severity.WARNING, f"login failed for key {secret}",
            header=f"Bearer {jwt}", items=["ok", f"x{secret}y"],
        )  # fmt: skip
        assert feed.flush(WAIT_S)
    finally:
        logsafe.REGISTRY.forget(secret)

    (stored,) = store.rows.values()
    for event in (seen[0], stored):
        assert secret not in repr(event) and jwt not in repr(event)
        assert event.text == "login failed for key ***"
        assert event.fields["header"] == "Bearer ***"
        assert event.fields["items"] == ["ok", "x***y"]


def test_a_failing_subscriber_is_logged_and_the_others_still_hear(
    store, clock, feeds, caplog
):
    heard: list[ActivityEvent] = []

    def broken(event: ActivityEvent) -> None:
        raise RuntimeError("ui gone")

    feed = feeds(store, clock, subscribers=[broken, heard.append])
    feed.record("note", Severity.INFO, "x")

    assert len(heard) == 1
    assert "activity: a subscriber failed on note" in caplog.text
    later: list[ActivityEvent] = []
    feed.subscribe(later.append)
    feed.unsubscribe(broken)
    feed.record("note", Severity.INFO, "y")
    assert [e.text for e in later] == ["y"] and len(heard) == 2


def test_after_close_events_reach_subscribers_but_not_the_store(
    store, clock, feeds, caplog
):
    seen: list[ActivityEvent] = []
    feed = feeds(store, clock, on_event=seen.append)
    feed.record("note", Severity.INFO, "before")

    feed.close(WAIT_S)
    feed.record("note", Severity.INFO, "after")

    assert [e.text for e in store.rows.values()] == ["before"]
    assert [e.text for e in seen] == ["before", "after"]
    assert "activity: closed; note and later events not stored" in caplog.text


def test_close_with_a_dead_store_stops_promptly_and_says_what_was_lost(
    store, clock, feeds, caplog
):
    caplog.set_level(logging.WARNING, logger="kit.ops.activity_writer")
    feed = feeds(store, clock)
    store.down = True
    feed.record("note", Severity.INFO, "lost")
    assert not feed.flush(WAIT_S)

    feed.close(WAIT_S)

    assert "activity: 2 events were not stored (store down)" in caplog.text
    assert feed.status().buffered == 2  # the note and store_unavailable


# The buffer on its own.


def note(severity: Severity, text: str) -> ActivityEvent:
    return ActivityEvent(START, "note", severity, text)


def test_the_buffer_takes_in_order_and_puts_a_failed_batch_back_in_front():
    buffer = EventBuffer(limit=10)
    events = [
        note(Severity.INFO, "a"),
        note(Severity.ERROR, "b"),
        note(Severity.INFO, "c"),
    ]
    for event in events:
        buffer.push(event)

    assert buffer.take(2) == events[:2]
    assert buffer.take(2) == []  # one batch in flight at a time
    buffer.put_back()
    assert buffer.events() == events
    assert buffer.take(5) == events
    assert buffer.confirm() == 3 and len(buffer) == 0


def test_the_buffer_never_drops_what_is_in_flight():
    buffer = EventBuffer(limit=2)
    flying = [note(Severity.INFO, "a"), note(Severity.INFO, "b")]
    for event in flying:
        buffer.push(event)
    buffer.take(2)

    dropped = buffer.push(note(Severity.INFO, "c"))

    assert dropped is None and len(buffer) == 3
    assert buffer.push(note(Severity.CRITICAL, "d")).text == "c"
    assert buffer.dropped == {Severity.INFO: 1}


def test_options_out_of_range_are_refused(store, clock):
    with pytest.raises(ValueError, match="batch_size"):
        ActivityFeed(store, clock, batch_size=0)
    with pytest.raises(ValueError, match="limit"):
        EventBuffer(limit=0)
