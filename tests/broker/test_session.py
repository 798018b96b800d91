"""The broker session against the simulator: login, resume, expiry, renewal."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jwt as pyjwt
import pyotp
import pytest

from kit import cli, logsafe
from kit.broker.http import Transport
from kit.broker.routes import ROUTES
from kit.broker.session import (
    BrokerSession,
    Credentials,
    SessionEvent,
    SessionEventKind,
    jwt_expiry,
)
from kit.clock import IST, ManualClock
from kit.errors import AuthError, LoginFailed, NetworkError, TokenInvalid
from kit.sim.chaos import FaultKind
from kit.sim.runner import SimConfig
from kit.store import SqliteStore

START = datetime(2026, 12, 3, 11, 0, tzinfo=IST)
DAY_S = 24 * 3600


@dataclass
class Rig:
    """A simulator on a manual clock, and what a session is built from."""

    sim: Any
    clock: ManualClock
    transport: Transport
    journal: SqliteStore
    events: list[SessionEvent]

    def session(self, *, totp: bool = True, mpin: str | None = None) -> BrokerSession:
        account = self.sim.account
        credentials = Credentials(
            api_key=account.api_key,
            client_code=account.client_code,
            mpin=account.mpin if mpin is None else mpin,
            totp_secret=account.totp_secret if totp else None,
        )
        return BrokerSession(
            self.transport,
            credentials,
            self.journal,
            self.clock,
            events=self.events.append,
            store_name="/tmp/kit-store",
        )

    def person_logs_in(self, session: BrokerSession) -> None:
        """What `kit login` does: a TOTP typed from the app, and the MPIN."""
        account = self.sim.account
        code = pyotp.TOTP(account.totp_secret).at(int(self.clock.time()))
        session.login(totp=code, mpin=account.mpin)

    def count(self, route: str) -> int:
        return int(self.sim.chaos.counts[f"rest.{route}"])

    def order_book(self, session: BrokerSession) -> Any:
        return session.call(
            lambda jwt: self.transport.request(ROUTES["order_book"], jwt=jwt)
        )

    def warnings(self) -> list[SessionEvent]:
        kind = SessionEventKind.TOKEN_EXPIRY_WARNING
        return [e for e in self.events if e.kind is kind]

    def to_minutes_before_expiry(self, session: BrokerSession, minutes: float) -> None:
        left_s = session.expires_in_s
        assert left_s is not None
        self.clock.advance(left_s - minutes * 60)


@pytest.fixture
def rig(simulator, tmp_path: Path) -> Iterator[Rig]:
    clock = ManualClock(START)
    config = SimConfig(start=START, rate_limits=False, jwt_lifetime_s=DAY_S)
    sim = simulator(config, clock=clock)
    transport = Transport(sim.rest_url, sim.account.api_key)
    journal = SqliteStore(tmp_path / "kit.sqlite3", clock)
    yield Rig(sim, clock, transport, journal, [])
    journal.close()
    transport.close()


# Login, resume, expiry.


def test_login_stores_the_tokens_and_reads_the_expiry_from_the_jwt(rig):
    session = rig.session()

    session.start()

    stored = rig.journal.load_session(rig.sim.account.client_code)
    claims = pyjwt.decode(session.jwt, options={"verify_signature": False})
    assert stored is not None and stored.jwt == session.jwt
    assert stored.feed_token == session.feed_token
    assert stored.issued_at == stored.logged_in_at == START.timestamp()
    assert stored.jwt_expires_at == claims["exp"] == START.timestamp() + DAY_S
    status = session.status()
    assert status.logged_in and status.age_s == 0 and status.last_refresh is None
    assert status.expires_in_s == DAY_S and status.expires_at == START + timedelta(1)


def test_the_expiry_is_read_without_the_signing_key():
    token = pyjwt.encode(
        {"sub": "X", "exp": 1_900_000_123},
        "a-signing-key-the-reader-never-sees-0123",
        "HS256",
    )

    assert jwt_expiry(token) == 1_900_000_123.0


@pytest.mark.parametrize(
    "token",
    [
        "not-a-jwt",
        "eyJhbGciOiJIUzI1NiJ9.%%%.sig",
        pyjwt.encode({"sub": "X"}, "k" * 32, "HS256"),
        pyjwt.encode({"exp": "soon"}, "k" * 32, "HS256"),
    ],
)
def test_a_token_without_a_readable_expiry_is_invalid_and_not_quoted(token):
    with pytest.raises(TokenInvalid) as caught:
        jwt_expiry(token)

    assert token not in str(caught.value)


def test_a_stored_unexpired_session_is_resumed_without_a_login(rig):
    first = rig.session()
    first.start()
    rig.clock.advance(3 * 3600)

    second = rig.session()
    second.start()

    assert rig.count("login") == 1
    assert second.jwt == first.jwt
    assert second.age_s == 3 * 3600
    assert rig.order_book(second) is None  # the resumed tokens work


def test_an_expired_stored_session_is_replaced_by_a_new_login(rig):
    first = rig.session()
    first.start()
    rig.clock.advance(DAY_S + 60)

    second = rig.session()
    second.start()

    assert rig.count("login") == 2
    assert second.jwt != first.jwt
    assert second.expires_in_s == DAY_S


# Renewal ahead of expiry, and the warnings when it fails.


def test_with_a_totp_secret_the_session_is_refreshed_before_any_warning(rig):
    session = rig.session()
    session.start()
    old_jwt = session.jwt

    rig.to_minutes_before_expiry(session, 75)
    session.check()

    renewed_at = rig.clock.now()
    assert session.jwt != old_jwt and rig.count("generate_tokens") == 1
    assert session.expires_in_s == DAY_S
    assert session.status().last_refresh == renewed_at
    assert rig.journal.load_session(rig.sim.account.client_code).jwt == session.jwt
    assert [e.kind for e in rig.events] == [SessionEventKind.SESSION_RENEWED]
    rig.to_minutes_before_expiry(session, 10)  # the new token's own window
    session.check()
    assert rig.warnings() == []


def test_when_the_refresh_is_refused_the_totp_secret_logs_in_again(rig):
    session = rig.session()
    session.start()
    rig.sim.chaos.inject(FaultKind.INVALID_TOKEN, "generate_tokens", count=99)

    rig.to_minutes_before_expiry(session, 70)
    session.check()

    assert rig.count("login") == 2
    assert session.expires_in_s == DAY_S
    assert rig.warnings() == []
    assert rig.order_book(session) is None


def test_without_a_totp_secret_warnings_go_out_at_60_and_15_minutes_once_each(rig):
    session = rig.session(totp=False)
    rig.person_logs_in(session)
    rig.sim.chaos.inject(FaultKind.INVALID_TOKEN, "generate_tokens", count=99)

    for minutes_left in (80, 75, 61, 60, 59.5, 45, 16, 15, 14, 5, 1):
        rig.to_minutes_before_expiry(session, minutes_left)
        session.check()
        session.check()

    warnings = rig.warnings()
    assert [w.minutes_left for w in warnings] == [60, 15]
    assert warnings[0].at == START + timedelta(hours=23)
    assert "token age 23.0 h" in warnings[0].message
    assert all("kit login" in w.action and "MPIN" in w.action for w in warnings)
    assert rig.count("generate_tokens") == 1  # a dead refresh is not hammered


def test_warnings_skipped_by_a_late_check_collapse_into_the_urgent_one(rig):
    session = rig.session(totp=False)
    rig.person_logs_in(session)
    rig.sim.chaos.inject(FaultKind.INVALID_TOKEN, "generate_tokens", count=99)

    rig.to_minutes_before_expiry(session, 10)
    session.check()
    session.check()

    assert [w.minutes_left for w in rig.warnings()] == [10]


def test_without_a_totp_secret_an_expired_session_raises_the_steps(rig):
    session = rig.session(totp=False)
    rig.person_logs_in(session)
    rig.sim.chaos.inject(FaultKind.INVALID_TOKEN, "generate_tokens", count=99)
    rig.clock.advance(DAY_S + 1)
    session.check()

    with pytest.raises(AuthError) as caught:
        rig.order_book(session)

    assert "kit login" in str(caught.value)
    assert rig.count("order_book") == 0  # not even sent with a dead token
    expired = [e for e in rig.events if e.kind is SessionEventKind.SESSION_EXPIRED]
    assert len(expired) == 1 and "kit login" in expired[0].action


def test_a_running_bot_takes_up_the_session_saved_by_kit_login(rig):
    bot = rig.session(totp=False)
    rig.person_logs_in(bot)
    rig.sim.chaos.inject(FaultKind.INVALID_TOKEN, "generate_tokens", count=99)
    rig.to_minutes_before_expiry(bot, 60)
    bot.check()

    rig.person_logs_in(rig.session(totp=False))  # `kit login`, same journal
    rig.clock.advance(5 * 60)
    bot.check()

    assert [w.minutes_left for w in rig.warnings()] == [60]
    assert bot.expires_in_s == DAY_S - 5 * 60
    assert rig.events[-1].kind is SessionEventKind.SESSION_RENEWED
    assert rig.order_book(bot) is None


def test_a_stale_totp_is_tried_once_more_with_the_next_one(rig):
    wrong = pyotp.random_base32()
    account = rig.sim.account
    session = BrokerSession(
        rig.transport,
        Credentials(account.api_key, account.client_code, account.mpin, wrong),
        rig.journal,
        rig.clock,
    )
    failures: list[BaseException] = []

    def log_in() -> None:
        try:
            session.login()
        except LoginFailed as exc:
            failures.append(exc)

    worker = threading.Thread(target=log_in)
    worker.start()
    rig.clock.wait_for_sleepers(1)  # waiting for the next TOTP window
    rig.clock.advance(30)
    worker.join(10)

    assert [getattr(f, "code", None) for f in failures] == ["AB1050"]
    assert rig.count("login") == 2


# Refused tokens in the middle of the day.


@pytest.mark.parametrize(
    ("fault", "target", "refreshes", "logins"),
    [
        (FaultKind.INVALID_TOKEN, "order_book", 1, 1),  # the refresh heals it
        (FaultKind.EXPIRE_TOKENS, "*", 1, 2),  # the refresh is refused: TOTP login
    ],
)
def test_a_refused_token_mid_day_renews_once_and_retries_once(
    rig, fault, target, refreshes, logins
):
    session = rig.session()
    session.start()
    old_jwt = session.jwt
    rig.sim.chaos.inject(fault, target)

    book = rig.order_book(session)

    assert book is None and session.jwt != old_jwt
    assert rig.count("order_book") == 2
    assert rig.count("generate_tokens") == refreshes
    assert rig.count("login") == logins


def test_a_second_refusal_after_renewal_raises_instead_of_looping(rig):
    session = rig.session()
    session.start()
    rig.sim.chaos.inject(FaultKind.INVALID_TOKEN, "order_book", count=10)

    with pytest.raises(AuthError) as caught:
        rig.order_book(session)

    assert caught.value.code == "AG8001"
    assert "renewed session too" in str(caught.value)
    assert rig.count("order_book") == 2
    assert rig.count("generate_tokens") == 1


def test_a_renewal_that_meets_a_server_error_reports_the_request_unsent(rig):
    session = rig.session()
    session.start()
    rig.sim.chaos.inject(FaultKind.INVALID_TOKEN, "order_book")
    rig.sim.chaos.inject(FaultKind.SERVER_ERROR, "generate_tokens")

    with pytest.raises(NetworkError) as caught:
        rig.order_book(session)

    assert caught.value.sent is False
    assert rig.count("order_book") == 1
    assert rig.order_book(session) is None  # the session itself still works


def test_without_a_totp_secret_invalidated_tokens_raise_the_steps(rig):
    session = rig.session(totp=False)
    rig.person_logs_in(session)
    rig.sim.chaos.inject(FaultKind.EXPIRE_TOKENS)

    with pytest.raises(AuthError) as caught:
        rig.order_book(session)

    assert "kit login" in str(caught.value)
    assert caught.value.code == "AB8050"  # the refresh token died with the rest
    assert rig.count("order_book") == 1


def test_a_failed_automatic_login_raises_the_steps(rig):
    session = rig.session()
    session.start()
    session_with_a_wrong_mpin = rig.session(mpin="0000")
    session_with_a_wrong_mpin.resume()
    rig.sim.chaos.inject(FaultKind.EXPIRE_TOKENS)

    with pytest.raises(LoginFailed) as caught:
        rig.order_book(session_with_a_wrong_mpin)

    assert caught.value.code == "AB1007"
    assert "clock is in sync" in str(caught.value) and "kit login" in str(caught.value)


def test_a_refusal_of_tokens_already_renewed_by_another_thread_only_retries(rig):
    session = rig.session()
    session.start()
    old_jwt = session.jwt
    in_flight, renewed = threading.Event(), threading.Event()
    answers: list[Any] = []

    def late_refusal(jwt: str) -> str:
        if jwt == old_jwt:  # sent with the old tokens; refused after the renewal
            in_flight.set()
            renewed.wait(10)
            raise TokenInvalid("Invalid Token", code="AG8001")
        return "served"

    other = threading.Thread(target=lambda: answers.append(session.call(late_refusal)))
    other.start()
    in_flight.wait(10)
    rig.sim.chaos.inject(FaultKind.EXPIRE_TOKENS)
    rig.order_book(session)  # this thread renews: a refused refresh, then a login
    renewed.set()
    other.join(10)

    assert answers == ["served"]
    assert (rig.count("generate_tokens"), rig.count("login")) == (1, 2)


# The feed's credentials, logout.


def test_feed_credentials_hide_their_values_and_refresh_on_request(rig):
    session = rig.session()
    session.start()

    first = session.feed_credentials()
    fresh = session.feed_credentials(refresh=True)

    assert (first.jwt, first.feed_token) != (fresh.jwt, fresh.feed_token)
    assert (fresh.jwt, fresh.feed_token) == (session.jwt, session.feed_token)
    assert fresh.api_key == rig.sim.account.api_key
    assert fresh.client_code == rig.sim.account.client_code
    for value in (fresh.jwt, fresh.api_key, fresh.client_code, fresh.feed_token):
        assert value not in repr(fresh)
    verdict = rig.sim.auth.verify_feed(fresh.client_code, fresh.feed_token)
    assert verdict is None


def test_logout_ends_the_session_at_the_broker_and_in_the_journal(rig):
    session = rig.session()
    session.start()

    session.logout()

    assert rig.sim.auth.live_sessions() == 0
    assert rig.journal.load_session(rig.sim.account.client_code) is None
    assert not session.status().logged_in
    with pytest.raises(AuthError, match="not logged in"):
        rig.order_book(session)


# kit login.


def test_kit_login_asks_without_echo_and_saves_a_session_the_bot_resumes(
    rig, monkeypatch, capsys, tmp_path
):
    account = rig.sim.account
    store = tmp_path / "cli" / "kit.sqlite3"
    for name, value in {
        "KIT_REST_URL": rig.sim.rest_url,
        "KIT_API_KEY": account.api_key,
        "KIT_CLIENT_CODE": account.client_code,
        "KIT_STORE_PATH": str(store),
    }.items():
        monkeypatch.setenv(name, value)
    code = pyotp.TOTP(account.totp_secret).at(int(rig.clock.time()))
    answers = iter([code, account.mpin])
    prompts: list[str] = []

    def fake_getpass(prompt: str = "") -> str:
        prompts.append(prompt)
        return next(answers)

    monkeypatch.setattr(cli.getpass, "getpass", fake_getpass)

    assert cli.main(["login"]) == 0

    out = capsys.readouterr().out.strip()
    assert out == (
        f"Logged in; session saved to {store}, valid until 2026-12-04 11:00 IST"
    )
    assert "TOTP" in prompts[0] and "MPIN" in prompts[1]
    journal = SqliteStore(store, rig.clock)
    bot = BrokerSession(
        rig.transport, Credentials(account.api_key, account.client_code), journal,
        rig.clock,
    )  # fmt: skip
    bot.start()
    journal.close()
    assert rig.count("login") == 1
    assert rig.order_book(bot) is None


def test_kit_login_reports_a_refused_login_without_the_codes(
    rig, monkeypatch, capsys, tmp_path
):
    account = rig.sim.account
    monkeypatch.setenv("KIT_REST_URL", rig.sim.rest_url)
    monkeypatch.setenv("KIT_API_KEY", account.api_key)
    monkeypatch.setenv("KIT_CLIENT_CODE", account.client_code)
    monkeypatch.setenv("KIT_STORE_PATH", str(tmp_path / "kit.sqlite3"))
    answers = iter(["000000", "9876"])
    monkeypatch.setattr(cli.getpass, "getpass", lambda prompt="": next(answers))

    assert cli.main(["login"]) == 1

    captured = capsys.readouterr()
    assert "AB1007" in captured.err or "AB1050" in captured.err
    assert "000000" not in captured.err + captured.out
    assert "9876" not in captured.err + captured.out


# Secrets.


def test_every_token_and_credential_is_registered_for_masking(rig):
    session = rig.session()
    session.start()
    stored = rig.journal.load_session(rig.sim.account.client_code)
    account = rig.sim.account

    long = [session.jwt, stored.refresh_token, stored.feed_token, account.api_key]
    for secret in [*long, account.totp_secret, account.mpin, account.client_code]:
        assert secret not in logsafe.mask(f"leaked {secret} here")


def test_no_secret_reaches_a_log_line_an_event_or_an_error(rig, caplog):
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    session = rig.session()
    session.start()
    seen += [session.jwt, session.feed_token]
    rig.sim.chaos.inject(FaultKind.EXPIRE_TOKENS)
    rig.order_book(session)
    seen += [session.jwt, session.feed_token]
    rig.to_minutes_before_expiry(session, 70)
    session.check()
    seen += [session.jwt, session.feed_token]
    rig.sim.chaos.inject(FaultKind.INVALID_TOKEN, "order_book", count=5)
    with pytest.raises(AuthError) as caught:
        rig.order_book(session)
    stored = rig.journal.load_session(rig.sim.account.client_code)
    assert stored is not None

    account = rig.sim.account
    secrets = [*seen, stored.refresh_token, account.api_key, account.totp_secret]
    short = [account.mpin, account.client_code]  # could occur inside a number
    texts = [caplog.text, str(caught.value), repr(session), repr(stored)]
    texts += [repr(e) for e in rig.events] + [repr(session.feed_credentials())]
    assert "Logged in" in caplog.text and "Tokens refreshed" in caplog.text
    for text in texts:
        for secret in secrets:
            assert secret not in text
        for secret in short:
            assert not re.search(rf"\b{re.escape(secret)}\b", text)
