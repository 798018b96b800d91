"""The broker journal: order intents and the broker session, kept on disk.

Two things must survive a ``kill -9``:

- **Order intents.** Every order is written here, under its unique ``ordertag``,
  *before* it is sent, and its state is updated as answers come back. After a
  crash, the intents still unresolved are looked up in the broker's order book
  by their tag instead of being sent again (DESIGN.md, promise 2).
- **The broker session.** The JWT, refresh and feed tokens of the last login,
  so that a restart resumes the session instead of logging in again.

:class:`Journal` is the interface. The kit's stores implement it
(:class:`~kit.store.sqlite.SqliteStore`, the default: one SQLite file readable
by its owner only, every write committed at once; and
:class:`~kit.store.firestore.FirestoreStore`); the broker takes whichever it is
given and imports neither. Nothing here logs a token or puts one in a repr.

States of an intent::

    pending ──> sent ──> accepted
       │          │ └──> rejected
       │          └────> unknown ──> accepted | rejected | resolved_absent
       └──────────────────────────> (any of the above, after a crash)
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from kit.broker.routes import ORDERTAG_MAX_CHARS
from kit.clock import Clock

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
    """What the order-safety logic and the broker session need kept on disk.

    Every method has written (or read) what it says before it returns; a
    journal that cannot answer raises :class:`~kit.errors.StoreUnavailable`.
    """

    def record_intent(self, ordertag: str, body: Mapping[str, Any]) -> OrderIntent:
        """Write a new intent in state ``pending``; a known tag raises ValueError."""
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
