"""What both stores share: time conversions, record checks, JSON coding, and
the private file the local store and its tokens live in.

Each check raises :class:`~kit.errors.StoreError` naming the record and what is
wrong with it, before anything is written, so that both stores refuse the same
records in the same way. Messages name fields, never their values: a session's
tokens never reach an error.
"""

from __future__ import annotations

import json
import logging
import math
import os
import stat
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kit.broker.journal import IntentState
from kit.clock import IST
from kit.errors import StoreError
from kit.market.candles import Candle, Provenance, VolumeBasis
from kit.ops.events import ActivityEvent, Severity
from kit.store.base import HealthRecord, PositionRecord

logger = logging.getLogger(__name__)

TRADING_MODES = ("paper", "live")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_FILE_MODE = 0o600
_FOLDER_MODE = 0o700


# Time.


def to_us(when: datetime) -> int:
    """An aware datetime as whole epoch microseconds (exact, no float)."""
    if when.tzinfo is None:
        raise ValueError(f"naive datetime {when}: give it a timezone (kit.clock.IST)")
    return (when - _EPOCH) // _MICROSECOND


def from_us(at_us: int) -> datetime:
    """Epoch microseconds as an aware datetime in IST."""
    return (_EPOCH + timedelta(microseconds=at_us)).astimezone(IST)


def us_bound(when: datetime | None) -> int | None:
    return None if when is None else to_us(when)


# Checks: a record both stores would refuse.


def check_position(position: PositionRecord) -> None:
    if position.mode not in TRADING_MODES:
        raise StoreError(f"position {position.symbol}: mode must be paper or live")
    if not position.symbol:
        raise StoreError("a position needs a symbol")
    numbers = (
        position.avg_price,
        position.realised_pnl,
        position.last_price,
        position.stop,
        position.target,
        position.opened_at,
        position.updated_at,
    )
    if not all(n is None or math.isfinite(n) for n in numbers):
        raise StoreError(f"position {position.symbol}: prices and times must be finite")
    if isinstance(position.quantity, bool) or not isinstance(position.quantity, int):
        raise StoreError(f"position {position.symbol}: quantity must be an integer")
    if not isinstance(position.last_ordertag, str):
        raise StoreError(f"position {position.symbol}: last_ordertag must be text")


def check_mode(mode: str) -> None:
    if mode not in TRADING_MODES:
        raise StoreError(f"mode must be paper or live, not {mode!r}")


def check_candle(token: str, candle: Candle) -> None:
    where = f"candle {token} {candle.start}"
    if candle.start.tzinfo is None:
        raise StoreError(f"{where}: its start must be timezone-aware")
    prices = (candle.open, candle.high, candle.low, candle.close)
    if not all(isinstance(p, int | float) and math.isfinite(p) for p in prices):
        raise StoreError(f"{where}: prices must be finite numbers")
    for name, count in (("volume", candle.volume), ("ticks", candle.ticks)):
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise StoreError(f"{where}: {name} must be a whole number >= 0")
    try:
        Provenance(candle.provenance)
        VolumeBasis(candle.volume_basis)
    except ValueError as exc:
        raise StoreError(f"{where}: {exc}") from exc


def check_event(event: ActivityEvent) -> None:
    if not event.id or not event.kind:
        raise StoreError("an event needs an id and a kind")


def check_health(record: HealthRecord) -> None:
    if record.at.tzinfo is None:
        raise StoreError("a health record's time must be timezone-aware")
    if not record.grade:
        raise StoreError("a health record needs a grade")


# JSON.


def dump_json(value: Mapping[str, Any], what: str) -> str:
    """``value`` as compact JSON; a value JSON cannot hold is a StoreError."""
    try:
        return json.dumps(dict(value), allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise StoreError(f"{what}: not a JSON document: {exc}") from exc


def load_json(text: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise StoreError(f"{what}: stored JSON is unreadable") from exc
    if not isinstance(value, dict):
        raise StoreError(f"{what}: stored JSON is not an object")
    return value


# Rebuilding records read back.


def event_of(
    *,
    id: str,
    at: datetime,
    kind: str,
    severity: str,
    text: str,
    fields: Mapping[str, Any],
) -> ActivityEvent:
    """An event read back; a row that is not a valid event is a StoreError."""
    try:
        return ActivityEvent(
            at=at,
            kind=kind,
            severity=Severity(severity),
            text=text,
            fields=fields,
            id=id,
        )
    except ValueError as exc:
        raise StoreError(f"event {id}: stored record is invalid: {exc}") from exc


def candle_of(
    start: datetime,
    *,
    prices: tuple[float, float, float, float],
    volume: int,
    provenance: str,
    volume_basis: str,
    ticks: int,
) -> Candle:
    open_, high, low, close = (float(p) for p in prices)
    try:
        return Candle(
            start=start,
            open=open_,
            high=high,
            low=low,
            close=close,
            volume=int(volume),
            provenance=Provenance(provenance),
            volume_basis=VolumeBasis(volume_basis),
            ticks=int(ticks),
        )
    except ValueError as exc:
        raise StoreError(f"candle {start}: stored record is invalid: {exc}") from exc


def intent_state_of(value: Any, ordertag: str) -> IntentState:
    try:
        return IntentState(value)
    except ValueError as exc:
        raise StoreError(f"intent {ordertag}: stored state is invalid") from exc


def optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


# The private file.


def create_private_file(path: Path) -> None:
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
                    "Store %s was readable by others (mode %o); now 0600", path, mode
                )
    finally:
        os.close(fd)
