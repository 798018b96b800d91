"""The Firestore store's documents: their collections, ids and fields.

Pure conversions between the kit's records and the plain dicts the Firestore
client writes and reads (no Google import here). The layout is described, with
the indexes it needs, in :mod:`kit.store.firestore` and ``docs/firestore.md``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

from kit.broker.journal import IntentState, OrderIntent, StoredSession
from kit.errors import StoreError
from kit.market.candles import Candle
from kit.ops.events import ActivityEvent
from kit.store import records
from kit.store.base import HealthRecord, PositionRecord

INTENTS = "order_intents"
SESSIONS = "broker_sessions"
POSITIONS = "positions"
STATE = "state"
CANDLES = "candles"
EVENTS = "events"
HEALTH = "health"

TOKEN_FIELDS = ("jwt", "refresh_token", "feed_token")
"""A session's secrets: in Firestore only when the user opts in."""

_AT_DIGITS = 17  # epoch microseconds until the year 5138
_SEQ_DIGITS = 20


def doc_id(*parts: str) -> str:
    """A document id from ``parts``: each percent-encoded (no ``/``, no ``.``),
    joined by ``:``. An empty part is refused."""
    if not all(parts):
        raise StoreError("a document needs a non-empty name")
    return ":".join(quote(p, safe="").replace(".", "%2E") for p in parts)


def session_id(client_code: str) -> str:
    """The session document's id: a digest, so the client code is not a path."""
    return hashlib.sha256(client_code.encode()).hexdigest()[:32]


# The order journal.


def intent_doc(intent: OrderIntent) -> dict[str, Any]:
    return {
        "ordertag": intent.ordertag,
        "created_at": intent.created_at,
        "body": dict(intent.body),
        "state": intent.state.value,
        "orderid": intent.orderid,
        "detail": intent.detail,
        "updated_at": intent.updated_at,
    }


def intent_of(doc: Mapping[str, Any]) -> OrderIntent:
    tag = str(doc["ordertag"])
    return OrderIntent(
        ordertag=tag,
        created_at=float(doc["created_at"]),
        body=dict(doc["body"]),
        state=records.intent_state_of(doc["state"], tag),
        orderid=None if doc.get("orderid") is None else str(doc["orderid"]),
        detail=str(doc.get("detail", "")),
        updated_at=float(doc["updated_at"]),
    )


def intent_update(
    state: IntentState, updated_at: float, orderid: str | None, detail: str | None
) -> dict[str, Any]:
    change: dict[str, Any] = {"state": state.value, "updated_at": updated_at}
    if orderid is not None:
        change["orderid"] = orderid
    if detail is not None:
        change["detail"] = detail
    return change


def session_doc(session: StoredSession, *, with_tokens: bool) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "client_code": session.client_code,
        "issued_at": session.issued_at,
        "jwt_expires_at": session.jwt_expires_at,
        "logged_in_at": session.logged_in_at,
        "tokens_in_cloud": with_tokens,
    }
    if with_tokens:
        doc.update(zip(TOKEN_FIELDS, _tokens(session), strict=True))
    return doc


def session_of(doc: Mapping[str, Any]) -> StoredSession | None:
    """The session of a document that holds its tokens; None for metadata only."""
    if not all(isinstance(doc.get(name), str) for name in TOKEN_FIELDS):
        return None
    return StoredSession(
        client_code=str(doc["client_code"]),
        jwt=doc["jwt"],
        refresh_token=doc["refresh_token"],
        feed_token=doc["feed_token"],
        issued_at=float(doc["issued_at"]),
        jwt_expires_at=float(doc["jwt_expires_at"]),
        logged_in_at=float(doc["logged_in_at"]),
    )


def _tokens(session: StoredSession) -> tuple[str, str, str]:
    return session.jwt, session.refresh_token, session.feed_token


# Positions and state documents.


def position_doc(position: PositionRecord) -> dict[str, Any]:
    records.check_position(position)
    p = position
    return {
        "mode": p.mode,
        "symbol": p.symbol,
        "token": p.token,
        "exchange": p.exchange,
        "quantity": p.quantity,
        "avg_price": float(p.avg_price),
        "realised_pnl": float(p.realised_pnl),
        "last_price": records.optional_float(p.last_price),
        "stop": records.optional_float(p.stop),
        "target": records.optional_float(p.target),
        "opened_at": float(p.opened_at),
        "updated_at": float(p.updated_at),
        "last_ordertag": p.last_ordertag,
    }


def position_of(doc: Mapping[str, Any]) -> PositionRecord:
    return PositionRecord(
        mode=doc["mode"],
        symbol=str(doc["symbol"]),
        token=str(doc["token"]),
        exchange=str(doc["exchange"]),
        quantity=int(doc["quantity"]),
        avg_price=float(doc["avg_price"]),
        realised_pnl=float(doc["realised_pnl"]),
        last_price=records.optional_float(doc.get("last_price")),
        stop=records.optional_float(doc.get("stop")),
        target=records.optional_float(doc.get("target")),
        opened_at=float(doc["opened_at"]),
        updated_at=float(doc["updated_at"]),
        last_ordertag=str(doc.get("last_ordertag") or ""),
    )


def state_doc(name: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """A state document keeps its JSON text, so any JSON round-trips exactly."""
    return {"name": name, "data": records.dump_json(data, f"state {name}")}


# Candles, events and health.


def candle_doc(token: str, candle: Candle) -> dict[str, Any]:
    records.check_candle(token, candle)
    c = candle
    return {
        "token": token,
        "start": c.start,
        "start_us": records.to_us(c.start),
        "open": float(c.open),
        "high": float(c.high),
        "low": float(c.low),
        "close": float(c.close),
        "volume": c.volume,
        "provenance": c.provenance.value,
        "volume_basis": c.volume_basis.value,
        "ticks": c.ticks,
    }


def candle_of(doc: Mapping[str, Any]) -> Candle:
    prices = (doc["open"], doc["high"], doc["low"], doc["close"])
    return records.candle_of(
        records.from_us(int(doc["start_us"])),
        prices=prices,
        volume=doc["volume"],
        provenance=doc["provenance"],
        volume_basis=doc["volume_basis"],
        ticks=doc["ticks"],
    )


def sort_key(at_us: int, seq: int) -> str:
    """An event's place: its time, then the order it was written in. Text that
    sorts as the pair does; bounds on time compare with :func:`time_key`."""
    if at_us < 0:
        raise StoreError("an event before 1970 cannot be stored")
    return f"{time_key(at_us)}-{seq:0{_SEQ_DIGITS}d}"


def time_key(at_us: int) -> str:
    return f"{max(at_us, 0):0{_AT_DIGITS}d}"


def event_doc(event: ActivityEvent, seq: int) -> dict[str, Any]:
    records.check_event(event)
    records.dump_json(event.fields, f"event {event.id}")
    at_us = records.to_us(event.at)
    return {
        "at": event.at,
        "sort_key": sort_key(at_us, seq),
        "kind": event.kind,
        "severity": event.severity.value,
        "text": event.text,
        "fields": dict(event.fields),
    }


def event_of(event_id: str, doc: Mapping[str, Any]) -> ActivityEvent:
    key = str(doc["sort_key"])
    return records.event_of(
        id=event_id,
        at=records.from_us(int(key[:_AT_DIGITS])),
        kind=str(doc["kind"]),
        severity=str(doc["severity"]),
        text=str(doc["text"]),
        fields=dict(doc.get("fields") or {}),
    )


def health_doc(record: HealthRecord) -> dict[str, Any]:
    records.check_health(record)
    records.dump_json(record.data, f"health at {record.at}")
    return {
        "at": record.at,
        "at_us": records.to_us(record.at),
        "grade": record.grade,
        "data": dict(record.data),
    }


def health_of(doc: Mapping[str, Any]) -> HealthRecord:
    return HealthRecord(
        at=records.from_us(int(doc["at_us"])),
        grade=str(doc["grade"]),
        data=dict(doc.get("data") or {}),
    )


def as_datetime(when: datetime | None) -> datetime | None:
    """A bound as given, checked to be timezone-aware."""
    if when is not None:
        records.to_us(when)
    return when
