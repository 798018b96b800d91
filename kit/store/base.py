"""The Store: where everything that must outlive the process is kept.

One protocol, two implementations that pass the same contract tests
(``tests/store``): :class:`~kit.store.sqlite.SqliteStore`, the embedded default
(one file, WAL, schema versioned), and
:class:`~kit.store.firestore.FirestoreStore` (google-cloud-firestore, imported
lazily). A store keeps:

- the order journal and the broker session (the :class:`~kit.broker.journal.Journal`
  protocol, which the broker's client and order placer use);
- positions, one record per (mode, symbol);
- small state documents of the engine (daily P&L, trading state), by name;
- 1-minute candles per token;
- activity events (:class:`~kit.ops.events.ActivityEvent`);
- health snapshots (:class:`HealthRecord`).

Every method either does what it says before it returns or raises: a store
that does not answer within its deadline raises
:class:`~kit.errors.StoreUnavailable` (never hangs), a bad record
:class:`~kit.errors.StoreError`. Times are timezone-aware datetimes, except in
the journal's records, which keep epoch seconds. All methods may be called
from any thread.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from kit.broker.journal import Journal
from kit.market.candles import Candle
from kit.ops.events import ActivityEvent

TradingMode = Literal["paper", "live"]


@dataclass(frozen=True)
class PositionRecord:
    """A position as stored: signed ``quantity`` (short below 0), prices in
    rupees, times in epoch seconds. ``last_ordertag`` is the ``ordertag`` of
    the last fill applied to it ("" for none, or a fill without a tag): written
    with the change it caused, it tells a restart which orders the position
    already holds."""

    mode: TradingMode
    symbol: str
    token: str
    exchange: str
    quantity: int
    avg_price: float
    realised_pnl: float = 0.0
    last_price: float | None = None
    stop: float | None = None
    target: float | None = None
    opened_at: float = 0.0
    updated_at: float = 0.0
    last_ordertag: str = ""


@dataclass(frozen=True)
class HealthRecord:
    """One published health snapshot: its time, grade and every measured field
    (JSON values), as :class:`~kit.ops.health.HealthSnapshot` writes it."""

    at: datetime
    grade: str
    data: Mapping[str, Any] = field(default_factory=dict)


class Store(Journal, Protocol):
    """The kit's persistent state. See the module docstring for the rules."""

    @property
    def name(self) -> str:
        """Where the store lives, for messages (``sqlite:kit-data/kit.sqlite3``,
        ``firestore:demo-project``); never a credential."""
        ...

    def ping(self) -> None:
        """Raise :class:`~kit.errors.StoreUnavailable` unless the store answers."""
        ...

    # Positions.

    def save_position(self, position: PositionRecord) -> None:
        """Insert or replace the position of ``(mode, symbol)``."""
        ...

    def delete_position(self, mode: TradingMode, symbol: str) -> None: ...

    def positions(self, mode: TradingMode) -> list[PositionRecord]:
        """The positions of one mode, by symbol."""
        ...

    # Engine state documents.

    def save_state(self, name: str, data: Mapping[str, Any]) -> None:
        """Replace the JSON document ``name``."""
        ...

    def load_state(self, name: str) -> dict[str, Any] | None: ...

    # Candles.

    def save_candles(self, token: str, candles: Sequence[Candle]) -> None:
        """Insert or replace candles of ``token`` by their start."""
        ...

    def load_candles(
        self,
        token: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[Candle]:
        """Candles of ``token`` with ``since <= start < until``, oldest first."""
        ...

    # Activity events.

    def append_events(self, events: Sequence[ActivityEvent]) -> None:
        """Write events; one already written (same ``id``) is not duplicated."""
        ...

    def events(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        kinds: Collection[str] | None = None,
        limit: int | None = None,
    ) -> list[ActivityEvent]:
        """Events with ``since <= at < until`` of the given kinds, oldest first;
        with ``limit``, the newest ``limit`` of them (still oldest first)."""
        ...

    # Health snapshots.

    def save_health(self, record: HealthRecord) -> None: ...

    def health(
        self, *, since: datetime | None = None, until: datetime | None = None
    ) -> list[HealthRecord]:
        """Snapshots with ``since <= at < until``, oldest first."""
        ...

    def close(self) -> None: ...
