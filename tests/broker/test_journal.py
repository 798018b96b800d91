"""The broker journal: intents and sessions on disk, private, durable, versioned."""

from __future__ import annotations

import os
import re
import sqlite3
import stat
import subprocess
import sys
import textwrap
import threading
from datetime import datetime
from pathlib import Path

import pytest

from kit.broker import journal as journal_module
from kit.broker.journal import (
    SCHEMA_VERSION,
    IntentState,
    SqliteJournal,
    StoredSession,
    new_ordertag,
)
from kit.clock import IST, ManualClock
from kit.errors import ConfigurationError

START = datetime(2026, 12, 3, 11, 0, tzinfo=IST)
BODY = {"variety": "NORMAL", "tradingsymbol": "SBIN-EQ", "quantity": "1"}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "deeper" / "still" / "kit.sqlite3"


def session_for(client_code: str = "A123456", n: int = 1) -> StoredSession:
    return StoredSession(
        client_code=client_code,
        jwt=f"eyJhbGciOiJIUzI1NiJ9.jwt-{n}.signature",
        refresh_token=f"refresh-token-{n}",
        feed_token=f"feed-token-{n}",
        issued_at=START.timestamp(),
        jwt_expires_at=START.timestamp() + 24 * 3600,
        logged_in_at=START.timestamp() - 60,
    )


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_intents_and_their_states_survive_a_reopen(path, clock):
    journal = SqliteJournal(path, clock)
    journal.record_intent("kit-a", BODY)
    clock.advance(2)
    journal.update("kit-a", IntentState.SENT)
    clock.advance(3)
    journal.update("kit-a", "accepted", orderid="2612031000001", detail="ok")
    journal.close()

    intent = SqliteJournal(path, clock).get_intent("kit-a")

    assert intent is not None
    assert intent.body == BODY
    assert intent.state is IntentState.ACCEPTED and intent.resolved
    assert (intent.orderid, intent.detail) == ("2612031000001", "ok")
    assert intent.created_at == START.timestamp()
    assert intent.updated_at == START.timestamp() + 5


def test_an_update_keeps_the_orderid_and_detail_it_does_not_name(path, clock):
    journal = SqliteJournal(path, clock)
    journal.record_intent("kit-a", BODY)
    journal.update("kit-a", "accepted", orderid="111", detail="placed")

    intent = journal.update("kit-a", IntentState.REJECTED)

    assert (intent.state, intent.orderid, intent.detail) == (
        "rejected",
        "111",
        "placed",
    )


def test_only_intents_of_unknown_outcome_are_unresolved_oldest_first(path, clock):
    journal = SqliteJournal(path, clock)
    for tag, state in [
        ("t1", "unknown"),
        ("t2", "accepted"),
        ("t3", "pending"),
        ("t4", "rejected"),
        ("t5", "sent"),
        ("t6", "resolved_absent"),
    ]:
        journal.record_intent(tag, BODY)
        journal.update(tag, state)
        clock.advance(1)

    unresolved = journal.unresolved_intents()

    assert [i.ordertag for i in unresolved] == ["t1", "t3", "t5"]
    assert not any(i.resolved for i in unresolved)


def test_a_tag_is_journaled_once_and_only_known_tags_and_states_update(path, clock):
    journal = SqliteJournal(path, clock)
    journal.record_intent("kit-a", BODY)

    with pytest.raises(ValueError, match="already journaled"):
        journal.record_intent("kit-a", BODY)
    with pytest.raises(KeyError):
        journal.update("kit-b", "sent")
    with pytest.raises(ValueError):
        journal.update("kit-a", "half-sent")
    assert journal.get_intent("kit-b") is None


def test_a_session_is_saved_replaced_loaded_by_client_and_cleared(path, clock):
    journal = SqliteJournal(path, clock)
    journal.save_session(session_for("A1", 1))
    journal.save_session(session_for("A1", 2))
    journal.save_session(session_for("B2", 3))
    journal.close()
    journal = SqliteJournal(path, clock)

    assert journal.load_session("A1") == session_for("A1", 2)
    assert journal.load_session("C3") is None
    journal.clear_session("A1")
    assert journal.load_session("A1") is None
    assert journal.load_session("B2") == session_for("B2", 3)


def test_a_stored_sessions_repr_shows_no_token_and_no_client_code():
    shown = repr(session_for("A123456", 7))

    for secret in ("A123456", "jwt-7", "refresh-token-7", "feed-token-7"):
        assert secret not in shown


def test_writes_survive_a_kill_9_right_after_them(path):
    script = textwrap.dedent(
        f"""
        import os, signal
        from kit.broker.journal import SqliteJournal, StoredSession
        from kit.clock import ManualClock
        journal = SqliteJournal({str(path)!r}, ManualClock(1_800_000_000.0))
        journal.record_intent("kit-killed", {{"quantity": "5"}})
        journal.update("kit-killed", "sent")
        journal.save_session(StoredSession("A1", "j", "r", "f", 1.0, 2.0, 1.0))
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], check=False, timeout=60)

    journal = SqliteJournal(path, ManualClock(START))
    intent = journal.get_intent("kit-killed")
    assert done.returncode == -9
    assert intent is not None and intent.state is IntentState.SENT
    assert journal.load_session("A1") == StoredSession("A1", "j", "r", "f", 1, 2, 1)


def test_the_file_is_created_private_in_a_new_folder_with_wal(path, clock):
    journal = SqliteJournal(path, clock)
    journal.save_session(session_for())

    assert mode_of(path) == 0o600
    assert mode_of(path.parent) == 0o700
    wal = path.with_name(path.name + "-wal")
    assert wal.exists() and mode_of(wal) == 0o600
    (mode,) = journal._db.execute("PRAGMA journal_mode").fetchone()
    assert mode == "wal"


def test_an_existing_file_others_could_read_is_made_private(path, clock, caplog):
    path.parent.mkdir(parents=True)
    path.touch(mode=0o644)
    os.chmod(path, 0o644)

    SqliteJournal(path, clock)

    assert mode_of(path) == 0o600
    assert "now 0600" in caplog.text


def test_the_schema_version_is_recorded_and_a_newer_one_refused(path, clock):
    SqliteJournal(path, clock).close()
    with sqlite3.connect(path) as db:
        (version,) = db.execute("PRAGMA user_version").fetchone()
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")

    assert version == SCHEMA_VERSION
    with pytest.raises(ConfigurationError, match="newer kit"):
        SqliteJournal(path, clock)


def test_threads_can_write_at_once_without_losing_a_row(path, clock):
    journal = SqliteJournal(path, clock)

    def write(worker: int) -> None:
        for n in range(50):
            journal.record_intent(f"w{worker}-{n}", BODY)
            journal.update(f"w{worker}-{n}", "unknown")

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert len(journal.unresolved_intents()) == 200


def test_ten_thousand_tags_are_unique_short_and_ordered_on_a_still_clock(clock):
    tags = [new_ordertag(clock) for _ in range(10_000)]

    assert len(set(tags)) == len(tags)
    assert all(len(t) <= 20 and re.fullmatch(r"[a-z0-9-]+", t) for t in tags)
    time_parts = [t[4:12] for t in tags]
    assert time_parts == sorted(time_parts) and len(set(time_parts)) == len(tags)


def test_tags_of_another_process_at_the_same_instant_differ(clock, monkeypatch):
    script = (
        "from kit.broker.journal import new_ordertag\n"
        "from kit.clock import ManualClock\n"
        f"clock = ManualClock({clock.time()})\n"
        "print('\\n'.join(new_ordertag(clock) for _ in range(2000)))\n"
    )
    other = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.split()
    monkeypatch.setattr(journal_module, "_last_tag_ms", 0)  # as a fresh process
    ours = [new_ordertag(clock) for _ in range(2000)]

    assert len(other) == 2000
    assert {t[4:12] for t in other} == {t[4:12] for t in ours}  # the same instants
    assert not set(other) & set(ours)


@pytest.mark.parametrize("prefix", ["toolong", "a b", "é"])
def test_a_tag_prefix_must_be_short_and_plain(clock, prefix):
    with pytest.raises(ValueError, match="prefix"):
        new_ordertag(clock, prefix=prefix)


def test_a_short_prefix_keeps_the_tag_within_twenty_characters(clock):
    assert len(new_ordertag(clock, prefix="")) == 16
    assert new_ordertag(clock, prefix="b-").startswith("b-")
