"""A whole REST stack against the simulator: transport, session, client, placer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pyotp
import pytest

from kit.broker.orders import OrderRequest
from kit.broker.retry import RetryPolicy
from kit.broker.session import Credentials
from kit.broker.stack import BrokerStack, open_stack
from kit.clock import IST
from kit.sim.runner import SimConfig
from kit.store import SqliteStore

MIDDAY = datetime(2026, 12, 3, 11, 0, tzinfo=IST)


@dataclass
class Stack:
    sim: Any
    broker: BrokerStack
    events: list[Any]

    def __getattr__(self, name: str) -> Any:  # transport, journal, session ...
        return getattr(self.broker, name)

    def buy(self, symbol: str = "SBIN-EQ", token: str = "3045", qty: int = 1) -> Any:
        return self.broker.placer.place(OrderRequest(symbol, token, "BUY", qty))


def credentials_of(sim: Any, *, totp: bool = True) -> Credentials:
    account = sim.account
    return Credentials(
        api_key=account.api_key,
        client_code=account.client_code,
        mpin=account.mpin,
        totp_secret=account.totp_secret if totp else None,
    )


@pytest.fixture
def stack_factory(simulator, tmp_path: Path):
    opened: list[BrokerStack] = []

    def build(
        config: SimConfig | None = None,
        *,
        plan: Any = None,
        totp: bool = True,
        read_timeout_s: float = 7.0,
        policy: RetryPolicy | None = None,
        **placer_options: Any,
    ) -> Stack:
        sim = simulator(config or SimConfig(start=MIDDAY, speed=50.0), plan=plan)
        events: list[Any] = []
        broker = open_stack(
            sim.rest_url,
            credentials_of(sim, totp=totp),
            SqliteStore(tmp_path / f"journal-{len(opened)}.sqlite3", sim.clock),
            sim.clock,
            read_timeout_s=read_timeout_s,
            # at 50x a few ms of real latency are 0.1-0.3 s of simulated time
            pacer_margin_s=0.3,
            policy=policy,
            on_event=events.append,
            start_session=totp,
            **placer_options,
        )
        opened.append(broker)
        if not totp:  # a person typed the TOTP once, as `kit login` asks
            code = pyotp.TOTP(sim.account.totp_secret).at(sim.clock.time())
            broker.session.login(totp=code)
        return Stack(sim, broker, events)

    yield build
    for broker in opened:
        broker.close()
