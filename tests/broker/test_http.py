"""kit.broker.http: the transport against the simulator and tiny local servers."""

from __future__ import annotations

import functools
import json
import logging
import socket
import ssl
import struct
import threading
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pyotp
import pytest
import requests
import urllib3.exceptions
import urllib3.util.connection
from urllib3.exceptions import MaxRetryError

from kit.broker.codes import WAF_REJECTED
from kit.broker.http import Transport
from kit.broker.routes import ROUTES
from kit.clock import IST
from kit.errors import (
    BrokerTimeout,
    ConfigurationError,
    InvalidSymbol,
    KitError,
    LoginFailed,
    NetworkError,
    OrderRejected,
    RateLimited,
    RejectedError,
    ServerError,
    TokenExpired,
    TokenInvalid,
)
from kit.sim.chaos import FaultKind
from kit.sim.runner import SimConfig

START = datetime(2026, 12, 3, 11, 0, tzinfo=IST)
OK_REPLY = b'{"status": true, "message": "SUCCESS", "errorcode": "", "data": {"a": 1}}'


def login_body(sim: Any, totp: str | None = None) -> dict[str, str]:
    account = sim.account
    code = totp or pyotp.TOTP(account.totp_secret).at(sim.clock.time())
    return {"clientcode": account.client_code, "password": account.mpin, "totp": code}


def order(**changes: str) -> dict[str, str]:
    body = {
        "variety": "NORMAL", "tradingsymbol": "SBIN-EQ", "symboltoken": "3045",
        "transactiontype": "BUY", "exchange": "NSE", "ordertype": "MARKET",
        "producttype": "INTRADAY", "duration": "DAY", "price": "0",
        "quantity": "1", "ordertag": "http-test",
    }  # fmt: skip
    return body | changes


@pytest.fixture
def sim(simulator):
    return simulator(SimConfig(start=START, rate_limits=False))


@pytest.fixture
def transport(sim) -> Iterator[Transport]:
    with Transport(sim.rest_url, sim.account.api_key) as opened:
        yield opened


@pytest.fixture
def jwt(sim, transport) -> str:
    return str(transport.request(ROUTES["login"], login_body(sim))["jwtToken"])


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# The simulator: real logins, real calls, real refusals.


def test_a_login_and_authenticated_calls_return_the_data(sim, transport, jwt):
    profile = transport.request(ROUTES["profile"], jwt=jwt)
    book = transport.request(ROUTES["order_book"], jwt=jwt)
    placed = transport.request(ROUTES["place_order"], order(), jwt=jwt)

    assert jwt.startswith("eyJ")
    assert profile["clientcode"] == sim.account.client_code
    assert book is None  # an empty order book is null, as Angel One's
    assert placed["orderid"]


def test_order_details_take_the_unique_order_id_as_a_path_suffix(transport, jwt):
    placed = transport.request(ROUTES["place_order"], order(), jwt=jwt)
    suffix = "/" + placed["uniqueorderid"]

    details = transport.request(ROUTES["order_details"], jwt=jwt, path_suffix=suffix)

    assert details["orderid"] == placed["orderid"]
    with pytest.raises(RejectedError) as unknown:
        transport.request(ROUTES["order_details"], jwt=jwt, path_suffix="/nope")
    assert unknown.value.code == "AB1013"


@pytest.mark.parametrize(
    ("change", "kind", "code"),
    [
        ({"totp": "000000"}, LoginFailed, "AB1050"),
        ({"password": "9999"}, LoginFailed, "AB1007"),
    ],
)
def test_a_refused_login_is_login_failed_with_its_code(
    sim, transport, change, kind, code
):
    with pytest.raises(kind) as refused:
        transport.request(ROUTES["login"], login_body(sim) | change)

    assert refused.value.code == code


def test_a_wrong_api_key_is_a_configuration_error(sim):
    with (
        Transport(sim.rest_url, "not-the-key") as wrong,
        pytest.raises(ConfigurationError) as refused,
    ):
        wrong.request(ROUTES["login"], login_body(sim))

    assert (refused.value.code, refused.value.field) == ("AG8004", "api_key")


def test_a_secure_call_without_a_token_is_token_invalid(transport):
    with pytest.raises(TokenInvalid) as refused:
        transport.request(ROUTES["order_book"])

    assert refused.value.code == "AG8003"


@pytest.mark.parametrize(
    ("change", "kind", "code"),
    [
        ({"ordertag": "x" * 21}, OrderRejected, "AB4008"),
        (
            {"symboltoken": "999999", "tradingsymbol": "NOPE-EQ"},
            InvalidSymbol,
            "AB1009",
        ),
    ],
)
def test_a_refused_order_is_its_rejection_kind(transport, jwt, change, kind, code):
    with pytest.raises(kind) as refused:
        transport.request(ROUTES["place_order"], order(**change), jwt=jwt)

    assert refused.value.code == code


def test_expired_tokens_are_an_auth_error_until_a_new_login(sim, transport, jwt):
    sim.chaos.inject(FaultKind.EXPIRE_TOKENS)

    with pytest.raises((TokenInvalid, TokenExpired)):
        transport.request(ROUTES["order_book"], jwt=jwt)
    fresh = transport.request(ROUTES["login"], login_body(sim))["jwtToken"]

    assert transport.request(ROUTES["order_book"], jwt=fresh) is None


@pytest.mark.parametrize(
    ("kind", "options", "error", "status", "code"),
    [
        (FaultKind.RATE_LIMIT, {}, RateLimited, None, None),
        (FaultKind.INVALID_TOKEN, {}, TokenInvalid, None, "AG8001"),
        (FaultKind.SERVER_ERROR, {"status": 500}, ServerError, 500, None),
        (FaultKind.SERVER_ERROR, {"status": 502}, ServerError, 502, None),
        (FaultKind.SERVER_ERROR, {}, ServerError, 503, None),
        (FaultKind.AB1004, {}, ServerError, 200, "AB1004"),
        (FaultKind.EMPTY_BODY, {}, ServerError, 200, None),
        (FaultKind.HTML_REJECTION, {}, ServerError, 200, WAF_REJECTED),
    ],
)
def test_each_chaos_fault_is_its_kit_error_and_the_next_call_heals(
    sim, transport, jwt, kind, options, error, status, code
):
    sim.chaos.inject(kind, "order_book", **options)

    with pytest.raises(KitError) as failed:
        transport.request(ROUTES["order_book"], jwt=jwt)

    assert type(failed.value) is error
    assert failed.value.code == code
    assert getattr(failed.value, "status", None) == status
    assert transport.request(ROUTES["order_book"], jwt=jwt) is None


def test_a_reply_slower_than_the_read_timeout_is_a_timeout_maybe_sent(simulator):
    fast = simulator(SimConfig(start=START, speed=100.0, rate_limits=False))
    with Transport(fast.rest_url, fast.account.api_key) as quick:
        token = quick.request(ROUTES["login"], login_body(fast))["jwtToken"]
        fast.chaos.inject(FaultKind.LATENCY, "ltp", duration_s=60)  # 0.6 s real
        body = {"exchange": "NSE", "tradingsymbol": "SBIN-EQ", "symboltoken": "3045"}

        with pytest.raises(BrokerTimeout) as late:
            quick.request(ROUTES["ltp"], body, jwt=token, read_timeout_s=0.2)

    assert late.value.sent is True
    assert isinstance(late.value.__cause__, requests.ReadTimeout)


# Failures with no answer: was the request sent?


def test_a_refused_connection_was_surely_not_sent():
    with (
        Transport(f"http://127.0.0.1:{closed_port()}", "key-123456") as nowhere,
        pytest.raises(NetworkError) as refused,
    ):
        nowhere.request(ROUTES["order_book"], jwt="eyJa.eyJb.c")

    assert type(refused.value) is NetworkError
    assert refused.value.sent is False
    assert "connection refused" in refused.value.message
    assert isinstance(refused.value.__cause__, requests.ConnectionError)


def test_a_failed_dns_lookup_was_surely_not_sent(monkeypatch):
    def no_such_host(*args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)
    with (
        Transport("https://apiconnect.invalid", "key-123456") as unknown,
        pytest.raises(NetworkError) as failed,
    ):
        unknown.request(ROUTES["login"], {})

    assert type(failed.value) is NetworkError and failed.value.sent is False
    assert "DNS" in failed.value.message


def test_a_connect_timeout_was_surely_not_sent(monkeypatch):
    def too_slow(*args: Any, **kwargs: Any) -> Any:
        raise TimeoutError("timed out")

    monkeypatch.setattr(urllib3.util.connection, "create_connection", too_slow)
    with (
        Transport("https://apiconnect.invalid", "key-123456") as slow,
        pytest.raises(BrokerTimeout) as failed,
    ):
        slow.request(ROUTES["login"], {})

    assert failed.value.sent is False
    assert isinstance(failed.value.__cause__, requests.ConnectTimeout)


class CutServer:
    """Accepts one connection, reads the whole request, then hangs up unanswered."""

    def __init__(self, *, reset: bool) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.reset = reset
        self.request = b""
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        connection, _ = self.listener.accept()
        with connection:
            while b"\r\n\r\n" not in self.request:
                self.request += connection.recv(65536)
            head, _, body = self.request.partition(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            while len(body) < length:
                body += connection.recv(65536)
            self.request = head + b"\r\n\r\n" + body
            if self.reset:  # RST instead of FIN
                linger = struct.pack("ii", 1, 0)
                connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        self.listener.close()


@pytest.mark.parametrize("reset", [False, True], ids=["closed", "reset"])
def test_a_connection_cut_after_sending_may_have_been_sent(reset):
    server = CutServer(reset=reset)
    with (
        Transport(f"http://127.0.0.1:{server.port}", "key-123456") as cut,
        pytest.raises(NetworkError) as lost,
    ):
        cut.request(ROUTES["place_order"], order(), jwt="eyJa.eyJb.c")
    server.thread.join(5)

    assert type(lost.value) is NetworkError
    assert lost.value.sent is True
    assert b'"ordertag": "http-test"' in server.request  # it did reach the server
    assert isinstance(lost.value.__cause__, requests.ConnectionError)


# The wire: headers, bodies, keep-alive, the access log.


class CaptureServer:
    """Answers every request with one canned reply and records what it got."""

    def __init__(self, status: int = 200, body: bytes = OK_REPLY, **headers: str):
        self.seen: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                outer.seen.append({
                    "method": self.command, "path": self.path,
                    "headers": dict(self.headers), "port": self.client_address[1],
                    "body": self.rfile.read(length) if length else b"",
                })  # fmt: skip
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for name, value in headers.items():
                    self.send_header(name.replace("_", "-"), value)
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer  # noqa: N815 (http.server's names)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        serve = functools.partial(self.httpd.serve_forever, poll_interval=0.02)
        threading.Thread(target=serve, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def capture() -> Iterator[CaptureServer]:
    server = CaptureServer()
    yield server
    server.stop()


def test_every_request_carries_smartapi_headers_and_json_bodies(capture):
    with Transport(capture.url, "key-123456", mac_address="02:00:00:00:00:01") as t:
        t.request(ROUTES["login"], {"clientcode": "X1"})
        t.request(ROUTES["order_book"], jwt="eyJhbGc.eyJzdWI.sig")

    login, book = capture.seen
    expected = {
        "X-PrivateKey": "key-123456", "X-UserType": "USER", "X-SourceID": "WEB",
        "X-ClientLocalIP": "127.0.0.1", "X-ClientPublicIP": "127.0.0.1",
        "X-MACAddress": "02:00:00:00:00:01", "Accept": "application/json",
        "Content-Type": "application/json",
    }  # fmt: skip
    assert expected.items() <= login["headers"].items()
    assert expected.items() <= book["headers"].items()
    assert "Authorization" not in login["headers"]
    assert book["headers"]["Authorization"] == "Bearer eyJhbGc.eyJzdWI.sig"
    assert (login["method"], json.loads(login["body"])) == (
        "POST",
        {"clientcode": "X1"},
    )
    assert (book["method"], book["body"]) == ("GET", b"")
    assert book["path"] == ROUTES["order_book"].path  # no query string either


def test_requests_reuse_one_kept_alive_connection(capture):
    with Transport(capture.url, "key-123456") as t:
        for _ in range(3):
            t.request(ROUTES["rms"], jwt="token-1")

    assert len({seen["port"] for seen in capture.seen}) == 1


def test_a_rate_limit_reads_retry_after():
    server = CaptureServer(429, b"Too Many Requests", Retry_After="3")
    try:
        with (
            Transport(server.url, "key-123456") as t,
            pytest.raises(RateLimited) as limited,
        ):
            t.request(ROUTES["quote"], {"mode": "LTP"}, jwt="token-1")
    finally:
        server.stop()

    assert limited.value.retry_after_s == 3.0


def test_one_access_log_line_per_request_without_headers_or_bodies(capture, caplog):
    caplog.set_level(logging.DEBUG, logger="kit.broker.http")

    with Transport(capture.url, "key-123456") as t:
        t.request(ROUTES["login"], {"password": "4321"})

    (line,) = [r for r in caplog.records if r.name == "kit.broker.http"]
    assert line.levelno == logging.DEBUG
    assert line.getMessage().startswith("POST login 200 ")
    assert line.getMessage().endswith(" ms")
    assert "key-123456" not in caplog.text and "4321" not in caplog.text


# Misuse caught before anything is sent.


@pytest.mark.parametrize(
    "url", ["http://angel.example.com", "ftp://127.0.0.1", "apiconnect.angelone.in"]
)
def test_plain_http_is_refused_except_on_loopback(url):
    with pytest.raises(ConfigurationError):
        Transport(url, "key-123456")


def test_a_get_route_takes_no_body(transport):
    with pytest.raises(ValueError, match="GET"):
        transport.request(ROUTES["order_book"], {"x": 1}, jwt="token-1")


def test_a_malformed_header_hides_its_value(capture):
    with (
        Transport(capture.url, "key-123456") as t,
        pytest.raises(ConfigurationError) as bad,
    ):
        t.request(ROUTES["rms"], jwt="secret-token\nX-Evil: 1")

    assert bad.value.__cause__ is None and bad.value.__suppress_context__
    assert "secret-token" not in str(bad.value)
    assert capture.seen == []


def test_close_closes_an_owned_session_but_not_a_borrowed_one(monkeypatch):
    closed: list[requests.Session] = []

    class CountingSession(requests.Session):
        def close(self) -> None:
            closed.append(self)
            super().close()

    monkeypatch.setattr(requests, "Session", CountingSession)
    borrowed = CountingSession()
    Transport("https://apiconnect.angelone.in", "key-123456", session=borrowed).close()
    Transport("https://apiconnect.angelone.in", "key-123456").close()

    assert len(closed) == 1 and closed[0] is not borrowed


class FailingSession(requests.Session):
    """A session whose every request fails with one given exception."""

    def __init__(self, failure: Exception) -> None:
        super().__init__()
        self.failure = failure

    def request(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        raise self.failure


def _wrapped(reason: Exception) -> MaxRetryError:
    return MaxRetryError(None, "/rest", reason)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("failure", "kind", "sent"),
    [
        (requests.exceptions.SSLError(_wrapped(urllib3.exceptions.SSLError(
            ssl.SSLCertVerificationError(1, "certificate verify failed")))),
         ConfigurationError, None),
        (requests.exceptions.SSLError(_wrapped(urllib3.exceptions.SSLError(
            ssl.SSLError(1, "record layer failure")))), NetworkError, True),
        (requests.exceptions.ChunkedEncodingError("body cut off"), NetworkError, True),
        (requests.exceptions.InvalidURL("bad"), ConfigurationError, None),
    ],
)  # fmt: skip
def test_other_transport_failures_are_translated(failure, kind, sent):
    session = FailingSession(failure)
    transport = Transport("https://apiconnect.angelone.in", "key-1", session=session)

    with pytest.raises(KitError) as failed:
        transport.request(ROUTES["rms"], jwt="token-1")

    assert type(failed.value) is kind
    assert getattr(failed.value, "sent", None) == sent
    assert failed.value.__cause__ is failure
