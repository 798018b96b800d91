"""SmartAPI's routes and protocol constants, as one table (SMARTAPI.md §2.4, §4, §7).

The REST client, the feed and the simulator all read from here, so a route, a
limit or a frame size is written down once.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum

REST_ROOT = "https://apiconnect.angelone.in"
FEED_URL = "wss://smartapisocket.angelone.in/smart-stream"
FEED_PATH = "/smart-stream"
ORDER_FEED_URL = "wss://tns.angelone.in/smart-order-update"
INSTRUMENTS_URL = "https://margincalculator.angelbroking.com/OpenAPI_File/files/OpenAPIScripMaster.json"

RATE_LIMIT_TEXT = "Access denied because of exceeding access rate"
"""The plain-text body of a rate-limit refusal (reported with HTTP 403)."""

ORDERTAG_MAX_CHARS = 20
"""Longer ``ordertag`` values are refused with AB4008 since 2024-11-15."""

QUOTE_MAX_TOKENS = 50
"""Tokens per market/v1/quote request."""

# REST headers (SMARTAPI.md §2.2).
HEADER_API_KEY = "X-PrivateKey"
HEADER_USER_TYPE = "X-UserType"
HEADER_SOURCE_ID = "X-SourceID"


@dataclass(frozen=True)
class RateLimit:
    """A published per-user limit; None means no limit at that window."""

    per_second: int | None = None
    per_minute: int | None = None
    per_hour: int | None = None

    def windows(self) -> list[tuple[float, int]]:
        """(window length in seconds, allowed calls) for each window that applies."""
        pairs = [(1.0, self.per_second), (60.0, self.per_minute)]
        pairs.append((3600.0, self.per_hour))
        return [(length, count) for length, count in pairs if count is not None]


@dataclass(frozen=True)
class Route:
    """One REST endpoint.

    ``limit_group`` names the rate-limit bucket: endpoints that share a published
    limit share a group. ``secure`` routes need ``Authorization: Bearer``.
    ``idempotent`` reads may be retried after an ambiguous failure; the others not.
    """

    name: str
    method: str
    path: str
    limit_group: str
    secure: bool = True
    idempotent: bool = True


_AUTH = "/rest/auth/angelbroking"
_SECURE = "/rest/secure/angelbroking"

ROUTES: dict[str, Route] = {
    r.name: r
    for r in (
        Route(
            "login", "POST", f"{_AUTH}/user/v1/loginByPassword", "login", False, False
        ),
        Route(
            "generate_tokens",
            "POST",
            f"{_AUTH}/jwt/v1/generateTokens",
            "tokens",
            False,
            False,
        ),
        Route("profile", "GET", f"{_SECURE}/user/v1/getProfile", "profile"),
        Route(
            "logout", "POST", f"{_SECURE}/user/v1/logout", "logout", idempotent=False
        ),
        Route("rms", "GET", f"{_SECURE}/user/v1/getRMS", "rms"),
        Route(
            "place_order",
            "POST",
            f"{_SECURE}/order/v1/placeOrder",
            "orders",
            idempotent=False,
        ),
        Route(
            "modify_order",
            "POST",
            f"{_SECURE}/order/v1/modifyOrder",
            "orders",
            idempotent=False,
        ),
        Route(
            "cancel_order",
            "POST",
            f"{_SECURE}/order/v1/cancelOrder",
            "orders",
            idempotent=False,
        ),
        Route("order_book", "GET", f"{_SECURE}/order/v1/getOrderBook", "order_book"),
        Route("trade_book", "GET", f"{_SECURE}/order/v1/getTradeBook", "trade_book"),
        Route("order_details", "GET", f"{_SECURE}/order/v1/details", "order_details"),
        Route("ltp", "POST", f"{_SECURE}/order/v1/getLtpData", "ltp"),
        Route("position", "GET", f"{_SECURE}/order/v1/getPosition", "position"),
        Route("holding", "GET", f"{_SECURE}/portfolio/v1/getHolding", "holding"),
        Route("all_holding", "GET", f"{_SECURE}/portfolio/v1/getAllHolding", "holding"),
        Route("search_scrip", "POST", f"{_SECURE}/order/v1/searchScrip", "search"),
        Route("candles", "POST", f"{_SECURE}/historical/v1/getCandleData", "candles"),
        Route("quote", "POST", f"{_SECURE}/market/v1/quote", "quote"),
    )
}

RATE_LIMITS: dict[str, RateLimit] = {
    "login": RateLimit(per_second=1),
    "tokens": RateLimit(per_second=1, per_hour=1000),
    "profile": RateLimit(per_second=3, per_hour=1000),
    "logout": RateLimit(per_second=1),
    "rms": RateLimit(per_second=2),
    "orders": RateLimit(per_second=20, per_minute=500, per_hour=1000),
    "order_book": RateLimit(per_second=1),
    "trade_book": RateLimit(per_second=1),
    "order_details": RateLimit(per_second=10, per_minute=500, per_hour=5000),
    "ltp": RateLimit(per_second=10, per_minute=500, per_hour=5000),
    "position": RateLimit(per_second=1),
    "holding": RateLimit(per_second=1),
    "search": RateLimit(per_second=1),
    "candles": RateLimit(per_second=3, per_minute=500, per_hour=5000),
    "quote": RateLimit(per_second=10, per_minute=500, per_hour=5000),
}
"""Published per-user limits (SMARTAPI.md §7), by ``Route.limit_group``."""

SAFE_ORDERS_PER_SECOND = 10
"""SEBI's retail-algo threshold; the kit never sends orders faster than this."""


class Exchange(StrEnum):
    """Exchange codes of REST bodies and of the instrument master's ``exch_seg``."""

    NSE = "NSE"
    BSE = "BSE"
    NFO = "NFO"
    BFO = "BFO"
    MCX = "MCX"
    CDS = "CDS"
    NCDEX = "NCDEX"


class ExchangeType(IntEnum):
    """Segment codes of WebSocket 2.0 subscriptions and binary frames."""

    NSE_CM = 1
    NSE_FO = 2
    BSE_CM = 3
    BSE_FO = 4
    MCX_FO = 5
    NCX_FO = 7
    CDE_FO = 13


EXCHANGE_TYPE: dict[Exchange, ExchangeType] = {
    Exchange.NSE: ExchangeType.NSE_CM,
    Exchange.NFO: ExchangeType.NSE_FO,
    Exchange.BSE: ExchangeType.BSE_CM,
    Exchange.BFO: ExchangeType.BSE_FO,
    Exchange.MCX: ExchangeType.MCX_FO,
    Exchange.NCDEX: ExchangeType.NCX_FO,
    Exchange.CDS: ExchangeType.CDE_FO,
}

PRICE_DIVISOR: dict[int, float] = {t: 100.0 for t in ExchangeType}
PRICE_DIVISOR[ExchangeType.CDE_FO] = 10_000_000.0
"""Frame prices are integers: paise (divide by 100), currency in 1e-7 rupee."""


class Mode(IntEnum):
    """WebSocket 2.0 subscription modes."""

    LTP = 1
    QUOTE = 2
    SNAP_QUOTE = 3
    DEPTH = 4  # 20-level depth; deprecated by Angel One from 2025-04-25


FRAME_LENGTH: dict[Mode, int] = {
    Mode.LTP: 51,
    Mode.QUOTE: 123,
    Mode.SNAP_QUOTE: 379,
    Mode.DEPTH: 443,
}


class Action(IntEnum):
    """The ``action`` of a subscription request."""

    UNSUBSCRIBE = 0
    SUBSCRIBE = 1


FEED_MAX_CONNECTIONS = 3
FEED_MAX_SUBSCRIPTIONS = 1000  # token x mode pairs per connection
FEED_DEPTH_MAX_TOKENS = 50
FEED_PING_TEXT = "ping"
FEED_PONG_TEXT = "pong"
FEED_PING_REQUIRED_S = 30.0  # the protocol asks for a ping at least this often

# Feed upgrade headers (SMARTAPI.md §4.1).
FEED_HEADER_AUTH = "Authorization"
FEED_HEADER_API_KEY = "x-api-key"
FEED_HEADER_CLIENT_CODE = "x-client-code"
FEED_HEADER_FEED_TOKEN = "x-feed-token"
FEED_HEADER_ERROR = "x-error-message"

FEED_ERROR_BAD_PAYLOAD = "E1001"
FEED_ERROR_LIMIT = "E1002"


class Interval(StrEnum):
    """Candle intervals of getCandleData."""

    ONE_MINUTE = "ONE_MINUTE"
    THREE_MINUTE = "THREE_MINUTE"
    FIVE_MINUTE = "FIVE_MINUTE"
    TEN_MINUTE = "TEN_MINUTE"
    FIFTEEN_MINUTE = "FIFTEEN_MINUTE"
    THIRTY_MINUTE = "THIRTY_MINUTE"
    ONE_HOUR = "ONE_HOUR"
    ONE_DAY = "ONE_DAY"

    @property
    def minutes(self) -> int:
        return _INTERVAL_MINUTES[self]

    @property
    def max_days(self) -> int:
        """The longest span one getCandleData request may cover."""
        return _INTERVAL_MAX_DAYS[self]


_INTERVAL_MINUTES = {
    Interval.ONE_MINUTE: 1,
    Interval.THREE_MINUTE: 3,
    Interval.FIVE_MINUTE: 5,
    Interval.TEN_MINUTE: 10,
    Interval.FIFTEEN_MINUTE: 15,
    Interval.THIRTY_MINUTE: 30,
    Interval.ONE_HOUR: 60,
    Interval.ONE_DAY: 375,  # one session, 09:15-15:30
}
_INTERVAL_MAX_DAYS = {
    Interval.ONE_MINUTE: 30,
    Interval.THREE_MINUTE: 60,
    Interval.FIVE_MINUTE: 100,
    Interval.TEN_MINUTE: 100,
    Interval.FIFTEEN_MINUTE: 200,
    Interval.THIRTY_MINUTE: 200,
    Interval.ONE_HOUR: 400,
    Interval.ONE_DAY: 2000,
}

CANDLE_TIME_FORMAT = "%Y-%m-%d %H:%M"
"""``fromdate`` and ``todate`` of getCandleData, 24-hour IST."""
