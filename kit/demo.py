"""``kit demo``: the simulator, a login and a minute of live ticks.

It starts the built-in simulator on a scaled clock set to a trading session,
logs in over REST with the simulator's fake account (MPIN and TOTP, as a bot
would), opens the WebSocket 2.0 feed, subscribes to a few symbols and reports
their ticks for the chosen time. Later work grows it into the paper bot.
Lines go to ``out``, which the CLI points at the terminal.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
import requests
import websocket

from kit.broker import wire
from kit.broker.routes import HEADER_API_KEY, ROUTES, Mode
from kit.clock import IST, NseCalendar
from kit.config import Settings
from kit.sim.runner import SimConfig, Simulator

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
    with Simulator(config) as sim:
        out(f"Simulator: REST {sim.rest_url}, feed {sim.feed_url}")
        out(f"Simulated clock: {start:%a %d %b %Y %H:%M} IST at {options.speed:g}x")
        tokens = _login(sim)
        out(f"Logged in as {sim.account.client_code} (MPIN and TOTP, fake account)")
        symbols = _tokens_of(sim, settings.symbols)
        _stream(sim, tokens, symbols, options, out)
    return 0


def _login(sim: Simulator) -> dict[str, str]:
    account = sim.account
    body = {
        "clientcode": account.client_code,
        "password": account.mpin,
        "totp": pyotp.TOTP(account.totp_secret).at(sim.clock.time()),
    }
    headers = {HEADER_API_KEY: account.api_key, "Content-Type": "application/json"}
    url = sim.rest_url + ROUTES["login"].path
    reply = requests.post(url, data=json.dumps(body), headers=headers, timeout=10)
    reply.raise_for_status()
    data: dict[str, str] = reply.json()["data"]
    return data


def _tokens_of(sim: Simulator, symbols: tuple[str, ...]) -> dict[str, str]:
    found = {}
    for symbol in symbols:
        instrument = sim.market.by_symbol(symbol)
        if instrument is not None:
            found[instrument.token] = instrument.symbol
    return found


def _stream(
    sim: Simulator,
    tokens: dict[str, str],
    symbols: dict[str, str],
    options: DemoOptions,
    out: Callable[[str], None],
) -> None:
    headers = [
        f"Authorization: Bearer {tokens['jwtToken']}",
        f"x-api-key: {sim.account.api_key}",
        f"x-client-code: {sim.account.client_code}",
        f"x-feed-token: {tokens['feedToken']}",
    ]
    ws = websocket.create_connection(sim.feed_url, header=headers, timeout=5)
    try:
        request = {
            "correlationID": "kitdemo001",
            "action": 1,
            "params": {"mode": int(Mode.QUOTE), "tokenList": [
                {"exchangeType": 1, "tokens": list(symbols)}]},
        }  # fmt: skip
        ws.send(json.dumps(request))
        out(f"Subscribed to {', '.join(symbols.values())} (QUOTE mode)")
        _report(ws, symbols, options, out)
    finally:
        ws.close()


def _report(
    ws: websocket.WebSocket,
    symbols: dict[str, str],
    options: DemoOptions,
    out: Callable[[str], None],
) -> None:
    latest: dict[str, wire.Tick] = {}
    frames = 0
    deadline = time.monotonic() + options.duration_s
    next_report = time.monotonic() + options.report_every_s
    while time.monotonic() < deadline:
        frame = ws.recv()
        if isinstance(frame, bytes):
            tick = wire.decode(frame)
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
