"""kit.logsafe: secrets and token shapes never reach a log, tracebacks included."""

from __future__ import annotations

import logging
import re
import socket
import sys
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pyotp
import pytest

from kit import logsafe
from kit.broker.http import Transport
from kit.broker.routes import ROUTES
from kit.clock import IST
from kit.config import Settings
from kit.errors import LoginFailed, NetworkError
from kit.logsafe import MASK, SecretFilter, SecretRegistry
from kit.sim.runner import SimConfig

START = datetime(2026, 12, 3, 11, 0, tzinfo=IST)
A_JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJYMSJ9.c2lnbmF0dXJlLXBhcnQ"
log = logging.getLogger("kit.tests.logsafe")


def leaks(text: str, secret: str) -> bool:
    """Whether ``secret`` shows in ``text``; short ones only as a whole token."""
    if len(secret) >= logsafe.MIN_SECRET_CHARS:
        return secret in text
    return (
        re.search(rf"(?<![A-Za-z0-9]){re.escape(secret)}(?![A-Za-z0-9])", text)
        is not None
    )


def record(
    msg: str, *args: Any, exc_info: Any = None, **extra: Any
) -> logging.LogRecord:
    made = logging.LogRecord("kit.x", logging.ERROR, __file__, 1, msg, args, exc_info)
    made.__dict__.update(extra)
    return made


@pytest.fixture
def registry() -> SecretRegistry:
    return SecretRegistry()


@pytest.fixture
def installed() -> Iterator[None]:
    logsafe.install()
    yield
    logsafe.uninstall()
    logsafe.REGISTRY.clear()


# The registry and the masking of text.


def test_a_long_secret_is_masked_wherever_it_occurs(registry):
    registry.register("sk-live-ABCDEFGH")

    masked = registry.mask("key=sk-live-ABCDEFGH; again xsk-live-ABCDEFGHx")

    assert masked == f"key={MASK}; again x{MASK}x"


def test_short_values_are_ignored_unless_registered_with_an_override(registry):
    registry.register("1234", "", None, "  ")
    assert registry.mask("pin 1234") == "pin 1234"

    registry.register("1234", "A12345", min_chars=logsafe.SHORT_SECRET_MIN_CHARS)

    assert registry.mask("pin=1234 client A12345.") == f"pin={MASK} client {MASK}."
    assert registry.mask("order 912345 qty 12340") == "order 912345 qty 12340"


def test_an_override_below_four_characters_is_refused(registry):
    with pytest.raises(ValueError, match="at least 4"):
        registry.register("12", min_chars=2)


def test_jwts_and_bearer_tokens_are_masked_even_when_unregistered(registry):
    text = f"token {A_JWT} header Authorization: Bearer opaque-123 'bearer x9'"

    masked = registry.mask(text)

    assert masked == f"token {MASK} header Authorization: Bearer {MASK} 'bearer {MASK}'"


def test_a_secret_containing_another_is_masked_whole(registry):
    registry.register("ABCDEFGH", "ABCDEFGHIJKLMNOP")

    assert registry.mask("ABCDEFGHIJKLMNOP") == MASK


def test_forget_and_clear_stop_masking(registry):
    registry.register("token-one-1", "token-two-2")

    registry.forget("token-one-1")
    assert registry.mask("token-one-1 token-two-2") == f"token-one-1 {MASK}"
    registry.clear()
    assert registry.mask("token-two-2") == "token-two-2"


def test_settings_register_every_credential_short_ones_too(installed):
    settings = Settings(
        api_key="api-key-from-settings", client_code="F12345", mpin="4321",
        totp_secret=pyotp.random_base32(),
    )  # fmt: skip

    logsafe.register_settings(settings)
    shown = logsafe.mask(" ".join(settings.secret_values()))

    assert shown == " ".join([MASK] * 4)


# The filter, on one record.


def test_the_filter_masks_the_message_and_drops_the_arguments(registry):
    registry.register("super-secret-pin")
    made = record("login with %s failed (%d)", "super-secret-pin", 3)

    assert SecretFilter(registry).filter(made) is True
    assert (made.getMessage(), made.args) == (f"login with {MASK} failed (3)", None)


def test_the_filter_masks_chained_exceptions_and_drops_exc_info(registry):
    registry.register("api-key-in-a-cause", "jwt-in-the-context")
    try:
        try:
            raise OSError("jwt-in-the-context")
        except OSError as exc:
            raise RuntimeError("api-key-in-a-cause") from exc
    except RuntimeError:
        made = record("call failed", exc_info=sys.exc_info())

    SecretFilter(registry).filter(made)

    assert made.exc_info is None
    assert made.exc_text is not None and "Traceback" in made.exc_text
    assert "RuntimeError" in made.exc_text and "OSError" in made.exc_text
    assert "api-key-in-a-cause" not in made.exc_text
    assert "jwt-in-the-context" not in made.exc_text
    full = logging.Formatter().format(made)
    assert "api-key-in-a-cause" not in full and "RuntimeError" in full


def test_the_filter_masks_extras_stack_text_and_bad_arguments(registry):
    registry.register("refresh-token-xyz")
    made = record("%d items", "refresh-token-xyz", body="refresh-token-xyz")
    made.stack_info = "Stack (most recent call last): refresh-token-xyz"

    SecretFilter(registry).filter(made)

    assert made.body == MASK  # type: ignore[attr-defined]
    assert made.stack_info.endswith(MASK)
    assert "refresh-token-xyz" not in made.getMessage()


# install(): every handler, every logger, idempotent, undoable.


def test_install_is_idempotent_and_uninstall_undoes_it(caplog):
    factory = logging.getLogRecordFactory()

    first, second = logsafe.install(), logsafe.install()
    handler_filters = [f for f in caplog.handler.filters if isinstance(f, SecretFilter)]
    kit_filters = [f for f in logging.getLogger("kit").filters if f is first]
    logsafe.uninstall()

    assert first is second and handler_filters == [first] and kit_filters == [first]
    assert logging.getLogRecordFactory() is factory
    assert first not in caplog.handler.filters


def test_a_handler_added_after_install_sees_masked_records(installed):
    logsafe.register("late-handler-secret")
    seen: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(self.format(record))

    child = logging.getLogger("kit.broker.somewhere")
    handler = Collect()
    child.addHandler(handler)
    try:
        child.error("value %s", "late-handler-secret")
    finally:
        child.removeHandler(handler)

    assert seen == [f"value {MASK}"]


# Against the simulator: nothing secret in the captured logs, tracebacks included.


@pytest.fixture
def session_secrets(simulator, installed) -> Iterator[tuple[Any, dict[str, str]]]:
    sim = simulator(SimConfig(start=START, rate_limits=False))
    account = sim.account
    secrets = {
        "api_key": account.api_key,
        "client_code": account.client_code,
        "mpin": account.mpin,
        "totp_secret": account.totp_secret,
    }
    logsafe.register(account.api_key, account.totp_secret)
    logsafe.register(account.client_code, account.mpin, min_chars=4)
    yield sim, secrets


def assert_nothing_leaks(caplog: pytest.LogCaptureFixture, secrets: dict[str, str]):
    texts = [caplog.text] + [
        r.getMessage() + (r.exc_text or "") for r in caplog.records
    ]
    for name, secret in secrets.items():
        assert not any(leaks(text, secret) for text in texts), name
    assert MASK in caplog.text  # something was there to mask


def test_a_failed_login_logs_no_secret(session_secrets, caplog):
    sim, secrets = session_secrets
    caplog.set_level(logging.DEBUG)
    totp = pyotp.TOTP(sim.account.totp_secret).at(sim.clock.time() - 3600)
    logsafe.register(totp, min_chars=4)
    secrets["totp"] = totp
    body = {"clientcode": secrets["client_code"], "password": secrets["mpin"],
            "totp": totp}  # fmt: skip

    with Transport(sim.rest_url, secrets["api_key"]) as transport:
        try:
            try:
                transport.request(ROUTES["login"], body)
            except LoginFailed as refused:
                raise RuntimeError(f"login {body} refused") from refused
        except RuntimeError:
            log.exception("Login failed for %s with %s", secrets["client_code"], body)

    assert "LoginFailed: AB1050" in caplog.text  # the traceback is there, masked
    assert_nothing_leaks(caplog, secrets)


def test_a_transport_error_with_a_bearer_logs_no_secret(session_secrets, caplog):
    sim, secrets = session_secrets
    caplog.set_level(logging.DEBUG)
    with Transport(sim.rest_url, secrets["api_key"]) as transport:
        jwt = transport.request(ROUTES["login"], _login(sim))["jwtToken"]
    secrets["jwt"] = jwt
    headers = {"Authorization": f"Bearer {jwt}", "X-PrivateKey": secrets["api_key"]}

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with Transport(f"http://127.0.0.1:{port}", secrets["api_key"]) as nowhere:
        try:
            nowhere.request(ROUTES["order_book"], jwt=jwt)
        except NetworkError as failed:
            log.error("order book failed with headers %s", headers, exc_info=failed)

    assert "NetworkError: order_book: connection refused" in caplog.text
    assert "requests.exceptions.ConnectionError" in caplog.text
    assert_nothing_leaks(caplog, secrets)


def test_a_whole_successful_session_logs_no_secret(session_secrets, caplog):
    sim, secrets = session_secrets
    caplog.set_level(logging.DEBUG)

    with Transport(sim.rest_url, secrets["api_key"]) as transport:
        body = _login(sim)
        logsafe.register(body["totp"], min_chars=4)
        tokens = transport.request(ROUTES["login"], body)
        secrets |= {
            "totp": body["totp"], "jwt": tokens["jwtToken"],
            "refresh": tokens["refreshToken"], "feed": tokens["feedToken"],
        }  # fmt: skip
        logsafe.register(tokens["refreshToken"], tokens["feedToken"])
        log.debug("login sent %s, got %s", body, tokens)
        profile = transport.request(ROUTES["profile"], jwt=tokens["jwtToken"])
        log.info("Logged in as %s (%s)", profile["clientcode"], profile["name"])
        transport.request(ROUTES["logout"], {"clientcode": profile["clientcode"]},
                          jwt=tokens["jwtToken"])  # fmt: skip

    assert "SIMULATED TRADER" in caplog.text
    assert "GET profile 200" in caplog.text
    assert_nothing_leaks(caplog, secrets)


def _login(sim: Any) -> dict[str, str]:
    account = sim.account
    totp = pyotp.TOTP(account.totp_secret).at(sim.clock.time())
    return {"clientcode": account.client_code, "password": account.mpin, "totp": totp}
