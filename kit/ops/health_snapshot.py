"""The health snapshot: what the monitor measured at one instant, and its grade.

A :class:`HealthSnapshot` holds one section per part of the bot. A section is
None when its source is missing or failed to answer: the board shows it as
"unknown" and the grade ignores it. Every value is a plain number, string,
bool or a tuple of them, so a snapshot goes to the store as JSON
(:meth:`HealthSnapshot.to_record`) and comes back unchanged
(:meth:`HealthSnapshot.from_record`) for the health charts.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from kit.store.base import HealthRecord


class Grade(StrEnum):
    """The bot's health, best first; the rules are in :mod:`kit.ops.health_grade`."""

    EXCELLENT = "EXCELLENT"
    GOOD = "GOOD"
    DEGRADED = "DEGRADED"
    CRITICAL = "CRITICAL"

    @property
    def rank(self) -> int:
        """0 for EXCELLENT up to 3 for CRITICAL."""
        return list(Grade).index(self)


@dataclass(frozen=True)
class FeedHealth:
    """The market feed. ``uptime_s`` is how long the youngest connection has been
    up (0 when none is); ``down_s`` how long the monitor has seen the feed not
    connected (0 while it is)."""

    connected: bool
    state: str
    uptime_s: float
    reconnects: int
    down_s: float = 0.0


@dataclass(frozen=True)
class DataFlowHealth:
    """Symbols with a tick in the last ``window_s`` out of those subscribed.

    In market hours, ``since_open_s`` is the time since the session opened and
    ``silent_s`` the time since the newest tick of any symbol, counted from the
    open at the earliest; both None outside market hours.
    """

    fresh: int
    subscribed: int
    window_s: float
    silent_s: float | None = None
    since_open_s: float | None = None

    @property
    def ratio(self) -> float | None:
        return None if self.subscribed == 0 else self.fresh / self.subscribed


@dataclass(frozen=True)
class CandleHealth:
    """Symbols whose book is warm out of ``total``; candles held in all books
    and the fewest one book holds (None when only the bootstrap is known)."""

    warm: int
    total: int
    candles: int | None = None
    fewest: int | None = None


@dataclass(frozen=True)
class PositionPnl:
    """One open position's profit or loss in rupees."""

    symbol: str
    quantity: int
    pnl: float


@dataclass(frozen=True)
class PositionsHealth:
    """Open positions, their unrealised P&L and the day's realised P&L."""

    count: int
    unrealised_pnl: float
    realised_pnl: float
    positions: tuple[PositionPnl, ...] = ()


@dataclass(frozen=True)
class TokenHealth:
    """The broker session: seconds since its tokens were issued and until the
    access token expires (negative once past); None before a login."""

    logged_in: bool
    age_s: float | None
    expires_in_s: float | None


@dataclass(frozen=True)
class ProcessHealth:
    """The bot's process: resident memory and its trend (bytes an hour, from a
    least-squares fit over the last hour of samples; None until enough), the
    memory it may use, Python threads and open file descriptors."""

    rss_bytes: int
    memory_limit_bytes: int | None
    rss_trend_bytes_h: float | None
    threads: int
    thread_names: tuple[str, ...]
    open_files: int | None


@dataclass(frozen=True)
class ErrorRateHealth:
    """Failed operations out of all over the last ``window_s`` seconds."""

    errors: int
    operations: int
    window_s: float

    @property
    def rate(self) -> float | None:
        return None if self.operations == 0 else self.errors / self.operations


@dataclass(frozen=True)
class ScanHealth:
    """The strategy scanner: seconds since the last scan (None before the
    first) and the average scan time."""

    last_scan_age_s: float | None
    average_scan_s: float | None
    scans: int = 0


_SECTIONS: dict[str, type] = {
    "feed": FeedHealth,
    "data": DataFlowHealth,
    "candles": CandleHealth,
    "positions": PositionsHealth,
    "token": TokenHealth,
    "process": ProcessHealth,
    "errors": ErrorRateHealth,
    "scans": ScanHealth,
}


@dataclass(frozen=True)
class HealthSnapshot:
    """Everything the monitor measured at ``at``, its grade and the reasons.

    ``mode`` is the trading mode (``paper`` or ``live``); ``market_open`` says
    whether ``at`` fell in the NSE session. A None section is unknown.
    """

    at: datetime
    mode: str = "paper"
    market_open: bool = False
    feed: FeedHealth | None = None
    data: DataFlowHealth | None = None
    candles: CandleHealth | None = None
    positions: PositionsHealth | None = None
    token: TokenHealth | None = None
    process: ProcessHealth | None = None
    errors: ErrorRateHealth | None = None
    scans: ScanHealth | None = None
    grade: Grade = Grade.EXCELLENT
    reasons: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            raise ValueError("a health snapshot's time must be timezone-aware")
        object.__setattr__(self, "grade", Grade(self.grade))
        object.__setattr__(self, "reasons", tuple(self.reasons))

    def to_record(self) -> HealthRecord:
        """The snapshot as the store keeps it: JSON values only."""
        data: dict[str, Any] = {
            "mode": self.mode,
            "market_open": self.market_open,
            "reasons": list(self.reasons),
        }
        for name in _SECTIONS:
            section = getattr(self, name)
            data[name] = None if section is None else _jsonable(asdict(section))
        json.dumps(data, allow_nan=False)  # refuse what a store could not keep
        return HealthRecord(at=self.at, grade=self.grade.value, data=data)

    @classmethod
    def from_record(cls, record: HealthRecord) -> HealthSnapshot:
        """The snapshot a :meth:`to_record` wrote; ValueError on a bad record."""
        data = dict(record.data)
        try:
            sections = {
                name: _section(kind, data.get(name)) for name, kind in _SECTIONS.items()
            }
            return cls(
                at=record.at,
                mode=str(data.get("mode", "paper")),
                market_open=bool(data.get("market_open", False)),
                grade=Grade(record.grade),
                reasons=tuple(str(r) for r in data.get("reasons", ())),
                **sections,
            )
        except (TypeError, KeyError) as exc:
            raise ValueError(f"not a health record: {exc}") from exc


def _jsonable(value: Any) -> Any:
    """Tuples as lists, recursively (what JSON and the stores keep)."""
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    return value


def _section(kind: type, raw: Any) -> Any:
    if raw is None:
        return None
    values = dict(raw)
    if kind is PositionsHealth:
        values["positions"] = tuple(PositionPnl(**p) for p in values["positions"])
    if kind is ProcessHealth:
        values["thread_names"] = tuple(values["thread_names"])
    return kind(**values)
