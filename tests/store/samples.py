"""Records the store tests write: intents, sessions, positions, candles, events."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from kit.broker.journal import StoredSession
from kit.clock import IST
from kit.market.candles import Candle, Provenance, VolumeBasis
from kit.ops.events import ActivityEvent, Severity
from kit.store import HealthRecord, PositionRecord

START = datetime(2026, 12, 3, 11, 0, tzinfo=IST)
MINUTE = timedelta(minutes=1)
BODY = {"variety": "NORMAL", "tradingsymbol": "SBIN-EQ", "quantity": "1"}


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


def position(symbol: str = "SBIN-EQ", mode: Any = "paper", **changes: Any) -> Any:
    values: dict[str, Any] = {
        "mode": mode,
        "symbol": symbol,
        "token": "3045",
        "exchange": "NSE",
        "quantity": -25,
        "avg_price": 812.35,
        "realised_pnl": 0.1 + 0.2,  # a float with no short decimal form
        "last_price": 810.0,
        "stop": 818.5,
        "target": None,
        "opened_at": START.timestamp(),
        "updated_at": START.timestamp() + 60,
    }
    values.update(changes)
    return PositionRecord(**values)


def candle(minute: int, *, token_price: float = 800.0, **changes: Any) -> Candle:
    values: dict[str, Any] = {
        "start": START + minute * MINUTE,
        "open": token_price + minute,
        "high": token_price + minute + 1.25,
        "low": token_price + minute - 0.75,
        "close": token_price + minute + 0.5,
        "volume": 1000 + minute,
        "provenance": Provenance.TICKS,
        "volume_basis": VolumeBasis.PARTIAL,
        "ticks": 17 + minute,
    }
    values.update(changes)
    return Candle(**values)


def event(
    second: float,
    kind: str = "feed_disconnected",
    *,
    severity: Severity = Severity.WARNING,
    **fields: Any,
) -> ActivityEvent:
    return ActivityEvent(
        at=START + timedelta(seconds=second),
        kind=kind,
        severity=severity,
        text=f"{kind} at +{second} s",
        fields=fields,
    )


def health(second: float, grade: str = "GOOD", **data: Any) -> HealthRecord:
    return HealthRecord(START + timedelta(seconds=second), grade, data)
