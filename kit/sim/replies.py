"""Every shape of reply Angel One sends, as aiohttp responses (SMARTAPI.md §2.5).

- the normal dialect: ``{"status", "message", "errorcode", "data"}``;
- the gateway dialect of token and IP failures: ``{"success", "message",
  "errorCode", "data"}``;
- the plain-text rate-limit refusal, an empty body, and the WAF's HTML page.
"""

from __future__ import annotations

import json
import socket
import struct
from typing import Any

from aiohttp import web

from kit.broker.routes import RATE_LIMIT_TEXT

SOMETHING_WENT_WRONG = "Something Went Wrong, Please Try After Sometime"

_WAF_PAGE = """<html><head><title>Request Rejected</title></head>
<body>The requested URL was rejected. Please consult with your administrator.<br><br>
Your support ID is: {support_id}<br><br>
<a href='javascript:history.back();'>[Go Back]</a></body></html>"""


class SimError(Exception):
    """A refusal a handler raises; the server renders it in its dialect."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        dialect: str = "normal",
        http_status: int = 200,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.dialect = dialect
        self.http_status = http_status


def ok(data: Any, message: str = "SUCCESS") -> web.Response:
    body = {"status": True, "message": message, "errorcode": "", "data": data}
    return _json(body, 200)


def error(code: str, message: str, *, http_status: int = 200) -> web.Response:
    body = {"status": False, "message": message, "errorcode": code, "data": None}
    return _json(body, http_status)


def gateway_error(code: str, message: str, *, http_status: int = 401) -> web.Response:
    body = {"success": False, "message": message, "errorCode": code, "data": ""}
    return _json(body, http_status)


def from_error(exc: SimError) -> web.Response:
    if exc.dialect == "gateway":
        return gateway_error(exc.code, exc.message, http_status=exc.http_status)
    return error(exc.code, exc.message, http_status=exc.http_status)


def rate_limited() -> web.Response:
    return web.Response(status=403, text=RATE_LIMIT_TEXT, content_type="text/plain")


def empty_body() -> web.Response:
    return web.Response(status=200, body=b"", content_type="application/json")


def waf_rejection(support_id: int) -> web.Response:
    page = _WAF_PAGE.format(support_id=support_id)
    return web.Response(status=200, text=page, content_type="text/html")


def server_error(status: int) -> web.Response:
    return web.Response(
        status=status, text=f"{status} Server Error", content_type="text/plain"
    )


def _json(body: dict[str, Any], status: int) -> web.Response:
    return web.Response(
        status=status, text=json.dumps(body), content_type="application/json"
    )


def reset_connection(request: web.Request) -> None:
    """Abort the connection under ``request`` with a TCP RST (SO_LINGER 0):
    no reply and no orderly close, as a dropped link looks to a client."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
