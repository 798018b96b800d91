"""The broker session: login, token lifetimes, refresh and re-login.

:class:`BrokerSession` owns the three tokens of an Angel One session
(SMARTAPI.md §3) and keeps them valid all day without a person:

- ``start()`` resumes the session stored in the journal while it is unexpired,
  else logs in with client code, MPIN and a TOTP computed from the TOTP secret.
- The JWT's expiry is read from its own ``exp`` claim (the payload is decoded
  without checking the signature, which only the broker can do).
- ``check()``, called by the health thread every few minutes, renews the session
  :data:`RENEW_AHEAD_S` before expiry: a session saved meanwhile by ``kit
  login`` is taken up, else ``generateTokens`` with the refresh token, else a
  TOTP login when a TOTP secret is set. While renewal fails, a warning event
  goes out once at 60 and once at 15 minutes before expiry (the user's design:
  a 24 h token warned at 23 h), carrying the steps that fix it.
- ``call(fn)`` runs an authenticated request; on AG8001, AG8002 or AB1010 in the
  middle of the day it renews once and runs the request once more.

Tokens, the MPIN, the TOTP and its secret never reach a log line, an exception
message or a repr, and every one is registered with :mod:`kit.logsafe`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

import pyotp

from kit import logsafe
from kit.broker.codes import RETRY_WITH_FRESH_TOTP_CODES
from kit.broker.feed_credentials import FeedCredentials
from kit.broker.http import Transport
from kit.broker.journal import Journal, StoredSession
from kit.broker.routes import ROUTES
from kit.broker.session_types import (
    Credentials,
    SessionEvent,
    SessionEventKind,
    SessionStatus,
    jwt_expiry,
    reconnect_steps,
)
from kit.clock import IST, Clock
from kit.config import Settings
from kit.errors import (
    AuthError,
    KitError,
    LoginFailed,
    NetworkError,
    StoreError,
    TokenExpired,
    TokenInvalid,
    TransientError,
)

__all__ = [
    "BrokerSession",
    "Credentials",
    "SessionEvent",
    "SessionEventKind",
    "SessionStatus",
    "jwt_expiry",
    "reconnect_steps",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

RENEW_AHEAD_S = 75 * 60.0
"""Renewal starts this long before the JWT expires, ahead of the first warning."""
RENEW_RETRY_S = 60.0
"""After a failed renewal, ``check()`` tries again this much later."""
WARN_BEFORE_MIN = (60, 15)
"""Minutes before expiry at which a warning event goes out, once each."""
_TOTP_STEP_S = 30
_BEARER = "bearer "


class BrokerSession:
    """The Angel One session of one client, kept valid; safe from any thread.

    ``credentials`` may be the kit's :class:`~kit.config.Settings`; ``events``
    receives every :class:`SessionEvent` (its failures are logged, not raised).
    """

    def __init__(
        self,
        transport: Transport,
        credentials: Settings | Credentials,
        journal: Journal,
        clock: Clock,
        *,
        events: Callable[[SessionEvent], None] | None = None,
        store_name: str = "the kit's store",
    ) -> None:
        if isinstance(credentials, Settings):
            store_name = str(credentials.store_path)
            credentials = Credentials.from_settings(credentials)
        logsafe.register(
            credentials.api_key,
            credentials.client_code,
            credentials.mpin,
            credentials.totp_secret,
            min_chars=logsafe.SHORT_SECRET_MIN_CHARS,
        )
        self._transport = transport
        self._credentials = credentials
        self._journal = journal
        self._clock = clock
        self._events = events
        self._store_name = store_name
        self._renew_lock = threading.RLock()  # one renewal at a time
        self._session: StoredSession | None = None
        self._refresh_dead = False  # the broker refused this session's refresh
        self._next_renew_mono: float | None = None
        self._warned: set[int] = set()
        self._expiry_told = False

    def __repr__(self) -> str:
        return f"BrokerSession(logged_in={self._session is not None})"

    @property
    def auto_login(self) -> bool:
        """Whether the kit can log in again by itself (TOTP secret and MPIN set)."""
        return bool(self._credentials.totp_secret and self._credentials.mpin)

    # Opening and closing.

    def start(self) -> None:
        """Resume the stored session while it is unexpired, else log in."""
        if not self.resume():
            self.login()
        self.check()

    def resume(self) -> bool:
        """Take up the journal's session for this client if it is unexpired."""
        stored = self._stored_session()
        if stored is None or stored.jwt_expires_at <= self._clock.time():
            return False
        self._install(stored)
        logger.info("Session resumed; valid until %s", _when(stored.jwt_expires_at))
        return True

    def login(self, *, totp: str | None = None, mpin: str | None = None) -> None:
        """Log in (loginByPassword) and save the new session in the journal.

        ``totp`` and ``mpin`` are what a person typed (``kit login``); without
        them the TOTP comes from the secret at the clock's time and the MPIN
        from the credentials. A computed TOTP refused as stale (AB1050) is
        tried once more with the next one.
        """
        with self._renew_lock:
            try:
                self._login_once(totp, mpin)
            except LoginFailed as exc:
                if exc.code not in RETRY_WITH_FRESH_TOTP_CODES or totp is not None:
                    raise
                wait_s = _TOTP_STEP_S - self._clock.time() % _TOTP_STEP_S
                logger.warning("Login: TOTP refused; next one in %.0f s", wait_s)
                self._clock.sleep(wait_s)
                self._login_once(None, mpin)

    def logout(self) -> None:
        """End the session at the broker and forget it here, whatever the reply."""
        session = self._session
        if session is None:
            return
        body = {"clientcode": self._credentials.client_code}
        try:
            self._transport.request(ROUTES["logout"], body, jwt=session.jwt)
        finally:
            self._session = None
            try:
                self._journal.clear_session(session.client_code)
            except StoreError as exc:
                logger.warning("Logout: the store did not forget the session: %s", exc)
            logger.info("Logged out")

    # What the session holds.

    @property
    def jwt(self) -> str:
        return self._current().jwt

    @property
    def feed_token(self) -> str:
        return self._current().feed_token

    @property
    def age_s(self) -> float | None:
        """Seconds since the current tokens were issued; None before a login."""
        return self.status().age_s

    @property
    def expires_in_s(self) -> float | None:
        """Seconds until the JWT expires (negative once past); None before a login."""
        return self.status().expires_in_s

    def status(self) -> SessionStatus:
        session, now_s = self._session, self._clock.time()
        if session is None:
            return SessionStatus(logged_in=False, auto_login=self.auto_login)
        refreshed = session.issued_at != session.logged_in_at
        return SessionStatus(
            logged_in=session.jwt_expires_at > now_s,
            age_s=now_s - session.issued_at,
            expires_in_s=session.jwt_expires_at - now_s,
            expires_at=_at(session.jwt_expires_at),
            last_refresh=_at(session.issued_at) if refreshed else None,
            auto_login=self.auto_login,
        )

    # Using it and keeping it valid.

    def call(self, request: Callable[[str], T]) -> T:
        """Run ``request(jwt)``; on an expired or invalid token renew once and
        run it once more. When the session cannot be renewed, or the renewed one
        is refused too, :class:`~kit.errors.AuthError` names the steps; when the
        renewal meets a transient failure, ``NetworkError(sent=False)``: the
        refused request was not taken and may be sent again."""
        jwt = self._usable().jwt
        try:
            return request(jwt)
        except (TokenInvalid, TokenExpired) as exc:
            logger.warning("Session refused (%s); renewing it once", exc.code)
            refused = exc
        try:
            self._renew(f"refused with {refused.code}", failed_jwt=jwt)
        except TransientError as exc:
            # The request itself was refused outright, so it was not taken.
            message = f"the session could not be renewed ({exc}); request not sent"
            raise NetworkError(message, sent=False, code=exc.code) from exc
        try:
            return request(self.jwt)
        except (TokenInvalid, TokenExpired) as exc:
            raise AuthError(
                f"the broker refused the renewed session too ({exc.code}). "
                + self._steps(),
                code=exc.code,
            ) from exc

    def feed_credentials(self, refresh: bool = False) -> FeedCredentials:
        """The WebSocket 2.0 upgrade's credentials; ``refresh`` renews first
        (the feed asks after its upgrade was refused with 401)."""
        if refresh:
            self._renew("the feed refused its credentials")
        session = self._usable()
        return FeedCredentials(
            jwt=session.jwt,
            api_key=self._credentials.api_key,
            client_code=self._credentials.client_code,
            feed_token=session.feed_token,
        )

    def check(self) -> None:
        """Renew ahead of expiry and warn while renewal fails.

        A failed renewal is logged and tried again :data:`RENEW_RETRY_S` later;
        it is not raised.
        """
        session = self._session
        if session is None:
            return
        left_s = session.jwt_expires_at - self._clock.time()
        if left_s <= RENEW_AHEAD_S:
            with self._renew_lock:
                taken_up = self._take_up_stored()
            if not taken_up and self._renewal_due():
                try:
                    self._renew(f"expires in {max(0.0, left_s) / 60:.0f} min")
                except KitError as exc:
                    self._next_renew_mono = self._clock.monotonic() + RENEW_RETRY_S
                    logger.warning(
                        "Session renewal failed (%s); next try in %.0f s",
                        exc.code or type(exc).__name__,
                        RENEW_RETRY_S,
                    )
        self._warn_if_due()

    # Inside.

    def _current(self) -> StoredSession:
        session = self._session
        if session is None:
            raise AuthError("not logged in: start() or login() the session first")
        return session

    def _usable(self) -> StoredSession:
        """The current session, renewed first when its JWT is past its expiry."""
        session = self._current()
        if session.jwt_expires_at <= self._clock.time():
            self._renew("the session has expired", failed_jwt=session.jwt)
            session = self._current()
        return session

    def _login_once(self, totp: str | None, mpin: str | None) -> None:
        creds = self._credentials
        pin = mpin if mpin is not None else creds.mpin
        if totp is None and creds.totp_secret:
            totp = pyotp.TOTP(creds.totp_secret).at(int(self._clock.time()))
        if not pin or not totp:
            raise LoginFailed("no MPIN or TOTP to log in with. " + self._steps())
        logsafe.register(pin, totp, min_chars=logsafe.SHORT_SECRET_MIN_CHARS)
        body = {"clientcode": creds.client_code, "password": pin, "totp": totp}
        data = self._transport.request(ROUTES["login"], body)
        now_s = self._clock.time()
        self._store(data, issued_at=now_s, logged_in_at=now_s)
        logger.info("Logged in; valid until %s", _when(self._current().jwt_expires_at))

    def refresh(self) -> None:
        """Renew the session now (generateTokens, else a TOTP login)."""
        self._renew("asked to refresh")

    def _renew(self, reason: str, *, failed_jwt: str | None = None) -> None:
        """Make the session valid again: a session saved by ``kit login``, else
        a refresh, else a TOTP login. A thread that finds the session renewed
        since ``failed_jwt`` was handed out does nothing."""
        with self._renew_lock:
            current = self._session
            if current is not None and failed_jwt not in (None, current.jwt):
                return
            if self._take_up_stored():
                return

            refused: AuthError | None = None
            if current is not None and not self._refresh_dead:
                try:
                    self._refresh(current)
                    return
                except AuthError as exc:
                    logger.warning("Refresh refused (%s)", exc.code or "auth")
                    self._refresh_dead, refused = True, exc

            if not self.auto_login:
                raise AuthError(
                    f"the Angel One session cannot be renewed by itself ({reason}). "
                    + self._steps(),
                    code=refused.code if refused else None,
                ) from refused
            try:
                self.login()
            except LoginFailed as exc:
                message = f"automatic login failed ({exc}). " + self._steps()
                raise LoginFailed(message, code=exc.code) from exc
            self._emit_renewed("logged in again with the TOTP secret")

    def _refresh(self, current: StoredSession) -> None:
        body = {"refreshToken": current.refresh_token}
        data = self._transport.request(ROUTES["generate_tokens"], body, jwt=current.jwt)
        now_s = self._clock.time()
        self._store(data, issued_at=now_s, logged_in_at=current.logged_in_at)
        expires_at = self._current().jwt_expires_at
        logger.info("Tokens refreshed; valid until %s", _when(expires_at))
        self._emit_renewed("tokens refreshed")

    def _take_up_stored(self) -> bool:
        """Adopt a later session from the journal (saved by ``kit login``)."""
        current = self._session
        stored = self._stored_session()
        if stored is None or stored.jwt_expires_at <= self._clock.time():
            return False
        if current is not None and stored.jwt_expires_at <= current.jwt_expires_at:
            return False
        self._install(stored)
        logger.info(
            "Session taken up from the store; valid until %s",
            _when(stored.jwt_expires_at),
        )
        self._emit_renewed("a session saved by kit login was taken up")
        return True

    def _store(self, data: Any, *, issued_at: float, logged_in_at: float) -> None:
        """Install the tokens of a login or refresh reply, then journal them."""
        tokens = data if isinstance(data, Mapping) else {}
        jwt = str(tokens.get("jwtToken") or "")
        if jwt[: len(_BEARER)].lower() == _BEARER:
            jwt = jwt[len(_BEARER) :]
        refresh, feed = tokens.get("refreshToken"), tokens.get("feedToken")
        if not jwt or not refresh or not feed:
            raise TokenInvalid("the broker's reply does not carry the three tokens")
        session = StoredSession(
            client_code=self._credentials.client_code,
            jwt=jwt,
            refresh_token=str(refresh),
            feed_token=str(feed),
            issued_at=issued_at,
            jwt_expires_at=jwt_expiry(jwt),
            logged_in_at=logged_in_at,
        )
        self._install(session)
        try:
            self._journal.save_session(session)
        except StoreError as exc:
            # The session works from memory; a restart will log in again.
            logger.warning("Session not saved (the store failed): %s", exc)

    def _stored_session(self) -> StoredSession | None:
        """The journal's session for this client; None when the store fails."""
        try:
            return self._journal.load_session(self._credentials.client_code)
        except StoreError as exc:
            logger.warning("Stored session unreadable (the store failed): %s", exc)
            return None

    def _install(self, session: StoredSession) -> None:
        logsafe.register(session.jwt, session.refresh_token, session.feed_token)
        self._session = session
        self._refresh_dead = False
        self._next_renew_mono = None
        self._warned.clear()
        self._expiry_told = False

    def _renewal_due(self) -> bool:
        if self._refresh_dead and not self.auto_login:
            return False  # nothing left to try but a session from kit login
        due = self._next_renew_mono
        return due is None or self._clock.monotonic() >= due

    def _warn_if_due(self) -> None:
        session, now_s = self._session, self._clock.time()
        if session is None:
            return
        left_s = session.jwt_expires_at - now_s
        if left_s <= 0:
            if not self._expiry_told:
                self._expiry_told = True
                logger.error("Session expired and not renewed")
                message = "Angel One session has expired: REST calls and the feed stop"
                self._emit(SessionEventKind.SESSION_EXPIRED, message, minutes_left=0)
            return

        crossed = {m for m in WARN_BEFORE_MIN if left_s <= m * 60}
        if not crossed - self._warned:
            return
        self._warned |= crossed  # the most urgent warning stands for skipped ones
        minutes_left = int(left_s // 60)
        age_h = (now_s - session.issued_at) / 3600
        logger.warning("Session expires in %d min, not renewed yet", minutes_left)
        self._emit(
            SessionEventKind.TOKEN_EXPIRY_WARNING,
            f"Angel One session expires in {minutes_left} min (token age "
            f"{age_h:.1f} h) and could not be renewed yet",
            minutes_left=minutes_left,
        )

    def _steps(self) -> str:
        return reconnect_steps(self.auto_login, self._store_name)

    def _emit_renewed(self, how: str) -> None:
        left_h = (self._current().jwt_expires_at - self._clock.time()) / 3600
        message = f"Angel One session renewed ({how}); valid for {left_h:.1f} h"
        self._emit(SessionEventKind.SESSION_RENEWED, message)

    def _emit(
        self, kind: SessionEventKind, message: str, *, minutes_left: int | None = None
    ) -> None:
        if self._events is None:
            return
        action = "" if kind is SessionEventKind.SESSION_RENEWED else self._steps()
        event = SessionEvent(kind, self._clock.now(), message, minutes_left, action)
        try:
            self._events(event)
        except Exception:
            logger.exception("Session event handler failed on %s", kind)


def _at(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(epoch_s, IST)


def _when(epoch_s: float) -> str:
    return f"{_at(epoch_s):%Y-%m-%d %H:%M:%S} IST"
