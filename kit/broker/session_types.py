"""The broker session's value types: credentials, events, status, and the
readings of a JWT and of the steps that reconnect a session by hand."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from kit.config import Settings
from kit.errors import ConfigurationError, TokenInvalid


@dataclass(frozen=True)
class Credentials:
    """What a login needs. The repr shows none of it."""

    api_key: str = field(repr=False)
    client_code: str = field(repr=False)
    mpin: str | None = field(default=None, repr=False)
    totp_secret: str | None = field(default=None, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> Credentials:
        """The credentials in ``settings``; API key and client code are required."""
        names = ("api_key", "client_code", "mpin", "totp_secret")
        given = {name: getattr(settings, name) for name in names}
        raw = {k: None if v is None else v.get_secret_value() for k, v in given.items()}
        for name in ("api_key", "client_code"):
            if not raw[name]:
                message = f"{name}: the broker session needs it (KIT_{name.upper()})"
                raise ConfigurationError(message, field=name)
        return cls(**raw)  # type: ignore[arg-type]


class SessionEventKind(StrEnum):
    TOKEN_EXPIRY_WARNING = "token_expiry_warning"  # renewal failing, expiry near
    SESSION_EXPIRED = "session_expired"  # past expiry and not renewed
    SESSION_RENEWED = "session_renewed"  # refreshed, logged in again or taken up


@dataclass(frozen=True)
class SessionEvent:
    """Something about the session a person may need to know or do."""

    kind: SessionEventKind
    at: datetime
    message: str
    minutes_left: int | None = None
    action: str = ""  # the steps that fix it, for warnings and expiry


@dataclass(frozen=True)
class SessionStatus:
    """The session at a glance, for the health snapshot."""

    logged_in: bool
    age_s: float | None = None
    expires_in_s: float | None = None
    expires_at: datetime | None = None
    last_refresh: datetime | None = None
    auto_login: bool = False


def jwt_expiry(token: str) -> float:
    """The ``exp`` claim of a JWT in epoch seconds, read without verifying it.

    Raises :class:`~kit.errors.TokenInvalid` when there is no readable ``exp``;
    the message never quotes the token.
    """
    parts = token.split(".")
    try:
        if len(parts) != 3:
            raise ValueError("not a JWT")
        payload = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        exp = json.loads(payload)["exp"]
        if isinstance(exp, bool) or not isinstance(exp, int | float):
            raise ValueError("exp is not a number")
        return float(exp)
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise TokenInvalid("the access token carries no readable expiry") from None


def reconnect_steps(auto_login: bool, store: str) -> str:
    """What a person does when the session cannot be renewed by itself."""
    by_hand = (
        "run `kit login` in a terminal where the kit's settings are available, "
        "type the 6-digit TOTP from your authenticator app, then your MPIN "
        f"(neither is shown or stored); the new session is saved to {store} and "
        "the running bot takes it up at its next check."
    )
    if not auto_login:
        return "To reconnect Angel One: " + by_hand
    return (
        "The kit keeps trying to renew the session by itself. If it keeps "
        "failing: 1. check that this machine's clock is in sync (TOTP codes "
        "depend on it); 2. check KIT_MPIN and KIT_TOTP_SECRET; 3. or " + by_hand
    )
