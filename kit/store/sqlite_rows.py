"""The SQLite store's rows: the columns it reads and the records they make.

A row that does not make a valid record (an unknown state, unreadable JSON) is
a :class:`~kit.errors.StoreError`.
"""

from __future__ import annotations

from typing import Any

from kit.broker.journal import OrderIntent
from kit.market.candles import Candle
from kit.ops.events import ActivityEvent
from kit.store import records
from kit.store.base import PositionRecord

INTENT_COLUMNS = "ordertag, created_at, body, state, orderid, detail, updated_at"
SESSION_COLUMNS = (
    "client_code, jwt, refresh_token, feed_token, issued_at, jwt_expires_at, "
    "logged_in_at"
)
POSITION_COLUMNS = (
    "mode, symbol, token, exchange, quantity, avg_price, realised_pnl, "
    "last_price, stop, target, opened_at, updated_at, last_ordertag"
)
CANDLE_COLUMNS = (
    "start_us, open, high, low, close, volume, provenance, volume_basis, ticks"
)
EVENT_COLUMNS = "id, at_us, kind, severity, text, fields"


def intent_of(row: tuple[Any, ...]) -> OrderIntent:
    tag, created, body, state, orderid, detail, updated = row
    return OrderIntent(
        ordertag=str(tag),
        created_at=float(created),
        body=records.load_json(body, f"intent {tag}"),
        state=records.intent_state_of(state, tag),
        orderid=None if orderid is None else str(orderid),
        detail=str(detail),
        updated_at=float(updated),
    )


def position_of(row: tuple[Any, ...]) -> PositionRecord:
    mode, symbol, token, exchange, quantity, avg_price, realised = row[:7]
    last_price, stop, target, opened_at, updated_at, last_ordertag = row[7:]
    return PositionRecord(
        mode=mode,
        symbol=str(symbol),
        token=str(token),
        exchange=str(exchange),
        quantity=int(quantity),
        avg_price=float(avg_price),
        realised_pnl=float(realised),
        last_price=records.optional_float(last_price),
        stop=records.optional_float(stop),
        target=records.optional_float(target),
        opened_at=float(opened_at),
        updated_at=float(updated_at),
        last_ordertag=str(last_ordertag),
    )


def candle_of(row: tuple[Any, ...]) -> Candle:
    start_us, open_, high, low, close, volume, provenance, basis, ticks = row
    return records.candle_of(
        records.from_us(start_us),
        prices=(open_, high, low, close),
        volume=volume,
        provenance=provenance,
        volume_basis=basis,
        ticks=ticks,
    )


def event_of(row: tuple[Any, ...]) -> ActivityEvent:
    event_id, at_us, kind, severity, text, fields = row
    return records.event_of(
        id=str(event_id),
        at=records.from_us(at_us),
        kind=str(kind),
        severity=str(severity),
        text=str(text),
        fields=records.load_json(fields, f"event {event_id}"),
    )
