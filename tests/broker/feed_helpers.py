"""Helpers for the feed's tests on the simulator: a credentials provider that
logs in, an event recorder, polling with a real timeout, and a fixture that
stops every feed and checks its threads ended."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, TypeVar

import pyotp
import pytest

from kit.broker.feed import FeedCredentials, ResilientFeed
from kit.broker.feed_events import FeedEvent
from kit.broker.routes import Mode
from kit.clock import IST
from kit.sim.instruments import NSE_INSTRUMENTS

E = TypeVar("E", bound=FeedEvent)

SESSION = datetime(2026, 12, 3, 10, 0, tzinfo=IST)  # a Thursday, mid-session
SPEED = 50.0  # one simulated second every 20 ms
KNOWN = [i.token for i in NSE_INSTRUMENTS if i.symbol.endswith("-EQ")]
assert len(KNOWN) >= 50


class Fixed:
    """A random source that always answers ``value`` (jitter chosen by the test)."""

    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value


class Timeline:
    """Everything that happened, in order: feed events and provider calls."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.entries: list[Any] = []

    def add(self, entry: Any) -> None:
        with self._lock:
            self.entries.append(entry)

    def snapshot(self) -> list[Any]:
        with self._lock:
            return list(self.entries)

    def of(self, kind: type[E]) -> list[E]:
        return [e for e in self.snapshot() if isinstance(e, kind)]

    def wait_for(
        self, kind: type[E], count: int = 1, timeout_real_s: float = 10.0
    ) -> list[E]:
        wait_until(lambda: len(self.of(kind)) >= count, timeout_real_s,
                   f"{count} {kind.__name__} events")  # fmt: skip
        return self.of(kind)


class Provider:
    """Logs in to the simulator; records each call (and ``refresh``) on a timeline."""

    def __init__(self, sim: Any, timeline: Timeline) -> None:
        self.sim = sim
        self.timeline = timeline
        self.calls: list[bool] = []
        self.issued: list[FeedCredentials] = []

    def __call__(self, *, refresh: bool = False) -> FeedCredentials:
        self.calls.append(refresh)
        self.timeline.add(("provider", refresh))
        account = self.sim.account
        totp = pyotp.TOTP(account.totp_secret).at(self.sim.clock.time())
        tokens = self.sim.auth.login(
            account.client_code, account.mpin, totp, account.api_key
        )
        creds = FeedCredentials(
            tokens.jwt_token, account.api_key, account.client_code, tokens.feed_token
        )
        self.issued.append(creds)
        return creds

    def secrets(self) -> set[str]:
        found = {self.sim.account.api_key, self.sim.account.client_code}
        for creds in self.issued:
            found.update(creds.secrets())
        return found


def warmed(sim: Any) -> Any:
    """``sim`` with the price paths of every known token built.

    The simulator builds a token's day on its first tick, which takes a few
    real milliseconds each; at 50 simulated seconds a real second that pause
    would look like a silent feed to the feed under test.
    """
    for token in KNOWN:
        sim.market.tick(token, Mode.LTP, sim.clock.time())
    return sim


def wait_until(
    predicate: Callable[[], bool], timeout_real_s: float = 10.0, what: str = ""
) -> None:
    """Poll ``predicate`` every few real milliseconds until true or timeout."""
    deadline = time.monotonic() + timeout_real_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_real_s} s: {what}")
        time.sleep(0.005)


def drain(feed: ResilientFeed) -> list[Any]:
    """Every tick in the queue now."""
    ticks = []
    while not feed.ticks.empty():
        ticks.append(feed.ticks.get_nowait())
    return ticks


def tokens_ticking(feed: ResilientFeed, tokens: list[str], after_s: float) -> bool:
    """Whether every token has ticked after wall time ``after_s``."""
    last = feed.status().last_tick_at
    return all(last.get((1, token), 0.0) > after_s for token in tokens)


@pytest.fixture
def feed_factory(
    simulator: Any,
) -> Iterator[Callable[..., tuple[ResilientFeed, Timeline, Any]]]:
    """Build feeds on a simulator; stop them after the test, threads joined.

    It asks for ``simulator`` so that its feeds stop before the simulators do.
    """
    made: list[ResilientFeed] = []

    def build(
        sim: Any, *, provider: Provider | None = None, **options: Any
    ) -> tuple[ResilientFeed, Timeline, Provider]:
        timeline = provider.timeline if provider else Timeline()
        provider = provider or Provider(sim, timeline)
        options.setdefault("clock", sim.clock)
        feed = ResilientFeed(sim.feed_url, provider, on_event=timeline.add, **options)
        made.append(feed)
        return feed, timeline, provider

    yield build
    for feed in made:
        assert feed.stop(timeout_real_s=5.0) == ()
