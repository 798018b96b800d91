"""Orders under lost replies: never a duplicate, never one the journal does not know."""

from __future__ import annotations

import collections
import os

import pytest

from kit.broker.models import OrderOutcome
from kit.sim.chaos import Fault, FaultKind, FaultPlan, RandomFault

TRIAL_ORDERS = int(os.environ.get("KIT_TRIAL_ORDERS", "120"))


def lost_reply_plan(seed: int) -> FaultPlan:
    kinds = [
        (FaultKind.LATE_ORDER, 0.08),
        (FaultKind.HANDLED_THEN_5XX, 0.08),
        (FaultKind.HANDLED_THEN_CUT, 0.08),
        (FaultKind.CUT_BEFORE, 0.05),
        (FaultKind.RATE_LIMIT, 0.05),
        (FaultKind.SERVER_ERROR, 0.04),
    ]
    faults = [RandomFault(Fault(k, "place_order", duration_s=60), r) for k, r in kinds]
    return FaultPlan(random=faults, seed=seed)


def test_the_order_safety_trial_places_each_intent_exactly_once(stack_factory):
    # LATE_ORDER holds a reply 60 simulated s (1.2 s real at 50x): past 0.5 s.
    stack = stack_factory(plan=lost_reply_plan(seed=11), read_timeout_s=0.5)
    client_code = stack.sim.account.client_code
    stack.sim.desk.set_cash(client_code, 1e12)

    results = [stack.buy() for _ in range(TRIAL_ORDERS)]

    book = stack.sim.desk.order_book(client_code) or []
    per_tag = collections.Counter(order["ordertag"] for order in book)
    journal_tags = {r.ordertag for r in results}
    duplicates = [tag for tag, n in per_tag.items() if n > 1]
    strangers = [tag for tag in per_tag if stack.journal.get_intent(tag) is None]
    injected = collections.Counter(e.kind for e in stack.sim.chaos.log)

    outcomes = collections.Counter(r.outcome for r in results)
    accepted = {r.ordertag for r in results if r.outcome is OrderOutcome.ACCEPTED}
    unknown = {r.ordertag for r in results if r.outcome is OrderOutcome.UNKNOWN}
    assert duplicates == []
    assert strangers == []
    assert set(per_tag) <= journal_tags
    assert set(per_tag) == accepted  # every accepted order exists, once
    assert not unknown & set(per_tag)  # an unknown one was never placed
    assert outcomes[OrderOutcome.REJECTED] == 0
    assert outcomes[OrderOutcome.UNKNOWN] <= TRIAL_ORDERS // 100 + 1
    # The plan really hit every kind of lost reply.
    for kind in (FaultKind.LATE_ORDER, FaultKind.HANDLED_THEN_5XX,
                 FaultKind.HANDLED_THEN_CUT, FaultKind.CUT_BEFORE):  # fmt: skip
        assert injected[kind] > 0, kind


@pytest.mark.parametrize(
    ("kind", "sends"),
    [
        (FaultKind.HANDLED_THEN_5XX, 1),  # found in the book: not sent again
        (FaultKind.HANDLED_THEN_CUT, 1),
        (FaultKind.CUT_BEFORE, 2),  # provably absent: sent again, same tag
    ],
)
def test_a_lost_reply_is_resolved_through_the_order_book(stack_factory, kind, sends):
    stack = stack_factory(resolve_budget_s=5.0)
    stack.sim.chaos.inject(kind, "place_order")

    result = stack.buy()

    assert result.outcome is OrderOutcome.ACCEPTED
    assert result.attempts == sends
    orders = stack.sim.desk.order_book(stack.sim.account.client_code) or []
    assert [o["ordertag"] for o in orders] == [result.ordertag]
    assert stack.journal.get_intent(result.ordertag).state == "accepted"


def test_a_rate_limited_order_is_sent_again_with_the_same_tag(stack_factory):
    stack = stack_factory()
    stack.sim.chaos.inject(FaultKind.RATE_LIMIT, "place_order", count=2)

    result = stack.buy()

    assert result.outcome is OrderOutcome.ACCEPTED
    orders = stack.sim.desk.order_book(stack.sim.account.client_code) or []
    assert len(orders) == 1


def test_insufficient_margin_is_rejected_with_the_reason_and_not_retried(stack_factory):
    stack = stack_factory()
    stack.sim.desk.set_cash(stack.sim.account.client_code, 100.0)

    result = stack.buy(qty=100)

    assert result.outcome is OrderOutcome.REJECTED
    assert "nsufficient" in result.reason
    assert stack.sim.desk.counters()["received"] == 1
    assert stack.journal.get_intent(result.ordertag).state == "rejected"


def test_an_invalid_symbol_is_rejected_at_once(stack_factory):
    stack = stack_factory()

    result = stack.buy(symbol="NOSUCH-EQ", token="999999")

    assert result.outcome is OrderOutcome.REJECTED
    assert "AB1009" in result.reason


def test_an_order_never_found_ends_unknown_with_an_event(stack_factory):
    stack = stack_factory(resolve_budget_s=3.0)
    stack.sim.chaos.inject(FaultKind.CUT_BEFORE, "place_order", count=3)

    result = stack.buy()

    assert result.outcome is OrderOutcome.UNKNOWN
    assert stack.journal.get_intent(result.ordertag).state == "unknown"
    assert any(getattr(e, "kind", "") == "order_unknown" for e in stack.events)
    assert stack.sim.desk.order_book(stack.sim.account.client_code) is None
