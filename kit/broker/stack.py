"""The REST side of the broker wired together: transport, journal, session,
client and order placer, opened and closed as one.

The journal is any :class:`~kit.broker.journal.Journal` (the kit's store,
opened by the caller: the broker never imports ``kit.store``). The stack takes
it over: :meth:`BrokerStack.close` closes it with the transport.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kit.broker.client import AngelClient
from kit.broker.http import Transport
from kit.broker.journal import Journal
from kit.broker.orders import OrderPlacer
from kit.broker.pacing import DEFAULT_MARGIN_S, Pacer
from kit.broker.retry import RetryPolicy
from kit.broker.session import BrokerSession, Credentials
from kit.clock import Clock


@dataclass
class BrokerStack:
    transport: Transport
    journal: Journal
    session: BrokerSession
    client: AngelClient
    placer: OrderPlacer

    def close(self) -> None:
        self.transport.close()
        self.journal.close()


def open_stack(
    rest_url: str,
    credentials: Credentials,
    journal: Journal,
    clock: Clock,
    *,
    read_timeout_s: float = 7.0,
    pacer_margin_s: float = DEFAULT_MARGIN_S,
    policy: RetryPolicy | None = None,
    on_event: Callable[[Any], None] | None = None,
    start_session: bool = True,
    **placer_options: Any,
) -> BrokerStack:
    """Open every part around ``journal``; with ``start_session`` resume or log
    in at once. The stack owns ``journal`` from here on: if opening fails, what
    was opened is closed, the journal too."""
    transport: Transport | None = None
    try:
        transport = Transport(
            rest_url, credentials.api_key, read_timeout_s=read_timeout_s
        )
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
    except BaseException:
        if transport is not None:
            transport.close()
        journal.close()
        raise
    return BrokerStack(transport, journal, session, client, placer)
