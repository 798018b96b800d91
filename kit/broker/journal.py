"""The broker journal: order intents and the broker session, kept on disk.

Two things must survive a ``kill -9``:

- **Order intents.** Every order is written here, under its unique ``ordertag``,
  *before* it is sent, and its state is updated as answers come back. After a
  crash, the intents still unresolved are looked up in the broker's order book
  by their tag instead of being sent again (DESIGN.md, promise 2).
- **The broker session.** The JWT, refresh and feed tokens of the last login,
  so that a restart resumes the session instead of logging in again.

:class:`Journal` is the interface; :class:`SqliteJournal` keeps it in one
SQLite file (WAL, every write committed at once, ``synchronous=FULL``). The file
is created readable by its owner only (0600), because it holds live tokens;
nothing here logs a token or puts one in a repr.

States of an intent::

    pending ──> sent ──> accepted
       │          │ └──> rejected
       │          └────> unknown ──> accepted | rejected | resolved_absent
       └──────────────────────────> (any of the above, after a crash)
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import sqlite3
import stat
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from kit.broker.routes import ORDERTAG_MAX_CHARS
from kit.clock import Clock
from kit.errors import ConfigurationError

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
_FILE_MODE = 0o600
_FOLDER_MODE = 0o700
_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"


class IntentState(StrEnum):
    """Where an order intent stands."""

    PENDING = "pending"  # written, not yet (known to be) sent
    SENT = "sent"  # handed to the transport, no answer yet
    ACCEPTED = "accepted"  # the broker gave it an order id
    REJECTED = "rejected"  # the broker refused it before accepting it
    UNKNOWN = "unknown"  # the answer was lost: look the tag up in the order book
    RESOLVED_ABSENT = "resolved_absent"  # looked up: the broker never had it


UNRESOLVED_STATES = frozenset(
    {IntentState.PENDING, IntentState.SENT, IntentState.UNKNOWN}
)
"""States whose outcome at the broker is not known yet."""


@dataclass(frozen=True)
class OrderIntent:
    """One order as the journal knows it. Times are epoch seconds."""

    ordertag: str
    created_at: float
    body: dict[str, Any]
    state: IntentState
    orderid: str | None
    detail: str
    updated_at: float

    @property
    def resolved(self) -> bool:
        return self.state not in UNRESOLVED_STATES


@dataclass(frozen=True)
class StoredSession:
    """A broker session's tokens and times (epoch seconds).

    ``logged_in_at`` is the TOTP login that opened the session; ``issued_at``
    the moment the current tokens were handed out (the login or a later
    refresh). The repr shows times only: never a token or the client code.
    """

    client_code: str
    jwt: str
    refresh_token: str
    feed_token: str
    issued_at: float
    jwt_expires_at: float
    logged_in_at: float

    def __repr__(self) -> str:
        return (
            f"StoredSession(issued_at={self.issued_at}, "
            f"jwt_expires_at={self.jwt_expires_at}, "
            f"logged_in_at={self.logged_in_at})"
        )


class Journal(Protocol):
    """What the order-safety logic and the broker session need kept on disk."""

    def record_intent(self, ordertag: str, body: Mapping[str, Any]) -> OrderIntent:
        """Write a new intent in state ``pending``; a known tag is refused."""
        ...

    def update(
        self,
        ordertag: str,
        state: IntentState | str,
        *,
        orderid: str | None = None,
        detail: str | None = None,
    ) -> OrderIntent:
        """Move an intent to ``state``; ``orderid`` and ``detail`` when given.

        ``state`` may be given as its text (``"unknown"``); an unknown tag raises
        KeyError, a state that is not an :class:`IntentState` ValueError.
        """
        ...

    def get_intent(self, ordertag: str) -> OrderIntent | None: ...

    def unresolved_intents(self) -> list[OrderIntent]:
        """Intents in ``pending``, ``sent`` or ``unknown``, oldest first."""
        ...

    def save_session(self, session: StoredSession) -> None:
        """Store ``session``, replacing any earlier one of the same client."""
        ...

    def load_session(self, client_code: str) -> StoredSession | None: ...

    def clear_session(self, client_code: str) -> None: ...

    def close(self) -> None: ...


_SCHEMA_V1 = """
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

_MIGRATIONS = {1: _SCHEMA_V1}
"""The script that brings the schema from version n-1 to n."""

_INTENT_COLUMNS = "ordertag, created_at, body, state, orderid, detail, updated_at"
_SESSION_COLUMNS = (
    "client_code, jwt, refresh_token, feed_token, issued_at, jwt_expires_at, "
    "logged_in_at"
)


class SqliteJournal:
    """The journal in one SQLite file, safe to share between threads.

    Every method commits before it returns, so a ``kill -9`` right after loses
    nothing. The clock stamps the intents' created and updated times.
    """

    def __init__(self, path: str | Path, clock: Clock) -> None:
        self.path = Path(path)
        self._clock = clock
        self._lock = threading.Lock()
        _create_private_file(self.path)
        self._db = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False
        )
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._migrate()
        except BaseException:
            self._db.close()
            raise

    def __repr__(self) -> str:
        return f"SqliteJournal({str(self.path)!r})"

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # Order intents.

    def record_intent(self, ordertag: str, body: Mapping[str, Any]) -> OrderIntent:
        now_s = self._clock.time()
        row = (ordertag, now_s, json.dumps(dict(body), sort_keys=True))
        try:
            with self._lock:
                self._db.execute(
                    f"INSERT INTO order_intents ({_INTENT_COLUMNS}) "
                    "VALUES (?, ?, ?, ?, NULL, '', ?)",
                    (*row, IntentState.PENDING.value, now_s),
                )
        except sqlite3.IntegrityError:
            raise ValueError(f"ordertag {ordertag} is already journaled") from None
        return OrderIntent(
            ordertag, now_s, dict(body), IntentState.PENDING, None, "", now_s
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
        with self._lock:
            changed = self._db.execute(
                "UPDATE order_intents SET state = ?, "
                "orderid = COALESCE(?, orderid), detail = COALESCE(?, detail), "
                "updated_at = ? WHERE ordertag = ?",
                (state.value, orderid, detail, self._clock.time(), ordertag),
            ).rowcount
        if changed == 0:
            raise KeyError(f"no order intent with ordertag {ordertag}")
        intent = self.get_intent(ordertag)
        assert intent is not None
        return intent

    def get_intent(self, ordertag: str) -> OrderIntent | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_INTENT_COLUMNS} FROM order_intents WHERE ordertag = ?",
                (ordertag,),
            ).fetchone()
        return None if row is None else _intent_of(row)

    def unresolved_intents(self) -> list[OrderIntent]:
        states = sorted(s.value for s in UNRESOLVED_STATES)
        marks = ", ".join("?" for _ in states)
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_INTENT_COLUMNS} FROM order_intents "
                f"WHERE state IN ({marks}) ORDER BY created_at, ordertag",
                states,
            ).fetchall()
        return [_intent_of(row) for row in rows]

    # The broker session.

    def save_session(self, session: StoredSession) -> None:
        with self._lock:
            self._db.execute(
                f"INSERT OR REPLACE INTO broker_sessions ({_SESSION_COLUMNS}) "
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
        with self._lock:
            row = self._db.execute(
                f"SELECT {_SESSION_COLUMNS} FROM broker_sessions WHERE client_code = ?",
                (client_code,),
            ).fetchone()
        if row is None:
            return None
        return StoredSession(
            str(row[0]), str(row[1]), str(row[2]), str(row[3]), *map(float, row[4:])
        )

    def clear_session(self, client_code: str) -> None:
        with self._lock:
            self._db.execute(
                "DELETE FROM broker_sessions WHERE client_code = ?", (client_code,)
            )

    # Schema.

    def _migrate(self) -> None:
        """Bring the file's schema to SCHEMA_VERSION, one committed step each."""
        (version,) = self._db.execute("PRAGMA user_version").fetchone()
        if version > SCHEMA_VERSION:
            raise ConfigurationError(
                f"the journal {self.path} was written by a newer kit "
                f"(schema {version}, this kit knows {SCHEMA_VERSION})",
                field="store_path",
            )
        for target in range(version + 1, SCHEMA_VERSION + 1):
            # executescript commits what is pending, so the version bump sits in
            # the same script as the change it describes.
            self._db.executescript(
                f"BEGIN; {_MIGRATIONS[target]} PRAGMA user_version = {target}; COMMIT;"
            )
            logger.info("Journal schema at version %d", target)


def _intent_of(row: tuple[Any, ...]) -> OrderIntent:
    tag, created, body, state, orderid, detail, updated = row
    return OrderIntent(
        ordertag=str(tag),
        created_at=float(created),
        body=json.loads(body),
        state=IntentState(state),
        orderid=None if orderid is None else str(orderid),
        detail=str(detail),
        updated_at=float(updated),
    )


def _create_private_file(path: Path) -> None:
    """Create ``path`` (and its folder) readable and writable by its owner only.

    SQLite gives its -wal and -shm files the mode of the database file, so they
    are private too. An existing file that others may read is tightened.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=_FOLDER_MODE)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, _FILE_MODE)
    try:
        mode = stat.S_IMODE(os.fstat(fd).st_mode)
        if mode != _FILE_MODE:
            os.fchmod(fd, _FILE_MODE)
            if mode & 0o077:
                logger.warning(
                    "Journal %s was readable by others (mode %o); now 0600",
                    path,
                    mode,
                )
    finally:
        os.close(fd)


# Order tags.

_tag_lock = threading.Lock()
_last_tag_ms = 0


def new_ordertag(clock: Clock, *, prefix: str = "kit-") -> str:
    """A fresh ``ordertag``: unique across restarts and processes, 20 characters.

    ``prefix`` (at most 4 characters), then the clock's time in milliseconds in
    base 36 (8 characters, strictly increasing within this process even when the
    clock stands still), then 8 random base-36 characters that keep two
    processes apart (36**8, about 2.8e12, draws per millisecond).
    """
    bare = prefix.replace("-", "")
    if len(prefix) > 4 or not (bare.isascii() and (bare.isalnum() or not bare)):
        raise ValueError("prefix: at most 4 ASCII letters, digits or '-'")
    global _last_tag_ms  # noqa: PLW0603 -- one sequence per process, by design
    with _tag_lock:
        now_ms = max(clock.time_ms(), _last_tag_ms + 1)
        _last_tag_ms = now_ms
    random_part = "".join(secrets.choice(_BASE36) for _ in range(8))
    tag = f"{prefix}{_base36(now_ms, 8)}{random_part}"
    assert len(tag) <= ORDERTAG_MAX_CHARS
    return tag


def _base36(number: int, width: int) -> str:
    digits = []
    rest = number
    while rest:
        rest, digit = divmod(rest, 36)
        digits.append(_BASE36[digit])
    text = "".join(reversed(digits)) or "0"
    if len(text) > width:
        raise ValueError(f"{number} does not fit {width} base-36 digits")
    return text.rjust(width, "0")
