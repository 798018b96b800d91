"""The exception tree of the whole kit.

Every failure the kit raises is one of these. Foreign errors (requests,
websocket-client, struct, Firestore) are translated at the boundary into the most
specific kind here and chained with ``from``, so callers decide what to do by the
kind alone::

    KitError
    ├── TransientError               retrying may help
    │   ├── NetworkError             no answer: refused, reset, DNS; .sent says whether
    │   │   │                        the request may have reached the broker
    │   │   └── BrokerTimeout        no answer in time (connect or read)
    │   ├── ServerError              5xx, AB1004/AB2000/AB2001, empty or garbled body,
    │   │                            a WAF "Request Rejected" page (code "WAF")
    │   └── RateLimited              "Access denied because of exceeding access rate"
    ├── AuthError                    never retried as is: refresh or log in again
    │   ├── TokenExpired             AG8002, AB8051, AB1010, a JWT past its exp
    │   ├── TokenInvalid             AG8001, AG8003, AB8050, AB1011, feed 401
    │   └── LoginFailed              AB1050 bad TOTP, AB7001, AB1007, blocked client
    ├── RejectedError                the broker said no; retrying changes nothing
    │   ├── InvalidSymbol            AB1009, AB1018, AB4018, unknown token
    │   ├── InsufficientMargin       an order refused for funds
    │   └── OrderRejected            any other refusal of an order or its fields
    ├── MarketClosed                 asked for data or trading outside the session
    ├── AmbiguousOrderOutcome        an order may or may not have been placed;
    │                                resolve it by its ordertag, never resend blindly
    ├── FeedError                    the WebSocket 2.0 market feed
    │   ├── FrameError               a binary frame of the wrong length or mode
    │   ├── HandshakeRefused         upgrade answered 401 (auth) or 429 (too many)
    │   ├── SubscriptionRefused      E1001 bad payload, E1002 limit exceeded
    │   └── FeedStale                no pong and no data within the deadline
    ├── StoreError                   the store (SQLite or Firestore)
    │   └── StoreUnavailable         the store did not answer in time or is gone;
    │                                what was not written is kept and retried
    ├── DeliveryError                a notification channel could not deliver
    └── ConfigurationError           the user must change something: settings,
                                     AG7002 unregistered IP, a WAF page that
                                     persists through the retries

Each error carries the broker's ``code`` where there is one (``"AB1004"``) so logs
and the activity feed can name it. Messages never contain secrets: the kit's log
filter masks them, and these classes are built from replies, not from requests.
"""

from __future__ import annotations


class KitError(Exception):
    """The root of every error the kit raises."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" if self.code else self.message


# Transient: a retry with backoff may succeed.


class TransientError(KitError):
    """A failure that may go away by itself; reads retry it with backoff."""


class NetworkError(TransientError):
    """No usable answer came back from the broker.

    ``sent`` is False when the request surely never left (connection refused,
    DNS failure): only then is retrying an order safe.
    """

    def __init__(self, message: str, *, sent: bool, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.sent = sent


class BrokerTimeout(NetworkError):
    """The connect or read timeout expired. A read timeout means ``sent=True``."""


class ServerError(TransientError):
    """The broker failed: HTTP 5xx, AB1004/AB2000/AB2001, an empty or garbled body."""

    def __init__(
        self, message: str, *, status: int | None = None, code: str | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.status = status


class RateLimited(TransientError):
    """The broker refused the call for exceeding its rate limit (plain-text 403)."""

    def __init__(
        self,
        message: str,
        *,
        retry_after_s: float | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.retry_after_s = retry_after_s


# Auth: the session needs a refresh or a new login; never retried as it is.


class AuthError(KitError):
    """The broker does not accept our credentials or tokens."""


class TokenExpired(AuthError):
    """The JWT or refresh token is past its lifetime."""


class TokenInvalid(AuthError):
    """A token is malformed, missing, revoked or unknown to the broker."""


class LoginFailed(AuthError):
    """Logging in with client code, MPIN and TOTP failed."""


# Rejected: the broker answered, and the answer is no.


class RejectedError(KitError):
    """A definitive refusal of a request's content; retrying changes nothing."""


class InvalidSymbol(RejectedError):
    """The symbol or token is unknown to the broker or the instrument master."""


class InsufficientMargin(RejectedError):
    """The account lacks the margin for the order."""


class OrderRejected(RejectedError):
    """An order, modify or cancel was refused for any other reason."""


class MarketClosed(KitError):
    """Data or trading was asked for outside the market session."""


class AmbiguousOrderOutcome(KitError):
    """An order request failed after it may have reached the broker.

    The order may exist. It must be resolved by looking up ``ordertag`` in the
    order book before anything else is sent for the same intent.
    """

    def __init__(self, message: str, *, ordertag: str, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.ordertag = ordertag


# The WebSocket 2.0 market feed.


class FeedError(KitError):
    """A failure of the market feed connection or its messages."""


class FrameError(FeedError):
    """A binary frame that cannot be decoded: wrong length or unknown mode."""

    def __init__(self, message: str, *, length: int, mode: int | None) -> None:
        super().__init__(message)
        self.length = length
        self.mode = mode


class HandshakeRefused(FeedError):
    """The WebSocket upgrade was refused: 401 (auth, with a reason) or 429 (limit)."""

    def __init__(self, message: str, *, status: int, reason: str = "") -> None:
        super().__init__(message, code=str(status))
        self.status = status
        self.reason = reason


class SubscriptionRefused(FeedError):
    """The feed answered a subscription with E1001 (payload) or E1002 (limit)."""

    def __init__(
        self, message: str, *, code: str, correlation_id: str | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.correlation_id = correlation_id


class FeedStale(FeedError):
    """Neither a pong nor any data arrived within the liveness deadline."""


class StoreError(KitError):
    """The store refused or failed an operation (a bad record, a schema)."""


class StoreUnavailable(StoreError):
    """The store did not answer within its deadline, or its file or server is
    gone. Writers keep what they could not write and try again later."""


class DeliveryError(KitError):
    """A channel could not deliver a message.

    ``retryable``: another attempt may succeed; ``retry_after_s``: the wait the
    service asked for (a 429); ``status``: the HTTP status, when there was one.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        retry_after_s: float | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after_s = retry_after_s
        self.status = status


class ConfigurationError(KitError):
    """Something only the user can fix: settings, IP registration, a WAF rule."""

    def __init__(
        self, message: str, *, field: str | None = None, code: str | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.field = field
