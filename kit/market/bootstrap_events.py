"""The bootstrap's typed events: what it fetched, what failed, what it replaced.

Every event carries ``at_s``, the bootstrap clock's wall time in epoch seconds.
Events are emitted on the thread that did the work: the caller of
:meth:`~kit.market.bootstrap.CandleBootstrap.run`, the bootstrap's own thread,
the thread that asked for a backfill (the feed's, for
:class:`BackfillScheduled` after a reconnect), or the engine thread for
:class:`CandleRevised` and :class:`HistoryMerged`. So the callback must be
quick and thread-safe (appending to a queue is). Events hold symbols, tokens,
times and candles, never a credential.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from kit.market.candles import Candle


class FailureCause(StrEnum):
    """Why a history request failed, which decides the wait before the next."""

    RATE_LIMIT = "rate_limit"  # the broker's rate-limit reply
    MARKET_CLOSED = "market_closed"  # refused outside the session (before the open)
    OTHER = "other"  # a server error, a timeout, a network failure ...


@dataclass(frozen=True)
class BootstrapEvent:
    at_s: float

    @property
    def kind(self) -> str:
        return type(self).__name__


@dataclass(frozen=True)
class AttemptStarted(BootstrapEvent):
    """Attempt ``attempt`` of the start-up bootstrap, for ``symbols`` symbols."""

    attempt: int
    max_attempts: int
    symbols: int


@dataclass(frozen=True)
class AttemptFailed(BootstrapEvent):
    """An attempt left ``pending`` symbols without history; the next one waits
    ``retry_in_s`` (None after the last attempt)."""

    attempt: int
    max_attempts: int
    cause: FailureCause
    error: str
    pending: int
    retry_in_s: float | None


@dataclass(frozen=True)
class HistoryLoaded(BootstrapEvent):
    """The start-up bootstrap loaded history for every symbol it could."""

    symbols: int
    candles: int
    elapsed_s: float


@dataclass(frozen=True)
class BuildingFromTicks(BootstrapEvent):
    """No history for ``symbols``: their candles are built from ticks and are
    warm at ``warm_at``; the history is asked again every ``retry_every_s``."""

    symbols: tuple[str, ...]
    candles_needed: int
    warm_at: datetime
    retry_every_s: float


@dataclass(frozen=True)
class RebootstrapFailed(BootstrapEvent):
    """A background re-bootstrap found history still unavailable."""

    symbols: tuple[str, ...]
    cause: FailureCause
    error: str
    retry_in_s: float


@dataclass(frozen=True)
class HistoryRestored(BootstrapEvent):
    """The background re-bootstrap loaded history for ``symbols``: the broker's
    candles now replace the ones built from ticks."""

    symbols: tuple[str, ...]
    candles: int


@dataclass(frozen=True)
class SymbolSkipped(BootstrapEvent):
    """The broker does not know this symbol: it is skipped from now on."""

    symbol: str
    token: str
    reason: str


@dataclass(frozen=True)
class BackfillScheduled(BootstrapEvent):
    """The minutes ``first`` to ``last`` will be fetched at ``due_at``."""

    first: datetime
    last: datetime
    minutes: int
    reason: str
    due_at: datetime


@dataclass(frozen=True)
class BackfillDone(BootstrapEvent):
    """The minutes ``first`` to ``last`` fetched for ``symbols`` symbols."""

    first: datetime
    last: datetime
    symbols: int
    candles: int


@dataclass(frozen=True)
class BackfillFailed(BootstrapEvent):
    """A backfill failed; retried in ``retry_in_s``, or abandoned when None."""

    first: datetime
    last: datetime
    attempt: int
    max_attempts: int
    cause: FailureCause
    error: str
    retry_in_s: float | None


@dataclass(frozen=True)
class HistoryMerged(BootstrapEvent):
    """Broker candles merged into a book: ``filled`` minutes it lacked and
    ``revised`` candles it held replaced."""

    symbol: str
    token: str
    reason: str
    candles: int
    filled: int
    revised: int


@dataclass(frozen=True)
class CandleRevised(BootstrapEvent):
    """A candle the book held (built from ticks, say) replaced by the broker's."""

    symbol: str
    token: str
    start: datetime
    old: Candle
    new: Candle
    reason: str

    @property
    def changed(self) -> bool:
        """True when the values moved, not only the provenance."""
        return not self.old.same_values(self.new)
