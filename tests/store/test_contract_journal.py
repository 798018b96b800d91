"""The journal part of the Store contract, on both stores: order intents and
the broker session."""

from __future__ import annotations

import threading

import pytest

from kit.broker.journal import IntentState
from tests.store.samples import BODY, START, session_for


def test_intents_and_their_states_survive_a_reopen(stores, clock):
    journal = stores.open()
    journal.record_intent("kit-a", BODY)
    clock.advance(2)
    journal.update("kit-a", IntentState.SENT)
    clock.advance(3)
    journal.update("kit-a", "accepted", orderid="2612031000001", detail="ok")
    journal.close()

    intent = stores.open().get_intent("kit-a")

    assert intent is not None
    assert intent.body == BODY
    assert intent.state is IntentState.ACCEPTED and intent.resolved
    assert (intent.orderid, intent.detail) == ("2612031000001", "ok")
    assert intent.created_at == START.timestamp()
    assert intent.updated_at == START.timestamp() + 5


def test_a_new_intent_is_pending_and_read_back_as_written(store):
    written = store.record_intent("kit-a", BODY)

    assert written.state is IntentState.PENDING and not written.resolved
    assert (written.orderid, written.detail) == (None, "")
    assert written.created_at == written.updated_at == START.timestamp()
    assert store.get_intent("kit-a") == written


def test_an_update_keeps_the_orderid_and_detail_it_does_not_name(store, clock):
    store.record_intent("kit-a", BODY)
    store.update("kit-a", "accepted", orderid="111", detail="placed")
    clock.advance(7)

    intent = store.update("kit-a", IntentState.REJECTED)

    assert (intent.state, intent.orderid, intent.detail) == (
        "rejected",
        "111",
        "placed",
    )
    assert intent.updated_at == START.timestamp() + 7
    assert store.get_intent("kit-a") == intent


def test_only_intents_of_unknown_outcome_are_unresolved_oldest_first(store, clock):
    assert store.unresolved_intents() == []
    for tag, state in [
        ("t1", "unknown"),
        ("t2", "accepted"),
        ("t3", "pending"),
        ("t4", "rejected"),
        ("t5", "sent"),
        ("t6", "resolved_absent"),
    ]:
        store.record_intent(tag, BODY)
        store.update(tag, state)
        clock.advance(1)

    unresolved = store.unresolved_intents()

    assert [i.ordertag for i in unresolved] == ["t1", "t3", "t5"]
    assert not any(i.resolved for i in unresolved)


def test_intents_of_the_same_instant_come_back_by_tag(store):
    for tag in ["kit-c", "kit-a", "kit-b"]:
        store.record_intent(tag, BODY)

    assert [i.ordertag for i in store.unresolved_intents()] == [
        "kit-a",
        "kit-b",
        "kit-c",
    ]


def test_a_tag_is_journaled_once_and_only_known_tags_and_states_update(store):
    store.record_intent("kit-a", BODY)

    with pytest.raises(ValueError, match="already journaled"):
        store.record_intent("kit-a", BODY)
    with pytest.raises(ValueError, match="already journaled"):
        store.record_intent("kit-a", {"other": "body"})
    with pytest.raises(KeyError):
        store.update("kit-b", "sent")
    with pytest.raises(ValueError):
        store.update("kit-a", "half-sent")
    assert store.get_intent("kit-b") is None
    assert store.get_intent("kit-a").state is IntentState.PENDING


def test_a_session_is_saved_replaced_loaded_by_client_and_cleared(stores):
    journal = stores.open()
    journal.save_session(session_for("A1", 1))
    journal.save_session(session_for("A1", 2))
    journal.save_session(session_for("B2", 3))
    journal.close()
    journal = stores.open()

    assert journal.load_session("A1") == session_for("A1", 2)
    assert journal.load_session("C3") is None
    journal.clear_session("A1")
    journal.clear_session("never-saved")
    assert journal.load_session("A1") is None
    assert journal.load_session("B2") == session_for("B2", 3)


def test_threads_can_write_at_once_without_losing_a_row(store):
    per_thread = 50 if "sqlite" in store.name else 8
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            for n in range(per_thread):
                store.record_intent(f"w{worker}-{n}", BODY)
                store.update(f"w{worker}-{n}", "unknown")
        except BaseException as exc:  # reported below, with the thread's failure
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    assert len(store.unresolved_intents()) == 4 * per_thread
