"""The embedded store: everything in one SQLite file, safe to share between threads.

The file is created readable by its owner only (0600, its folder 0700 when the
kit creates it), because it holds the broker session's tokens; SQLite gives its
-wal and -shm files the same mode. WAL, ``synchronous=FULL`` and a commit before
every method returns: a ``kill -9`` right after a call loses nothing. The schema
is versioned (:mod:`kit.store.sqlite_schema`); a journal file of version 1,
written before the store existed, is upgraded in place.

A store whose file or folder has gone (deleted, renamed, unmounted) raises
:class:`~kit.errors.StoreUnavailable` on every call instead of writing into a
file nobody can open again; it answers again if the same file comes back.
SQLite's own errors are translated at this boundary: I/O, locking and a closed
connection become StoreUnavailable, anything else StoreError.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from kit.broker.journal import (
    UNRESOLVED_STATES,
    IntentState,
    OrderIntent,
    StoredSession,
)
from kit.clock import Clock
from kit.errors import StoreError, StoreUnavailable
from kit.market.candles import Candle
from kit.ops.events import ActivityEvent
from kit.store import records
from kit.store.base import HealthRecord, PositionRecord, TradingMode
from kit.store.sqlite_rows import (
    CANDLE_COLUMNS,
    EVENT_COLUMNS,
    INTENT_COLUMNS,
    POSITION_COLUMNS,
    SESSION_COLUMNS,
    candle_of,
    event_of,
    intent_of,
    position_of,
)
from kit.store.sqlite_schema import migrate

logger = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5000


class SqliteStore:
    """The :class:`~kit.store.base.Store` in one SQLite file.

    The clock stamps the journal's intents (created and updated times).
    """

    def __init__(self, path: str | Path, clock: Clock) -> None:
        self.path = Path(path)
        self._clock = clock
        self._lock = threading.Lock()
        self._closed = False
        try:
            records.create_private_file(self.path)
            self._identity = _identity_of(self.path)
            self._db = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as exc:
            raise StoreUnavailable(f"cannot open the store {self.path}: {exc}") from exc
        try:
            self._db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            _use_wal(self._db)
            self._db.execute("PRAGMA synchronous=FULL")
            migrate(self._db, self.path)
        except sqlite3.Error as exc:
            self._db.close()
            raise _translated(exc, f"cannot open the store {self.path}") from exc
        except BaseException:
            self._db.close()
            raise

    @property
    def name(self) -> str:
        return f"sqlite:{self.path}"

    def __repr__(self) -> str:
        return f"SqliteStore({str(self.path)!r})"

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()

    def ping(self) -> None:
        with self._use("ping") as db:
            db.execute("SELECT 1").fetchone()

    # Order intents.

    def record_intent(self, ordertag: str, body: Mapping[str, Any]) -> OrderIntent:
        now_s = self._clock.time()
        text = records.dump_json(body, f"intent {ordertag}")
        with self._use("record an intent") as db:
            try:
                db.execute(
                    f"INSERT INTO order_intents ({INTENT_COLUMNS}) "
                    "VALUES (?, ?, ?, ?, NULL, '', ?)",
                    (ordertag, now_s, text, IntentState.PENDING.value, now_s),
                )
            except sqlite3.IntegrityError:
                raise ValueError(f"ordertag {ordertag} is already journaled") from None
        return OrderIntent(
            ordertag, now_s, json.loads(text), IntentState.PENDING, None, "", now_s
        )

    def update(
        self,
        ordertag: str,
        state: IntentState | str,
        *,
        orderid: str | None = None,
        detail: str | None = None,
    ) -> OrderIntent:
        state = IntentState(state)
        with self._use("update an intent") as db:
            changed = db.execute(
                "UPDATE order_intents SET state = ?, "
                "orderid = COALESCE(?, orderid), detail = COALESCE(?, detail), "
                "updated_at = ? WHERE ordertag = ?",
                (state.value, orderid, detail, self._clock.time(), ordertag),
            ).rowcount
            row = db.execute(
                f"SELECT {INTENT_COLUMNS} FROM order_intents WHERE ordertag = ?",
                (ordertag,),
            ).fetchone()
        if changed == 0 or row is None:
            raise KeyError(f"no order intent with ordertag {ordertag}")
        return intent_of(row)

    def get_intent(self, ordertag: str) -> OrderIntent | None:
        with self._use("read an intent") as db:
            row = db.execute(
                f"SELECT {INTENT_COLUMNS} FROM order_intents WHERE ordertag = ?",
                (ordertag,),
            ).fetchone()
        return None if row is None else intent_of(row)

    def unresolved_intents(self) -> list[OrderIntent]:
        states = sorted(s.value for s in UNRESOLVED_STATES)
        marks = ", ".join("?" for _ in states)
        with self._use("read the unresolved intents") as db:
            rows = db.execute(
                f"SELECT {INTENT_COLUMNS} FROM order_intents "
                f"WHERE state IN ({marks}) ORDER BY created_at, ordertag",
                states,
            ).fetchall()
        return [intent_of(row) for row in rows]

    # The broker session.

    def save_session(self, session: StoredSession) -> None:
        with self._use("save the session") as db:
            db.execute(
                f"INSERT OR REPLACE INTO broker_sessions ({SESSION_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    session.client_code,
                    session.jwt,
                    session.refresh_token,
                    session.feed_token,
                    session.issued_at,
                    session.jwt_expires_at,
                    session.logged_in_at,
                ),
            )

    def load_session(self, client_code: str) -> StoredSession | None:
        with self._use("load the session") as db:
            row = db.execute(
                f"SELECT {SESSION_COLUMNS} FROM broker_sessions WHERE client_code = ?",
                (client_code,),
            ).fetchone()
        if row is None:
            return None
        return StoredSession(
            str(row[0]), str(row[1]), str(row[2]), str(row[3]), *map(float, row[4:])
        )

    def clear_session(self, client_code: str) -> None:
        with self._use("clear the session") as db:
            db.execute(
                "DELETE FROM broker_sessions WHERE client_code = ?", (client_code,)
            )

    # Positions.

    def save_position(self, position: PositionRecord) -> None:
        records.check_position(position)
        p = position
        row = (
            *(p.mode, p.symbol, p.token, p.exchange, p.quantity, p.avg_price),
            *(p.realised_pnl, p.last_price, p.stop, p.target),
            *(p.opened_at, p.updated_at, p.last_ordertag),
        )
        with self._use("save a position") as db:
            db.execute(
                f"INSERT OR REPLACE INTO positions ({POSITION_COLUMNS}) "
                f"VALUES ({', '.join('?' for _ in row)})",
                row,
            )

    def delete_position(self, mode: TradingMode, symbol: str) -> None:
        records.check_mode(mode)
        with self._use("delete a position") as db:
            db.execute(
                "DELETE FROM positions WHERE mode = ? AND symbol = ?", (mode, symbol)
            )

    def positions(self, mode: TradingMode) -> list[PositionRecord]:
        records.check_mode(mode)
        with self._use("read the positions") as db:
            rows = db.execute(
                f"SELECT {POSITION_COLUMNS} FROM positions WHERE mode = ? "
                "ORDER BY symbol",
                (mode,),
            ).fetchall()
        return [position_of(row) for row in rows]

    # Engine state documents.

    def save_state(self, name: str, data: Mapping[str, Any]) -> None:
        text = records.dump_json(data, f"state {name}")
        with self._use("save a state document") as db:
            db.execute(
                "INSERT OR REPLACE INTO state_docs (name, data) VALUES (?, ?)",
                (name, text),
            )

    def load_state(self, name: str) -> dict[str, Any] | None:
        with self._use("load a state document") as db:
            row = db.execute(
                "SELECT data FROM state_docs WHERE name = ?", (name,)
            ).fetchone()
        return None if row is None else records.load_json(row[0], f"state {name}")

    # Candles.

    def save_candles(self, token: str, candles: Sequence[Candle]) -> None:
        for candle in candles:
            records.check_candle(token, candle)
        rows = [
            (
                *(token, records.to_us(c.start), c.open, c.high, c.low, c.close),
                *(c.volume, c.provenance.value, c.volume_basis.value, c.ticks),
            )
            for c in candles
        ]
        with self._transaction("save candles") as db:
            db.executemany(
                f"INSERT OR REPLACE INTO candles (token, {CANDLE_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    def load_candles(
        self,
        token: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[Candle]:
        where, params = _time_range("start_us", since, until)
        with self._use("load candles") as db:
            rows = db.execute(
                f"SELECT {CANDLE_COLUMNS} FROM candles WHERE token = ?{where} "
                "ORDER BY start_us",
                (token, *params),
            ).fetchall()
        return [candle_of(row) for row in rows]

    # Activity events.

    def append_events(self, events: Sequence[ActivityEvent]) -> None:
        rows = []
        for event in events:
            records.check_event(event)
            fields = records.dump_json(event.fields, f"event {event.id}")
            at_us = records.to_us(event.at)
            rows.append(
                (event.id, at_us, event.kind, event.severity.value, event.text, fields)
            )
        with self._transaction("append events") as db:
            db.executemany(
                f"INSERT INTO events ({EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO NOTHING",
                rows,
            )

    def events(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        kinds: Collection[str] | None = None,
        limit: int | None = None,
    ) -> list[ActivityEvent]:
        if limit is not None and limit < 0:
            raise ValueError("limit must be >= 0")
        where, params = _time_range("at_us", since, until)
        if kinds is not None:
            kinds = sorted(set(kinds))
            where += f" AND kind IN ({', '.join('?' for _ in kinds)})"
            params.extend(kinds)
        # The newest ``limit`` (all when -1), read newest first, then turned.
        params.append(-1 if limit is None else limit)
        with self._use("read events") as db:
            rows = db.execute(
                f"SELECT {EVENT_COLUMNS} FROM events WHERE 1 = 1{where} "
                "ORDER BY at_us DESC, seq DESC LIMIT ?",
                params,
            ).fetchall()
        return [event_of(row) for row in reversed(rows)]

    # Health snapshots.

    def save_health(self, record: HealthRecord) -> None:
        records.check_health(record)
        data = records.dump_json(record.data, f"health at {record.at}")
        with self._use("save a health snapshot") as db:
            db.execute(
                "INSERT OR REPLACE INTO health (at_us, grade, data) VALUES (?, ?, ?)",
                (records.to_us(record.at), record.grade, data),
            )

    def health(
        self, *, since: datetime | None = None, until: datetime | None = None
    ) -> list[HealthRecord]:
        where, params = _time_range("at_us", since, until)
        with self._use("read health snapshots") as db:
            rows = db.execute(
                f"SELECT at_us, grade, data FROM health WHERE 1 = 1{where} "
                "ORDER BY at_us",
                params,
            ).fetchall()
        return [
            HealthRecord(
                records.from_us(at_us),
                str(grade),
                records.load_json(data, f"health at {at_us}"),
            )
            for at_us, grade, data in rows
        ]

    # The connection.

    @contextmanager
    def _use(self, what: str) -> Iterator[sqlite3.Connection]:
        """The connection, alone, for one operation; errors translated."""
        with self._lock:
            if self._closed:
                raise StoreUnavailable(f"{self.name}: {what}: the store is closed")
            self._check_file(what)
            try:
                yield self._db
            except sqlite3.Error as exc:
                raise _translated(exc, f"{self.name}: {what}") from exc

    @contextmanager
    def _transaction(self, what: str) -> Iterator[sqlite3.Connection]:
        """:meth:`_use` inside one transaction: all of it is written or none."""
        with self._use(what) as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def _check_file(self, what: str) -> None:
        """Refuse to write into a file that is no longer where it was opened."""
        try:
            identity = _identity_of(self.path)
        except OSError as exc:
            raise StoreUnavailable(
                f"{self.name}: {what}: the store's file is gone ({exc.strerror})"
            ) from exc
        if identity != self._identity:
            raise StoreUnavailable(
                f"{self.name}: {what}: the store's file was replaced; reopen it"
            )


def _identity_of(path: Path) -> tuple[int, int]:
    found = os.stat(path)
    return found.st_dev, found.st_ino


def _translated(exc: sqlite3.Error, where: str) -> StoreError:
    """The kit error for an SQLite error: I/O, locks and a closed connection
    are the store being unavailable; anything else is the store refusing."""
    if isinstance(exc, sqlite3.OperationalError | sqlite3.ProgrammingError):
        return StoreUnavailable(f"{where}: {exc}")
    return StoreError(f"{where}: {exc}")


def _time_range(
    column: str, since: datetime | None, until: datetime | None
) -> tuple[str, list[Any]]:
    where, params = "", []
    if since is not None:
        where += f" AND {column} >= ?"
        params.append(records.to_us(since))
    if until is not None:
        where += f" AND {column} < ?"
        params.append(records.to_us(until))
    return where, params


def _use_wal(db: sqlite3.Connection) -> None:
    """Switch the file to WAL. SQLite does not wait on its busy handler for
    this switch, so a file another process is creating at the same moment
    answers "locked" at once: try again for up to the busy timeout (a file
    lock held for milliseconds, measured in real time, not the kit's clock)."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.02)
