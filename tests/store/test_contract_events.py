"""The Store contract on both stores: activity events, written once each and
read by time, kind and count."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta

import pytest

from kit.errors import StoreError
from kit.ops.events import ActivityEvent, EventKind, Severity
from tests.store.samples import START, event

US = timedelta(microseconds=1)


def kinds_of(events: list[ActivityEvent]) -> list[str]:
    return [e.kind for e in events]


def test_events_round_trip_exactly_oldest_first(store):
    written = [
        event(2.5, "feed_reconnected", severity=Severity.INFO, incident="i-1"),
        event(0, "feed_disconnected", incident="i-1", began_s=1_796_290_000.25),
        event(
            1.000001,
            "api_retry",
            attempt=2,
            codes=["AB1004", "AB2000"],
            ok=False,
            none=None,
            ratio=0.1 + 0.2,
        ),
    ]
    assert store.events() == []

    store.append_events(written)
    got = store.events()

    assert got == [written[1], written[2], written[0]]
    assert [e.at for e in got] == [
        START,
        START + 1.000001 * timedelta(seconds=1),
        START + timedelta(seconds=2.5),
    ]
    assert all(e.at.utcoffset() == timedelta(hours=5, minutes=30) for e in got)
    assert [type(e.severity) for e in got] == [Severity] * 3


def test_an_event_written_again_is_not_duplicated_and_the_first_stays(store):
    first = [event(0), event(1)]
    store.append_events(first)

    store.append_events([replace(first[1], text="rewritten"), event(2), first[0]])
    store.append_events(first)

    got = store.events()
    assert len(got) == 3
    assert got[:2] == first and got[2].at == START + timedelta(seconds=2)


def test_events_are_read_between_bounds_since_inclusive_until_exclusive(store):
    store.append_events([event(s) for s in (0, 1, 2, 3)])
    one, three = START + timedelta(seconds=1), START + timedelta(seconds=3)

    assert [e.at for e in store.events(since=one, until=three)] == [
        one,
        START + timedelta(seconds=2),
    ]
    assert store.events(since=three + US) == []
    assert len(store.events(until=one + US)) == 2
    assert len(store.events(since=one - US)) == 3


def test_events_are_filtered_by_kind(store):
    store.append_events(
        [
            event(0, EventKind.BOT_STARTED),
            event(1, EventKind.FEED_DISCONNECTED),
            event(2, EventKind.FEED_RECONNECTED),
            event(3, EventKind.BOT_STOPPED),
        ]
    )

    found = store.events(kinds={EventKind.FEED_RECONNECTED, EventKind.BOT_STARTED})

    assert kinds_of(found) == ["bot_started", "feed_reconnected"]
    assert store.events(kinds=[]) == []
    assert store.events(kinds=["never_happened"]) == []


def test_a_limit_keeps_the_newest_and_still_reads_oldest_first(store):
    store.append_events([event(s, f"k{s % 3}") for s in range(10)])

    newest = store.events(limit=3)

    assert [e.at for e in newest] == [START + timedelta(seconds=s) for s in (7, 8, 9)]
    assert store.events(limit=0) == []
    assert len(store.events(limit=50)) == 10
    of_kind = store.events(
        kinds=["k0", "k1"], limit=2, until=START + timedelta(seconds=9)
    )
    assert [(e.kind, e.at.second) for e in of_kind] == [("k0", 6), ("k1", 7)]
    with pytest.raises(ValueError, match="limit"):
        store.events(limit=-1)


def test_events_of_one_instant_keep_the_order_they_were_written_in(store):
    same = [event(5, f"step{n}") for n in range(4)]
    store.append_events(same[:2])
    store.append_events([event(1, "earlier")])
    store.append_events(same[2:])

    assert kinds_of(store.events()) == ["earlier", "step0", "step1", "step2", "step3"]
    assert kinds_of(store.events(limit=3)) == ["step1", "step2", "step3"]
    assert kinds_of(store.events(kinds=["step3", "step0"])) == ["step0", "step3"]


def test_more_kinds_than_one_query_takes_are_all_found(store):
    every_kind = list(EventKind)
    assert len(every_kind) > 30
    store.append_events([event(n, kind) for n, kind in enumerate(every_kind)])

    assert kinds_of(store.events(kinds=every_kind)) == every_kind
    assert kinds_of(store.events(kinds=every_kind, limit=4)) == every_kind[-4:]


def test_more_events_than_one_batch_are_all_written_once(store):
    many = [event(n / 1000, "tick_gap", n=n) for n in range(501)]

    store.append_events(many)
    store.append_events(many[495:])

    assert store.events() == many


def test_an_event_with_no_kind_is_refused(store):
    with pytest.raises(StoreError, match="kind"):
        store.append_events([event(0, "")])
    assert store.events() == []


def test_threads_appending_at_once_lose_nothing(store):
    per_thread = 40 if "sqlite" in store.name else 10
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            for n in range(per_thread):
                store.append_events([event(n, f"worker{worker}", n=n)])
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert errors == [] and not any(t.is_alive() for t in threads)
    found = store.events()
    assert len(found) == 3 * per_thread
    for worker in range(3):
        mine = [e.fields["n"] for e in found if e.kind == f"worker{worker}"]
        assert mine == list(range(per_thread))
