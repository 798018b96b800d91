"""A session whose store fails still logs in and works from memory; the
failure is one warning, never a failed login and never a token in the log."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from kit.broker.http import Transport
from kit.broker.session import BrokerSession
from kit.clock import IST
from kit.errors import StoreUnavailable
from kit.sim.runner import SimConfig
from kit.store import SqliteStore
from tests.broker.conftest import credentials_of


class DeadSessions:
    """A store whose session calls fail as a dead store's do."""

    def __init__(self, store: SqliteStore) -> None:
        self.store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def save_session(self, session: Any) -> None:
        raise StoreUnavailable("sqlite: the store's file is gone")

    def load_session(self, client_code: str) -> Any:
        raise StoreUnavailable("sqlite: the store's file is gone")

    def clear_session(self, client_code: str) -> None:
        raise StoreUnavailable("sqlite: the store's file is gone")


def test_a_dead_store_does_not_fail_login_refresh_or_logout(
    simulator, tmp_path: Path, caplog
):
    sim = simulator(SimConfig(start=datetime(2026, 12, 3, 11, 0, tzinfo=IST)))
    store = SqliteStore(tmp_path / "kit.sqlite3", sim.clock)
    transport = Transport(sim.rest_url, sim.account.api_key)
    session = BrokerSession(
        transport, credentials_of(sim), DeadSessions(store), sim.clock
    )

    with caplog.at_level(logging.WARNING, logger="kit.broker.session"):
        session.start()  # resume fails quietly, then a login
        assert session.status().logged_in
        jwt = session.jwt
        session.refresh()
        session.logout()

    warnings = [r.getMessage() for r in caplog.records]
    assert any("Stored session unreadable" in w for w in warnings)
    assert any("Session not saved" in w for w in warnings)
    assert any("did not forget" in w for w in warnings)
    assert all(jwt not in w for w in warnings)
    transport.close()
    store.close()
