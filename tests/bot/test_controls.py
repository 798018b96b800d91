"""What a notebook asks of a running bot: pause and resume entries (applied
on the engine thread, recorded as a manual action), a copy of a symbol's
candles, and the day's trades."""

from __future__ import annotations

from datetime import datetime

from kit.bot import Bot
from kit.clock import IST
from kit.sim.runner import SimConfig
from tests.bot.helpers import SYMBOLS, bot_settings, engine, running, wait_until

MIDDAY = datetime(2026, 12, 3, 10, 0, tzinfo=IST)  # a Thursday


def test_pause_entries_holds_entries_until_resumed(simulator, start_bot, tmp_path):
    sim = simulator(SimConfig(start=MIDDAY, speed=50.0))

    with running(start_bot(bot_settings(tmp_path), simulator=sim)) as bot:
        paused = bot.pause_entries()
        state_when_paused = engine(bot).trading_state  # shown once it returns
        restrictions = bot.parts.risk.restrictions() if bot.parts else {}
        resumed = bot.pause_entries(False)
        state_when_resumed = engine(bot).trading_state  # no hold for a person
        assert bot.parts is not None
        bot.parts.activity.flush(timeout_s=5.0)
        actions = bot.parts.store.events(kinds={"manual_action"})

    assert paused and resumed
    assert (state_when_paused, state_when_resumed) == ("reducing", "active")
    assert restrictions["user"][1] == "entries paused by the user"
    texts = [event.text for event in actions]
    assert texts == ["entries paused by the user", "entries resumed by the user"]


def test_candles_are_a_copy_of_the_book_and_empty_for_unknown_symbols(
    simulator, start_bot, tmp_path
):
    sim = simulator(SimConfig(start=MIDDAY, speed=50.0))

    with running(start_bot(bot_settings(tmp_path), simulator=sim)) as bot:
        wait_until(lambda: len(bot.candles(SYMBOLS[0])) > 0, 10.0, "candles")
        frame = bot.candles(SYMBOLS[0])
        unknown = bot.candles("NOSUCH-EQ")
        closed = bot.candles(SYMBOLS[0], include_open=False)

    assert list(frame.columns[:5]) == ["open", "high", "low", "close", "volume"]
    assert frame.index.is_monotonic_increasing
    assert len(closed) <= len(frame)
    assert unknown.empty


def test_a_bot_that_is_not_running_answers_nothing(tmp_path):
    bot = Bot(bot_settings(tmp_path))

    assert bot.pause_entries() is False
    assert bot.candles(SYMBOLS[0]).empty
    assert bot.trades() == []
    assert bot.symbols() == {}
    assert bot.health_history(MIDDAY) == []


def test_the_running_bot_tells_its_clock_symbols_and_health_history(
    simulator, start_bot, tmp_path
):
    sim = simulator(SimConfig(start=MIDDAY, speed=50.0))

    with running(start_bot(bot_settings(tmp_path), simulator=sim)) as bot:
        symbols = bot.symbols()
        now = bot.now()
        wait_until(lambda: bot.health_history(MIDDAY), 20.0, "a published snapshot")
        history = bot.health_history(MIDDAY)

    assert sorted(symbols) == sorted(SYMBOLS) and all(symbols.values())
    assert abs((now - sim.clock.now()).total_seconds()) < 60
    assert history and all(s.at >= MIDDAY for s in history)
