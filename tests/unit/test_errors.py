"""kit.errors: the tree drawn in the docstring is the tree in the code."""

from __future__ import annotations

import re

import pytest

from kit import errors


def _drawn_tree() -> dict[str, str]:
    """Child -> parent, read from the box drawing in the module docstring."""
    parents: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    for line in (errors.__doc__ or "").splitlines():
        found = re.match(r"^\s*((?:[│ ]   )*)(?:[├└]── )?([A-Z]\w+)\s", line + " ")
        if not found or not hasattr(errors, found.group(2)):
            continue
        depth = len(found.group(1)) // 4 + (1 if "──" in line else 0)
        name = found.group(2)
        while stack and stack[-1][0] >= depth:
            stack.pop()
        if stack:
            parents[name] = stack[-1][1]
        stack.append((depth, name))
    return parents


def test_the_docstring_draws_every_error_class_under_its_real_parent():
    drawn = _drawn_tree()
    classes = {
        name: cls
        for name, cls in vars(errors).items()
        if isinstance(cls, type) and issubclass(cls, errors.KitError)
    }

    assert set(drawn) == set(classes) - {"KitError"}
    for child, parent in drawn.items():
        assert classes[child].__bases__ == (classes[parent],), child


def test_the_broker_code_prefixes_the_message():
    error = errors.ServerError("Something Went Wrong", code="AB1004", status=200)

    assert str(error) == "AB1004: Something Went Wrong"
    assert error.status == 200


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (errors.BrokerTimeout("read timed out", sent=True), errors.TransientError),
        (errors.RateLimited("exceeding access rate"), errors.TransientError),
        (errors.TokenExpired("expired", code="AG8002"), errors.AuthError),
        (errors.InsufficientMargin("funds"), errors.RejectedError),
        (errors.FrameError("bad", length=3, mode=1), errors.FeedError),
    ],
)
def test_callers_can_decide_by_kind_alone(error, kind):
    assert isinstance(error, kind)
    assert isinstance(error, errors.KitError)


def test_an_ambiguous_order_carries_its_ordertag():
    error = errors.AmbiguousOrderOutcome("read timeout", ordertag="kit-1a2b3c")

    assert error.ordertag == "kit-1a2b3c"


def test_a_refused_handshake_keeps_the_status_and_reason():
    error = errors.HandshakeRefused(
        "upgrade refused", status=401, reason="Invalid Header - Invalid Feed Token"
    )

    assert error.code == "401"
    assert error.reason.endswith("Invalid Feed Token")
