"""The REST side of the broker wired together: transport, journal, session,
client and order placer, opened and closed as one.

The journal is any :class:`~kit.broker.journal.Journal` (the kit's store,
opened by the caller: the broker never imports ``kit.store``). By default the
stack takes it over and :meth:`BrokerStack.close` closes it with the
transport; with ``owns_journal=False`` (a store the bot shares with its other
parts) the caller closes it.

Events: ``on_event`` receives both the session's and the order placer's
events; ``on_session_event`` and ``on_order_event`` receive one kind each;
``observer`` sees the client's retries (:class:`~kit.broker.retry.RetryNotice`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kit.broker.client import AngelClient
from kit.broker.http import Transport
from kit.broker.journal import Journal
from kit.broker.orders import OrderEvent, OrderPlacer
from kit.broker.pacing import DEFAULT_MARGIN_S, Pacer
from kit.broker.retry import RetryObserver, RetryPolicy
from kit.broker.session import BrokerSession, Credentials
from kit.broker.session_types import SessionEvent
from kit.clock import Clock


@dataclass
class BrokerStack:
    transport: Transport
    journal: Journal
    session: BrokerSession
    client: AngelClient
    placer: OrderPlacer
    owns_journal: bool = True

    def close(self) -> None:
        self.transport.close()
        if self.owns_journal:
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
    on_session_event: Callable[[SessionEvent], None] | None = None,
    on_order_event: Callable[[OrderEvent], None] | None = None,
    observer: RetryObserver | None = None,
    start_session: bool = True,
    owns_journal: bool = True,
    **placer_options: Any,
) -> BrokerStack:
    """Open every part around ``journal``; with ``start_session`` resume or log
    in at once. If opening fails, what was opened is closed (the journal too
    when the stack owns it)."""
    transport: Transport | None = None
    try:
        transport = Transport(
            rest_url, credentials.api_key, read_timeout_s=read_timeout_s
        )
        session = BrokerSession(
            transport,
            credentials,
            journal,
            clock,
            events=on_session_event or on_event,
        )
        if start_session:
            session.start()
        client = AngelClient(
            transport,
            session,
            clock=clock,
            pacer=Pacer(clock, margin_s=pacer_margin_s),
            policy=policy,
            observer=observer,
        )
        placer = OrderPlacer(
            client, journal, on_event=on_order_event or on_event, **placer_options
        )
    except BaseException:
        if transport is not None:
            transport.close()
        if owns_journal:
            journal.close()
        raise
    return BrokerStack(transport, journal, session, client, placer, owns_journal)
