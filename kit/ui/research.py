"""Research on past candles: history through the kit's client, the strategy's
signals on it, and what those signals would have done.

::

    history = load_history(["SBIN-EQ", "INFY-EQ"], days=2)    # symbol -> candles
    found = signals_on(strategy, "SBIN-EQ", history["SBIN-EQ"])
    trades = evaluate(found, history["SBIN-EQ"])
    print(summarise(trades))

History comes from the configured broker (the built-in simulator by default,
started for the call and stopped after it) through the same paced, retrying
:class:`~kit.broker.client.AngelClient` the bot uses, so a research notebook
sees the candles the bot would have bootstrapped.

The evaluation is deliberately simple and says so: one position per symbol at a
time, entered at the signal's price (the close of its candle); it leaves at its
stop or target on a later candle's low or high, the stop first when one candle
touches both (the cautious reading); at an EXIT signal at that close; and at
the session's last close, as the bot squares off intraday. No costs, no
slippage, one unit per trade: a check of the signals, not a backtester.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from kit.bot_parts import credentials_for
from kit.broker.instruments import resolve
from kit.broker.routes import Interval
from kit.broker.stack import open_stack
from kit.clock import IST, Clock, NseCalendar, RealClock
from kit.config import Settings, load_settings
from kit.errors import ConfigurationError
from kit.sim.runner import SimConfig, Simulator
from kit.store import open_store
from kit.trading.strategy import Side, Signal, Strategy
from kit.ui.day import trading_day

logger = logging.getLogger(__name__)

TRADE_COLUMNS = [
    "symbol", "side", "entry_at", "entry", "stop", "target",
    "exit_at", "exit", "exit_reason", "pnl", "r_multiple",
]  # fmt: skip
SIGNAL_COLUMNS = ["symbol", "side", "price", "stop", "target", "reason"]


def load_history(
    symbols: Sequence[str],
    *,
    days: int = 2,
    end_day: date | str | None = None,
    settings_file: str | None = None,
    **overrides: Any,
) -> dict[str, pd.DataFrame]:
    """One-minute candles of ``days`` trading days ending with ``end_day``
    (default: the last trading day) for each symbol, oldest first, indexed by
    the candle's start (IST), with a ``provenance`` column ("broker").

    Symbols the broker does not know are left out (a ``ConfigurationError``
    when none is known)."""
    if days < 1:
        raise ConfigurationError("days must be at least 1", field="days")
    settings = load_settings(settings_file, **overrides)
    calendar = NseCalendar(extra_holidays=settings.extra_holidays)
    last = _last_day(end_day, calendar)
    first = last
    for _ in range(days - 1):
        first = calendar.previous_trading_day(first)
    start = calendar.session_open(first).astimezone(IST)
    end = calendar.session_close(last).astimezone(IST) - timedelta(minutes=1)

    sim = None
    if settings.broker == "simulator":
        after_close = end + timedelta(minutes=30)
        config = SimConfig(seed=settings.sim_seed, start=after_close)
        sim = Simulator(config).start()
    try:
        clock: Clock = sim.clock if sim is not None else RealClock()
        return _fetch(settings, sim, clock, list(symbols), start=start, end=end)
    finally:
        if sim is not None:
            sim.stop()


def signals_on(
    strategy: Strategy, symbol: str, candles: pd.DataFrame, *, window: int = 300
) -> pd.DataFrame:
    """The strategy's signals on every closed candle once it is warm, as the
    scanner would have asked (at most ``window`` candles, never fewer than its
    warm-up); indexed by the candle's start."""
    size = max(strategy.warmup, window)
    rows: list[Signal] = []
    for end in range(strategy.warmup, len(candles) + 1):
        signal = strategy.on_candle(symbol, candles.iloc[max(0, end - size) : end])
        if signal is not None:
            rows.append(signal)
    frame = pd.DataFrame(
        [[s.symbol, s.side.value, s.price, s.stop, s.target, s.reason] for s in rows],
        columns=SIGNAL_COLUMNS,
        index=pd.DatetimeIndex([s.candle_start for s in rows], name="start"),
    )
    return frame


def evaluate(signals: pd.DataFrame, candles: pd.DataFrame) -> pd.DataFrame:
    """What the signals would have done on ``candles`` (see the module)."""
    trades: list[list[Any]] = []
    opened: dict[str, Any] | None = None
    by_start = signals.sort_index()
    wanted = {start: row for start, row in by_start.iterrows()}
    for label, bar in candles.iterrows():
        start = pd.Timestamp(label)  # type: ignore[arg-type]
        if opened is not None and start.date() != opened["entry_at"].date():
            trades.append(_close(opened, opened["last_at"], opened["last"], "close"))
            opened = None
        if opened is not None:
            hit = _touched(opened, bar)
            if hit is not None:
                trades.append(_close(opened, start, *hit))
                opened = None
            else:
                opened["last_at"], opened["last"] = start, float(bar["close"])
        row = wanted.get(start)
        if row is None:
            continue
        if row["side"] == Side.EXIT.value and opened is not None:
            trades.append(_close(opened, start, float(bar["close"]), "exit signal"))
            opened = None
        elif row["side"] != Side.EXIT.value and opened is None:
            opened = {
                "symbol": row["symbol"], "side": row["side"], "entry_at": start,
                "entry": float(row["price"]), "stop": float(row["stop"]),
                "target": float(row["target"]), "last_at": start,
                "last": float(row["price"]),
            }  # fmt: skip
    if opened is not None:
        trades.append(_close(opened, opened["last_at"], opened["last"], "close"))
    return pd.DataFrame(trades, columns=TRADE_COLUMNS)


def summarise(trades: pd.DataFrame) -> str:
    """Trades, wins, the win rate, P&L per unit and the average R, as text."""
    count = len(trades)
    if count == 0:
        return "No trades: the strategy gave no entry on these candles."
    wins = int((trades["pnl"] > 0).sum())
    reasons = trades["exit_reason"].value_counts().sort_index()
    exits = ", ".join(f"{name} {n}" for name, n in reasons.items())
    return "\n".join(
        [
            f"Trades: {count} ({wins} won, win rate {wins / count:.0%})",
            f"P&L per unit, no costs: {trades['pnl'].sum():+.2f}",
            f"Average R: {trades['r_multiple'].mean():+.2f}",
            f"Exits: {exits}",
        ]
    )


# Helpers.


def _fetch(
    settings: Settings,
    sim: Simulator | None,
    clock: Clock,
    symbols: list[str],
    *,
    start: datetime,
    end: datetime,
) -> dict[str, pd.DataFrame]:
    credentials = credentials_for(settings, sim)
    rest_url = sim.rest_url if sim is not None else settings.rest_url
    with tempfile.TemporaryDirectory(prefix="kit-research-") as folder:
        # The session's token metadata goes to a store of the call's own on the
        # simulator; against Angel One, to the configured store (a resumed
        # session saves a login).
        if sim is not None:
            store_settings = settings.model_copy(
                update={
                    "store_path": Path(folder) / "research.sqlite3",
                    "store_url": None,
                }
            )
        else:
            store_settings = settings
        store = open_store(store_settings, clock)
        stack = open_stack(rest_url, credentials, store, clock, owns_journal=True)
        try:
            found = resolve(stack.client, symbols)
            for symbol, why in found.invalid.items():
                logger.warning("Research: %s skipped: %s", symbol, why)
            history = {}
            for symbol, token in found.tokens.items():
                frame = stack.client.candles(token, Interval.ONE_MINUTE, start, end)
                history[symbol] = frame.assign(provenance="broker")
        finally:
            stack.close()
    if not history:
        raise ConfigurationError(
            f"none of {', '.join(symbols)} is known to the broker", field="symbols"
        )
    return history


def _last_day(end_day: date | str | None, calendar: NseCalendar) -> date:
    if end_day is None or end_day == "":
        now = datetime.now(IST)
        today = now.date()
        if calendar.is_trading_day(today) and now >= calendar.session_close(today):
            return today  # its history is complete
        return calendar.previous_trading_day(today)
    return trading_day(end_day, calendar, field="end_day")


def _touched(opened: dict[str, Any], bar: pd.Series) -> tuple[float, str] | None:
    """The exit price and reason when ``bar`` reached the stop or the target."""
    low, high = float(bar["low"]), float(bar["high"])
    long = opened["side"] == Side.BUY.value
    stop_hit = low <= opened["stop"] if long else high >= opened["stop"]
    target_hit = high >= opened["target"] if long else low <= opened["target"]
    if stop_hit:
        return opened["stop"], "stop"
    if target_hit:
        return opened["target"], "target"
    return None


def _close(opened: dict[str, Any], at: datetime, price: float, why: str) -> list[Any]:
    sign = 1.0 if opened["side"] == Side.BUY.value else -1.0
    pnl = sign * (price - opened["entry"])
    risk = abs(opened["entry"] - opened["stop"])
    r_multiple = pnl / risk if risk else 0.0
    return [
        opened["symbol"], opened["side"], opened["entry_at"], opened["entry"],
        opened["stop"], opened["target"], at, price, why,
        round(pnl, 4), round(r_multiple, 3),
    ]  # fmt: skip
