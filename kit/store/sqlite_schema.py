"""The SQLite store's schema: its versions and the steps between them.

The version lives in ``PRAGMA user_version``. Version 1 is the order journal
(intents and broker sessions) as the broker wrote it before the store existed;
version 2 adds positions, state documents, candles, events and health. Each
step runs in one transaction together with its version bump, so a crash mid-way
leaves the file at the version before it. A file newer than this kit is refused.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from kit.errors import ConfigurationError

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 2

_V1_JOURNAL = """
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
"""

_V2_STORE = """
CREATE TABLE positions (
    mode          TEXT NOT NULL,
    symbol        TEXT NOT NULL,
    token         TEXT NOT NULL,
    exchange      TEXT NOT NULL,
    quantity      INTEGER NOT NULL,
    avg_price     REAL NOT NULL,
    realised_pnl  REAL NOT NULL,
    last_price    REAL,
    stop          REAL,
    target        REAL,
    opened_at     REAL NOT NULL,
    updated_at    REAL NOT NULL,
    last_ordertag TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (mode, symbol)
) WITHOUT ROWID;
CREATE TABLE state_docs (
    name TEXT PRIMARY KEY,
    data TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE candles (
    token        TEXT NOT NULL,
    start_us     INTEGER NOT NULL,
    open         REAL NOT NULL,
    high         REAL NOT NULL,
    low          REAL NOT NULL,
    close        REAL NOT NULL,
    volume       INTEGER NOT NULL,
    provenance   TEXT NOT NULL,
    volume_basis TEXT NOT NULL,
    ticks        INTEGER NOT NULL,
    PRIMARY KEY (token, start_us)
) WITHOUT ROWID;
CREATE TABLE events (
    seq      INTEGER PRIMARY KEY,
    id       TEXT NOT NULL UNIQUE,
    at_us    INTEGER NOT NULL,
    kind     TEXT NOT NULL,
    severity TEXT NOT NULL,
    text     TEXT NOT NULL,
    fields   TEXT NOT NULL
);
CREATE INDEX events_by_time ON events (at_us, seq);
CREATE INDEX events_by_kind ON events (kind, at_us, seq);
CREATE TABLE health (
    at_us INTEGER PRIMARY KEY,
    grade TEXT NOT NULL,
    data  TEXT NOT NULL
);
"""

MIGRATIONS = {1: _V1_JOURNAL, 2: _V2_STORE}
"""The script that brings the schema from version n-1 to n."""


def migrate(db: sqlite3.Connection, path: Path) -> None:
    """Bring the file's schema to SCHEMA_VERSION, one committed step each.

    Each step holds the file's write lock (``BEGIN IMMEDIATE``) and reads the
    version again under it, so two processes opening a new file at once do
    not both create its tables."""
    (version,) = db.execute("PRAGMA user_version").fetchone()
    _refuse_newer(version, path)
    for target in range(version + 1, SCHEMA_VERSION + 1):
        db.execute("BEGIN IMMEDIATE")
        try:
            (current,) = db.execute("PRAGMA user_version").fetchone()
            _refuse_newer(current, path)
            if current < target:
                for statement in _statements(MIGRATIONS[target]):
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {target}")
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        logger.info("Store schema of %s at version %d", path, target)


def _refuse_newer(version: int, path: Path) -> None:
    if version > SCHEMA_VERSION:
        raise ConfigurationError(
            f"the store {path} was written by a newer kit "
            f"(schema {version}, this kit knows {SCHEMA_VERSION})",
            field="store_path",
        )


def _statements(script: str) -> list[str]:
    """The statements of a migration script (none holds a ';' inside)."""
    return [part.strip() for part in script.split(";") if part.strip()]
