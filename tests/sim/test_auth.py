"""kit.sim.auth: logins, real JWTs on the injected clock, rotation, logout, feed."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

import jwt
import pyotp
import pytest

from kit.clock import IST, ManualClock
from kit.sim.auth import (
    FEED_BAD_API_KEY,
    FEED_BAD_AUTH,
    FEED_BAD_CLIENT,
    FEED_BAD_FEED_TOKEN,
    Account,
    AuthFailure,
    AuthService,
    Tokens,
    demo_account,
)

START = datetime(2025, 3, 3, 8, 45, tzinfo=IST)
HOUR_S = 3600.0
DEMO = demo_account()
OTHER = Account(
    client_code="SIM002",
    mpin="4321",
    totp_secret=pyotp.random_base32(),
    api_key="sim-api-key-2",
    name="OTHER TRADER",
    email="other@sim.invalid",
)


def _service(**kwargs: float) -> tuple[ManualClock, AuthService]:
    clock = ManualClock(START)
    return clock, AuthService(clock, [DEMO, OTHER], **kwargs)


def _totp(clock: ManualClock, account: Account = DEMO, offset_s: float = 0) -> str:
    return pyotp.TOTP(account.totp_secret).at(int(clock.time() + offset_s))


def _login(clock: ManualClock, service: AuthService, account: Account = DEMO) -> Tokens:
    return service.login(
        account.client_code, account.mpin, _totp(clock, account), account.api_key
    )


def _claims(token: str) -> dict[str, object]:
    claims: dict[str, object] = jwt.decode(token, options={"verify_signature": False})
    return claims


def _accepted(clock: ManualClock) -> set[str]:
    """The codes a login accepts now: this step, the one before, the one after."""
    return {_totp(clock, offset_s=step_s) for step_s in (-30, 0, 30)}


def _failure(call: Callable[..., object], *args: object) -> AuthFailure:
    with pytest.raises(AuthFailure) as caught:
        call(*args)
    return caught.value


# Login.


def test_login_hands_out_jwt_refresh_and_feed_tokens():
    clock, service = _service()

    tokens = _login(clock, service)

    assert set(tokens.as_data()) == {"jwtToken", "refreshToken", "feedToken"}
    assert tokens.as_data()["jwtToken"] == tokens.jwt_token
    assert len({tokens.jwt_token, tokens.refresh_token, tokens.feed_token}) == 3
    assert service.verify_bearer(f"Bearer {tokens.jwt_token}") == "SIM001"
    assert service.live_sessions() == 1


def test_jwt_carries_subject_times_and_a_unique_id():
    clock, service = _service()

    first = _claims(_login(clock, service).jwt_token)
    second = _claims(_login(clock, service).jwt_token)

    assert first["sub"] == "SIM001"
    assert first["iat"] == int(START.timestamp())
    assert first["exp"] == int(START.timestamp() + 26 * HOUR_S)
    assert first["jti"] != second["jti"]


def test_jwt_is_signed_hs256_with_the_services_key():
    clock, service = _service()
    token = _login(clock, service).jwt_token

    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, "k" * 32, algorithms=["HS256"])


@pytest.mark.parametrize(
    ("field", "value", "code", "dialect"),
    [
        ("mpin", "9999", "AB1007", "normal"),
        ("client_code", "NOSUCH", "AB1007", "normal"),
        ("totp", "000000", "AB1050", "normal"),
        ("api_key", "wrong-key", "AG8004", "gateway"),
        ("api_key", OTHER.api_key, "AG8004", "gateway"),  # another client's key
    ],
)
def test_login_failures_carry_smartapi_codes(
    field: str, value: str, code: str, dialect: str
):
    clock, service = _service()
    login = {"client_code": "SIM001", "mpin": "1234", "api_key": "sim-api-key"}
    login["totp"] = _totp(clock)
    login[field] = value
    assert "000000" not in _accepted(clock)  # the fixed demo secret and START

    failure = _failure(
        service.login, login["client_code"], login["mpin"], login["totp"],
        login["api_key"],
    )  # fmt: skip

    assert (failure.code, failure.dialect) == (code, dialect)
    assert failure.message
    assert service.live_sessions() == 0


def test_failure_messages_follow_smartapi():
    assert AuthFailure.of("AB1050").message == "Invalid totp"
    assert AuthFailure.of("AB1007").message == "Login Id or password is invalid"
    assert AuthFailure.of("AG8004").message == "Invalid API Key"
    assert AuthFailure.of("AB8050").dialect == "normal"
    assert AuthFailure.of("AG8002").dialect == "gateway"


def test_totp_of_the_previous_step_is_accepted():
    clock, service = _service()
    previous = _totp(clock, offset_s=-30)

    tokens = service.login("SIM001", "1234", previous, "sim-api-key")

    assert service.verify_bearer(f"Bearer {tokens.jwt_token}") == "SIM001"


def test_totp_two_steps_old_is_refused():
    clock, service = _service()
    stale = _totp(clock, offset_s=-60)
    assert stale not in _accepted(clock)  # the fixed demo secret and START

    failure = _failure(service.login, "SIM001", "1234", stale, "sim-api-key")

    assert failure.code == "AB1050"


def test_totp_is_judged_by_the_injected_clock():
    clock, service = _service()
    code_now = _totp(clock)
    clock.advance(5 * 60.0)
    assert code_now not in _accepted(clock)

    failure = _failure(service.login, "SIM001", "1234", code_now, "sim-api-key")

    assert failure.code == "AB1050"
    assert _login(clock, service).jwt_token


@pytest.mark.parametrize("lifetime_s", [24 * HOUR_S, 28 * HOUR_S])
def test_jwt_lifetime_may_be_set_within_24_to_28_hours(lifetime_s: float):
    clock, service = _service(jwt_lifetime_s=lifetime_s)

    tokens = _login(clock, service)

    assert tokens.jwt_expires_at == START.timestamp() + lifetime_s
    assert service.jwt_lifetime_s == lifetime_s


@pytest.mark.parametrize("lifetime_s", [23.9 * HOUR_S, 28.1 * HOUR_S, 0.0])
def test_jwt_lifetime_outside_24_to_28_hours_is_refused(lifetime_s: float):
    with pytest.raises(ValueError, match="jwt_lifetime_s"):
        AuthService(ManualClock(START), [DEMO], jwt_lifetime_s=lifetime_s)


def test_duplicate_client_codes_are_refused():
    with pytest.raises(ValueError, match="client code"):
        AuthService(ManualClock(START), [DEMO, replace(DEMO, name="TWIN")])


# Bearer tokens.


def test_jwt_expires_by_the_clock_at_login_plus_lifetime():
    clock, service = _service()
    bearer = f"Bearer {_login(clock, service).jwt_token}"

    clock.advance(26 * HOUR_S - 1.0)
    assert service.verify_bearer(bearer) == "SIM001"
    clock.advance(1.0)
    failure = _failure(service.verify_bearer, bearer)

    assert (failure.code, failure.message) == ("AG8002", "Token Expired")
    assert failure.dialect == "gateway"


def test_expiry_ignores_the_machines_clock():
    clock = ManualClock(datetime(2020, 1, 6, 9, 0, tzinfo=IST))  # long past
    service = AuthService(clock, [DEMO])

    tokens = _login(clock, service)

    assert service.verify_bearer(f"Bearer {tokens.jwt_token}") == "SIM001"


@pytest.mark.parametrize("value", [None, "", "   ", "Bearer", "Bearer   "])
def test_absent_token_is_token_missing(value: str | None):
    _, service = _service()

    failure = _failure(service.verify_bearer, value)

    assert (failure.code, failure.dialect) == ("AG8003", "gateway")


def test_garbage_and_foreign_tokens_are_invalid():
    clock, service = _service()
    real = _login(clock, service).jwt_token
    _, stranger = _service()
    foreign = _login(clock, stranger).jwt_token
    unsigned = jwt.encode(_claims(real), key=None, algorithm="none")

    for value in ("Bearer x.y.z", f"Bearer {foreign}", f"Bearer {unsigned}", real):
        failure = _failure(service.verify_bearer, value)
        assert (failure.code, failure.message) == ("AG8001", "Invalid Token")


def test_bearer_scheme_is_case_insensitive():
    clock, service = _service()
    token = _login(clock, service).jwt_token

    assert service.verify_bearer(f"bearer {token}") == "SIM001"


# Refresh, logout, invalidation.


def test_generate_tokens_rotates_all_three_and_kills_the_old_refresh_token():
    clock, service = _service()
    old = _login(clock, service)
    clock.advance(60.0)

    new = service.generate_tokens(old.refresh_token, f"Bearer {old.jwt_token}")

    assert new.jwt_token != old.jwt_token
    assert new.refresh_token != old.refresh_token
    assert new.feed_token != old.feed_token
    assert new.jwt_expires_at == old.jwt_expires_at + 60.0
    assert service.verify_bearer(f"Bearer {new.jwt_token}") == "SIM001"
    assert service.verify_feed("SIM001", new.feed_token, new.jwt_token) is None
    # The old access token lives on until its own exp.
    assert service.verify_bearer(f"Bearer {old.jwt_token}") == "SIM001"
    failure = _failure(service.generate_tokens, old.refresh_token, None)
    assert (failure.code, failure.message) == ("AB8050", "Invalid Refresh Token")
    assert failure.dialect == "normal"
    assert service.generate_tokens(new.refresh_token).refresh_token


def test_refresh_works_after_the_jwt_expired():
    clock, service = _service()
    old = _login(clock, service)
    clock.advance(27 * HOUR_S)

    new = service.generate_tokens(old.refresh_token, f"Bearer {old.jwt_token}")

    assert service.verify_bearer(f"Bearer {new.jwt_token}") == "SIM001"


def test_refresh_token_expires_after_its_lifetime():
    clock, service = _service(refresh_lifetime_s=2 * HOUR_S)
    tokens = _login(clock, service)
    clock.advance(2 * HOUR_S)
    _login(clock, service, OTHER)  # housekeeping runs; the expiry is remembered

    failure = _failure(service.generate_tokens, tokens.refresh_token, None)

    assert (failure.code, failure.message) == ("AB8051", "Refresh Token Expired")


def test_expired_sessions_are_forgotten():
    clock, service = _service(refresh_lifetime_s=2 * HOUR_S)
    tokens = _login(clock, service)
    clock.advance(26 * HOUR_S)
    assert service.live_sessions() == 0

    _login(clock, service, OTHER)

    assert service.live_sessions() == 1
    assert _failure(service.generate_tokens, tokens.refresh_token, None).code == (
        "AB8050"
    )


def test_refresh_with_another_clients_bearer_is_refused():
    clock, service = _service()
    mine = _login(clock, service)
    theirs = _login(clock, service, OTHER)

    for bearer in (f"Bearer {theirs.jwt_token}", "Bearer garbage"):
        failure = _failure(service.generate_tokens, mine.refresh_token, bearer)
        assert failure.code == "AG8001"
    assert service.generate_tokens(mine.refresh_token, "").jwt_token


def test_unknown_refresh_token_is_invalid():
    _, service = _service()

    assert _failure(service.generate_tokens, "nonsense", None).code == "AB8050"


def test_logout_revokes_that_session_only():
    clock, service = _service()
    gone = _login(clock, service)
    kept = _login(clock, service)

    service.logout("SIM001", f"Bearer {gone.jwt_token}")

    assert _failure(service.verify_bearer, f"Bearer {gone.jwt_token}").code == (
        "AG8001"
    )
    assert _failure(service.generate_tokens, gone.refresh_token, None).code == (
        "AB8050"
    )
    assert service.verify_feed("SIM001", gone.feed_token) == FEED_BAD_FEED_TOKEN
    assert service.verify_bearer(f"Bearer {kept.jwt_token}") == "SIM001"
    assert service.live_sessions() == 1


def test_logout_needs_the_clients_own_token():
    clock, service = _service()
    tokens = _login(clock, service)

    assert _failure(service.logout, "SIM002", tokens.jwt_token).code == "AG8001"
    assert _failure(service.logout, "SIM001", None).code == "AG8003"
    assert service.verify_bearer(f"Bearer {tokens.jwt_token}") == "SIM001"


def test_invalidate_all_refuses_every_token_until_a_new_login():
    clock, service = _service()
    demo = _login(clock, service)
    other = _login(clock, service, OTHER)

    service.invalidate_all()

    for tokens, client in ((demo, "SIM001"), (other, "SIM002")):
        bearer = f"Bearer {tokens.jwt_token}"
        assert _failure(service.verify_bearer, bearer).code == "AG8001"
        refresh = _failure(service.generate_tokens, tokens.refresh_token, None)
        assert refresh.code == "AB8050"
        assert service.verify_feed(client, tokens.feed_token) == FEED_BAD_FEED_TOKEN
    assert service.live_sessions() == 0
    fresh = _login(clock, service)
    assert service.verify_bearer(f"Bearer {fresh.jwt_token}") == "SIM001"


# The WebSocket 2.0 upgrade.


@pytest.mark.parametrize("prefix", ["Bearer ", ""])
def test_feed_accepts_the_auth_token_with_or_without_bearer(prefix: str):
    clock, service = _service()
    tokens = _login(clock, service)

    verdict = service.verify_feed(
        "SIM001", tokens.feed_token, prefix + tokens.jwt_token, "sim-api-key"
    )

    assert verdict is None


def test_feed_needs_only_client_code_and_feed_token():
    clock, service = _service()
    tokens = _login(clock, service)

    assert service.verify_feed("SIM001", tokens.feed_token) is None


def test_feed_refusals_name_the_bad_header():
    clock, service = _service()
    demo = _login(clock, service)
    other = _login(clock, service, OTHER)
    jwt_, feed = demo.jwt_token, demo.feed_token

    assert service.verify_feed("SIM001", feed, "garbage") == FEED_BAD_AUTH
    assert service.verify_feed("SIM002", feed, jwt_) == FEED_BAD_CLIENT
    assert service.verify_feed("NOSUCH", feed) == FEED_BAD_CLIENT
    assert service.verify_feed(None, feed) == FEED_BAD_CLIENT
    assert service.verify_feed("SIM001", feed, jwt_, "wrong") == FEED_BAD_API_KEY
    assert service.verify_feed("SIM001", "wrong", jwt_) == FEED_BAD_FEED_TOKEN
    assert service.verify_feed("SIM001", None, jwt_) == FEED_BAD_FEED_TOKEN
    assert service.verify_feed("SIM001", other.feed_token) == FEED_BAD_FEED_TOKEN


def test_feed_refusal_texts_are_smartapis():
    assert FEED_BAD_AUTH == "Invalid Header - Invalid Auth token"
    assert FEED_BAD_CLIENT == "Invalid Header - Invalid Client Code"
    assert FEED_BAD_API_KEY == "Invalid Header - Invalid API Key"
    assert FEED_BAD_FEED_TOKEN == "Invalid Header - Invalid Feed Token"


def test_feed_refuses_an_expired_session():
    clock, service = _service()
    tokens = _login(clock, service)
    clock.advance(26 * HOUR_S)

    assert service.verify_feed("SIM001", tokens.feed_token, tokens.jwt_token) == (
        FEED_BAD_AUTH
    )
    assert service.verify_feed("SIM001", tokens.feed_token) == FEED_BAD_FEED_TOKEN


# Profile, demo account, secrecy.


def test_profile_has_getprofile_fields_and_the_last_login():
    clock, service = _service()
    assert service.profile("SIM001")["lastlogintime"] == ""
    _login(clock, service)

    profile = service.profile("SIM001")

    assert set(profile) == {
        "clientcode", "name", "email", "mobileno", "exchanges", "products",
        "lastlogintime", "brokerid",
    }  # fmt: skip
    assert profile["clientcode"] == "SIM001"
    assert profile["lastlogintime"] == "2025-03-03 08:45:00"
    assert "NSE" in profile["exchanges"]
    assert "INTRADAY" in profile["products"]


def test_demo_account_is_obviously_fake_and_usable():
    account = demo_account()

    assert (account.client_code, account.mpin, account.api_key) == (
        "SIM001", "1234", "sim-api-key",
    )  # fmt: skip
    assert pyotp.TOTP(account.totp_secret).now().isdigit()


def test_reprs_hide_secrets():
    clock, service = _service()
    tokens = _login(clock, service)

    shown = repr(DEMO) + repr(tokens)

    for secret in (DEMO.mpin, DEMO.totp_secret, DEMO.api_key, tokens.jwt_token):
        assert secret not in shown
    assert tokens.feed_token not in shown
    assert tokens.refresh_token not in shown


def test_logs_carry_no_credentials_tokens_or_client_codes(
    caplog: pytest.LogCaptureFixture,
):
    clock, service = _service()
    caplog.set_level(logging.DEBUG, logger="kit.sim.auth")
    totp = _totp(clock)

    tokens = service.login("SIM001", "1234", totp, "sim-api-key")
    new = service.generate_tokens(tokens.refresh_token, f"Bearer {tokens.jwt_token}")
    _failure(service.login, "SIM001", "9999", totp, "sim-api-key")
    service.logout("SIM001", f"Bearer {new.jwt_token}")
    service.invalidate_all()

    assert caplog.records
    secrets = ["SIM001", "1234", totp, "sim-api-key", DEMO.totp_secret]
    secrets += [tokens.jwt_token, tokens.refresh_token, tokens.feed_token]
    secrets += [new.jwt_token, new.refresh_token, new.feed_token]
    for secret in secrets:
        assert secret not in caplog.text
