"""The feed's credentials: where they come from, and fresh ones after a 401.

The feed does not log in. An injected provider hands out a
:class:`FeedCredentials`; called with ``refresh=True`` it must return fresh
ones (a token refresh or a new login). :class:`CredentialCache` keeps the last
ones for every connection and asks for fresh ones once per refusal: when three
connections are refused with the same tokens, the provider is asked once.

:func:`scrub` masks the secrets in a text that came from outside (an error
header, an exception) before it is logged.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

_MASK = "***"
_BEARER = "Bearer "


@dataclass(frozen=True)
class FeedCredentials:
    """What a WebSocket 2.0 upgrade carries. The repr shows none of it."""

    jwt: str
    api_key: str
    client_code: str
    feed_token: str

    def __repr__(self) -> str:
        return "FeedCredentials(***)"

    def headers(self) -> list[str]:
        """The upgrade headers (SMARTAPI.md §4.1); the JWT as ``Bearer <jwt>``."""
        auth = self.jwt if self.jwt.startswith(_BEARER) else _BEARER + self.jwt
        return [
            f"Authorization: {auth}",
            f"x-api-key: {self.api_key}",
            f"x-client-code: {self.client_code}",
            f"x-feed-token: {self.feed_token}",
        ]

    def secrets(self) -> tuple[str, ...]:
        bare_jwt = self.jwt.removeprefix(_BEARER)
        values = (bare_jwt, self.api_key, self.client_code, self.feed_token)
        return tuple(value for value in values if value)


class CredentialsProvider(Protocol):
    """Returns credentials; fresh ones (refreshed or logged in again) on request."""

    def __call__(self, *, refresh: bool = False) -> FeedCredentials: ...


class CredentialCache:
    """The current credentials of every connection; thread-safe.

    ``generation`` numbers each set handed out, so a refusal names the set it
    was refused with and only the first refusal of a set asks for fresh ones.
    """

    def __init__(self, provider: CredentialsProvider) -> None:
        self._provider = provider
        self._lock = threading.Lock()
        self._current: FeedCredentials | None = None
        self._generation = 0
        self._stale = False
        self._known_secrets: set[str] = set()

    def current(self) -> tuple[FeedCredentials, int]:
        """The credentials to connect with, and their generation.

        Asks the provider (with ``refresh=True`` after a refusal) when there are
        none yet; its exceptions propagate and the next call asks again.
        """
        with self._lock:
            if self._current is None or self._stale:
                fresh = self._provider(refresh=self._stale)
                self._current, self._stale = fresh, False
                self._generation += 1
                self._known_secrets.update(fresh.secrets())
            return self._current, self._generation

    def refused(self, generation: int) -> bool:
        """Credentials of ``generation`` were refused; True if this asks for new."""
        with self._lock:
            if generation != self._generation or self._stale:
                return False
            self._stale = True
            return True

    def secrets(self) -> tuple[str, ...]:
        """Every secret handed out so far, for :func:`scrub`."""
        with self._lock:
            return tuple(self._known_secrets)


def scrub(text: str, secrets: Iterable[str], *, limit: int = 200) -> str:
    """``text`` with every secret masked, cut to ``limit`` characters."""
    # Longest first, so a secret that contains another is masked whole.
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= 3:
            text = text.replace(secret, _MASK)
    return text if len(text) <= limit else text[: limit - 3] + "..."
