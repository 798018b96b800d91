"""kit.sim.chaos: fault plans hand out faults when due, and every injection is kept."""

from __future__ import annotations

from datetime import datetime

import pytest

from kit.clock import IST, ManualClock
from kit.sim.chaos import (
    Chaos,
    Fault,
    FaultKind,
    FaultPlan,
    RandomFault,
    ScheduledFault,
    parse_plan,
)

START = datetime(2026, 12, 3, 9, 0, tzinfo=IST)


def test_a_scheduled_fault_is_due_from_its_time_and_only_count_times():
    clock = ManualClock(START)
    plan = FaultPlan(
        scheduled=[ScheduledFault(START.timestamp() + 60, Fault(FaultKind.AB1004), 2)]
    )
    chaos = Chaos(clock, plan)

    assert chaos.rest_fault("candles") is None
    clock.advance(60)

    assert chaos.rest_fault("candles") == Fault(FaultKind.AB1004)
    assert chaos.rest_fault("ltp") == Fault(FaultKind.AB1004)
    assert chaos.rest_fault("ltp") is None


@pytest.mark.parametrize(
    ("target", "asked", "due"),
    [
        ("candles", "candles", True),
        ("candles", "ltp", False),
        ("rest", "place_order", True),
        ("rest", "feed:3", False),
        ("feed", "feed:3", True),
        ("feed:2", "feed:3", False),
        ("*", "feed:3", True),
    ],
)
def test_targets_name_a_route_a_family_or_one_connection(target, asked, due):
    chaos = Chaos(ManualClock(START))
    kind = FaultKind.TCP_ABORT if asked.startswith("feed") else FaultKind.AB1004
    chaos.inject(kind, target)

    taken = chaos.feed_fault(3) if asked.startswith("feed") else chaos.rest_fault(asked)

    assert (taken is not None) is due


def test_faults_only_reach_the_place_they_belong():
    chaos = Chaos(ManualClock(START))
    chaos.inject(FaultKind.TCP_ABORT)
    chaos.inject(FaultKind.UPGRADE_429)

    assert chaos.rest_fault("ltp") is None
    assert chaos.upgrade_fault() == Fault(FaultKind.UPGRADE_429)
    assert chaos.feed_fault(1) == Fault(FaultKind.TCP_ABORT)


def test_random_faults_follow_their_rate_and_seed():
    def hits(seed: int) -> list[bool]:
        plan = FaultPlan(random=[RandomFault(Fault(FaultKind.AB1004), 0.25)], seed=seed)
        chaos = Chaos(ManualClock(START), plan)
        return [chaos.rest_fault("ltp") is not None for _ in range(2000)]

    first = hits(1)

    assert first == hits(1)
    assert 400 < sum(first) < 600


def test_every_injection_is_recorded_with_time_kind_and_target():
    clock = ManualClock(START)
    chaos = Chaos(clock)
    clock.advance(30)

    chaos.record(FaultKind.TCP_ABORT, "feed:1", "reset after 20 frames")

    (entry,) = chaos.log
    assert entry.at == datetime(2026, 12, 3, 9, 0, 30, tzinfo=IST)
    assert entry.as_dict()["kind"] == "tcp_abort"
    assert chaos.counts["fault.tcp_abort"] == 1


def test_a_plan_in_text_reads_times_offsets_and_random_entries():
    plan = parse_plan(
        "at=09:30:00 kind=tcp_abort target=feed; at=+60 kind=rate_limit "
        "target=candles count=3; random kind=ab1004 rate=0.02 target=rest; "
        "at=10:00 kind=silent_stall target=feed duration=45",
        start=START,
        seed=5,
    )

    first, second, stall = plan.scheduled
    assert first.at_s == datetime(2026, 12, 3, 9, 30, tzinfo=IST).timestamp()
    assert (second.at_s, second.count) == (START.timestamp() + 60, 3)
    assert stall.fault.duration_s == 45
    assert plan.random == [RandomFault(Fault(FaultKind.AB1004, "rest"), 0.02)]
    assert plan.seed == 5


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("at=09:30 kind=meteor", "'meteor' is not a valid FaultKind"),
        ("random kind=ab1004 rate=2", "rate must be between 0 and 1"),
        ("at=09:30 kind=ab1004 colour=red", "unknown keys ['colour']"),
        ("kind=ab1004", "'at'"),
    ],
)
def test_a_bad_plan_entry_is_named(text, words):
    with pytest.raises(ValueError) as caught:
        parse_plan(text, start=START)

    assert text in str(caught.value)
    assert words in str(caught.value)
