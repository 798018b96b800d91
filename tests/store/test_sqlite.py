"""What only the SQLite store does: a private file, WAL and durable commits,
a versioned schema that upgrades the broker's old journal in place, indexes
for the time and kind queries, and SQLite's errors told apart."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kit.broker.journal import IntentState
from kit.errors import ConfigurationError, StoreError, StoreUnavailable
from kit.store import SqliteStore
from kit.store.sqlite_schema import SCHEMA_VERSION
from tests.store.samples import BODY, START, candle, event, session_for

# The journal file as the broker wrote it before the store existed (schema 1).
JOURNAL_V1 = """
CREATE TABLE order_intents (
    ordertag   TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    body       TEXT NOT NULL,
    state      TEXT NOT NULL,
    orderid    TEXT,
    detail     TEXT NOT NULL DEFAULT '',
    updated_at REAL NOT NULL
);
CREATE INDEX order_intents_by_state ON order_intents (state, created_at);
CREATE TABLE broker_sessions (
    client_code    TEXT PRIMARY KEY,
    jwt            TEXT NOT NULL,
    refresh_token  TEXT NOT NULL,
    feed_token     TEXT NOT NULL,
    issued_at      REAL NOT NULL,
    jwt_expires_at REAL NOT NULL,
    logged_in_at   REAL NOT NULL
);
PRAGMA user_version = 1;
"""


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "deeper" / "still" / "kit.sqlite3"


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_writes_survive_a_kill_9_right_after_them(path, clock):
    script = textwrap.dedent(
        f"""
        import os, signal
        from kit.broker.journal import StoredSession
        from kit.clock import ManualClock
        from kit.ops.events import ActivityEvent
        from kit.store import SqliteStore
        from datetime import datetime, timezone
        store = SqliteStore({str(path)!r}, ManualClock(1_800_000_000.0))
        store.record_intent("kit-killed", {{"quantity": "5"}})
        store.update("kit-killed", "sent")
        store.save_session(StoredSession("A1", "j", "r", "f", 1.0, 2.0, 1.0))
        at = datetime(2027, 1, 15, 8, 0, tzinfo=timezone.utc)
        store.append_events([ActivityEvent(at, "crash", "error", "x", id="e1")])
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], check=False, timeout=60)

    store = SqliteStore(path, clock)
    intent = store.get_intent("kit-killed")
    assert done.returncode == -9
    assert intent is not None and intent.state is IntentState.SENT
    assert store.load_session("A1") is not None
    assert [e.id for e in store.events()] == ["e1"]
    store.close()


def test_the_file_is_created_private_in_a_new_folder_with_wal(path, clock):
    store = SqliteStore(path, clock)
    store.save_session(session_for())

    assert mode_of(path) == 0o600
    assert mode_of(path.parent) == 0o700
    wal = path.with_name(path.name + "-wal")
    assert wal.exists() and mode_of(wal) == 0o600
    with sqlite3.connect(path) as db:
        (journal_mode,) = db.execute("PRAGMA journal_mode").fetchone()
    assert journal_mode == "wal"
    (synchronous,) = store._db.execute("PRAGMA synchronous").fetchone()
    (busy_ms,) = store._db.execute("PRAGMA busy_timeout").fetchone()
    assert synchronous == 2 and busy_ms > 0  # 2: FULL
    assert store.name == f"sqlite:{path}"
    store.close()


def test_an_existing_file_others_could_read_is_made_private(path, clock, caplog):
    path.parent.mkdir(parents=True)
    path.touch(mode=0o644)
    os.chmod(path, 0o644)

    SqliteStore(path, clock).close()

    assert mode_of(path) == 0o600
    assert "now 0600" in caplog.text


def test_the_schema_version_is_recorded_and_a_newer_one_refused(path, clock):
    SqliteStore(path, clock).close()
    with sqlite3.connect(path) as db:
        (version,) = db.execute("PRAGMA user_version").fetchone()
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")

    assert version == SCHEMA_VERSION == 2
    with pytest.raises(ConfigurationError, match="newer kit"):
        SqliteStore(path, clock)


def test_a_journal_of_schema_1_is_upgraded_in_place_keeping_its_rows(path, clock):
    path.parent.mkdir(parents=True)
    with sqlite3.connect(path) as db:
        db.executescript(JOURNAL_V1)
        db.execute(
            "INSERT INTO order_intents VALUES (?, ?, ?, ?, ?, ?, ?)",
            ("kit-old", 1.5e9, '{"quantity": "2"}', "unknown", None, "lost", 1.6e9),
        )
        db.execute(
            "INSERT INTO broker_sessions VALUES (?, ?, ?, ?, ?, ?, ?)",
            ("A1", "jwt-old", "refresh-old", "feed-old", 10.0, 20.0, 5.0),
        )

    store = SqliteStore(path, clock)

    (old,) = store.unresolved_intents()
    assert (old.ordertag, old.state, old.body) == (
        "kit-old",
        "unknown",
        {"quantity": "2"},
    )
    assert (old.detail, old.created_at, old.updated_at) == ("lost", 1.5e9, 1.6e9)
    session = store.load_session("A1")
    assert session is not None and session.refresh_token == "refresh-old"
    store.record_intent("kit-new", BODY)
    store.save_candles("3045", [candle(0)])
    store.append_events([event(0)])
    assert store.load_candles("3045") == [candle(0)] and len(store.events()) == 1
    store.close()
    with sqlite3.connect(path) as db:
        (version,) = db.execute("PRAGMA user_version").fetchone()
        (indexes,) = db.execute(
            "SELECT count(*) FROM sqlite_master WHERE name = 'order_intents_by_state'"
        ).fetchone()
    assert version == SCHEMA_VERSION and indexes == 1


def test_a_failed_upgrade_leaves_the_file_at_its_old_version(path, clock):
    path.parent.mkdir(parents=True)
    with sqlite3.connect(path) as db:
        db.executescript(JOURNAL_V1)
        db.execute("CREATE TABLE candles (x)")  # in the way of version 2

    with pytest.raises(StoreError, match="already exists"):
        SqliteStore(path, clock)

    with sqlite3.connect(path) as db:
        (version,) = db.execute("PRAGMA user_version").fetchone()
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
    assert version == 1 and "positions" not in tables


@pytest.mark.parametrize(
    ("query", "index"),
    [
        (
            "SELECT * FROM events WHERE at_us >= 0 ORDER BY at_us DESC, seq DESC",
            "events_by_time",
        ),
        (
            "SELECT * FROM events WHERE kind IN ('a', 'b') AND at_us >= 0",
            "events_by_kind",
        ),
        ("SELECT * FROM candles WHERE token = '1' AND start_us >= 0", "PRIMARY KEY"),
        ("SELECT * FROM health WHERE at_us >= 0 ORDER BY at_us", "INTEGER PRIMARY KEY"),
        (
            "SELECT * FROM order_intents WHERE state IN ('sent') ORDER BY created_at",
            "order_intents_by_state",
        ),
    ],
)
def test_the_time_and_kind_queries_use_an_index(path, clock, query, index):
    store = SqliteStore(path, clock)

    plan = " ".join(row[-1] for row in store._db.execute(f"EXPLAIN QUERY PLAN {query}"))

    store.close()
    assert index in plan and "SCAN" not in plan.replace("SCAN CONSTANT", "")


# SQLite's errors, told apart.


def test_a_store_that_cannot_be_created_is_unavailable(tmp_path, clock):
    (tmp_path / "a-file").write_text("not a folder")

    with pytest.raises(StoreUnavailable, match="cannot open the store"):
        SqliteStore(tmp_path / "a-file" / "kit.sqlite3", clock)


def test_a_file_that_is_not_a_database_is_a_store_error(path, clock):
    path.parent.mkdir(parents=True)
    path.write_bytes(b"certainly not SQLite " * 100)

    with pytest.raises(StoreError) as caught:
        SqliteStore(path, clock)

    assert not isinstance(caught.value, StoreUnavailable)
    assert isinstance(caught.value.__cause__, sqlite3.DatabaseError)


def test_a_deleted_file_or_a_closed_store_is_unavailable(path, clock):
    store = SqliteStore(path, clock)
    store.append_events([event(0)])
    path.unlink()

    with pytest.raises(StoreUnavailable, match="gone"):
        store.events()
    path.touch()  # an empty file in its place is not the store
    with pytest.raises(StoreUnavailable, match="replaced"):
        store.append_events([event(1)])
    store.close()
    store.close()
    with pytest.raises(StoreUnavailable, match="closed"):
        store.ping()


def test_a_locked_database_is_unavailable_after_the_busy_timeout(
    path, clock, monkeypatch
):
    monkeypatch.setattr("kit.store.sqlite.BUSY_TIMEOUT_MS", 50)
    store = SqliteStore(path, clock)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")

    with pytest.raises(StoreUnavailable, match="locked") as caught:
        store.save_candles("3045", [candle(0)])

    other.execute("ROLLBACK")
    other.close()
    assert isinstance(caught.value.__cause__, sqlite3.OperationalError)
    store.save_candles("3045", [candle(0)])
    assert store.load_candles("3045", since=START) == [candle(0)]
    store.close()


def _open_and_close(path: str) -> str:
    from kit.clock import ManualClock  # noqa: PLC0415 -- in a child process

    try:
        SqliteStore(path, ManualClock(START)).close()
    except Exception as exc:  # reported to the parent
        return f"{type(exc).__name__}: {exc}"
    return ""


def test_processes_opening_a_new_file_at_once_create_its_schema_once(tmp_path):
    import multiprocessing  # noqa: PLC0415

    context = multiprocessing.get_context("spawn")
    with context.Pool(4) as pool:
        for attempt in range(3):
            path = str(tmp_path / f"race-{attempt}.sqlite3")
            failures = [f for f in pool.map(_open_and_close, [path] * 4) if f]
            assert failures == []
