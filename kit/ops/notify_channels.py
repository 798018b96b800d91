"""Where notifications go: the message, the console and Telegram channels.

A :class:`Notification` is one message: the first event of its kind and text,
and how many such events joined it while it waited (:mod:`kit.ops.notify`
queues, paces and retries them). A channel's ``send`` delivers one message or
raises :class:`DeliveryError`, saying whether another attempt may help and how
long the service asked to wait.

:class:`ConsoleChannel` writes the plain line of :meth:`Notification.line` (no
status symbols: it may end up in a log). :class:`TelegramChannel` posts
:meth:`Notification.telegram_text` (severity with its symbol, kind, text, time
in IST) to the Bot API's ``sendMessage``:

==========================================  ===================================
reply                                       DeliveryError
==========================================  ===================================
200 with ``ok: true``                       none: delivered
429                                         retryable, ``retry_after_s`` from
                                            ``parameters.retry_after``, else
                                            the ``Retry-After`` header
5xx                                         retryable
any other status, or 200 without ``ok``     not retryable (bad token or chat,
                                            the bot blocked)
refused, reset, connect or read timeout     retryable
==========================================  ===================================

The bot token is part of the URL, so no reason, log line or repr here quotes
it: ``requests`` errors are replaced by a plain reason raised outside their
``except`` block (neither cause nor context), Telegram's own description is
scrubbed, urllib3's debug lines (which quote the URL) are masked by a filter on
its loggers while the channel is open, and the token is registered with
:mod:`kit.logsafe`.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TextIO

import requests
from pydantic import SecretStr

from kit import logsafe
from kit.clock import IST
from kit.errors import DeliveryError
from kit.ops.events import ActivityEvent, Severity

TELEGRAM_API_URL = "https://api.telegram.org"
MAX_TEXT_CHARS = 3500  # of an event's text; Telegram takes 4096 per message
_URLLIB3_LOGGERS = (
    "urllib3.connectionpool",
    "urllib3.connection",
    "urllib3.util.retry",
)
_SYMBOLS = {
    Severity.INFO: "\u2139\ufe0f",
    Severity.WARNING: "\u26a0\ufe0f",
    Severity.ERROR: "\u274c",
    Severity.CRITICAL: "\U0001f6a8",
}
_ACTION = "\U0001f527 Action needed"
_LEVELS = {
    Severity.INFO: logging.INFO,
    Severity.WARNING: logging.WARNING,
    Severity.ERROR: logging.ERROR,
    Severity.CRITICAL: logging.CRITICAL,
}


@dataclass(eq=False)
class Notification:
    """One message to send: the first event, and how many like it joined it."""

    event: ActivityEvent
    count: int = 1
    attempts: int = 0
    severity: Severity = field(init=False)
    last_at: datetime = field(init=False)

    def __post_init__(self) -> None:
        self.severity = self.event.severity
        self.last_at = self.event.at

    @property
    def key(self) -> tuple[str, str]:
        return (self.event.kind, self.event.text)

    def merge(self, other: Notification) -> None:
        """Take ``other`` (same kind and text) into this message."""
        self.count += other.count
        if other.severity.rank > self.severity.rank:
            self.severity = other.severity
        self.last_at = max(self.last_at, other.last_at)

    def line(self) -> str:
        """One plain line, no symbols: for consoles and logs."""
        event = dataclasses.replace(self.event, severity=self.severity)
        return event.line() + (f" (x{self.count})" if self.count > 1 else "")

    def telegram_text(self) -> str:
        """Severity, kind, text and time in IST, for a person; symbols allowed."""
        event = self.event
        text = event.text
        if len(text) > MAX_TEXT_CHARS:
            text = text[: MAX_TEXT_CHARS - 3] + "..."
        if self.count > 1:
            text += f" (x{self.count})"

        stamp = event.at.astimezone(IST).strftime("%Y-%m-%d %H:%M:%S IST")
        if self.count > 1:
            stamp += f" (last {self.last_at.astimezone(IST):%H:%M:%S})"
        head = f"{_SYMBOLS[self.severity]} {self.severity.value.upper()} \u00b7 "
        lines = [head + event.kind, text, stamp]
        if event.needs_person:
            lines.append(_ACTION)
        return "\n".join(lines)


class Channel(Protocol):
    """Somewhere messages go. ``send`` raises :class:`DeliveryError` on failure."""

    name: str
    min_interval_s: float

    def send(self, message: Notification) -> None: ...

    def close(self) -> None: ...


class ConsoleChannel:
    """One plain line per message, to ``stream`` or, when given, ``to_logger``
    (at the level of the severity). Without either, the current ``sys.stdout``."""

    name = "console"
    min_interval_s = 0.0

    def __init__(
        self, stream: TextIO | None = None, *, to_logger: logging.Logger | None = None
    ) -> None:
        self._stream = stream
        self._logger = to_logger

    def __repr__(self) -> str:
        where = self._logger.name if self._logger else "a stream"
        return f"ConsoleChannel(to {where})"

    def send(self, message: Notification) -> None:
        line = message.line()
        if self._logger is not None:
            self._logger.log(_LEVELS[message.severity], "%s", line)
            return
        stream = self._stream or sys.stdout
        try:
            stream.write(line + "\n")
            stream.flush()
        except (OSError, ValueError) as exc:
            reason = f"console write failed: {type(exc).__name__}"
            raise DeliveryError(reason, retryable=False) from exc

    def close(self) -> None:
        """Nothing to release: the stream belongs to the caller."""


class TelegramChannel:
    """Telegram's Bot API ``sendMessage`` to one chat, over ``requests``.

    ``api_url`` is the Bot API root (tests give a local endpoint);
    ``connect_timeout_s`` and ``read_timeout_s`` bound each request;
    ``min_interval_s`` spaces the sends (Telegram allows about one a second
    per chat). The text is plain (no parse mode), link previews off.
    """

    name = "telegram"

    def __init__(
        self,
        token: str | SecretStr,
        chat_id: str | int,
        *,
        api_url: str = TELEGRAM_API_URL,
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 10.0,
        min_interval_s: float = 1.0,
        session: requests.Session | None = None,
    ) -> None:
        raw = token.get_secret_value() if isinstance(token, SecretStr) else token
        if not raw.strip() or not str(chat_id).strip():
            raise ValueError("Telegram needs a bot token and a chat id")
        if connect_timeout_s <= 0 or read_timeout_s <= 0 or min_interval_s < 0:
            raise ValueError("Telegram timeouts must be positive, the interval >= 0")
        self._token = raw.strip()
        self.chat_id = str(chat_id).strip()
        self.api_url = api_url.rstrip("/")
        self.min_interval_s = min_interval_s
        self._timeouts_s = (connect_timeout_s, read_timeout_s)
        self._session = session or requests.Session()
        self._owns_session = session is None
        self._closed = False

        logsafe.register(self._token)
        self._mask = _MaskFilter(self._token)
        for name in _URLLIB3_LOGGERS:
            logging.getLogger(name).addFilter(self._mask)

    def __repr__(self) -> str:
        return f"TelegramChannel(chat_id={self.chat_id!r}, api_url={self.api_url!r})"

    def send(self, message: Notification) -> None:
        url = f"{self.api_url}/bot{self._token}/sendMessage"
        body = {
            "chat_id": self.chat_id,
            "text": message.telegram_text(),
            "disable_web_page_preview": True,
        }
        # The reason is built inside the except blocks and raised outside them,
        # so the requests error (which quotes the URL) is neither cause nor context.
        reason, retryable = None, True
        try:
            reply = self._session.post(url, json=body, timeout=self._timeouts_s)
        except requests.ConnectTimeout:
            reason = f"no connection within {self._timeouts_s[0]} s"
        except requests.Timeout:
            reason = f"no reply within {self._timeouts_s[1]} s"
        except requests.ConnectionError:
            reason = "connection failed (refused, reset or unreachable)"
        except requests.RequestException as exc:
            reason = f"request failed ({type(exc).__name__})"
        except Exception as exc:  # whatever else: named, never quoted
            reason, retryable = f"request failed ({type(exc).__name__})", False
        if reason is not None:
            raise DeliveryError(reason, retryable=retryable)
        self._check(reply)

    def _check(self, reply: requests.Response) -> None:
        payload = _json_object(reply)
        if reply.status_code == 200 and payload.get("ok") is True:
            return

        said = self._scrub(str(payload.get("description") or ""))[:200]
        reason = f"HTTP {reply.status_code}" + (f" {said}" if said else "")
        if reply.status_code == 429:
            wait_s = _retry_after_s(payload, reply.headers)
            raise DeliveryError(
                reason, retryable=True, retry_after_s=wait_s, status=429
            )
        retryable = reply.status_code >= 500
        raise DeliveryError(reason, retryable=retryable, status=reply.status_code)

    def _scrub(self, text: str) -> str:
        return text.replace(self._token, logsafe.MASK)

    def close(self) -> None:
        """Close the session (when it is ours) and remove the log mask. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for name in _URLLIB3_LOGGERS:
            logging.getLogger(name).removeFilter(self._mask)
        if self._owns_session:
            self._session.close()


class _MaskFilter(logging.Filter):
    """Masks one secret in the records of the logger it is put on."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self._secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to its logger
            return True
        if self._secret in message:
            record.msg, record.args = message.replace(self._secret, logsafe.MASK), None
        return True


def _json_object(reply: requests.Response) -> dict[str, Any]:
    try:
        payload = reply.json()
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}


def _retry_after_s(
    payload: Mapping[str, Any], headers: Mapping[str, str]
) -> float | None:
    parameters = payload.get("parameters")
    candidates = [
        parameters.get("retry_after") if isinstance(parameters, dict) else None,
        headers.get("Retry-After"),
    ]
    for value in candidates:
        try:
            seconds = float(value) if value is not None else math.nan
        except (TypeError, ValueError):
            continue
        if math.isfinite(seconds) and seconds >= 0:
            return seconds
    return None
