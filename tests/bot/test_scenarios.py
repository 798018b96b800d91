"""The user's four scenarios (USER_DESIGN.md, "Self-Healing in Action") and
the insufficient-margin row of the recovery matrix, end to end: the Bot on
the simulator on a fast clock, the faults injected by the simulator's chaos,
the outcomes read from the bot and its store, and the log lines checked."""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta

import pytest

from kit.broker.retry import RetryPolicy
from kit.broker.session import Credentials
from kit.broker.stack import open_stack
from kit.clock import IST
from kit.ops.events import ActivityEvent, EventKind, FaultKind, Severity
from kit.sim.chaos import FaultKind as SimFault
from kit.sim.chaos import parse_plan
from kit.sim.runner import SimConfig
from kit.store.sqlite import SqliteStore
from tests.bot.helpers import (
    BuyOnce,
    JumpClock,
    bot_settings,
    engine,
    live_credentials,
    recent,
    running,
    stored_events,
    wait_until,
)
from tests.market.bootstrap_helpers import mismatches

DAY = datetime(2026, 12, 3, 9, 0, tzinfo=IST)  # a Thursday
OPEN = DAY.replace(minute=15)


def lines_of(caplog: pytest.LogCaptureFixture, logger: str, prefix: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == logger and r.getMessage().startswith(prefix)
    ]


def assert_in_order(lines: list[str], patterns: list[str]) -> None:
    """Each pattern matches a line, in order (other lines may come between)."""
    remaining = iter(lines)
    for pattern in patterns:
        assert any(re.fullmatch(pattern, line) for line in remaining), (
            f"no line matches {pattern!r} after the ones before; lines: {lines}"
        )


def assert_plain_logs(caplog: pytest.LogCaptureFixture) -> None:
    """Every log line of the kit is plain ASCII: no status symbol, no emoji."""
    fancy = [r.getMessage() for r in caplog.records
             if r.name.startswith("kit") and not r.getMessage().isascii()]  # fmt: skip
    assert fancy == []


def of_kind(events: list[ActivityEvent], kind: str) -> list[ActivityEvent]:
    return [e for e in events if e.kind == kind]


# Scenario 1: the bot starts before the open.

SCENARIO_1_BOOTSTRAP = [
    r"bootstrap: Loading history of 3 symbols, 200 candles each \(attempt 1/3\)\.\.\.",
    r"bootstrap: History not available, market not open \(attempt 1/3\): "
    r"ServerError: AB1004: .+",
    r"bootstrap: Retrying in 30\.0 s \(attempt 2/3\)",
    r"bootstrap: Loading history of 3 symbols, 200 candles each \(attempt 2/3\)\.\.\.",
    r"bootstrap: History not available, market not open \(attempt 2/3\): .+",
    r"bootstrap: Retrying in 30\.0 s \(attempt 3/3\)",
    r"bootstrap: Loading history of 3 symbols, 200 candles each \(attempt 3/3\)\.\.\.",
    r"bootstrap: History not available, market not open \(attempt 3/3\): .+",
    r"bootstrap: Failed after 3 attempts; building candles from ticks for 3 symbols",
    r"bootstrap: Building from ticks: 200 candles, warm at 12:35 IST; history "
    r"asked again every 120 s",
    r"bootstrap: Re-bootstrap: loading history of 3 symbols\.\.\.",
    r"bootstrap: History restored for 3 symbols \(600 candles\); broker candles "
    r"replace the ones built from ticks",
]


def test_scenario_1_a_start_at_0900_falls_back_to_ticks_and_is_warm_at_the_open(
    simulator, start_bot, tmp_path, caplog
):
    caplog.set_level(logging.INFO, logger="kit")
    sim = simulator(SimConfig(start=DAY, speed=200.0))
    # History is refused before the open: every request of three attempts (the
    # client tries each one 1 + max_retries times), then served again.
    requests_per_attempt = RetryPolicy().max_retries + 1
    sim.chaos.inject(SimFault.HISTORY_BEFORE_OPEN, "candles",
                     count=3 * requests_per_attempt)  # fmt: skip
    strategy = BuyOnce(("SBIN-EQ",), warmup=200)
    settings = bot_settings(tmp_path)

    with running(start_bot(settings, simulator=sim, strategy=strategy)) as bot:
        summary = bot.startup_summary()
        at_open = []
        wait_until(lambda: sim.clock.now() >= OPEN, 15.0, "the open")
        at_open.append(bot.status().engine)
        wait_until(lambda: engine(bot).orders > 0, 10.0, "an order")
        after = bot.status().engine

    # The fall-back to ticks, said in the start-up summary.
    assert "Historical Candles: ⚠ Building from ticks (3 symbols; 0 loaded)" in summary
    assert "Expected completion: 12:35 IST" in summary
    assert "Bot is healthy - no action required" in summary
    (logged,) = [m for m in lines_of(caplog, "kit.bot", "Bot: running")]
    assert "Historical Candles: Building from ticks (3 symbols; 0 loaded)" in logged

    # Warm at 09:15: the history came back before the open.
    status = at_open[0]
    assert status is not None
    assert (status.level, status.warm, status.symbols) == (1, 3, 3)
    events = stored_events(settings.store_path, sim.clock)
    refusals = of_kind(events, EventKind.MARKET_CLOSED_WAIT)
    assert len(refusals) == 3
    assert [e.text.endswith("retrying in 30 s") for e in refusals] == [
        True, True, False,
    ]  # fmt: skip
    (fallback,) = of_kind(events, EventKind.BUILDING_FROM_TICKS)
    assert fallback.fields["phase"] == "recovered"
    assert fallback.fields["incident"] == refusals[0].fields["incident"]
    (restored,) = of_kind(events, EventKind.HISTORY_RESTORED)
    assert restored.at < OPEN
    levels = [(e.fields["previous"], e.fields["level"])
              for e in of_kind(events, EventKind.DEGRADATION_CHANGED)]  # fmt: skip
    assert levels == [(1, 2), (2, 1)]
    assert of_kind(events, EventKind.DEGRADATION_CHANGED)[-1].at < OPEN

    # No order before the open; the first one on the first candle of the day.
    (opened,) = of_kind(events, EventKind.POSITION_OPENED)
    assert OPEN + timedelta(minutes=1) <= opened.at < OPEN + timedelta(minutes=2)
    assert strategy.signals[0].candle_start == OPEN
    assert after is not None and after.orders == 1

    assert_in_order(lines_of(caplog, "kit.market.bootstrap", "bootstrap: "),
                    SCENARIO_1_BOOTSTRAP)  # fmt: skip
    assert_plain_logs(caplog)


# Scenario 2: the WebSocket drops during trading.

SCENARIO_2_PLAN = (
    "at=10:30:00 kind=clean_close target=feed status=1001;"
    "at=10:30:00 kind=upgrade_401 target=feed count=2"
)
SCENARIO_2_FEED = [
    r"feed-1: Connecting\.\.\.",
    r"feed-1: Connected",
    r"feed-1: Subscribed 3 tokens",
    r"feed-1: Disconnected \(server closed the connection, code 1001\): "
    r"up \d+\.\d s, \d+ frames, \d+ bytes",
    r"feed-1: Reconnecting in 1\.0 s \(attempt 1/10\)",
    r"feed-1: Connecting\.\.\.",
    r"feed-1: Upgrade refused: 401 Invalid Header - Invalid Feed Token; "
    r"fresh tokens before the next attempt",
    r"feed-1: Reconnecting in 2\.0 s \(attempt 2/10\)",
    r"feed-1: Connecting\.\.\.",
    r"feed-1: Upgrade refused: 401 .*",
    r"feed-1: Reconnecting in 4\.0 s \(attempt 3/10\)",
    r"feed-1: Connecting\.\.\.",
    r"feed-1: Connected",
    r"feed-1: Reconnected after \d+\.\d s down \(3 attempts\)",
    r"feed-1: Resubscribed 3 tokens",
]


def test_scenario_2_a_drop_at_1030_reconnects_resubscribes_and_backfills(
    simulator, start_bot, tmp_path, caplog
):
    caplog.set_level(logging.INFO, logger="kit")
    start = DAY.replace(hour=10, minute=29, second=30)
    drop = DAY.replace(hour=10, minute=30)
    plan = parse_plan(SCENARIO_2_PLAN, start=start)
    sim = simulator(SimConfig(start=start, speed=40.0), plan=plan)
    settings = bot_settings(tmp_path, feed_backoff="user_design")

    with running(start_bot(settings, simulator=sim)) as bot:
        parts = bot.parts
        assert bot.run_until(drop + timedelta(minutes=1, seconds=20)) == "until"
        status = bot.status().engine
    assert parts is not None

    events = stored_events(settings.store_path, sim.clock)
    (dropped,) = of_kind(events, EventKind.FEED_DISCONNECTED)[:1]
    (back,) = of_kind(events, EventKind.FEED_RECONNECTED)
    incident = dropped.fields["incident"]
    assert dropped.fields["fault"] == FaultKind.WS_DISCONNECT.value
    assert (dropped.fields["phase"], back.fields["phase"]) == ("detected", "recovered")
    assert back.fields["incident"] == incident
    assert 0.0 <= (dropped.at - drop).total_seconds() < 5.0
    assert 7.0 <= (back.at - dropped.at).total_seconds() < 15.0  # 1 + 2 + 4 s
    (resubscribed,) = of_kind(events, EventKind.FEED_RESUBSCRIBED)
    assert resubscribed.at >= back.at

    # The minutes around the drop were fetched again and match the market.
    repairs = [e for e in of_kind(events, EventKind.BACKFILL_SCHEDULED)
               if "down" in e.text]  # fmt: skip
    assert len(repairs) == 1 and "10:30" in repairs[0].text
    done = [e for e in of_kind(events, EventKind.BACKFILL_DONE) if "10:30" in e.text]
    assert done
    around = (drop - timedelta(minutes=10), drop + timedelta(minutes=1))
    for book in parts.engine.books.values():
        assert book.get(drop) is not None
        assert book.gaps(*around) == []
        assert mismatches(sim, book) == []

    # Paper level 3 while the feed was away, back to 1 after a stable minute.
    levels = of_kind(events, EventKind.DEGRADATION_CHANGED)
    changes = [(e.fields["previous"], e.fields["level"]) for e in levels]
    assert changes == [(1, 3), (3, 1)]
    assert levels[0].at < back.at and (levels[1].at - back.at).total_seconds() >= 60
    assert status is not None and status.level == 1

    assert_in_order(lines_of(caplog, "kit.broker.feed", "feed-1: "), SCENARIO_2_FEED)
    assert_plain_logs(caplog)


# Scenario 3: a rate limit on an order.


def test_scenario_3_a_rate_limited_order_is_sent_again_once_and_filled(
    simulator, start_bot, tmp_path, caplog
):
    caplog.set_level(logging.INFO, logger="kit")
    start = DAY.replace(hour=10)
    sim = simulator(SimConfig(start=start, speed=50.0))
    sim.chaos.inject(SimFault.RATE_LIMIT, "place_order", count=1)
    settings = bot_settings(tmp_path, mode="live", live_confirmed=True,
                            symbols=("SBIN-EQ", "INFY-EQ"),
                            **live_credentials(sim))  # fmt: skip
    strategy = BuyOnce(("SBIN-EQ",))

    with running(start_bot(settings, simulator=sim, strategy=strategy)) as bot:
        wait_until(lambda: engine(bot).positions != (), 10.0, "a position")
        status = engine(bot)

    (position,) = status.positions
    assert (position.mode, position.symbol) == ("live", "SBIN-EQ")
    tag = position.last_ordertag
    orders = [o for o in sim.desk.order_book(sim.account.client_code) or []
              if o["ordertag"] == tag]  # fmt: skip
    assert len(orders) == 1  # sent again after the refusal, never twice
    assert orders[0]["status"] == "complete"
    assert int(orders[0]["filledshares"]) == position.quantity
    refusals = [f for f in sim.chaos.log if f.target == "place_order"]
    assert [f.kind for f in refusals] == [SimFault.RATE_LIMIT]
    events = stored_events(settings.store_path, sim.clock)
    (opened,) = of_kind(events, EventKind.POSITION_OPENED)
    assert opened.fields["ordertag"] == tag
    assert 1.0 <= (opened.at - refusals[0].at).total_seconds() < 15.0  # 1 s wait
    # The refusal is an API rate-limit incident, recovered when the order went in.
    (retry,) = of_kind(events, EventKind.ORDER_RETRY)
    (taken,) = of_kind(events, EventKind.ORDER_RETRY_RECOVERED)
    assert retry.fields["fault"] == taken.fields["fault"] == "api_rate_limit"
    assert retry.fields["incident"] == taken.fields["incident"]
    assert (retry.fields["phase"], taken.fields["phase"]) == ("detected", "recovered")

    quantity = position.quantity
    assert_in_order(lines_of(caplog, "kit.broker.orders", f"Order {tag}: "), [
        rf"Order {tag}: BUY {quantity} SBIN-EQ",
        rf"Order {tag}: not taken \(RateLimited\); sending again in 1\.0 s "
        r"\(attempt 1\)",
    ])  # fmt: skip
    fills = lines_of(caplog, "kit.trading.live_events", "Live fill: ")
    assert fills == [
        f"Live fill: live BUY {quantity} SBIN-EQ filled at "
        f"{position.avg_price:,.2f} (scripted); position 0 -> {quantity}"
    ]
    assert_plain_logs(caplog)


# Scenario 4: the token is about to expire.


def test_scenario_4_a_token_about_to_expire_is_warned_about_once_with_the_steps(
    simulator, start_bot, tmp_path, caplog
):
    caplog.set_level(logging.INFO, logger="kit")
    yesterday = DAY.replace(hour=10) - timedelta(days=1)
    clock = JumpClock(yesterday, 100.0)
    sim = simulator(SimConfig(start=yesterday, jwt_lifetime_s=24 * 3600.0),
                    clock=clock)  # fmt: skip
    account = sim.account
    full = Credentials(account.api_key, account.client_code, account.mpin,
                       account.totp_secret)  # fmt: skip
    path = tmp_path / "kit.sqlite3"
    open_stack(sim.rest_url, full, SqliteStore(path, clock), clock).close()
    clock.jump(23 * 3600.0 - 60.0)  # a day later: 61 min left on the token
    sim.chaos.inject(SimFault.INVALID_TOKEN, "generate_tokens")  # no refresh
    # No TOTP secret: a person logs in again (`kit login`), as in the scenario.
    settings = bot_settings(
        tmp_path, api_key=account.api_key, client_code=account.client_code,
        mpin=account.mpin,
    )  # fmt: skip

    with running(start_bot(settings, simulator=sim)) as bot:
        warned = lambda: recent(bot, EventKind.TOKEN_EXPIRY_WARNING)  # noqa: E731
        wait_until(lambda: bool(warned()), 10.0, "the warning")
        bot.run_until(clock.now() + timedelta(minutes=2))  # more checks, no repeat
        # The person logs in; the bot takes the new session up by itself.
        again = open_stack(sim.rest_url, full, SqliteStore(path, clock), clock,
                           start_session=False)  # fmt: skip
        again.session.login()
        again.close()
        renewed = lambda: recent(bot, EventKind.SESSION_RENEWED)  # noqa: E731
        wait_until(lambda: bool(renewed()), 10.0, "the session taken up")
        bot.run_until(clock.now() + timedelta(minutes=1))

    events = stored_events(path, clock)
    (warning,) = of_kind(events, EventKind.TOKEN_EXPIRY_WARNING)
    assert warning.severity is Severity.WARNING
    assert warning.fields["fault"] == FaultKind.TOKEN_EXPIRY.value
    assert warning.fields["phase"] == "detected"
    assert warning.fields["minutes_left"] == 59
    assert warning.fields["age_h"] == pytest.approx(23.0, abs=0.05)
    assert "run `kit login`" in warning.fields["action"]
    assert warning.text.startswith("TOKEN EXPIRY WARNING: Angel One tokens expire "
                                   "in 59 min (token age 23.0 h)")  # fmt: skip
    assert warning.text.endswith("Do this within the hour to avoid a disconnection.")
    assert warning.needs_person
    assert of_kind(events, EventKind.SESSION_EXPIRED) == []
    closing = [e for e in of_kind(events, EventKind.SESSION_RENEWED)
               if e.fields.get("incident") == warning.fields["incident"]]  # fmt: skip
    assert closing and {e.fields["phase"] for e in closing} == {"recovered"}
    logged = [m for m in lines_of(caplog, "kit.ops.health", "health: TOKEN EXPIRY")]
    assert len(logged) == 1 and "run `kit login`" in logged[0]
    assert_plain_logs(caplog)


# The recovery matrix: insufficient margin.


def test_insufficient_margin_skips_the_trade_with_an_event_and_trading_goes_on(
    simulator, start_bot, tmp_path
):
    sim = simulator(SimConfig(start=DAY.replace(hour=10), speed=50.0))
    # A position of 1 crore asks 20 lakh of margin; paper capital is 10 lakh.
    settings = bot_settings(tmp_path, risk_position_value=10_000_000.0)
    strategy = BuyOnce(("SBIN-EQ",))

    with running(start_bot(settings, simulator=sim, strategy=strategy)) as bot:
        wait_until(lambda: bool(strategy.signals), 10.0, "a signal")
        wait_until(lambda: bool(recent(bot, EventKind.TRADE_SKIPPED)), 5.0, "a skip")
        status = bot.status()

    assert status.phase == "running"
    assert status.engine is not None and status.engine.positions == ()
    assert status.engine.trading_state == "active"
    events = stored_events(settings.store_path, sim.clock)
    (skipped,) = of_kind(events, EventKind.TRADE_SKIPPED)
    assert skipped.severity is Severity.WARNING
    assert skipped.fields["symbol"] == "SBIN-EQ"
    assert skipped.fields["fault"] == FaultKind.INSUFFICIENT_MARGIN.value
    assert skipped.fields["phase"] == "recovered"
    assert re.fullmatch(
        r"insufficient margin: needs [\d,]+\.\d\d, 1,000,000\.00 available",
        skipped.fields["reason"],
    )
    assert of_kind(events, EventKind.POSITION_OPENED) == []
