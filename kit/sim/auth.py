"""The simulator's accounts and sessions: login, tokens, refresh, logout, feed auth.

As SMARTAPI.md §2.5, §2.8 and §3 describe SmartAPI:

- ``login`` checks the API key, the MPIN (the ``password`` field) and a TOTP
  (30 s steps, one step of drift either way) and opens a session;
- the access token is a real HS256 JWT with ``sub`` (the client code), ``iat``,
  ``exp`` (login plus 24-28 h, on the injected clock) and a unique ``jti``;
- ``generate_tokens`` rotates all three tokens; the old refresh token is refused
  at once, the old JWT and feed token live until their ``exp`` (undocumented);
- ``logout`` ends one session, ``invalidate_all`` (a chaos fault) all of them.

Failures raise :class:`AuthFailure`: AG codes in the gateway dialect
(``success``/``errorCode``), AB codes in the normal one (``status``/``errorcode``).
No PIN, TOTP, secret, token or client code is ever logged.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import jwt
import pyotp

from kit.clock import IST, Clock

logger = logging.getLogger(__name__)

Dialect = Literal["normal", "gateway"]

HOUR_S = 3600.0
JWT_LIFETIME_MIN_S = 24 * HOUR_S
JWT_LIFETIME_MAX_S = 28 * HOUR_S
DEFAULT_JWT_LIFETIME_S = 26 * HOUR_S
DEFAULT_REFRESH_LIFETIME_S = 28 * HOUR_S

_ALGORITHM = "HS256"
_BEARER = "bearer "

# The x-error-message texts of a refused WebSocket 2.0 upgrade (SMARTAPI.md §2.8).
FEED_BAD_AUTH = "Invalid Header - Invalid Auth token"
FEED_BAD_CLIENT = "Invalid Header - Invalid Client Code"
FEED_BAD_API_KEY = "Invalid Header - Invalid API Key"
FEED_BAD_FEED_TOKEN = "Invalid Header - Invalid Feed Token"


# SmartAPI's messages for the codes this module answers with (SMARTAPI.md §2.8).
MESSAGES: dict[str, str] = {
    "AB1007": "Login Id or password is invalid",  # unknown client or wrong MPIN
    "AB1050": "Invalid totp",
    "AB8050": "Invalid Refresh Token",
    "AB8051": "Refresh Token Expired",
    "AG8001": "Invalid Token",  # garbage, unknown or revoked
    "AG8002": "Token Expired",
    "AG8003": "Token missing",
    "AG8004": "Invalid API Key",
}


class AuthFailure(Exception):
    """A refusal with SmartAPI's ``code`` and ``message`` and its reply ``dialect``."""

    def __init__(self, code: str, message: str, dialect: Dialect) -> None:
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message
        self.dialect: Dialect = dialect

    @classmethod
    def of(cls, code: str) -> AuthFailure:
        """The failure ``code``: AG codes in the gateway dialect, AB in the normal."""
        dialect: Dialect = "gateway" if code.startswith("AG") else "normal"
        return cls(code, MESSAGES[code], dialect)


@dataclass(frozen=True)
class Account:
    """A simulated Angel One account. The secrets stay out of its repr."""

    client_code: str
    mpin: str
    totp_secret: str
    api_key: str
    name: str
    email: str
    mobile_no: str = ""
    exchanges: tuple[str, ...] = ("NSE", "BSE", "NFO", "BFO", "MCX", "CDS")
    products: tuple[str, ...] = ("DELIVERY", "CARRYFORWARD", "MARGIN", "INTRADAY")
    broker_id: str = "B2C"

    def __repr__(self) -> str:
        return f"Account(client_code={self.client_code!r}, name={self.name!r})"


def demo_account() -> Account:
    """The simulator's default account. Every value is fake and public."""
    return Account(
        client_code="SIM001",
        mpin="1234",
        totp_secret="KITSIMDEMOTOTPSECRETFORTESTSONLY",
        api_key="sim-api-key",
        name="SIMULATED TRADER",
        email="trader@sim.invalid",
        mobile_no="9999999999",
    )


@dataclass(frozen=True)
class Tokens:
    """What a login or a refresh hands out; ``jwt_expires_at`` in epoch seconds."""

    jwt_token: str
    refresh_token: str
    feed_token: str
    jwt_expires_at: float

    def as_data(self) -> dict[str, str]:
        """The ``data`` object of the loginByPassword and generateTokens replies."""
        return {
            "jwtToken": self.jwt_token,
            "refreshToken": self.refresh_token,
            "feedToken": self.feed_token,
        }

    def __repr__(self) -> str:
        return f"Tokens(jwt_expires_at={self.jwt_expires_at})"


@dataclass(frozen=True)
class _Issued:
    """One token handed out: whose, for which session, and until when."""

    client_code: str
    session_id: str
    expires_at: float


class AuthService:
    """Accounts, logins and live sessions of the simulator. Safe from any thread."""

    def __init__(
        self,
        clock: Clock,
        accounts: Iterable[Account] = (),
        *,
        jwt_lifetime_s: float = DEFAULT_JWT_LIFETIME_S,
        refresh_lifetime_s: float = DEFAULT_REFRESH_LIFETIME_S,
    ) -> None:
        if not JWT_LIFETIME_MIN_S <= jwt_lifetime_s <= JWT_LIFETIME_MAX_S:
            raise ValueError(f"jwt_lifetime_s outside 24-28 h: {jwt_lifetime_s}")
        if refresh_lifetime_s <= 0:
            raise ValueError(f"refresh_lifetime_s not positive: {refresh_lifetime_s}")
        self._clock = clock
        self._jwt_lifetime_s = jwt_lifetime_s
        self._refresh_lifetime_s = refresh_lifetime_s
        self._lock = threading.Lock()
        self._accounts: dict[str, Account] = {}
        for account in accounts:
            self.add_account(account)
        self._key = secrets.token_bytes(32)
        self._jwts: dict[str, _Issued] = {}  # by jti
        self._refresh: dict[str, _Issued] = {}
        self._feeds: dict[str, _Issued] = {}
        self._sessions: set[str] = set()
        self._last_login: dict[str, float] = {}

    @property
    def jwt_lifetime_s(self) -> float:
        return self._jwt_lifetime_s

    def add_account(self, account: Account) -> None:
        """Open ``account``; a second account with the same client code is refused."""
        with self._lock:
            if account.client_code in self._accounts:
                raise ValueError("an account with that client code already exists")
            self._accounts[account.client_code] = account

    def login(self, client_code: str, password: str, totp: str, api_key: str) -> Tokens:
        """Open a session (loginByPassword); ``password`` carries the MPIN."""
        with self._lock:
            account = self._accounts.get(client_code)
            keys = [known.api_key for known in self._accounts.values()]
        if not any(_same(api_key, key) for key in keys):
            raise AuthFailure.of("AG8004")
        if account is None or not _same(password, account.mpin):
            raise AuthFailure.of("AB1007")
        if not _same(api_key, account.api_key):
            raise AuthFailure.of("AG8004")
        at_s = int(self._clock.time())
        if not pyotp.TOTP(account.totp_secret).verify(
            totp, for_time=at_s, valid_window=1
        ):
            raise AuthFailure.of("AB1050")

        with self._lock:
            session_id = secrets.token_hex(8)
            self._sessions.add(session_id)
            self._last_login[client_code] = self._clock.time()
            tokens = self._issue(client_code, session_id)
        logger.info("Login accepted")
        return tokens

    def verify_bearer(self, authorization: str | None) -> str:
        """The client code of a valid ``Authorization: Bearer <jwt>`` value."""
        value = (authorization or "").strip()
        if value.lower() in ("", _BEARER.strip()):
            raise AuthFailure.of("AG8003")
        if not value.lower().startswith(_BEARER):
            raise AuthFailure.of("AG8001")
        token = value[len(_BEARER) :].strip()
        with self._lock:
            return self._verify_jwt(token).client_code

    def generate_tokens(self, refresh_token: str, bearer: str | None = None) -> Tokens:
        """Rotate a session's tokens (generateTokens); the old refresh token dies.

        ``bearer`` (the Authorization value, possibly past its ``exp``) is
        optional (None or empty: not sent); when sent it must be a JWT this
        service signed for the same client, or the call is refused with AG8001.
        """
        with self._lock:
            issued = self._refresh.get(refresh_token)
            if issued is None or issued.session_id not in self._sessions:
                raise AuthFailure.of("AB8050")
            if self._clock.time() >= issued.expires_at:
                raise AuthFailure.of("AB8051")
            if bearer and self._bearer_owner(bearer) != issued.client_code:
                raise AuthFailure.of("AG8001")
            del self._refresh[refresh_token]
            tokens = self._issue(issued.client_code, issued.session_id)
        logger.info("Tokens rotated")
        return tokens

    def logout(self, client_code: str, bearer: str | None) -> None:
        """End the session that ``bearer`` belongs to; all its tokens die."""
        if not bearer or not _strip_bearer(bearer):
            raise AuthFailure.of("AG8003")
        with self._lock:
            issued = self._verify_jwt(_strip_bearer(bearer))
            if issued.client_code != client_code:
                raise AuthFailure.of("AG8001")
            self._sessions.discard(issued.session_id)
            self._prune()
        logger.info("Logged out")

    def invalidate_all(self) -> None:
        """End every session and change the signing key (chaos: tokens invalidated)."""
        with self._lock:
            self._key = secrets.token_bytes(32)
            self._sessions.clear()
            self._jwts.clear()
            self._refresh.clear()
            self._feeds.clear()
        logger.warning("All sessions invalidated")

    def verify_feed(
        self,
        client_code: str | None,
        feed_token: str | None,
        authorization: str | None = None,
        api_key: str | None = None,
    ) -> str | None:
        """None when a WebSocket 2.0 upgrade may proceed, else its x-error-message.

        ``authorization`` may come with or without "Bearer "; it and ``api_key``
        are checked only when sent (the Java SDK sends neither).
        """
        account = self._accounts.get(client_code or "")
        with self._lock:
            if authorization is not None:
                try:
                    owner = self._verify_jwt(_strip_bearer(authorization)).client_code
                except AuthFailure:
                    return FEED_BAD_AUTH
                if owner != client_code:
                    return FEED_BAD_CLIENT
            if account is None:
                return FEED_BAD_CLIENT
            if api_key is not None and not _same(api_key, account.api_key):
                return FEED_BAD_API_KEY
            issued = self._feeds.get(feed_token or "")
            if issued is None or not self._is_live(issued, account.client_code):
                return FEED_BAD_FEED_TOKEN
        return None

    def profile(self, client_code: str) -> dict[str, Any]:
        """The ``data`` object of getProfile for ``client_code`` (KeyError if none)."""
        account = self._accounts[client_code]
        with self._lock:
            last_login_s = self._last_login.get(client_code)
        last_login = "" if last_login_s is None else _format_time(last_login_s)
        return {
            "clientcode": account.client_code,
            "name": account.name,
            "email": account.email,
            "mobileno": account.mobile_no,
            "exchanges": list(account.exchanges),
            "products": list(account.products),
            "lastlogintime": last_login,
            "brokerid": account.broker_id,
        }

    def live_sessions(self) -> int:
        """How many sessions are open (logged in, not logged out or invalidated)."""
        with self._lock:
            now_s = self._clock.time()
            tokens = [*self._jwts.values(), *self._refresh.values()]
            usable = {i.session_id for i in tokens if i.expires_at > now_s}
            return len(usable & self._sessions)

    # Under the lock from here on.

    def _issue(self, client_code: str, session_id: str) -> Tokens:
        """Sign a JWT and draw refresh and feed tokens for one session."""
        now_s = self._clock.time()
        expires_at = float(int(now_s + self._jwt_lifetime_s))
        jti = secrets.token_hex(16)
        claims = {"sub": client_code, "iat": int(now_s), "exp": int(expires_at)}
        claims["jti"] = jti
        token = jwt.encode(claims, self._key, algorithm=_ALGORITHM)

        issued = _Issued(client_code, session_id, expires_at)
        refresh = secrets.token_urlsafe(32)
        feed = secrets.token_urlsafe(24)
        self._jwts[jti] = issued
        self._feeds[feed] = issued
        refresh_until = now_s + self._refresh_lifetime_s
        self._refresh[refresh] = _Issued(client_code, session_id, refresh_until)
        self._prune()
        return Tokens(token, refresh, feed, expires_at)

    def _verify_jwt(self, token: str) -> _Issued:
        """The record of a JWT this service signed, live and not past ``exp``."""
        claims = self._decode(token)
        if claims is None:
            raise AuthFailure.of("AG8001")
        if self._clock.time() >= float(claims["exp"]):
            raise AuthFailure.of("AG8002")
        issued = self._jwts.get(str(claims["jti"]))
        if issued is None or not self._is_live(issued, str(claims["sub"])):
            raise AuthFailure.of("AG8001")
        return issued

    def _bearer_owner(self, bearer: str) -> str | None:
        """The ``sub`` of a JWT this service signed, expired or not."""
        claims = self._decode(_strip_bearer(bearer))
        return None if claims is None else str(claims["sub"])

    def _decode(self, token: str) -> dict[str, Any] | None:
        """The claims of a JWT signed with the current key, None if it is not one."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._key,
                algorithms=[_ALGORITHM],
                options={
                    # Times are judged on the injected clock, never the machine's.
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "require": ["sub", "iat", "exp", "jti"],
                },
            )
        except jwt.PyJWTError:
            return None
        return claims

    def _is_live(self, issued: _Issued, client_code: str) -> bool:
        alive = issued.session_id in self._sessions
        fresh = self._clock.time() < issued.expires_at
        return alive and fresh and issued.client_code == client_code

    def _prune(self) -> None:
        """Forget tokens past expiry or of ended sessions, then empty sessions.

        Expired refresh tokens are kept one more lifetime, to answer AB8051.
        """
        now_s = self._clock.time()
        for table, grace_s in (
            (self._jwts, 0.0),
            (self._feeds, 0.0),
            (self._refresh, self._refresh_lifetime_s),
        ):
            for key, issued in list(table.items()):
                ended = issued.session_id not in self._sessions
                if ended or issued.expires_at + grace_s <= now_s:
                    del table[key]
        kept = [*self._jwts.values(), *self._refresh.values()]
        self._sessions &= {issued.session_id for issued in kept}


def _same(given: str, expected: str) -> bool:
    """Compare a credential in constant time."""
    return hmac.compare_digest(given.encode(), expected.encode())


def _strip_bearer(value: str) -> str:
    """The token of an Authorization value, with or without its "Bearer " prefix."""
    value = value.strip()
    if value[: len(_BEARER)].lower() == _BEARER:
        return value[len(_BEARER) :].strip()
    return value


def _format_time(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, IST).strftime("%Y-%m-%d %H:%M:%S")
