"""kit.broker.codes: every code of SMARTAPI.md §2.8 and every reply shape."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kit.broker import codes
from kit.broker.codes import WAF_REJECTED, error_for, read_reply
from kit.broker.routes import RATE_LIMIT_TEXT
from kit.errors import (
    ConfigurationError,
    InsufficientMargin,
    InvalidSymbol,
    KitError,
    LoginFailed,
    MarketClosed,
    OrderRejected,
    RateLimited,
    RejectedError,
    ServerError,
    TokenExpired,
    TokenInvalid,
)

# Every REST code of SMARTAPI.md §2.8, with the kit error it must become.
REST_CODES: dict[str, type[KitError]] = {
    # Auth: token
    "AG8001": TokenInvalid,
    "AG8002": TokenExpired,
    "AG8003": TokenInvalid,
    "AG8004": ConfigurationError,
    "AB8050": TokenInvalid,
    "AB8051": TokenExpired,
    "AB1010": TokenExpired,
    "AB1011": TokenInvalid,
    # Auth: login
    "AB1050": LoginFailed,
    "AB7001": LoginFailed,
    "AB1007": LoginFailed,
    "AB1000": LoginFailed,
    "AB1001": LoginFailed,
    "AB1002": LoginFailed,
    "AB1005": LoginFailed,
    "AB1006": LoginFailed,
    "AB1031": LoginFailed,
    "AB1032": LoginFailed,
    # Access / IP
    "AG7002": ConfigurationError,
    # Server / transient
    "AB1004": ServerError,
    "AB2000": ServerError,
    "AB2001": ServerError,
    # Order / input
    "AB1008": OrderRejected,
    "AB1009": InvalidSymbol,
    "AB1012": OrderRejected,
    "AB1013": RejectedError,
    "AB1014": RejectedError,
    "AB1015": RejectedError,
    "AB1016": RejectedError,
    "AB1017": OrderRejected,
    "AB1018": InvalidSymbol,
    "AB1003": RejectedError,
    "AB2002": OrderRejected,
    "AB4008": OrderRejected,
    "AB4018": InvalidSymbol,
    "AB4036": OrderRejected,
    # GTT
    "AB9000": ServerError,
    "AB9001": OrderRejected,
    "AB9002": OrderRejected,
    "AB9003": OrderRejected,
    "AB9004": OrderRejected,
    "AB9005": TokenInvalid,
    "AB9006": OrderRejected,
    "AB9007": OrderRejected,
    "AB9008": OrderRejected,
    "AB9009": OrderRejected,
    "AB9010": OrderRejected,
    "AB9011": InvalidSymbol,
    "AB9012": InvalidSymbol,
    "AB9013": OrderRejected,
    "AB9014": OrderRejected,
    "AB9015": OrderRejected,
    "AB9016": OrderRejected,
    "AB9017": OrderRejected,
    "AB9018": OrderRejected,
}
FEED_CODES = {"E1001", "E1002"}

CLASSIFYING_SETS = (
    codes.SERVER_CODES,
    codes.TOKEN_EXPIRED_CODES,
    codes.TOKEN_INVALID_CODES,
    codes.LOGIN_CODES,
    codes.CONFIGURATION_CODES,
    codes.SYMBOL_CODES,
    codes.ORDER_CODES,
    codes.REJECTED_CODES,
    codes.FEED_CODES,
)

WAF_PAGE = (
    b"<html><head><title>Request Rejected</title></head><body>The requested URL "
    b"was rejected. Please consult with your administrator.<br><br>Your support "
    b"ID is: 18400000000001<br><br></body></html>"
)


def normal(code: str, message: str, *, ok: bool = False, data: Any = None) -> bytes:
    body = {"status": ok, "message": message, "errorcode": code, "data": data}
    return json.dumps(body).encode()


def gateway(code: str, message: str, *, ok: bool = False, data: Any = "") -> bytes:
    body = {"success": ok, "message": message, "errorCode": code, "data": data}
    return json.dumps(body).encode()


def raised(status: int, content_type: str | None, body: bytes) -> KitError:
    with pytest.raises(KitError) as caught:
        read_reply(status, content_type, body)
    return caught.value


# Codes


@pytest.mark.parametrize(("code", "kind"), sorted(REST_CODES.items()))
@pytest.mark.parametrize(
    ("dialect", "status"), [(normal, 200), (gateway, 401), (gateway, 403)]
)
def test_every_documented_code_becomes_its_kit_error_in_either_dialect(
    code, kind, dialect, status
):
    error = raised(status, "application/json", dialect(code, f"text of {code}"))

    assert type(error) is kind
    assert (error.code, error.message) == (code, f"text of {code}")


def test_the_named_sets_hold_every_documented_code_exactly_once():
    listed = [code for named in CLASSIFYING_SETS for code in named]

    assert len(listed) == len(set(listed))
    assert set(listed) == set(REST_CODES) | FEED_CODES


def test_the_narrower_sets_are_inside_the_sets_that_classify():
    assert {"AB1050"} == codes.RETRY_WITH_FRESH_TOTP_CODES
    assert codes.RETRY_WITH_FRESH_TOTP_CODES <= codes.LOGIN_CODES
    assert {"AB1004", WAF_REJECTED} == codes.LIMITED_RETRY_CODES
    assert codes.LIMITED_RETRY_CODES - {WAF_REJECTED} <= codes.SERVER_CODES


def test_a_server_code_keeps_the_http_status():
    error = raised(200, "application/json", normal("AB1004", "Something Went Wrong"))

    assert isinstance(error, ServerError)
    assert error.status == 200


def test_an_unregistered_ip_names_no_field_but_a_bad_api_key_names_it():
    ip = raised(401, "application/json", gateway("AG7002", "Unregistered IP"))
    key = raised(401, "application/json", gateway("AG8004", "Invalid API Key"))

    assert isinstance(ip, ConfigurationError) and ip.field is None
    assert isinstance(key, ConfigurationError) and key.field == "api_key"


@pytest.mark.parametrize(
    ("code", "message", "status", "kind"),
    [
        ("AB9001", "Insufficient funds: available Rs. 10.00", 200, InsufficientMargin),
        ("", "Your order has been rejected due to Insufficient Funds", 200,
         InsufficientMargin),
        ("AB4036", "insufficient margin for this order", 200, InsufficientMargin),
        ("AB9001", "Market is closed: orders are taken 09:15-15:30", 200, MarketClosed),
        ("", "Access denied because of exceeding access rate", 200, RateLimited),
        ("AB1009", "Insufficient funds", 200, InvalidSymbol),  # a known code decides
        ("AB1004", "market closed", 200, ServerError),
        ("AB9999", "a code nobody documented", 200, RejectedError),
        ("AG9999", "a gateway code nobody documented", 401, TokenInvalid),
        ("AB9999", "slow down", 429, RateLimited),
        ("", "", 200, RejectedError),
    ],
)  # fmt: skip
def test_the_message_and_the_status_decide_when_the_code_does_not(
    code, message, status, kind
):
    error = error_for(code, message, http_status=status)

    assert type(error) is kind
    assert error.code == (code or None)
    assert error.message == (message or "no message")


# Successful replies


@pytest.mark.parametrize(
    ("body", "data"),
    [
        (normal("", "SUCCESS", ok=True, data={"orderid": "1"}), {"orderid": "1"}),
        (normal("", "SUCCESS", ok=True, data=None), None),
        (normal("", "SUCCESS", ok=True, data=""), ""),
        (normal("", "SUCCESS", ok=True, data=[[1, 2]]), [[1, 2]]),
        (gateway("", "SUCCESS", ok=True, data={"a": 1}), {"a": 1}),
        (b'{"status": "true", "message": "SUCCESS", "data": 5}', 5),
        (b'{"status": true, "message": "SUCCESS"}', None),
    ],
)
def test_a_successful_reply_returns_its_data(body, data):
    assert read_reply(200, "application/json", body) == data


# Shapes that are not a JSON envelope


@pytest.mark.parametrize(
    ("status", "content_type", "body", "kind", "code"),
    [
        (403, "text/plain", RATE_LIMIT_TEXT.encode(), RateLimited, None),
        (200, None, RATE_LIMIT_TEXT.encode() + b"\n", RateLimited, None),
        (503, "text/plain", RATE_LIMIT_TEXT.encode(), RateLimited, None),
        (429, "text/plain", b"Too Many Requests", RateLimited, None),
        (200, "application/json", b"", ServerError, None),
        (200, "application/json", b" \r\n ", ServerError, None),
        (502, None, b"", ServerError, None),
        (200, "text/html", WAF_PAGE, ServerError, WAF_REJECTED),
        (403, None, WAF_PAGE, ServerError, WAF_REJECTED),
        (502, "text/html", b"<html><h1>502 Bad Gateway</h1></html>", ServerError,
         None),
        (200, "text/html; charset=utf-8", b"<html>Wi-Fi login</html>", ServerError,
         None),
        (503, "text/plain", b"503 Server Error", ServerError, None),
        (500, "application/json", normal("AB2001", "Internal Error"), ServerError,
         "AB2001"),
        (500, "application/json", normal("", "SUCCESS", ok=True), ServerError, None),
        (502, "application/json", gateway("AG8001", "Invalid Token"), ServerError,
         "AG8001"),
        (200, "application/json", b'{"status": false, "mess', ServerError, None),
        (200, "application/json", b"\xff\xfe\x00garbage", ServerError, None),
        (200, "application/json", b"[1, 2, 3]", ServerError, None),
        (200, "application/json", b'"SUCCESS"', ServerError, None),
        (200, "application/json", b'{"message": "neither dialect"}', ServerError,
         None),
        (400, "text/plain", b"Bad Request", ServerError, None),
        (401, "text/plain", b"Unauthorized", TokenInvalid, None),
        (404, "text/plain", b"Not Found", ConfigurationError, None),
    ],
)  # fmt: skip
def test_every_non_envelope_shape_becomes_its_kit_error(
    status, content_type, body, kind, code
):
    error = raised(status, content_type, body)

    assert type(error) is kind
    assert error.code == code
    if isinstance(error, ServerError):
        assert error.status == status


def test_the_waf_page_names_its_support_id_and_escalates_to_configuration():
    error = raised(200, "text/html", WAF_PAGE)
    assert isinstance(error, ServerError)

    escalated = codes.waf_as_configuration_error(error)

    assert "18400000000001" in error.message
    assert escalated.code == WAF_REJECTED and escalated.field == "rest_url"
    assert "IP" in escalated.message


def test_a_garbled_body_is_chained_to_the_json_error():
    error = raised(200, "application/json", b"{oops")

    assert isinstance(error.__cause__, ValueError)


def test_a_long_non_json_body_is_cut_to_one_short_line():
    body = b"<p>" + b"word " * 500 + b"</p>\n<p>end</p>"

    error = raised(500, "text/plain", body)

    assert "\n" not in error.message and "<p>" not in error.message
    assert len(error.message) < 200


def test_a_rate_limit_in_json_keeps_its_code():
    body = normal("AB2020", "Access denied because of exceeding access rate")

    error = raised(403, "application/json", body)

    assert isinstance(error, RateLimited) and error.code == "AB2020"


@given(
    status=st.integers(min_value=100, max_value=599),
    content_type=st.sampled_from([None, "application/json", "text/html", "text/plain"]),
    body=st.one_of(
        st.binary(max_size=200),
        st.text(max_size=200).map(str.encode),
        st.dictionaries(
            st.sampled_from(["status", "success", "message", "errorcode", "data"]),
            st.one_of(st.none(), st.booleans(), st.text(max_size=10), st.integers()),
        ).map(lambda d: json.dumps(d).encode()),
    ),
)
def test_any_reply_is_data_or_a_kit_error_never_a_crash(status, content_type, body):
    with contextlib.suppress(KitError):
        read_reply(status, content_type, body)
