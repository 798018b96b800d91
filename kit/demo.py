"""``kit demo``: the simulator, a login and a minute of live ticks.

It starts the built-in simulator on a scaled clock set to a trading session,
logs in through the kit's own broker session with the simulator's fake account
(MPIN and TOTP, as the bot does), runs the kit's ResilientFeed, subscribes to a
few symbols and reports their ticks for the chosen time. Later work grows it
into the paper bot. Lines go to ``out``, which the CLI points at the terminal.
"""

from __future__ import annotations

import queue
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from kit.broker import wire
from kit.broker.feed import ResilientFeed
from kit.broker.feed_credentials import CredentialsProvider
from kit.broker.routes import Mode
from kit.broker.session import Credentials
from kit.broker.stack import open_stack
from kit.clock import IST, NseCalendar
from kit.config import Settings
from kit.sim.runner import SimConfig, Simulator
from kit.store import SqliteStore

_OPEN_PLUS_S = 30 * 60  # start the simulated day at 09:45


@dataclass(frozen=True)
class DemoOptions:
    duration_s: float = 60.0  # real seconds of ticks
    speed: float = 10.0  # simulated seconds per real second
    report_every_s: float = 5.0  # real seconds between two reports


def session_start(now: datetime, calendar: NseCalendar, span_s: float) -> datetime:
    """Where the demo's simulated clock starts: now if the market stays open for
    ``span_s`` more seconds, else 09:45 of the last trading day (today's once it
    has opened), so that ticks flow whenever the demo is run."""
    if calendar.is_open(now) and calendar.is_open(now + timedelta(seconds=span_s)):
        return now
    day = now.date()
    if not calendar.is_trading_day(day) or now < calendar.session_open(day):
        day = calendar.previous_trading_day(day)
    return calendar.session_open(day) + timedelta(seconds=_OPEN_PLUS_S)


def run_demo(
    settings: Settings, options: DemoOptions, out: Callable[[str], None]
) -> int:
    span_s = options.duration_s * options.speed
    start = session_start(datetime.now(IST), NseCalendar(), span_s)
    config = SimConfig(seed=settings.sim_seed, speed=options.speed, start=start)
    with Simulator(config) as sim, tempfile.TemporaryDirectory() as tmp:
        out(f"Simulator: REST {sim.rest_url}, feed {sim.feed_url}")
        out(f"Simulated clock: {start:%a %d %b %Y %H:%M} IST at {options.speed:g}x")
        account = sim.account
        credentials = Credentials(
            account.api_key, account.client_code, account.mpin, account.totp_secret
        )
        journal = SqliteStore(Path(tmp) / "kit.sqlite3", sim.clock)
        stack = open_stack(sim.rest_url, credentials, journal, sim.clock)
        try:
            out(f"Logged in as {account.client_code} (MPIN and TOTP, fake account)")
            symbols = _tokens_of(sim, settings.symbols)
            _stream(sim, stack.session.feed_credentials, symbols, options, out)
        finally:
            stack.close()
    return 0


def _tokens_of(sim: Simulator, symbols: tuple[str, ...]) -> dict[str, str]:
    found = {}
    for symbol in symbols:
        instrument = sim.market.by_symbol(symbol)
        if instrument is not None:
            found[instrument.token] = instrument.symbol
    return found


def _stream(
    sim: Simulator,
    credentials: CredentialsProvider,
    symbols: dict[str, str],
    options: DemoOptions,
    out: Callable[[str], None],
) -> None:
    feed = ResilientFeed(sim.feed_url, credentials, clock=sim.clock)
    feed.subscribe(list(symbols), mode=Mode.QUOTE)
    feed.start()
    try:
        out(f"Subscribed to {', '.join(symbols.values())} (QUOTE mode)")
        _report(feed, symbols, options, out)
    finally:
        feed.stop()


def _report(
    feed: ResilientFeed,
    symbols: dict[str, str],
    options: DemoOptions,
    out: Callable[[str], None],
) -> None:
    latest: dict[str, wire.Tick] = {}
    frames = 0
    deadline = time.monotonic() + options.duration_s
    next_report = time.monotonic() + options.report_every_s
    while (left := deadline - time.monotonic()) > 0:
        try:
            tick = feed.ticks.get(timeout=min(left, 0.5))
        except queue.Empty:
            continue
        latest[tick.token] = tick
        frames += 1
        if time.monotonic() >= next_report:
            out(_board(latest, symbols, frames))
            next_report += options.report_every_s
    out(_board(latest, symbols, frames))
    out(f"Done: {frames} frames in {options.duration_s:g} s of real time.")


def _board(latest: dict[str, wire.Tick], symbols: dict[str, str], frames: int) -> str:
    lines = []
    for token, tick in sorted(latest.items(), key=lambda kv: symbols[kv[0]]):
        if not isinstance(tick, wire.QuoteTick):
            continue
        stamp = datetime.fromtimestamp(tick.exchange_ts_ms / 1000, IST)
        change = 100 * (tick.ltp / tick.close - 1) if tick.close else 0.0
        lines.append(
            f"  {stamp:%H:%M:%S}  {symbols[token]:<14}{tick.ltp:>10.2f}"
            f"  {change:+6.2f}%  vol {tick.volume:>10,}"
        )
    return f"{frames} frames so far\n" + "\n".join(lines)
