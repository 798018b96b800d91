"""kit.broker.routes: the table agrees with the protocol reference."""

from __future__ import annotations

from kit.broker.routes import (
    EXCHANGE_TYPE,
    FRAME_LENGTH,
    RATE_LIMITS,
    ROUTES,
    Exchange,
    Interval,
    Mode,
    RateLimit,
)


def test_every_route_has_a_rate_limit_group():
    assert {r.limit_group for r in ROUTES.values()} <= set(RATE_LIMITS)


def test_only_login_and_token_generation_are_not_secure():
    insecure = {name for name, r in ROUTES.items() if not r.secure}

    assert insecure == {"login", "generate_tokens"}


def test_order_changes_are_never_idempotent():
    for name in ("place_order", "modify_order", "cancel_order"):
        assert not ROUTES[name].idempotent


def test_order_routes_share_one_limit_group():
    groups = {ROUTES[n].limit_group for n in ("place_order", "cancel_order")}

    assert groups == {"orders"}
    assert RATE_LIMITS["orders"] == RateLimit(20, 500, 1000)


def test_rate_limit_windows_skip_unlimited_ones():
    assert RateLimit(per_second=3, per_hour=5000).windows() == [
        (1.0, 3),
        (3600.0, 5000),
    ]


def test_frame_lengths_and_candle_spans_match_the_reference():
    assert FRAME_LENGTH == {Mode.LTP: 51, Mode.QUOTE: 123, Mode.SNAP_QUOTE: 379,
                            Mode.DEPTH: 443}  # fmt: skip
    assert Interval.ONE_MINUTE.max_days == 30
    assert Interval.ONE_DAY.max_days == 2000
    assert Interval.FIVE_MINUTE.minutes == 5


def test_every_exchange_maps_to_a_feed_segment():
    assert set(EXCHANGE_TYPE) == set(Exchange)
    assert EXCHANGE_TYPE[Exchange.CDS] == 13
