"""The Bot's parts, opened in order and closed in reverse (see :mod:`kit.bot`).

:func:`open_parts` runs on the bot's start thread: it may block on a login,
on history and on reconciliation, and checks ``stop`` between the steps.
Everything it opened before a failure is closed again before the error
propagates.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from kit.broker.feed import ResilientFeed
from kit.broker.feed_config import FeedConfig
from kit.broker.instruments import resolve
from kit.broker.routes import Mode
from kit.broker.session import Credentials, SessionEvent, SessionEventKind
from kit.broker.stack import BrokerStack, open_stack
from kit.clock import IST, Clock, NseCalendar, RealClock
from kit.config import Settings
from kit.market.bootstrap import CandleBootstrap
from kit.market.candle_book import CandleBook
from kit.market.history import BootstrapConfig, Symbol
from kit.ops.activity import ActivityFeed
from kit.ops.events import ActivityEvent, EventKind, FaultKind, Severity
from kit.ops.health import HealthMonitor
from kit.ops.health_sources import (
    OperationCounts,
    ScanStats,
    positions_health,
    sources_for,
)
from kit.ops.notify import Notifier
from kit.store import Store, open_store
from kit.trading.degradation import DegradationWatch, FeedView
from kit.trading.ema_cross import EmaCrossRsiAtr
from kit.trading.engine import Engine, EngineConfig, TradingBroker
from kit.trading.paper import PaperBroker
from kit.trading.positions import Instrument, PositionBook
from kit.trading.risk import Risk, RiskLimits
from kit.trading.scanner import Scanner, StrategyFailure
from kit.trading.strategy import Strategy

logger = logging.getLogger(__name__)

RUN_STATE = "run"  # the store's state document of the current run
INSTRUMENTS_STATE = "instruments"  # symbol -> token, as last resolved
RESTORE_DAYS = 5  # candles restored from the store: this many days back


@dataclass
class BotParts:
    """Everything the bot opened; :meth:`close` undoes it in reverse."""

    settings: Settings
    clock: Clock
    store: Store
    activity: ActivityFeed
    notifier: Notifier
    simulator: Any = None
    owns_simulator: bool = False
    stack: BrokerStack | None = None
    feed: ResilientFeed = field(init=False)
    bootstrap: CandleBootstrap = field(init=False)
    engine: Engine = field(init=False)
    health: HealthMonitor = field(init=False)
    risk: Risk = field(init=False)
    instruments: dict[str, Instrument] = field(default_factory=dict)

    def instruments_by_symbol(self) -> dict[str, Instrument]:
        return {i.symbol: i for i in self.instruments.values()}

    def interrupt(self) -> None:
        """Cut short a start still loading history (any thread): the
        bootstrap's attempts and waits end at once."""
        boot = getattr(self, "bootstrap", None)
        if boot is not None:
            boot.stop(timeout_real_s=0.0)

    def close(self, *, clean_stop: bool) -> bool:
        """Stop the threads, record the stop, close the rest; True when every
        thread ended in time."""
        ended = True
        for name in ("health", "bootstrap", "feed"):
            part = getattr(self, name, None)
            if part is None:
                continue
            with contextlib.suppress(Exception):
                result = part.stop(timeout_real_s=5.0)
                ended = ended and result in (True, (), None)
        text = "bot stopped" if clean_stop else "bot stopped; a thread did not end"
        self.activity.record(EventKind.BOT_STOPPED, Severity.INFO, text)
        with contextlib.suppress(Exception):
            self.store.save_state(RUN_STATE, _run_state(self.clock, running=False))
        self.activity.close()
        self.notifier.stop()
        if self.stack is not None:
            self.stack.close()
        self.store.close()
        if self.owns_simulator and self.simulator is not None:
            self.simulator.stop()
        return ended


def open_parts(
    settings: Settings,
    *,
    strategy: Strategy | None,
    simulator: Any,
    clock: Clock | None,
    stop: threading.Event,
    on_phase: Callable[[str], None],
    on_parts: Callable[[BotParts], None] = lambda parts: None,
) -> BotParts:
    """Open every part in order; ``on_parts`` gets them as soon as they exist
    (so a stop can :meth:`BotParts.interrupt` a start still loading history)."""
    owns_simulator = False
    if settings.broker == "simulator" and simulator is None:
        simulator, owns_simulator = _start_simulator(settings), True
    clock = clock or (simulator.clock if simulator is not None else RealClock())
    store = open_store(settings, clock)
    notifier = Notifier.from_settings(settings, clock).start()

    def notify(event: ActivityEvent) -> None:
        notifier.notify(event)

    activity = ActivityFeed(store, clock, subscribers=[notify])
    parts = BotParts(settings, clock, store, activity, notifier, simulator)
    parts.owns_simulator = owns_simulator
    on_parts(parts)
    try:
        _record_start(parts)
        on_phase("logging in")
        _open_broker(parts)
        if not stop.is_set():
            on_phase("bootstrapping")
            _open_market(parts, strategy or EmaCrossRsiAtr(), stop)
    except BaseException:
        parts.close(clean_stop=False)
        raise
    return parts


# The steps.


def _start_simulator(settings: Settings) -> Any:
    from kit.sim.runner import SimConfig, Simulator  # noqa: PLC0415

    sim = Simulator(SimConfig(seed=settings.sim_seed, speed=settings.sim_speed))
    sim.start()
    return sim


def _record_start(parts: BotParts) -> None:
    store, activity, clock = parts.store, parts.activity, parts.clock
    before = _safe_state(store, RUN_STATE)
    activity.record(
        EventKind.BOT_STARTED, Severity.INFO,
        f"bot started in {parts.settings.mode} mode ({parts.settings.broker})",
        mode=parts.settings.mode, broker=parts.settings.broker,
    )  # fmt: skip
    if before is not None and before.get("running"):
        last_seen_s = float(before.get("last_seen_s") or 0.0)
        activity.record(
            EventKind.CRASH_DETECTED, Severity.ERROR,
            "the last run ended without a clean stop; resuming from the store",
            fault=FaultKind.CRASH.value, last_seen_s=last_seen_s,
        )  # fmt: skip
    with contextlib.suppress(Exception):
        store.save_state(RUN_STATE, _run_state(clock, running=True))


def _open_broker(parts: BotParts) -> None:
    settings, activity, sim = parts.settings, parts.activity, parts.simulator
    credentials = credentials_for(settings, sim)
    rest_url = sim.rest_url if sim is not None else settings.rest_url
    parts.stack = open_stack(
        rest_url,
        credentials,
        parts.store,
        parts.clock,
        read_timeout_s=settings.read_timeout_s,
        on_session_event=_session_events(activity),
        on_order_event=activity.on_order_event,
        observer=activity.on_retry,
        owns_journal=False,
    )
    cache = (_safe_state(parts.store, INSTRUMENTS_STATE) or {}).get("tokens", {})
    found = resolve(parts.stack.client, settings.symbols, cache=cache)
    for symbol, reason in found.invalid.items():
        activity.record(
            EventKind.SYMBOL_SKIPPED, Severity.WARNING, f"{symbol} skipped: {reason}",
            symbol=symbol, reason=reason, fault=FaultKind.INVALID_SYMBOL.value,
            incident=f"invalid-{symbol}", phase="recovered",
        )  # fmt: skip
    if not found.tokens:
        raise RuntimeError("none of the symbols exists at the broker")
    with contextlib.suppress(Exception):
        parts.store.save_state(INSTRUMENTS_STATE, {"tokens": found.tokens})
    parts.instruments = {
        token: Instrument(symbol, token) for symbol, token in found.tokens.items()
    }


def _open_market(parts: BotParts, strategy: Strategy, stop: threading.Event) -> None:
    settings, clock, store, activity = (
        parts.settings, parts.clock, parts.store, parts.activity,
    )  # fmt: skip
    stack = parts.stack
    assert stack is not None
    calendar = NseCalendar(extra_holidays=settings.extra_holidays)
    books = {
        token: CandleBook(token, symbol=i.symbol, calendar=calendar)
        for token, i in parts.instruments.items()
    }
    parts.bootstrap = boot = CandleBootstrap(
        stack.client,
        [Symbol(i.symbol, i.token, i.exchange) for i in parts.instruments.values()],
        config=BootstrapConfig(warmup_candles=strategy.warmup),
        clock=clock,
        calendar=calendar,
        on_event=activity.on_bootstrap_event,
    )

    def on_feed_event(event: Any) -> None:
        activity.on_feed_event(event)
        boot.on_feed_event(event)

    feed_url = parts.simulator.feed_url if parts.simulator else settings.feed_url
    parts.feed = feed = ResilientFeed(
        feed_url, stack.session.feed_credentials, config=FeedConfig.from_settings(
            settings), clock=clock, calendar=calendar, on_event=on_feed_event,
    )  # fmt: skip
    feed.subscribe(list(parts.instruments), mode=Mode.QUOTE)
    feed.start()

    positions = PositionBook(settings.mode, store, clock)
    limits = RiskLimits.from_settings(settings)
    parts.risk = risk = Risk(limits, clock, emit=activity.add)
    broker = _trading_broker(parts, positions)
    risk.margin_available = broker.margin_available
    degradation = DegradationWatch(settings.mode, clock, risk, emit=activity.add)

    def on_strategy_error(failure: StrategyFailure) -> None:
        activity.add(failure.event())

    scanner = Scanner(
        strategy, clock=clock, on_signal=lambda signal: None,
        on_error=on_strategy_error,
    )  # fmt: skip
    parts.engine = engine = Engine(
        clock=clock, instruments=parts.instruments, books=books, ticks=feed.ticks,
        scanner=scanner, risk=risk, broker=broker, positions=positions, store=store,
        emit=activity.add, degradation=degradation, bootstrap=boot,
        feed=lambda: FeedView(feed.status().state.value == "connected",
                              feed.status().state.value),
        poll_prices=_price_poller(stack), calendar=calendar, config=EngineConfig(),
    )  # fmt: skip
    engine.restore_candles(clock.now() - timedelta(days=RESTORE_DAYS))
    if stop.is_set():  # a stop seen after this point interrupts run()
        return
    boot.run()
    if stop.is_set():
        return
    today = (
        clock.now().astimezone(IST).replace(hour=0, minute=0, second=0, microsecond=0)
    )
    boot.repair_gaps(books, since=today)  # what the last run left missing
    boot.start()
    parts.health = health = _health(parts, engine, scanner, positions)
    health.subscribe(lambda snapshot: _still_running(store, clock))
    # Renew the session ahead of expiry, or take up one saved by `kit login`.
    health.subscribe(lambda snapshot: stack.session.check())


def _session_events(activity: ActivityFeed) -> Callable[[SessionEvent], None]:
    """The session's events for the activity feed, less its expiry warnings
    and expiry: the health monitor reports those, once each with the steps
    (the same warning twice would notify twice)."""

    def forward(event: SessionEvent) -> None:
        if event.kind is SessionEventKind.SESSION_RENEWED:
            activity.on_session_event(event)

    return forward


def _still_running(store: Store, clock: Clock) -> None:
    """Stamp the run's state with the time, so a crash's last moment is known."""
    try:
        state = store.load_state(RUN_STATE) or {}
        state |= {"running": True, "last_seen_s": clock.time()}
        store.save_state(RUN_STATE, state)
    except Exception as exc:
        logger.warning("Store: run state not stamped: %s", exc)


def _trading_broker(parts: BotParts, positions: PositionBook) -> TradingBroker:
    settings = parts.settings
    if settings.mode == "paper":
        return PaperBroker(
            positions, parts.clock, slippage_bps=settings.paper_slippage_bps,
            capital=settings.paper_capital,
            margin_rate=settings.intraday_margin_rate, emit=parts.activity.add,
        )  # fmt: skip
    from kit.trading.live import LiveBroker  # noqa: PLC0415

    assert parts.stack is not None
    live = LiveBroker(parts.stack, positions, parts.clock, emit=parts.activity.add)
    live.reconcile()
    return live


def _price_poller(stack: BrokerStack) -> Callable[[list[Instrument]], dict[str, float]]:
    def poll(instruments: list[Instrument]) -> dict[str, float]:
        by_token = {i.token: i.symbol for i in instruments}
        quotes = stack.client.quotes(list(by_token), mode="LTP")
        return {by_token[q.token]: q.ltp for q in quotes if q.token in by_token}

    return poll


def _health(
    parts: BotParts, engine: Engine, scanner: Scanner, positions: PositionBook
) -> HealthMonitor:
    stack = parts.stack
    assert stack is not None

    def scans() -> ScanStats:
        stats = scanner.stats()
        last = stats.last_scan_at.timestamp() if stats.last_scan_at else None
        return ScanStats(last, stats.average_scan_s, stats.scans)

    def operations() -> OperationCounts:
        counts = stack.client.counters.snapshot()
        return OperationCounts(counts.calls, counts.errors)

    def held() -> Any:
        status = engine.status()
        return positions_health(status.positions if status else ())

    sources = sources_for(
        clock=parts.clock, feed=parts.feed, session=stack.session,
        books=lambda: engine.books, warmup_candles=scanner.strategy.warmup,
        positions=held, scans=scans, operations=operations,
    )  # fmt: skip
    risk = parts.risk
    return HealthMonitor.from_settings(
        parts.settings, sources, clock=parts.clock, emit=parts.activity.add,
        store=parts.store, store_name=parts.store.name,
        set_trading_state=lambda state, why: risk.set_state(
            state, why, source="health"),
    )  # fmt: skip


# Small helpers.


def credentials_for(settings: Settings, sim: Any) -> Credentials:
    """The simulator's demo account when it runs and no key is set, else the
    credentials of the settings."""
    if sim is not None and settings.api_key is None:
        account = sim.account
        return Credentials(
            account.api_key, account.client_code, account.mpin, account.totp_secret
        )
    return Credentials.from_settings(settings)


def _safe_state(store: Store, name: str) -> dict[str, Any] | None:
    try:
        return store.load_state(name)
    except Exception as exc:
        logger.warning("Store: state %s unreadable: %s", name, exc)
        return None


def _run_state(clock: Clock, *, running: bool) -> dict[str, Any]:
    now_s = clock.time()
    return {
        "running": running,
        "last_seen_s": now_s,
        "at": datetime.fromtimestamp(now_s, UTC).isoformat(),
    }
