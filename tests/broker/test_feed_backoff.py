"""kit.broker.backoff: the reconnect policy and the attempt counter, as tables."""

from __future__ import annotations

import random

import pytest

from kit.broker.backoff import AttemptCounter, BackoffPolicy
from kit.broker.feed_config import FeedConfig
from kit.config import load_settings


class Fixed:
    """A random source that always answers ``value``."""

    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value


DEFAULT = BackoffPolicy()
USER = BackoffPolicy.user_design()


@pytest.mark.parametrize(
    ("attempt", "ceiling_s"),
    [(1, 0.0), (2, 1.0), (3, 2.0), (4, 4.0), (5, 8.0), (6, 16.0), (7, 30.0),
     (8, 30.0), (50, 30.0), (5000, 30.0)],
)  # fmt: skip
def test_default_retries_at_once_then_doubles_up_to_30_s(attempt, ceiling_s):
    assert DEFAULT.ceiling_s(attempt) == ceiling_s
    assert DEFAULT.delay_s(attempt, Fixed(1.0)) == ceiling_s
    assert DEFAULT.delay_s(attempt, Fixed(0.0)) == 0.0


@pytest.mark.parametrize(
    ("attempt", "delay_s"),
    [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 16.0), (6, 32.0), (7, 64.0),
     (8, 128.0), (9, 256.0), (10, 300.0)],
)  # fmt: skip
def test_user_design_waits_as_the_seed_table_says(attempt, delay_s):
    assert USER.delay_s(attempt, Fixed(0.3)) == delay_s  # no jitter


@pytest.mark.parametrize(
    ("policy", "attempt", "allowed"),
    [(USER, 10, True), (USER, 11, False), (DEFAULT, 10_000, True)],
)
def test_attempt_limits(policy, attempt, allowed):
    assert policy.allows(attempt) is allowed


@pytest.mark.parametrize(
    ("policy", "attempt", "text"),
    [(USER, 3, "3/10"), (DEFAULT, 3, "3")],
)
def test_attempts_are_described_with_their_limit(policy, attempt, text):
    assert policy.describe_attempt(attempt) == text


def test_full_jitter_spreads_delays_between_zero_and_the_ceiling():
    rng = random.Random(3)
    delays = [DEFAULT.delay_s(5, rng) for _ in range(2000)]

    assert min(delays) >= 0.0 and max(delays) <= 8.0
    assert min(delays) < 0.5 and max(delays) > 7.5
    assert 3.5 < sum(delays) / len(delays) < 4.5


@pytest.mark.parametrize(
    ("attempt", "rng", "delay_s"),
    [(1, 0.0, 30.0), (2, 0.5, 30.0), (40, 1.0, 30.0)],
)
def test_a_429_waits_at_least_the_limit_delay(attempt, rng, delay_s):
    assert DEFAULT.delay_s(attempt, Fixed(rng), limited=True) == delay_s


def test_alerts_at_chosen_attempts():
    policy = BackoffPolicy(alert_at_attempts=(3, 7))

    assert [n for n in range(1, 10) if policy.alerts_at(n)] == [3, 7]


@pytest.mark.parametrize(
    "options",
    [
        {"initial_delay_s": 0},
        {"initial_delay_s": 5, "max_delay_s": 1},
        {"multiplier": 0.5},
        {"max_attempts": 0},
        {"limit_delay_s": -1},
        {"stable_window_s": 0},
        {"alert_at_attempts": (0,)},
    ],
)
def test_contradictory_policies_are_refused(options):
    with pytest.raises(ValueError):
        BackoffPolicy(**options)


def test_attempt_zero_is_not_an_attempt():
    with pytest.raises(ValueError):
        DEFAULT.ceiling_s(0)


# The attempt counter.


def test_a_bare_handshake_does_not_reset_the_counter():
    counter = AttemptCounter(stable_window_s=30.0)
    attempts = []
    for second in range(5):  # accepted, dropped a second later, again and again
        counter.connected(second * 10.0)
        counter.data()
        counter.settle(second * 10.0 + 1.0, ticks_expected=True)
        attempts.append(counter.failed())

    assert attempts == [1, 2, 3, 4, 5]


@pytest.mark.parametrize(
    ("up_for_s", "ticked", "ticks_expected", "reset"),
    [
        (29.9, True, True, False),  # not long enough
        (30.0, True, True, True),
        (60.0, False, True, False),  # up, but no tick arrived
        (60.0, False, False, True),  # no tick expected (market closed)
    ],
)
def test_the_counter_resets_only_after_a_stable_window(
    up_for_s, ticked, ticks_expected, reset
):
    counter = AttemptCounter(stable_window_s=30.0)
    counter.failed()
    counter.failed()
    counter.connected(100.0)
    if ticked:
        counter.data()

    assert counter.settle(100.0 + up_for_s, ticks_expected=ticks_expected) is reset
    assert counter.attempt == (0 if reset else 2)


def test_a_counter_that_is_down_never_settles():
    counter = AttemptCounter(stable_window_s=30.0)
    counter.connected(0.0)
    counter.failed()

    assert counter.settle(1000.0, ticks_expected=False) is False
    assert counter.attempt == 1


def test_the_user_design_preset_is_selectable_in_settings():
    chosen = FeedConfig.from_settings(
        load_settings(feed_backoff="user_design", feed_stale_after_s=90)
    )

    assert chosen.backoff == BackoffPolicy.user_design()
    assert chosen.stale_after_s == 90
    assert FeedConfig.from_settings(load_settings()).backoff == BackoffPolicy()
