"""A store that dies mid-run: every call raises StoreUnavailable within the
store's deadline (never hangs), and the same store answers again, with nothing
lost, when its file or server comes back.

SQLite dies by its folder being moved away; Firestore by the connection to the
emulator being cut (a loopback proxy in between, closed and reopened).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from kit.errors import StoreUnavailable
from kit.ops.events import ActivityEvent
from kit.store import SqliteStore, Store
from tests.firestore_emulator import ENV_HOST
from tests.store.samples import (
    BODY,
    START,
    candle,
    event,
    health,
    position,
    session_for,
)
from tests.store.tcp_proxy import TcpProxy

FIRESTORE_TIMEOUT_S = 2.0

CALLS: dict[str, Callable[[Store], Any]] = {
    "ping": lambda s: s.ping(),
    "record_intent": lambda s: s.record_intent("kit-new", BODY),
    "update": lambda s: s.update("kit-a", "sent"),
    "get_intent": lambda s: s.get_intent("kit-a"),
    "unresolved_intents": lambda s: s.unresolved_intents(),
    "save_session": lambda s: s.save_session(session_for("A1", 2)),
    "clear_session": lambda s: s.clear_session("A1"),
    "save_position": lambda s: s.save_position(position("TCS-EQ")),
    "delete_position": lambda s: s.delete_position("paper", "SBIN-EQ"),
    "positions": lambda s: s.positions("paper"),
    "save_state": lambda s: s.save_state("daily", {"pnl": 2.0}),
    "load_state": lambda s: s.load_state("daily"),
    "save_candles": lambda s: s.save_candles("3045", [candle(5)]),
    "load_candles": lambda s: s.load_candles("3045"),
    "append_events": lambda s: s.append_events([event(9)]),
    "events": lambda s: s.events(limit=5),
    "save_health": lambda s: s.save_health(health(60)),
    "health": lambda s: s.health(),
}


@dataclass
class Dying:
    store: Store
    kill: Callable[[], None]
    revive: Callable[[], None]
    bound_s: float  # the longest a call may take to fail


@pytest.fixture(
    params=["sqlite", pytest.param("firestore", marks=pytest.mark.firestore)]
)
def dying(request, tmp_path, clock, monkeypatch) -> Iterator[Dying]:
    if request.param == "sqlite":
        folder, away = tmp_path / "data", tmp_path / "moved-away"
        store = SqliteStore(folder / "kit.sqlite3", clock)
        yield Dying(
            store, lambda: folder.rename(away), lambda: away.rename(folder), 1.0
        )
        store.close()
        return

    from kit.store.firestore import FirestoreStore  # noqa: PLC0415

    proxy = TcpProxy(request.getfixturevalue("warm_emulator")).start()
    monkeypatch.setenv(ENV_HOST, proxy.host)
    store = FirestoreStore(
        f"demo-{uuid.uuid4().hex[:20]}",
        clock,
        timeout_s=FIRESTORE_TIMEOUT_S,
        local=SqliteStore(tmp_path / "tokens.sqlite3", clock),
    )
    yield Dying(store, proxy.cut, proxy.start, FIRESTORE_TIMEOUT_S + 1.0)
    store.close()
    proxy.cut()


def answers_again(store: Store, deadline_s: float = 20.0) -> None:
    """Wait until a revived store answers: gRPC, refused while the store was
    down, waits out its own reconnect backoff (1 s, then 1.6 times longer,
    jittered) before it tries again, so the first calls after a revival may
    still fail for a few seconds. Real seconds: that backoff is gRPC's."""
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            store.ping()
            return
        except StoreUnavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def fill(store: Store) -> None:
    store.record_intent("kit-a", BODY)
    store.save_session(session_for("A1"))
    store.save_position(position("SBIN-EQ"))
    store.save_state("daily", {"pnl": 1.0})
    store.save_candles("3045", [candle(0)])
    store.append_events([event(0)])
    store.save_health(health(0))


def test_every_call_on_a_dead_store_raises_store_unavailable_in_time(dying):
    fill(dying.store)
    dying.kill()
    outcomes: dict[str, tuple[BaseException | None, float]] = {}

    def call(name: str) -> None:
        began = time.monotonic()
        try:
            CALLS[name](dying.store)
            outcomes[name] = (None, time.monotonic() - began)
        except BaseException as exc:  # judged below
            outcomes[name] = (exc, time.monotonic() - began)

    # All at once: the deadline holds for concurrent callers too, and the test
    # lasts one deadline rather than eighteen.
    threads = [threading.Thread(target=call, args=(name,)) for name in CALLS]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(dying.bound_s + 5)

    assert sorted(outcomes) == sorted(CALLS)
    for name, (error, elapsed_s) in outcomes.items():
        assert isinstance(error, StoreUnavailable), (name, error)
        assert elapsed_s < dying.bound_s, (name, elapsed_s)
        assert dying.store.name in str(error)


def test_a_store_that_comes_back_answers_again_and_lost_nothing(dying):
    store = dying.store
    fill(store)
    dying.kill()
    with pytest.raises(StoreUnavailable):
        store.append_events([event(1)])

    dying.revive()
    answers_again(store)
    store.append_events([event(1)])
    store.update("kit-a", "accepted", orderid="42")

    assert [e.at for e in store.events()] == [event(0).at, event(1).at]
    assert store.get_intent("kit-a").orderid == "42"
    assert store.load_session("A1") == session_for("A1")
    assert store.positions("paper") == [position("SBIN-EQ")]
    assert store.load_candles("3045") == [candle(0)]
    assert store.load_state("daily") == {"pnl": 1.0}
    assert [h.at for h in store.health()] == [START]


def test_an_error_of_a_dead_store_names_no_token(dying):
    dying.kill()
    secret = session_for("A1", 7)

    with pytest.raises(StoreUnavailable) as caught:
        dying.store.save_session(secret)

    chain: list[BaseException] = []
    error: BaseException | None = caught.value
    while error is not None:
        chain.append(error)
        error = error.__cause__ or error.__context__
    text = " ".join(f"{e!s} {e!r}" for e in chain)
    for token in (secret.jwt, secret.refresh_token, secret.feed_token):
        assert token not in text


def test_events_are_never_half_written_by_a_dying_store(dying):
    fill(dying.store)
    dying.kill()
    batch: list[ActivityEvent] = [event(n) for n in range(1, 4)]

    with pytest.raises(StoreUnavailable):
        dying.store.append_events(batch)
    dying.revive()
    answers_again(dying.store)

    assert [e.at for e in dying.store.events()] == [event(0).at]
