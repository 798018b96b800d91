"""The REST transport: one keep-alive ``requests.Session``, SmartAPI's headers,
timeouts, and every failure translated into a kit error (SMARTAPI.md §2.1-2.3).

:meth:`Transport.request` sends one request, once: retries, pacing and sessions
belong to the client above it. What it returns is the reply's ``data``; what it
raises is decided by :func:`kit.broker.codes.read_reply` for an answer, and here
for no answer, split by whether the request may have reached the broker:

==================================  ==========================================
failure                             kit error
==================================  ==========================================
connection refused, DNS failure     NetworkError(sent=False)
connect timeout                     BrokerTimeout(sent=False)
TLS certificate not trusted         ConfigurationError (nothing was sent)
read timeout                        BrokerTimeout(sent=True)
reset or closed after sending       NetworkError(sent=True)
body cut off, any other failure     NetworkError(sent=True)
malformed URL or header value       ConfigurationError
==================================  ==========================================

Each is chained to the ``requests`` exception with ``from``, except a malformed
header: ``requests`` quotes the header's value, which may be the API key or a
JWT, so that chain is cut. One DEBUG line per request names the method, the
route, the HTTP status (or the error) and the time taken; never a header or a
body. The API key and every JWT passed in are registered with
:mod:`kit.logsafe`, so even a careless log line elsewhere cannot show them.
"""

from __future__ import annotations

import json
import logging
import ssl
import time
import uuid
from collections.abc import Mapping
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlparse

import requests
from requests.exceptions import MissingSchema
from urllib3.exceptions import (
    ConnectTimeoutError,
    NameResolutionError,
    NewConnectionError,
)

from kit import logsafe
from kit.broker.codes import read_reply
from kit.broker.routes import HEADER_API_KEY, HEADER_SOURCE_ID, HEADER_USER_TYPE, Route
from kit.errors import (
    BrokerTimeout,
    ConfigurationError,
    KitError,
    NetworkError,
    RateLimited,
)

HEADER_LOCAL_IP = "X-ClientLocalIP"
HEADER_PUBLIC_IP = "X-ClientPublicIP"
HEADER_MAC = "X-MACAddress"
JSON = "application/json"
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

logger = logging.getLogger(__name__)


class Transport:
    """Sends SmartAPI requests over one keep-alive session.

    Threads may share it: each request builds its own headers, and the
    session's connection pool (urllib3's) is thread-safe.

    ``connect_timeout_s`` bounds the TCP and TLS set-up; ``read_timeout_s`` (7 s,
    as Angel One's own client) bounds the wait for each part of the reply and
    may be raised per request (history is slow). ``local_ip``, ``public_ip`` and
    ``mac_address`` fill the informational headers of SMARTAPI.md §2.2: Angel
    One checks the real source address of an order, not these.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 7.0,
        session: requests.Session | None = None,
        verify_tls: bool = True,
        local_ip: str = "127.0.0.1",
        public_ip: str = "127.0.0.1",
        mac_address: str | None = None,
        log: logging.Logger | None = None,
    ) -> None:
        self.base_url = _checked_base_url(base_url)
        if connect_timeout_s <= 0 or read_timeout_s <= 0:
            raise ConfigurationError("REST timeouts must be positive", field="timeouts")
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s
        self._verify_tls = verify_tls
        self._owns_session = session is None
        self._session = session if session is not None else requests.Session()
        self._log = log or logger
        logsafe.install()  # from the first broker connection on, logs are masked
        logsafe.register(api_key, min_chars=logsafe.SHORT_SECRET_MIN_CHARS)
        self._headers = {
            "Accept": JSON,
            "Content-Type": JSON,
            HEADER_USER_TYPE: "USER",
            HEADER_SOURCE_ID: "WEB",
            HEADER_LOCAL_IP: local_ip,
            HEADER_PUBLIC_IP: public_ip,
            HEADER_MAC: mac_address or _host_mac(),
            HEADER_API_KEY: api_key,
        }
        if not verify_tls:
            self._log.warning("TLS verification is off for %s", self.base_url)

    def request(
        self,
        route: Route,
        body: Mapping[str, Any] | None = None,
        *,
        jwt: str | None = None,
        read_timeout_s: float | None = None,
        path_suffix: str = "",
    ) -> Any:
        """Send ``route`` once; return the reply's ``data`` or raise its kit error.

        ``body`` is sent as JSON on POST; GET routes take none. ``jwt`` becomes
        ``Authorization: Bearer``. ``path_suffix`` extends the path (the
        ``/{uniqueorderid}`` of order details) and is URL-quoted.
        """
        if route.method == "GET" and body:
            raise ValueError(f"{route.name}: a GET route takes no body")
        url = self.base_url + route.path + quote(path_suffix, safe="/")
        data = None if route.method == "GET" else json.dumps(dict(body or {}))
        timeout_s = (self.connect_timeout_s, read_timeout_s or self.read_timeout_s)
        headers = self._headers_for(jwt)

        started = time.monotonic()
        try:
            response = self._session.request(
                route.method,
                url,
                data=data,
                headers=headers,
                timeout=timeout_s,
                verify=self._verify_tls,
                allow_redirects=False,
            )
        except (requests.RequestException, UnicodeError) as exc:
            error = _translate(route, exc, timeout_s)
            self._access_log(route, type(error).__name__, started)
            if isinstance(error, ConfigurationError) and _quotes_headers(exc):
                raise error from None
            raise error from exc

        self._access_log(route, str(response.status_code), started)
        content_type = response.headers.get("Content-Type")
        try:
            return read_reply(response.status_code, content_type, response.content)
        except RateLimited as limited:
            limited.retry_after_s = _retry_after_s(response.headers.get("Retry-After"))
            raise

    def close(self) -> None:
        """Close the session's connections (a session passed in stays open)."""
        if self._owns_session:
            self._session.close()

    def __enter__(self) -> Transport:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _headers_for(self, jwt: str | None) -> dict[str, str]:
        headers = dict(self._headers)
        if jwt:
            logsafe.register(jwt)
            headers["Authorization"] = f"Bearer {jwt}"
        return headers

    def _access_log(self, route: Route, outcome: str, started: float) -> None:
        elapsed_ms = (time.monotonic() - started) * 1000.0
        self._log.debug(
            "%s %s %s %.0f ms", route.method, route.name, outcome, elapsed_ms
        )


def _translate(
    route: Route, exc: BaseException, timeout_s: tuple[float, float]
) -> KitError:
    """The kit error for a request that got no usable answer."""
    where = route.name
    misconfigured = _configuration_error(where, exc)
    if misconfigured is not None:
        return misconfigured

    connect_failed = isinstance(exc, requests.ConnectionError)
    refused = connect_failed and _has(exc, NewConnectionError)
    if isinstance(exc, requests.ConnectTimeout) or (
        connect_failed and not refused and _has(exc, ConnectTimeoutError)
    ):
        return BrokerTimeout(f"{where}: no connection in {timeout_s[0]} s", sent=False)
    if refused:
        return NetworkError(f"{where}: {_connect_failure(exc)}", sent=False)
    if isinstance(exc, requests.ReadTimeout):
        return BrokerTimeout(f"{where}: no reply in {timeout_s[1]} s", sent=True)

    reason = type(_innermost(exc)).__name__
    return NetworkError(
        f"{where}: connection failed, maybe after sending ({reason})", sent=True
    )


def _configuration_error(where: str, exc: BaseException) -> KitError | None:
    """A failure only the user can fix: a bad URL, header or certificate."""
    if _has(exc, ssl.SSLCertVerificationError):
        problem, field = "the broker's TLS certificate is not trusted", "rest_url"
    elif isinstance(exc, (requests.exceptions.InvalidURL, MissingSchema)):
        problem, field = "the REST URL is malformed", "rest_url"
    elif _quotes_headers(exc):
        problem = "a header value is malformed (stray characters in a key or token?)"
        field = "api_key"
    else:
        return None
    return ConfigurationError(f"{where}: {problem}", field=field)


def _quotes_headers(exc: BaseException) -> bool:
    return isinstance(exc, (requests.exceptions.InvalidHeader, UnicodeError))


def _connect_failure(exc: BaseException) -> str:
    if _has(exc, NameResolutionError):
        return "DNS lookup failed"
    if _has(exc, ConnectionRefusedError):
        return "connection refused"
    return "could not connect"


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and what it wraps: ``requests`` and urllib3 keep it in args or reason."""
    found: list[BaseException] = []
    pending: list[object] = [exc]
    while pending and len(found) < 16:
        item = pending.pop(0)
        if not isinstance(item, BaseException) or item in found:
            continue
        found.append(item)
        pending.extend(item.args)
        pending.append(getattr(item, "reason", None))
        pending.append(item.__cause__)
    return found


def _has(exc: BaseException, kind: type[BaseException]) -> bool:
    return any(isinstance(item, kind) for item in _causes(exc))


def _innermost(exc: BaseException) -> BaseException:
    return _causes(exc)[-1]


def _retry_after_s(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None  # an HTTP date: rare enough to fall back to the policy's wait


def _checked_base_url(base_url: str) -> str:
    url = urlparse(base_url)
    if url.scheme == "https" and url.hostname:
        return base_url.rstrip("/")
    if url.scheme == "http" and url.hostname in _LOOPBACK_HOSTS:
        return base_url.rstrip("/")  # the simulator on this machine
    raise ConfigurationError(
        "the REST URL must be https:// (http:// only on loopback)", field="rest_url"
    )


def _host_mac() -> str:
    node = uuid.getnode()
    return ":".join(f"{(node >> shift) & 0xFF:02x}" for shift in range(40, -1, -8))
