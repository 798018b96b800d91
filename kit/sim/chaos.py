"""Fault plans for the simulator: what goes wrong, when, and a record of it.

A plan is scripted (at a time, fault F on target X, ``count`` times) or random
(a seeded probability per fault kind on every chance to inject it), or both.
The REST routes ask :meth:`Chaos.rest_fault` once per request, the feed asks
:meth:`Chaos.upgrade_fault` on every WebSocket upgrade and
:meth:`Chaos.feed_fault` on every send cycle of every connection. Whatever is
injected is recorded once, with its simulated time, kind, target and a detail,
so a test can compare what a client saw with what really happened.

Targets: a REST route name from ``kit.broker.routes.ROUTES`` (``"place_order"``,
``"candles"`` ...), ``"rest"`` for any route, ``"feed"`` for any connection or
``"feed:<n>"`` for connection ``n``.

A plan in text, for ``kit sim --chaos`` (entries separated by ``;``)::

    at=09:30:00 kind=tcp_abort target=feed
    at=+60 kind=rate_limit target=candles count=3
    random kind=ab1004 rate=0.02 target=rest
    at=10:00 kind=silent_stall target=feed duration=45

The ``handled_then_*`` kinds carry the request out (an order is placed) before
the reply goes wrong: the cases where a client cannot know what happened.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, time
from enum import StrEnum

from kit.clock import IST, Clock


class FaultKind(StrEnum):
    # On an open feed connection.
    CLEAN_CLOSE = "clean_close"  # a close frame (1000, or ``status``)
    TCP_ABORT = "tcp_abort"  # the TCP connection reset, no close frame
    SILENT_STALL = "silent_stall"  # no data and no pong for ``duration_s``
    MALFORMED_FRAME = "malformed_frame"  # a binary frame of the wrong length
    # On a feed upgrade.
    UPGRADE_401 = "upgrade_401"
    UPGRADE_429 = "upgrade_429"
    # On a REST request.
    RATE_LIMIT = "rate_limit"  # plain-text 403
    INVALID_TOKEN = "invalid_token"  # AG8001 in the gateway dialect
    SERVER_ERROR = "server_error"  # HTTP 5xx (``status``, 503 by default)
    AB1004 = "ab1004"  # "Something Went Wrong", data null
    EMPTY_BODY = "empty_body"
    HTML_REJECTION = "html_rejection"  # a WAF "Request Rejected" page
    LATENCY = "latency"  # the reply held back ``duration_s``
    LATE_ORDER = "late_order"  # the order recorded, its reply held back
    HANDLED_THEN_5XX = "handled_then_5xx"  # the request carried out, a 5xx sent
    HANDLED_THEN_CUT = "handled_then_cut"  # carried out, the connection cut
    CUT_BEFORE = "cut_before"  # the connection cut before the request is read
    HISTORY_BEFORE_OPEN = "history_before_open"  # candles refused pre-open
    # On the whole simulator.
    EXPIRE_TOKENS = "expire_tokens"  # every token invalidated at once


FEED_FAULTS = frozenset(
    {
        FaultKind.CLEAN_CLOSE,
        FaultKind.TCP_ABORT,
        FaultKind.SILENT_STALL,
        FaultKind.MALFORMED_FRAME,
    }
)
UPGRADE_FAULTS = frozenset({FaultKind.UPGRADE_401, FaultKind.UPGRADE_429})
REST_FAULTS = frozenset(FaultKind) - FEED_FAULTS - UPGRADE_FAULTS


@dataclass(frozen=True)
class Fault:
    """One fault to inject. ``status`` and ``duration_s`` tune some kinds."""

    kind: FaultKind
    target: str = "*"
    duration_s: float = 0.0
    status: int | None = None

    def matches(self, target: str) -> bool:
        if self.target in ("*", target):
            return True
        family = target.split(":", 1)[0]
        if self.target == "feed":
            return family == "feed"
        return self.target == "rest" and family != "feed"


@dataclass
class ScheduledFault:
    """A fault due from simulated time ``at_s`` on, ``count`` times."""

    at_s: float
    fault: Fault
    count: int = 1


@dataclass(frozen=True)
class RandomFault:
    """A fault injected with probability ``rate`` at each chance."""

    fault: Fault
    rate: float


@dataclass(frozen=True)
class InjectedFault:
    """The record of one injection."""

    at: datetime
    kind: FaultKind
    target: str
    detail: str = ""

    def as_dict(self) -> dict[str, str]:
        return {
            "at": self.at.isoformat(),
            "kind": str(self.kind),
            "target": self.target,
            "detail": self.detail,
        }


@dataclass
class FaultPlan:
    scheduled: list[ScheduledFault] = field(default_factory=list)
    random: list[RandomFault] = field(default_factory=list)
    seed: int = 0


class Chaos:
    """Hands out due faults and records every injection and every count."""

    def __init__(self, clock: Clock, plan: FaultPlan | None = None) -> None:
        self.clock = clock
        self.plan = plan or FaultPlan()
        self._rng = random.Random(self.plan.seed)
        self._lock = threading.Lock()
        self._log: list[InjectedFault] = []
        self.counts: Counter[str] = Counter()

    def inject(
        self,
        kind: FaultKind | str,
        target: str = "*",
        *,
        count: int = 1,
        duration_s: float = 0.0,
        status: int | None = None,
    ) -> None:
        """Schedule a fault for the next chance, now (tests and the admin route)."""
        fault = Fault(FaultKind(kind), target, duration_s, status)
        with self._lock:
            self.plan.scheduled.append(ScheduledFault(self.clock.time(), fault, count))

    def rest_fault(self, route: str) -> Fault | None:
        return self._take(route, REST_FAULTS)

    def upgrade_fault(self) -> Fault | None:
        return self._take("feed", UPGRADE_FAULTS)

    def feed_fault(self, connection_id: int) -> Fault | None:
        return self._take(f"feed:{connection_id}", FEED_FAULTS)

    def take_global(self) -> Fault | None:
        """A due simulator-wide fault (EXPIRE_TOKENS), if any."""
        return self._take("sim", frozenset({FaultKind.EXPIRE_TOKENS}))

    def record(self, kind: FaultKind, target: str, detail: str = "") -> None:
        """Note an injection that was carried out."""
        entry = InjectedFault(self.clock.now(), kind, target, detail)
        with self._lock:
            self._log.append(entry)
            self.counts[f"fault.{kind}"] += 1

    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.counts[name] += n

    @property
    def log(self) -> list[InjectedFault]:
        with self._lock:
            return list(self._log)

    def _take(self, target: str, kinds: frozenset[FaultKind]) -> Fault | None:
        now = self.clock.time()
        with self._lock:
            for entry in self.plan.scheduled:
                fault = entry.fault
                due = entry.count > 0 and entry.at_s <= now
                if due and fault.kind in kinds and fault.matches(target):
                    entry.count -= 1
                    return fault
            for chance in self.plan.random:
                fault = chance.fault
                eligible = fault.kind in kinds and fault.matches(target)
                if eligible and self._rng.random() < chance.rate:
                    return fault
        return None


def parse_plan(text: str, *, start: datetime, seed: int = 0) -> FaultPlan:
    """Read a plan written as in this module's docstring.

    ``at=HH:MM[:SS]`` is a time of the simulated day that starts at ``start``;
    ``at=+N`` is N seconds after ``start``. Raises ValueError naming the entry.
    """
    plan = FaultPlan(seed=seed)
    for raw in filter(None, (part.strip() for part in text.split(";"))):
        try:
            _parse_entry(raw, plan, start)
        except (KeyError, ValueError) as exc:
            raise ValueError(f"chaos plan entry {raw!r}: {exc}") from None
    return plan


def _parse_entry(raw: str, plan: FaultPlan, start: datetime) -> None:
    words = raw.split()
    is_random = words[0] == "random"
    fields = dict(w.split("=", 1) for w in words[is_random:])
    fault = Fault(
        FaultKind(fields.pop("kind")),
        fields.pop("target", "*"),
        float(fields.pop("duration", 0)),
        int(fields["status"]) if "status" in fields else None,
    )
    fields.pop("status", None)
    if is_random:
        rate = float(fields.pop("rate"))
        if not 0 <= rate <= 1:
            raise ValueError("rate must be between 0 and 1")
        plan.random.append(RandomFault(fault, rate))
    else:
        at_s = _parse_at(fields.pop("at"), start)
        plan.scheduled.append(ScheduledFault(at_s, fault, int(fields.pop("count", 1))))
    if fields:
        raise ValueError(f"unknown keys {sorted(fields)}")


def _parse_at(value: str, start: datetime) -> float:
    if value.startswith("+"):
        return start.timestamp() + float(value[1:])
    moment = time.fromisoformat(value)
    local = start.astimezone(IST)
    return datetime.combine(local.date(), moment, tzinfo=IST).timestamp()
