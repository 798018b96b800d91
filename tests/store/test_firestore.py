"""What only the Firestore store does: tokens kept out of the cloud unless the
user opts in (read back from the raw documents), a deadline on a server that
hangs, a lazy import, and the index list the docs give."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from kit.clock import ManualClock
from kit.errors import ConfigurationError, StoreUnavailable
from kit.store import SqliteStore
from tests.firestore_emulator import ENV_HOST
from tests.store.samples import BODY, START, session_for
from tests.store.tcp_proxy import TcpProxy

pytestmark = pytest.mark.firestore

ROOT = Path(__file__).resolve().parents[2]


def new_project() -> str:
    return f"demo-{uuid.uuid4().hex[:20]}"


def open_firestore(project: str, tmp_path: Path, **options: Any) -> Any:
    from kit.store.firestore import FirestoreStore  # noqa: PLC0415

    if not options.get("tokens_in_cloud"):
        options["local"] = SqliteStore(tmp_path / "tokens.sqlite3", ManualClock(START))
    return FirestoreStore(project, ManualClock(START), **options)


def raw_documents(project: str) -> dict[str, dict[str, Any]]:
    """Every document of ``project``, read with a plain client: path -> fields."""
    from google.cloud import firestore  # noqa: PLC0415

    client = firestore.Client(project=project)
    try:
        return {
            doc.reference.path: doc.to_dict()
            for collection in client.collections(timeout=10)
            for doc in collection.stream(timeout=10)
        }
    finally:
        client.close()


# Session tokens.


def test_without_opting_in_firestore_holds_the_session_times_not_its_tokens(
    emulator_env, tmp_path
):
    project = new_project()
    store = open_firestore(project, tmp_path)
    session = session_for("A123456", 3)

    store.save_session(session)
    documents = raw_documents(project)
    store.close()

    (path,) = [p for p in documents if p.startswith("broker_sessions/")]
    assert "A123456" not in path
    assert documents[path] == {
        "client_code": "A123456",
        "issued_at": session.issued_at,
        "jwt_expires_at": session.jwt_expires_at,
        "logged_in_at": session.logged_in_at,
        "tokens_in_cloud": False,
    }
    everything = json.dumps(documents, default=str)
    for token in (session.jwt, session.refresh_token, session.feed_token):
        assert token not in everything
    local = SqliteStore(tmp_path / "tokens.sqlite3", ManualClock(START))
    assert local.load_session("A123456") == session
    local.close()


def test_tokens_stay_local_and_resume_from_there(emulator_env, tmp_path):
    project = new_project()
    first = open_firestore(project, tmp_path)
    first.save_session(session_for("A1", 1))
    first.close()

    again = open_firestore(project, tmp_path)

    assert again.load_session("A1") == session_for("A1", 1)
    again.clear_session("A1")
    assert again.load_session("A1") is None
    assert not [p for p in raw_documents(project) if p.startswith("broker_sessions/")]
    again.close()


def test_opted_in_tokens_live_in_firestore_and_leave_when_opted_out(
    emulator_env, tmp_path
):
    project = new_project()
    cloud = open_firestore(project, tmp_path / "a", tokens_in_cloud=True)
    cloud.save_session(session_for("A1", 1))
    cloud.close()

    elsewhere = open_firestore(project, tmp_path / "b", tokens_in_cloud=True)
    assert elsewhere.load_session("A1") == session_for("A1", 1)
    assert "refresh-token-1" in json.dumps(raw_documents(project), default=str)
    elsewhere.close()

    local = open_firestore(project, tmp_path / "c")
    local.save_session(session_for("A1", 2))
    local.close()
    everything = json.dumps(raw_documents(project), default=str)
    assert "refresh-token-1" not in everything and "refresh-token-2" not in everything


def test_a_store_with_tokens_nowhere_to_go_is_refused(emulator_env):
    from kit.store.firestore import FirestoreStore  # noqa: PLC0415

    with pytest.raises(ConfigurationError, match="local store"):
        FirestoreStore(new_project(), ManualClock(START))


# The journal's writes that may have landed.


def test_a_create_whose_answer_was_lost_is_known_as_ours(emulator_env, tmp_path):
    store = open_firestore(new_project(), tmp_path)
    calls = store._calls
    real_create = calls.create

    def landed_but_answer_lost(what: str, ref: Any, data: Any) -> bool:
        assert real_create(what, ref, data)
        return False  # what the retry's second attempt sees: it exists

    calls.create = landed_but_answer_lost
    intent = store.record_intent("kit-a", BODY)
    calls.create = real_create

    assert store.get_intent("kit-a") == intent
    with pytest.raises(ValueError, match="already journaled"):
        store.record_intent("kit-a", BODY)
    store.close()


# Deadlines.


@pytest.mark.parametrize("timeout_s", [0.5, 1.5])
def test_a_server_that_never_answers_is_unavailable_within_the_timeout(
    warm_emulator, monkeypatch, tmp_path, timeout_s
):
    hanging = TcpProxy(warm_emulator, answer=False).start()
    monkeypatch.setenv(ENV_HOST, hanging.host)
    store = open_firestore(new_project(), tmp_path, timeout_s=timeout_s)

    began = time.monotonic()
    with pytest.raises(StoreUnavailable, match="no answer within"):
        store.events(limit=10)
    elapsed_s = time.monotonic() - began

    store.close()
    hanging.cut()
    assert timeout_s * 0.5 <= elapsed_s < timeout_s + 1.0


def test_a_port_nobody_listens_on_is_unavailable_within_the_timeout(
    warm_emulator, monkeypatch, tmp_path
):
    closed = TcpProxy(warm_emulator).start()
    closed.cut()
    monkeypatch.setenv(ENV_HOST, closed.host)
    store = open_firestore(new_project(), tmp_path, timeout_s=1.0)

    began = time.monotonic()
    with pytest.raises(StoreUnavailable, match="no answer within 1 s"):
        store.record_intent("kit-a", BODY)
    elapsed_s = time.monotonic() - began

    store.close()
    assert elapsed_s < 2.0


# Imports and documentation.


def test_importing_the_stores_imports_nothing_of_google(tmp_path):
    script = (
        "import sys\n"
        "import kit.store\n"
        "from kit.store import open_store, SqliteStore\n"
        "from kit.config import Settings\n"
        "from kit.clock import RealClock\n"
        "open_store(Settings(store_path=sys.argv[1]), RealClock()).close()\n"
        "print(sorted(m for m in sys.modules if m.startswith('google')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, "kit.sqlite3"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin"},
    )

    assert done.stdout.strip() == "[]"


def index_json(text: str) -> Any:
    start = text.index('{"indexes"')
    depth = 0
    for end, char in enumerate(text[start:], start):
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth == 0:
            return json.loads(text[start : end + 1])
    raise AssertionError("unbalanced index list")


def needed_index(query: Any) -> tuple[str, tuple[tuple[str, str], ...]] | None:
    """The composite index Firestore needs for ``query``; None when its
    automatic single-field indexes serve it (one field in all)."""
    equal = [
        f.field.field_path for f in query._field_filters if f.op.name in ("EQUAL", "IN")
    ]
    ranged = {f.field.field_path for f in query._field_filters}
    orders = [(o.field.field_path, o.direction.name) for o in query._orders]
    if len(ranged | {field for field, _ in orders}) <= 1:
        return None
    return query._parent.id, tuple((f, "ASCENDING") for f in equal) + tuple(orders)


def test_every_query_has_its_index_in_the_docs_and_the_module(emulator_env, tmp_path):
    from kit.store import firestore as module  # noqa: PLC0415

    store = open_firestore(new_project(), tmp_path)
    issued: list[Any] = []
    real_query = store._calls.query
    store._calls.query = lambda what, query: (
        issued.append(query) or real_query(what, query)
    )
    bounds = [{}, {"since": START}, {"until": START}, {"since": START, "until": START}]
    for bound in bounds:
        store.load_candles("3045", **bound)
        store.health(**bound)
        for extra in [{}, {"kinds": ["a"]}, {"limit": 3}, {"kinds": ["a"], "limit": 3}]:
            store.events(**bound, **extra)
    store.unresolved_intents()
    store.positions("paper")
    store.close()

    in_docs = index_json((ROOT / "docs" / "firestore.md").read_text())
    listed = {
        (i["collectionGroup"], tuple((f["fieldPath"], f["order"]) for f in i["fields"]))
        for i in in_docs["indexes"]
    }
    needed = {needed_index(query) for query in issued} - {None}
    assert needed == listed
    assert index_json(module.__doc__ or "") == in_docs
