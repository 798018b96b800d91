"""The REST side of the broker wired together: transport, journal, session,
client and order placer, opened and closed as one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kit.broker.client import AngelClient
from kit.broker.http import Transport
from kit.broker.journal import SqliteJournal
from kit.broker.orders import OrderPlacer
from kit.broker.pacing import DEFAULT_MARGIN_S, Pacer
from kit.broker.retry import RetryPolicy
from kit.broker.session import BrokerSession, Credentials
from kit.clock import Clock


@dataclass
class BrokerStack:
    transport: Transport
    journal: SqliteJournal
    session: BrokerSession
    client: AngelClient
    placer: OrderPlacer

    def close(self) -> None:
        self.transport.close()
        self.journal.close()


def open_stack(
    rest_url: str,
    credentials: Credentials,
    journal_path: str | Path,
    clock: Clock,
    *,
    read_timeout_s: float = 7.0,
    pacer_margin_s: float = DEFAULT_MARGIN_S,
    policy: RetryPolicy | None = None,
    on_event: Callable[[Any], None] | None = None,
    start_session: bool = True,
    **placer_options: Any,
) -> BrokerStack:
    """Open every part; with ``start_session`` resume or log in at once."""
    transport = Transport(rest_url, credentials.api_key, read_timeout_s=read_timeout_s)
    journal = SqliteJournal(journal_path, clock)
    session = BrokerSession(transport, credentials, journal, clock, events=on_event)
    if start_session:
        session.start()
    client = AngelClient(
        transport,
        session,
        clock=clock,
        pacer=Pacer(clock, margin_s=pacer_margin_s),
        policy=policy,
    )
    placer = OrderPlacer(client, journal, on_event=on_event, **placer_options)
    return BrokerStack(transport, journal, session, client, placer)
