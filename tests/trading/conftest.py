"""A live broker on the simulator: one SQLite store shared by the broker stack's
journal and the position book, opened again on the same file to restart."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from kit.broker.journal import Journal
from kit.broker.models import OrderEntry
from kit.broker.orders import OrderRequest
from kit.broker.stack import BrokerStack, open_stack
from kit.ops.events import ActivityEvent
from kit.sim.runner import SimConfig
from kit.store import SqliteStore
from kit.trading.live import LiveBroker
from kit.trading.positions import Instrument, PositionBook
from tests.broker.conftest import MIDDAY, credentials_of

SBIN = Instrument("SBIN-EQ", "3045")


class SimulatedCrash(BaseException):
    """The process dies here: nothing after it runs (not an Exception, so no
    handler of the kit catches it)."""


@dataclass
class LiveRig:
    """The simulator, and the kit's live side as one process would open it."""

    sim: Any
    path: Path
    store: SqliteStore
    stack: BrokerStack
    book: PositionBook
    broker: LiveBroker
    events: list[ActivityEvent] = field(default_factory=list)
    opened: list[LiveRig] = field(default_factory=list, repr=False)
    closed: bool = False

    @property
    def client_code(self) -> str:
        return str(self.sim.account.client_code)

    def restart(self, **options: Any) -> LiveRig:
        """Close this process's parts and open new ones on the same store file."""
        self.close()
        return open_rig(self.sim, self.path, self.opened, **options)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.stack.close()
        self.store.close()

    def sim_orders(self) -> list[dict[str, str]]:
        return self.sim.desk.order_book(self.client_code) or []

    def sim_position(self, symbol: str = "SBIN-EQ") -> dict[str, str] | None:
        held = self.sim.desk.positions(self.client_code) or []
        return next((p for p in held if p["tradingsymbol"] == symbol), None)

    def place_behind_the_kits_back(self, side: str, quantity: int, **body: str) -> None:
        """An order sent to the broker by someone else (no journal, no book)."""
        request = OrderRequest("SBIN-EQ", "3045", side, quantity)
        self.sim.desk.place(self.client_code, request.body("") | body)

    def kinds(self) -> list[str]:
        return [event.kind for event in self.events]

    def of_kind(self, kind: str) -> list[ActivityEvent]:
        return [event for event in self.events if event.kind == kind]


class CrashingJournal:
    """A journal that dies when an intent is about to be written ``crash_on``."""

    def __init__(self, journal: Journal, crash_on: str) -> None:
        self._journal = journal
        self._crash_on = crash_on

    def update(self, ordertag: str, state: Any, **changes: Any) -> Any:
        if str(state) == self._crash_on:
            raise SimulatedCrash(f"killed before {ordertag} became {state}")
        return self._journal.update(ordertag, state, **changes)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._journal, name)


class LaggingOrderBook:
    """The real client, except that its first ``reads`` order books show the
    kit's orders as still open with nothing filled (a slow exchange)."""

    def __init__(self, client: Any, reads: int) -> None:
        self._client = client
        self.reads_left = reads

    def order_book(self) -> list[OrderEntry]:
        entries = self._client.order_book()
        if self.reads_left <= 0:
            return list(entries)
        self.reads_left -= 1
        return [_as_open(entry) for entry in entries]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def _as_open(entry: OrderEntry) -> OrderEntry:
    return replace(entry, status="open", filled=0, average_price=0.0)


def open_rig(
    sim: Any,
    path: Path,
    opened: list[LiveRig],
    *,
    wrap: Callable[[Journal], Journal] | None = None,
    broker_options: Mapping[str, Any] | None = None,
    **placer_options: Any,
) -> LiveRig:
    store = SqliteStore(path, sim.clock)
    journal = wrap(store) if wrap else store
    placer_options.setdefault("resolve_budget_s", 5.0)
    stack = open_stack(
        sim.rest_url,
        credentials_of(sim),
        journal,
        sim.clock,
        # at 50x a few ms of real latency are 0.1-0.3 s of simulated time
        pacer_margin_s=0.3,
        owns_journal=False,
        **placer_options,
    )
    book = PositionBook("live", store, sim.clock)
    events: list[ActivityEvent] = []
    broker = LiveBroker(
        stack, book, sim.clock, emit=events.append, **(broker_options or {})
    )
    rig = LiveRig(sim, path, store, stack, book, broker, events, opened)
    opened.append(rig)
    return rig


@pytest.fixture
def live_rig(simulator, tmp_path: Path):
    """``live_rig(plan=..., wrap=..., broker_options=..., **placer_options)``:
    a simulator at 50x from 11:00 IST and a live broker on it."""
    opened: list[LiveRig] = []

    def build(*, plan: Any = None, **options: Any) -> LiveRig:
        sim = simulator(SimConfig(start=MIDDAY, speed=50.0), plan=plan)
        return open_rig(sim, tmp_path / "kit.sqlite3", opened, **options)

    yield build
    for rig in opened:
        rig.close()
