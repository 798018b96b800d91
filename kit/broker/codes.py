"""Angel One's error codes, sorted by what the kit does about them, and the reader
that turns one REST reply into its ``data`` or the most specific kit error.

The codes are SMARTAPI.md §2.8, every one of them, in named sets. A reply is
read from its HTTP status and its body together (SMARTAPI.md §2.5), because the
status alone misleads: a rate limit is a plain-text 403, a token failure a JSON
401, and most refusals a JSON 200.

=====================================  ===========================================
reply                                   kit error
=====================================  ===========================================
text saying "exceeding access rate"     RateLimited (any status; in JSON too)
empty body                              ServerError (status kept)
HTML "Request Rejected" (the WAF)       ServerError, code ``WAF``: see below
other HTML, or any body with a 5xx      ServerError(status=...)
not JSON: 401 / 404 / 429 / other       TokenInvalid / ConfigurationError /
                                        RateLimited / ServerError
JSON in neither dialect                 ServerError
``status``/``success`` true             its ``data`` is returned (None allowed)
a failure with a code or message        :func:`error_for` below
=====================================  ===========================================

The WAF page. DESIGN.md lets reads retry an HTML body; SMARTAPI.md files the
WAF's "Request Rejected" page under configuration. Both are right at different
times: a WAF answers a burst or a passing rule with the page and lets the next
request through, while a rule that matches every request (an unregistered
route, a blocked source address) will never clear. So the page is a
:class:`~kit.errors.ServerError` with the pseudo-code :data:`WAF_REJECTED`:
every retry policy that handles transient errors handles it, and it sits in
:data:`LIMITED_RETRY_CODES` beside AB1004, whose retries must also stay few.
When those few retries fail, :func:`waf_as_configuration_error` gives the error
the user is shown. A subclass would say the same, but the tree lives in
``kit/errors.py`` alone, and a code is what the activity feed shows anyway.

Every error carries the broker's code and message, taken from the reply; the
request (which may hold a PIN, a TOTP or a token) is never read here.
"""

from __future__ import annotations

import json
import re
from typing import Any

from kit.broker.routes import FEED_ERROR_BAD_PAYLOAD, FEED_ERROR_LIMIT
from kit.errors import (
    ConfigurationError,
    InsufficientMargin,
    InvalidSymbol,
    KitError,
    LoginFailed,
    MarketClosed,
    OrderRejected,
    RateLimited,
    RejectedError,
    ServerError,
    TokenExpired,
    TokenInvalid,
)

WAF_REJECTED = "WAF"
"""The pseudo-code of the web application firewall's HTML "Request Rejected"."""

# Transient: the broker failed, not the request; idempotent reads retry them.
SERVER_CODES = frozenset(
    {
        "AB1004",  # "Something Went Wrong, Please Try After Sometime"; intermittent
        "AB2000",  # "Error not specified"
        "AB2001",  # "Internal Error, Please try after sometime"
        "AB9000",  # GTT "Internal Server Error"
    }
)

# Transient but suspect: retry a few times only, never up to the whole budget.
LIMITED_RETRY_CODES = frozenset(
    {
        "AB1004",  # also the answer to a malformed candle request, which never heals
        WAF_REJECTED,  # a passing WAF rule clears; a rule on every request does not
    }
)

# Auth, token expired: refresh the session (or log in again); never retry as is.
TOKEN_EXPIRED_CODES = frozenset(
    {
        "AG8002",  # "Token Expired": the JWT is past its exp
        "AB8051",  # "Refresh Token Expired": only a new login helps
        "AB1010",  # "AMX Session Expired": the broker dropped the session
    }
)

# Auth, token invalid: the token is missing, malformed or revoked; log in again.
TOKEN_INVALID_CODES = frozenset(
    {
        "AG8001",  # "Invalid Token": garbage, unknown or revoked (logout, re-login)
        "AG8003",  # "Token missing": no Authorization header on a secure route
        "AB8050",  # "Invalid Refresh Token"
        "AB1011",  # "Client not login"
        "AB9005",  # GTT "Invalid Session ID": the session behind the token is gone
    }
)

# Auth, login: the credentials were refused; not retried (AB1050: see below).
LOGIN_CODES = frozenset(
    {
        "AB1050",  # "Invalid totp": a stale code or a skewed clock
        "AB7001",  # "LoginbyPassword is not allowed": the password, not the MPIN
        "AB1007",  # "Login Id or password is invalid" ("AMX Error" in the Go map)
        "AB1000",  # "Invalid Email Or Password"
        "AB1001",  # "Invalid Email"
        "AB1002",  # "Invalid Password Length"
        "AB1005",  # "User Type Must Be USER"
        "AB1006",  # "Client Is Block For Trading": the account itself is blocked
        "AB1031",  # a login failure with no published text
        "AB1032",  # a login failure with no published text
    }
)

# Login codes that one new attempt may clear: a fresh TOTP for the next window.
RETRY_WITH_FRESH_TOTP_CODES = frozenset(
    {
        "AB1050",  # the code was read at a window's edge; check the clock if it repeats
    }
)

# Configuration: only the user can fix these (IP registration, the API key).
CONFIGURATION_CODES = frozenset(
    {
        "AG7002",  # "Unregistered IP address": register the static IP with the key
        "AG8004",  # "Invalid API Key" (Java's ApiKeyException): fix the key
    }
)

# Rejected, symbol: the instrument is unknown; skip it rather than retry.
SYMBOL_CODES = frozenset(
    {
        "AB1009",  # "Symbol Not Found"
        "AB1018",  # "Failed to get symbol details"
        "AB4018",  # "Symbol token cannot be empty" (a quote's unfetched token)
        "AB9011",  # GTT "Invalid Symbol Token"
        "AB9012",  # GTT "Invalid Trading Symbol"
    }
)

# Rejected, order or input: the order's fields were refused; resending changes nothing.
ORDER_CODES = frozenset(
    {
        "AB1008",  # "Invalid Order Variety"
        "AB1012",  # "Invalid Product Type"
        "AB1017",  # "Position conversion failed"
        "AB2002",  # "ROBO order is block"
        "AB4008",  # "Ordertag length should not exceed 20 characters"
        "AB4036",  # the token is in the exchange's cautionary listing
        "AB9001",  # GTT "Invalid Parameters"
        "AB9002",  # GTT "Method Not Allowed"
        "AB9003",  # GTT "Invalid Client ID"
        "AB9004",  # GTT "Invalid Status Array Size"
        "AB9006",  # GTT "Invalid Order Quantity"
        "AB9007",  # GTT "Invalid Disclosed Quantity"
        "AB9008",  # GTT "Invalid Price"
        "AB9009",  # GTT "Invalid Trigger Price"
        "AB9010",  # GTT "Invalid Exchange Segment"
        "AB9013",  # GTT "Invalid Rule ID"
        "AB9014",  # GTT "Invalid Order Side"
        "AB9015",  # GTT "Invalid Product Type"
        "AB9016",  # GTT "Invalid Time Period"
        "AB9017",  # GTT "Invalid Page Value"
        "AB9018",  # GTT "Invalid Count Value"
    }
)

# Rejected, other: definitive answers that are not about an order's fields.
REJECTED_CODES = frozenset(
    {
        "AB1003",  # "Client Already Exists"
        "AB1013",  # "Order not found"
        "AB1014",  # "Trade not found"
        "AB1015",  # "Holding not found"
        "AB1016",  # "Position not found"
    }
)

# The WebSocket 2.0 feed's text-frame codes: the feed handles them, never REST.
FEED_CODES = frozenset(
    {
        FEED_ERROR_BAD_PAYLOAD,  # E1001 "Invalid Request Payload": a bug of ours
        FEED_ERROR_LIMIT,  # E1002 "Subscription Limit Exceeded": too many tokens
    }
)

_DECIDED_BY_CODE: tuple[tuple[frozenset[str], type[KitError]], ...] = (
    (SERVER_CODES, ServerError),
    (TOKEN_EXPIRED_CODES, TokenExpired),
    (TOKEN_INVALID_CODES, TokenInvalid),
    (LOGIN_CODES, LoginFailed),
    (CONFIGURATION_CODES, ConfigurationError),
    (SYMBOL_CODES, InvalidSymbol),
)
_DECIDED_BY_MESSAGE: tuple[tuple[re.Pattern[str], type[KitError]], ...] = (
    (re.compile(r"exceeding\s+access\s+rate", re.I), RateLimited),
    (
        re.compile(r"insufficient\s+(fund|margin|balance)|margin\s+shortfall", re.I),
        InsufficientMargin,
    ),
    (re.compile(r"market\s+(is\s+)?closed", re.I), MarketClosed),
)
_REFUSALS_BY_CODE: tuple[tuple[frozenset[str], type[KitError]], ...] = (
    (ORDER_CODES, OrderRejected),
    (REJECTED_CODES, RejectedError),
)
_UNKNOWN_BY_STATUS: dict[int, type[KitError]] = {
    401: TokenInvalid,
    429: RateLimited,
}

_RATE_LIMIT_MARK = "exceeding access rate"
_SUPPORT_ID = re.compile(r"support\s+id\s+is:?\s*([0-9A-Za-z-]+)", re.I)
_EXCERPT_CHARS = 120


def error_for(code: str, message: str, *, http_status: int = 200) -> KitError:
    """The kit error for a failed JSON reply with broker ``code`` and ``message``.

    A known code decides; then the message, for refusals whose code says little
    (insufficient funds, market closed); then the order and lookup codes; an
    unknown code is named by the HTTP status (401 auth, 429 rate limit) or is a
    plain :class:`~kit.errors.RejectedError`.
    """
    message = message.strip() or "no message"
    tagged = code.strip() or None
    kind = _kind_for(tagged, message, http_status)
    if kind is ServerError:
        return ServerError(message, status=http_status, code=tagged)
    if kind is ConfigurationError:
        field = "api_key" if tagged == "AG8004" else None
        return ConfigurationError(message, field=field, code=tagged)
    return kind(message, code=tagged)


def _kind_for(code: str | None, message: str, http_status: int) -> type[KitError]:
    for codes, kind in _DECIDED_BY_CODE:
        if code in codes:
            return kind
    for pattern, kind in _DECIDED_BY_MESSAGE:
        if pattern.search(message):
            return kind
    for codes, kind in _REFUSALS_BY_CODE:
        if code in codes:
            return kind
    return _UNKNOWN_BY_STATUS.get(http_status, RejectedError)


def read_reply(http_status: int, content_type: str | None, body: bytes) -> Any:
    """The ``data`` of a successful reply; otherwise raise its kit error.

    Pure: it looks at nothing but its arguments. See the module docstring for the
    table of shapes and the errors they become.
    """
    text = body.decode("utf-8", errors="replace").strip()
    if _RATE_LIMIT_MARK in text.lower() and not text.startswith("{"):
        raise RateLimited(_excerpt(text))  # JSON ones are read by error_for
    if not text:
        raise ServerError(f"empty reply (HTTP {http_status})", status=http_status)
    if _is_html(content_type, text):
        raise _html_error(http_status, text)

    try:
        document = json.loads(text)
    except ValueError as exc:
        raise _not_json_error(http_status, text) from exc
    if not isinstance(document, dict):
        raise ServerError(
            f"reply is not a JSON object: {_excerpt(text)}", status=http_status
        )

    succeeded, code, message = _envelope(document)
    if http_status >= 500:
        raise ServerError(
            message or f"HTTP {http_status}", status=http_status, code=code or None
        )
    if succeeded is None:
        raise ServerError(
            f"reply in neither dialect: {_excerpt(text)}", status=http_status
        )
    if succeeded:
        return document.get("data")
    raise error_for(code, message, http_status=http_status)


def waf_as_configuration_error(error: ServerError) -> ConfigurationError:
    """What to tell the user once the WAF has refused every retry of a request."""
    return ConfigurationError(
        f"Angel One's firewall keeps rejecting the request ({error.message}); "
        "check that the REST URL and route are right and that this machine's IP "
        "is registered with the API key",
        field="rest_url",
        code=WAF_REJECTED,
    )


def _envelope(document: dict[str, Any]) -> tuple[bool | None, str, str]:
    """(succeeded, code, message) of either dialect; succeeded None for neither."""
    message = str(document.get("message") or "")
    if "status" in document:
        code = document.get("errorcode") or document.get("errorCode") or ""
        return _truthy(document["status"]), str(code), message
    if "success" in document:
        code = document.get("errorCode") or document.get("errorcode") or ""
        return _truthy(document["success"]), str(code), message
    return None, "", message


def _truthy(flag: Any) -> bool:
    if isinstance(flag, str):
        return flag.strip().lower() == "true"
    return flag is True


def _is_html(content_type: str | None, text: str) -> bool:
    if content_type and "html" in content_type.lower():
        return True
    head = text[:64].lower()
    return head.startswith(("<!doctype html", "<html", "<head", "<body"))


def _html_error(http_status: int, text: str) -> KitError:
    if "request rejected" in text.lower():
        found = _SUPPORT_ID.search(text)
        support = f" (support ID {found.group(1)})" if found else ""
        return ServerError(
            f"Request Rejected by the firewall{support}",
            status=http_status,
            code=WAF_REJECTED,
        )
    return ServerError(
        f"HTML page (HTTP {http_status}): {_excerpt(text)}", status=http_status
    )


def _not_json_error(http_status: int, text: str) -> KitError:
    shown = f"HTTP {http_status}: {_excerpt(text)}"
    if http_status == 401:
        return TokenInvalid(shown)
    if http_status == 404:
        return ConfigurationError(
            f"{shown} (no such route: check the REST URL)", field="rest_url"
        )
    if http_status == 429:
        return RateLimited(shown)
    if http_status >= 500:
        return ServerError(shown, status=http_status)
    return ServerError(f"reply is not JSON: {shown}", status=http_status)


def _excerpt(text: str) -> str:
    """A short, single-line, tag-free piece of a reply for an error message."""
    plain = re.sub(r"<[^>]*>", " ", text)
    plain = " ".join(plain.split())
    if len(plain) > _EXCERPT_CHARS:
        return plain[: _EXCERPT_CHARS - 3] + "..."
    return plain
