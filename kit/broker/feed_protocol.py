"""WebSocket 2.0 as the feed speaks it: the upgrade, requests and text replies.

- :func:`handshake` opens a ``websocket.WebSocket`` with the credentials'
  headers and a timeout, and translates websocket-client's failures into kit
  errors: :class:`~kit.errors.HandshakeRefused` (401 with its
  ``x-error-message``, 429), :class:`~kit.errors.BrokerTimeout` and
  :class:`~kit.errors.NetworkError`.
- :func:`requests_for` builds subscribe and unsubscribe requests, one per mode
  with one ``tokenList`` entry per exchange type, each with its own
  correlation ID (10 alphanumeric characters) so a refusal names its request.
- :func:`read_text` sorts a text frame: ``pong``, an E1001/E1002 refusal, or
  something unknown.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum

import websocket

from kit.broker.feed_credentials import FeedCredentials, scrub
from kit.broker.feed_subscriptions import SubKey, group
from kit.broker.routes import FEED_HEADER_ERROR, FEED_PONG_TEXT, Action
from kit.errors import BrokerTimeout, HandshakeRefused, NetworkError

READ_AHEAD_BYTES = 4096
"""Bytes asked of the socket per read: one read serves dozens of ticks."""


class _ReadAheadWebSocket(websocket.WebSocket):
    """A websocket-client socket that reads ahead.

    websocket-client reads each frame with two reads of the exact size (the
    header, then the payload), two system calls for a 51-byte tick. Its frame
    buffer keeps whatever a read returns beyond the frame it wants, so asking
    for a few KB at a time is safe, and doubles the ticks read per second.
    """

    before_read: Callable[[], None] | None = None
    """Called before each read from the network (the session flushes its ticks)."""

    def _recv(self, bufsize: int) -> bytes:
        if self.before_read is not None:
            self.before_read()
        data: bytes = super()._recv(max(bufsize, READ_AHEAD_BYTES))  # type: ignore[no-untyped-call]
        return data


def before_read(ws: websocket.WebSocket, hook: Callable[[], None] | None) -> None:
    """Have ``hook`` called before ``ws`` reads from the network, if it can."""
    if isinstance(ws, _ReadAheadWebSocket):
        ws.before_read = hook


def new_socket() -> websocket.WebSocket:
    """An unconnected socket; another thread may shut it down to cancel a connect."""
    return _ReadAheadWebSocket(enable_multithread=True)


def handshake(
    ws: websocket.WebSocket,
    url: str,
    credentials: FeedCredentials,
    *,
    timeout_real_s: float,
) -> None:
    """Connect ``ws`` to ``url``; raise a kit error when it cannot be done."""
    secrets = credentials.secrets()
    try:
        # websocket-client leaves connect() unannotated.
        ws.connect(  # type: ignore[no-untyped-call]
            url, header=credentials.headers(), timeout=timeout_real_s
        )
    except websocket.WebSocketBadStatusException as exc:
        headers = exc.resp_headers or {}
        reason = scrub(str(headers.get(FEED_HEADER_ERROR, "")), secrets)
        status = int(exc.status_code)
        raise HandshakeRefused(
            f"upgrade refused with HTTP {status}", status=status, reason=reason
        ) from None
    except (websocket.WebSocketTimeoutException, TimeoutError):
        raise BrokerTimeout(
            f"no upgrade within {timeout_real_s:.3g} s (real)", sent=False
        ) from None
    except (OSError, websocket.WebSocketException) as exc:
        raise NetworkError(
            f"{type(exc).__name__}: {scrub(str(exc), secrets)}",
            sent=False,
        ) from None


def correlation_ids(slot: int) -> Iterator[str]:
    """``k1000000001``, ``k1000000002`` ... for slot 1: 10 characters each."""
    number = 0
    while True:
        number = number % 99_999_999 + 1
        yield f"k{slot % 10}{number:08d}"


@dataclass(frozen=True)
class Request:
    """One subscribe or unsubscribe request and the pairs it carries."""

    correlation_id: str
    action: Action
    keys: tuple[SubKey, ...]
    text: str


def requests_for(
    action: Action, keys: Iterable[SubKey], ids: Iterator[str]
) -> list[Request]:
    """Requests for ``keys``: one per mode, one token list per exchange type."""
    ordered = list(keys)
    requests = []
    for mode, by_exchange in group(ordered).items():
        cid = next(ids)
        body = {
            "correlationID": cid,
            "action": int(action),
            "params": {
                "mode": mode,
                "tokenList": [
                    {"exchangeType": exch, "tokens": list(tokens)}
                    for exch, tokens in by_exchange.items()
                ],
            },
        }
        mine = tuple(k for k in ordered if k.mode == mode)
        requests.append(Request(cid, action, mine, json.dumps(body)))
    return requests


class TextKind(StrEnum):
    PONG = "pong"
    ERROR = "error"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class TextReply:
    """A text frame, sorted. ``code``, ``message`` and ``correlation_id`` for
    an error; ``text`` as received."""

    kind: TextKind
    text: str
    code: str = ""
    message: str = ""
    correlation_id: str = ""


def read_text(payload: bytes | str) -> TextReply:
    """Sort one text frame."""
    text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else payload
    if text.strip() == FEED_PONG_TEXT:
        return TextReply(TextKind.PONG, text)
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):
        return TextReply(TextKind.UNKNOWN, text)
    if not isinstance(body, dict) or not isinstance(body.get("errorCode"), str):
        return TextReply(TextKind.UNKNOWN, text)
    return TextReply(
        TextKind.ERROR,
        text,
        code=body["errorCode"],
        message=str(body.get("errorMessage", "")),
        correlation_id=str(body.get("correlationID") or ""),
    )
