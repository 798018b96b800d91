"""The broker journal's own parts: order tags and the stored session's repr.

What a journal keeps (intents, sessions) is the Store contract, tested on both
stores in ``tests/store`` (test_contract_journal, test_sqlite)."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import datetime

import pytest

from kit.broker import journal as journal_module
from kit.broker.journal import StoredSession, new_ordertag
from kit.clock import IST, ManualClock

START = datetime(2026, 12, 3, 11, 0, tzinfo=IST)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


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


def test_a_stored_sessions_repr_shows_no_token_and_no_client_code():
    shown = repr(session_for("A123456", 7))

    for secret in ("A123456", "jwt-7", "refresh-token-7", "feed-token-7"):
        assert secret not in shown


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


def test_the_broker_imports_no_store():
    script = (
        "import sys\n"
        "import kit.broker.stack, kit.broker.session, kit.broker.orders\n"
        "print(sorted(m for m in sys.modules if m.startswith('kit.store')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )

    assert done.stdout.strip() == "[]"
