"""AngelClient: typed, paced, retrying calls to Angel One's REST API.

Every call is paced first (a shared :class:`~kit.broker.pacing.Pacer` keeps the
process inside the published limits), then made through the session (which adds
the JWT and re-logs in once on an expired or invalid token), and reads are
retried under a :class:`~kit.broker.retry.RetryPolicy`. Orders go through
:class:`~kit.broker.orders.OrderPlacer`, which never re-sends an order whose
fate is unknown.

:attr:`AngelClient.counters` counts the reads' attempts, failed attempts,
retries and reads that failed (for the health monitor's error rate); an
optional ``observer`` hears of every retry (see :mod:`kit.broker.retry`).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

import pandas as pd

from kit.broker.codes import WAF_REJECTED, waf_as_configuration_error
from kit.broker.http import Transport
from kit.broker.models import (
    Funds,
    Ltp,
    OrderEntry,
    Position,
    Profile,
    Quote,
    ScripMatch,
    TradeEntry,
)
from kit.broker.pacing import Pacer
from kit.broker.retry import (
    RetryNotice,
    RetryObserver,
    RetryPolicy,
    RetryScheduled,
    run_with_retry,
)
from kit.broker.routes import (
    CANDLE_TIME_FORMAT,
    QUOTE_MAX_TOKENS,
    ROUTES,
    Interval,
)
from kit.clock import IST, Clock
from kit.errors import ServerError

T = TypeVar("T")

CANDLE_COLUMNS = ["open", "high", "low", "close", "volume"]


class Authorizer(Protocol):
    """What the client needs of the session (:class:`BrokerSession`)."""

    def call(self, request: Callable[[str], T]) -> T:
        """Run ``request(jwt)``; on an expired or invalid token re-login once."""
        ...

    def login(self) -> None: ...

    def refresh(self) -> None: ...

    def logout(self) -> None: ...


@dataclass(frozen=True)
class CallCounts:
    """Counts of the reads since the client was made: ``calls`` attempts sent
    (a retried read counts once per attempt), ``errors`` attempts that failed,
    ``retries`` attempts that were retries, ``failed`` reads that raised in
    the end (after their retries, or at once: an auth error, a rejection).
    The error rate over a window comes from the difference of two readings."""

    calls: int = 0
    errors: int = 0
    retries: int = 0
    failed: int = 0

    @property
    def error_rate(self) -> float:
        """Failed attempts per attempt (0 when nothing was sent)."""
        return self.errors / self.calls if self.calls else 0.0


class CallCounters:
    """The client's running counts; thread-safe. :meth:`snapshot` reads them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = CallCounts()

    def snapshot(self) -> CallCounts:
        with self._lock:
            return self._counts

    @property
    def calls(self) -> int:
        return self.snapshot().calls

    @property
    def errors(self) -> int:
        return self.snapshot().errors

    @property
    def retries(self) -> int:
        return self.snapshot().retries

    @property
    def failed(self) -> int:
        return self.snapshot().failed

    def add(
        self, *, calls: int = 0, errors: int = 0, retries: int = 0, failed: int = 0
    ) -> None:
        with self._lock:
            now = self._counts
            self._counts = CallCounts(
                now.calls + calls,
                now.errors + errors,
                now.retries + retries,
                now.failed + failed,
            )


class AngelClient:
    """Angel One's REST API as typed Python calls.

    ``observer`` (optional) receives every retry notice of the reads;
    :attr:`counters` counts them (see :class:`CallCounts`).
    """

    def __init__(
        self,
        transport: Transport,
        session: Authorizer,
        *,
        clock: Clock,
        pacer: Pacer | None = None,
        policy: RetryPolicy | None = None,
        rng: random.Random | None = None,
        history_read_timeout_s: float = 20.0,
        observer: RetryObserver | None = None,
    ) -> None:
        self.transport = transport
        self.session = session
        self.clock = clock
        self.pacer = pacer or Pacer(clock)
        self.policy = policy or RetryPolicy()
        self.rng = rng or random.Random()
        self.history_read_timeout_s = history_read_timeout_s
        self.observer = observer
        self.counters = CallCounters()

    # The one path of every read.

    def read(
        self,
        route_name: str,
        body: Mapping[str, Any] | None = None,
        *,
        read_timeout_s: float | None = None,
        path_suffix: str = "",
    ) -> Any:
        """Pace, authorise and send a read, retrying transient failures."""
        route = ROUTES[route_name]

        def send(jwt: str) -> Any:
            # Paced per send: the session may send twice (after a re-login).
            self.pacer.acquire(route.limit_group)
            return self.transport.request(
                route, body, jwt=jwt, read_timeout_s=read_timeout_s,
                path_suffix=path_suffix,
            )  # fmt: skip

        def attempt() -> Any:
            self.counters.add(calls=1)
            try:
                return self.session.call(send)
            except BaseException:
                self.counters.add(errors=1)
                raise

        try:
            return run_with_retry(
                attempt, name=route_name, policy=self.policy, clock=self.clock,
                rng=self.rng, observer=self._observe,
            )  # fmt: skip
        except ServerError as exc:
            self.counters.add(failed=1)
            if exc.code == WAF_REJECTED:  # a firewall rule, not a passing fault
                raise waf_as_configuration_error(exc) from exc
            raise
        except BaseException:
            self.counters.add(failed=1)
            raise

    def _observe(self, notice: RetryNotice) -> None:
        if isinstance(notice, RetryScheduled):
            self.counters.add(retries=1)
        if self.observer is not None:
            self.observer(notice)

    # Session.

    def login(self) -> None:
        """Log in with the MPIN and a TOTP from the configured secret."""
        self.session.login()

    def refresh(self) -> None:
        """New tokens now (generateTokens, else a TOTP login)."""
        self.session.refresh()

    def logout(self) -> None:
        self.session.logout()

    # Account.

    def profile(self) -> Profile:
        return Profile.from_api(self.read("profile") or {})

    def rms(self) -> Funds:
        return Funds.from_api(self.read("rms") or {})

    def positions(self) -> list[Position]:
        return [Position.from_api(p) for p in self.read("position") or []]

    def order_book(self) -> list[OrderEntry]:
        return [OrderEntry.from_api(o) for o in self.read("order_book") or []]

    def trade_book(self) -> list[TradeEntry]:
        return [TradeEntry.from_api(t) for t in self.read("trade_book") or []]

    # Market data.

    def ltp(self, exchange: str, symbol: str, token: str) -> Ltp:
        body = {"exchange": exchange, "tradingsymbol": symbol, "symboltoken": token}
        return Ltp.from_api(self.read("ltp", body) or {})

    def quotes(
        self, tokens: Sequence[str], *, mode: str = "FULL", exchange: str = "NSE"
    ) -> list[Quote]:
        """Quotes of any number of tokens, 50 to a request."""
        found: list[Quote] = []
        for start in range(0, len(tokens), QUOTE_MAX_TOKENS):
            chunk = list(tokens[start : start + QUOTE_MAX_TOKENS])
            body = {"mode": mode, "exchangeTokens": {exchange: chunk}}
            data = self.read("quote", body) or {}
            found += [Quote.from_api(q) for q in data.get("fetched") or []]
        return found

    def search(self, text: str, *, exchange: str = "NSE") -> list[ScripMatch]:
        body = {"exchange": exchange, "searchscrip": text}
        return [ScripMatch.from_api(m) for m in self.read("search_scrip", body) or []]

    def candles(
        self,
        token: str,
        interval: Interval,
        start: datetime,
        end: datetime,
        *,
        exchange: str = "NSE",
    ) -> pd.DataFrame:
        """Candles from ``start`` to ``end`` (both IST minutes, inclusive), fetched
        in chunks of the interval's longest span; index: the candle's start."""
        rows: list[list[Any]] = []
        for chunk_start, chunk_end in candle_chunks(interval, start, end):
            body = {
                "exchange": exchange,
                "symboltoken": token,
                "interval": interval.value,
                "fromdate": chunk_start.strftime(CANDLE_TIME_FORMAT),
                "todate": chunk_end.strftime(CANDLE_TIME_FORMAT),
            }
            timeout = self.history_read_timeout_s
            rows += self.read("candles", body, read_timeout_s=timeout) or []
        return candles_frame(rows)


def candle_chunks(
    interval: Interval, start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """``[start, end]`` cut into spans a single getCandleData request may cover."""
    if start > end:
        raise ValueError(f"start {start} is after end {end}")
    span = timedelta(days=interval.max_days)
    step = timedelta(minutes=1)
    chunks = []
    chunk_start = start.astimezone(IST)
    last = end.astimezone(IST)
    while chunk_start <= last:
        chunk_end = min(last, chunk_start + span - step)
        chunks.append((chunk_start, chunk_end))
        chunk_start = chunk_end + step
    return chunks


def candles_frame(rows: list[list[Any]]) -> pd.DataFrame:
    """getCandleData rows as a DataFrame indexed by aware IST timestamps."""
    if not rows:
        empty = pd.DataFrame(columns=CANDLE_COLUMNS, dtype="float64")
        empty.index = pd.DatetimeIndex([], tz=IST, name="start")
        return empty
    frame = pd.DataFrame(rows, columns=["start", *CANDLE_COLUMNS])
    frame["start"] = pd.to_datetime(frame["start"]).dt.tz_convert(IST)
    frame = frame.drop_duplicates("start").set_index("start").sort_index()
    frame["volume"] = frame["volume"].astype("int64")
    return frame
