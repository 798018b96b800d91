"""Risk: the trading state with hysteresis, entry limits, margin, kill switch."""

from __future__ import annotations

from datetime import datetime

import pytest

from kit.clock import IST, ManualClock
from kit.errors import NetworkError
from kit.ops.events import ActivityEvent, EventKind
from kit.trading.risk import Risk, RiskLimits, TradingState

START = datetime(2026, 12, 3, 10, 0, tzinfo=IST)


def make_risk(
    margin: float | None = 1e9, **limits: float
) -> tuple[Risk, ManualClock, list[ActivityEvent]]:
    clock = ManualClock(START)
    events: list[ActivityEvent] = []
    risk = Risk(
        RiskLimits(**limits),  # type: ignore[arg-type]
        clock,
        margin_available=None if margin is None else (lambda: margin),
        emit=events.append,
    )
    return risk, clock, events


def test_a_restriction_applies_at_once_and_lifts_only_after_the_hold_window():
    risk, clock, events = make_risk(resume_after_s=120)

    risk.set_state(TradingState.REDUCING, "feed down", source="health")
    assert risk.state is TradingState.REDUCING

    risk.set_state(TradingState.ACTIVE, "feed back", source="health")
    clock.advance(119)
    assert risk.state is TradingState.REDUCING
    clock.advance(1)
    assert risk.state is TradingState.ACTIVE

    kinds = [(e.kind, e.fields["state"]) for e in events]
    assert kinds == [
        (EventKind.TRADING_STATE_CHANGED, "reducing"),
        (EventKind.TRADING_STATE_CHANGED, "active"),
    ]


def test_a_flapping_source_restarts_the_hold_window():
    risk, clock, _ = make_risk(resume_after_s=60)
    risk.set_state(TradingState.HALTED, "no data", source="degradation")
    risk.set_state(TradingState.ACTIVE, "data back", source="degradation")
    clock.advance(50)
    risk.set_state(TradingState.HALTED, "no data again", source="degradation")
    risk.set_state(TradingState.ACTIVE, "data back", source="degradation")
    clock.advance(50)

    assert risk.state is TradingState.HALTED
    clock.advance(10)
    assert risk.state is TradingState.ACTIVE


def test_the_strictest_source_wins():
    risk, _, _ = make_risk(resume_after_s=0)
    risk.set_state(TradingState.REDUCING, "user pause", source="user")
    risk.set_state(TradingState.HALTED, "critical", source="health")
    assert risk.state is TradingState.HALTED

    risk.set_state(TradingState.ACTIVE, "ok", source="health")
    assert risk.state is TradingState.REDUCING
    assert set(risk.restrictions()) == {"user"}


def test_an_entry_is_sized_to_the_position_value_and_checked_against_margin():
    risk, _, _ = make_risk(margin=10_000.0, position_value=50_000.0, margin_rate=0.2)

    decision = risk.check_entry("SBIN-EQ", 800.0, open_positions=0)

    assert decision and decision.quantity == 62  # 62 x 800 = 49,600; margin 9,920


def test_insufficient_margin_skips_the_trade_with_an_event():
    risk, _, events = make_risk(margin=5_000.0, position_value=50_000.0)

    decision = risk.check_entry("INFY-EQ", 1_500.0, open_positions=0)

    assert not decision
    assert decision.reason.startswith("insufficient margin")
    (event,) = events
    assert event.kind == EventKind.TRADE_SKIPPED
    assert event.fields["fault"] == "insufficient_margin"
    assert risk.skipped == 1


def test_unknown_margin_refuses_the_entry():
    def failing() -> float:
        raise NetworkError("connection refused", sent=False)

    risk, _, _ = make_risk()
    risk.margin_available = failing

    decision = risk.check_entry("TCS-EQ", 3_000.0, open_positions=0)

    assert not decision and "margin unknown" in decision.reason


@pytest.mark.parametrize(
    ("open_positions", "price", "expected"),
    [
        (5, 100.0, "positions open"),
        (0, 60_000.0, "exceeds the value limit"),
        (0, float("nan"), "no usable price"),
    ],
)
def test_entry_limits(open_positions: int, price: float, expected: str):
    risk, _, _ = make_risk(max_open_positions=5, position_value=50_000.0)

    decision = risk.check_entry("SBIN-EQ", price, open_positions=open_positions)

    assert not decision and expected in decision.reason


def test_orders_per_minute_and_per_second_are_limited():
    risk, clock, _ = make_risk(max_orders_per_minute=12)
    for _ in range(10):
        risk.order_sent()

    assert "last second" in risk.check_entry("SBIN-EQ", 100.0, 0).reason
    assert risk.exit_wait_s() == pytest.approx(1.0)

    clock.advance(1.0)
    assert risk.exit_wait_s() == 0.0
    risk.order_sent()
    risk.order_sent()
    assert "last minute" in risk.check_entry("SBIN-EQ", 100.0, 0).reason

    clock.advance(59.5)
    assert risk.check_entry("SBIN-EQ", 100.0, 0)


def test_the_daily_loss_kill_switch_latches_until_a_new_day():
    risk, clock, events = make_risk(daily_loss_limit=5_000.0, resume_after_s=0)

    risk.on_day_pnl(-4_999.0)
    assert risk.state is TradingState.ACTIVE
    risk.on_day_pnl(-5_000.0)
    assert risk.state is TradingState.HALTED
    risk.on_day_pnl(100.0)  # a recovery the same day does not lift it
    clock.advance(3600)
    assert risk.state is TradingState.HALTED
    with pytest.raises(ValueError, match="new_day"):
        risk.set_state(TradingState.ACTIVE, "try", source="kill_switch")

    risk.new_day()
    assert risk.state is TradingState.ACTIVE
    assert "daily loss 5,000.00" in events[0].text


def test_exits_while_halted_only_protective():
    risk, _, _ = make_risk()
    risk.set_state(TradingState.HALTED, "critical", source="health")

    assert risk.check_exit("SBIN-EQ", protective=True)
    assert not risk.check_exit("SBIN-EQ", protective=False)
    assert not risk.check_entry("SBIN-EQ", 100.0, 0)

    risk.set_state(TradingState.REDUCING, "less critical", source="health")
    # REDUCING is milder, but the hold window keeps HALTED for now.
    assert risk.state is TradingState.HALTED


def test_a_persons_resume_lifts_at_once_unless_another_lift_is_waiting():
    risk, clock, _ = make_risk(resume_after_s=120)
    risk.set_state(TradingState.REDUCING, "paused", source="user", at_once=True)
    assert risk.state is TradingState.REDUCING

    risk.set_state(TradingState.ACTIVE, "resumed", source="user", at_once=True)
    assert risk.state is TradingState.ACTIVE  # no hold window for a person

    risk.set_state(TradingState.REDUCING, "feed down", source="health")
    risk.set_state(TradingState.REDUCING, "paused", source="user", at_once=True)
    risk.set_state(TradingState.ACTIVE, "feed back", source="health")
    clock.advance(30)
    risk.set_state(TradingState.ACTIVE, "resumed", source="user", at_once=True)
    assert risk.state is TradingState.REDUCING  # health's lift was 30 s ago
    clock.advance(119)
    assert risk.state is TradingState.REDUCING
    clock.advance(1)
    assert risk.state is TradingState.ACTIVE
