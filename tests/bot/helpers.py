"""Helpers for the Bot's tests on the simulator: settings in a temporary
folder, a strategy that buys once on chosen symbols, a scaled clock that can
jump ahead, the store's events, and polling with a real timeout."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from kit.bot import Bot
from kit.clock import Clock, ScaledClock
from kit.config import Settings, load_settings
from kit.ops.events import ActivityEvent
from kit.store.sqlite import SqliteStore
from kit.trading.engine import EngineStatus
from kit.trading.strategy import Side, Signal, Strategy
from tests.broker.feed_helpers import wait_until

SYMBOLS = ("SBIN-EQ", "INFY-EQ", "TCS-EQ")
KIT_THREADS = ("kit-bot-start", "kit-engine", "kit-health", "kit-feed",
               "kit-bootstrap", "kit-activity", "kit-notify")  # fmt: skip

__all__ = ["wait_until"]


def bot_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Paper settings on the simulator, the store and heartbeat in ``tmp_path``."""
    values: dict[str, Any] = {
        "store_path": tmp_path / "kit.sqlite3",
        "heartbeat_path": tmp_path / "heartbeat",
        "symbols": SYMBOLS,
    }
    values.update(overrides)
    return load_settings(None, **values)


def live_credentials(sim: Any) -> dict[str, str]:
    """The simulator account's credentials, as settings take them."""
    account = sim.account
    return {
        "api_key": account.api_key,
        "client_code": account.client_code,
        "mpin": account.mpin,
        "totp_secret": account.totp_secret,
    }


class BuyOnce(Strategy):
    """BUY once on the first candle it sees of each symbol named: stop and
    target ``band`` away. Needs ``warmup`` candles."""

    name = "buy-once"

    def __init__(self, symbols: tuple[str, ...], *, warmup: int = 5,
                 band: float = 0.02) -> None:  # fmt: skip
        self.symbols = set(symbols)
        self.band = band
        self._warmup = warmup
        self.signals: list[Signal] = []

    @property
    def warmup(self) -> int:
        return self._warmup

    def on_candle(self, symbol: str, candles: pd.DataFrame) -> Signal | None:
        if symbol not in self.symbols or any(s.symbol == symbol for s in self.signals):
            return None
        close = float(candles["close"].iloc[-1])
        signal = Signal(
            symbol=symbol, side=Side.BUY, price=close,
            candle_start=candles.index[-1], stop=close * (1 - self.band),
            target=close * (1 + self.band), reason="scripted",
        )  # fmt: skip
        self.signals.append(signal)
        return signal


class JumpClock(ScaledClock):
    """A scaled clock that can jump ahead (before anything runs on it): a day
    of the simulator's token life passes in an instant."""

    def __init__(self, start: datetime, speed: float) -> None:
        super().__init__(start, speed)
        self.offset_s = 0.0

    def time(self) -> float:
        return super().time() + self.offset_s

    def monotonic(self) -> float:
        return super().monotonic() + self.offset_s

    def jump(self, seconds: float) -> None:
        self.offset_s += seconds


def stored_events(path: Path, clock: Clock, *kinds: str) -> list[ActivityEvent]:
    """The events in the store at ``path`` (of ``kinds``, if given), in order."""
    store = SqliteStore(path, clock)
    try:
        return store.events(kinds=kinds or None)
    finally:
        store.close()


def kit_threads() -> list[str]:
    """The names of the kit's threads still alive (the simulator's excluded)."""
    return sorted(
        t.name for t in threading.enumerate() if t.name.startswith(KIT_THREADS)
    )


@contextmanager
def running(bot: Bot, timeout_real_s: float = 30.0) -> Iterator[Bot]:
    """``bot`` once it runs; stopped (and checked) on the way out."""
    try:
        assert bot.wait_ready(timeout_real_s), (bot.phase, bot.error)
        yield bot
    finally:
        bot.stop()


def recent(bot: Bot, kind: str) -> list[ActivityEvent]:
    """The running bot's recent events of ``kind`` (from memory, not the store)."""
    parts = bot.parts
    return [] if parts is None else parts.activity.recent(kinds=[kind])


def engine(bot: Bot) -> EngineStatus:
    """The running bot's latest engine status."""
    status = bot.status().engine
    assert status is not None, f"no engine status (bot {bot.phase})"
    return status
