"""A restart repairs the minutes the store lacks: a run that died while a
backfill was still waiting (or was down for minutes its next warm-up does not
reach) leaves holes in the day's candles, and the next start asks history for
them. The candles that come back equal the simulator's true ones."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta

from kit.clock import IST
from kit.sim.runner import SimConfig
from kit.store.sqlite import SqliteStore
from tests.bot.helpers import BuyOnce, bot_settings, running, wait_until

TEN = datetime(2026, 12, 3, 10, 0, tzinfo=IST)  # a Thursday
HOLE = (TEN - timedelta(minutes=2), TEN - timedelta(minutes=1))  # 09:58, 09:59
SPEED = 50.0


def stored(path, clock, token, first, last):
    store = SqliteStore(path, clock)
    try:
        return store.load_candles(token, since=first, until=last + timedelta(minutes=1))
    finally:
        store.close()


def test_a_restart_backfills_the_minutes_missing_from_the_store(
    simulator, start_bot, tmp_path
):
    settings = bot_settings(tmp_path)
    path = settings.store_path
    first = simulator(SimConfig(start=TEN, speed=SPEED))
    with running(start_bot(settings, simulator=first, strategy=BuyOnce(()))) as bot:
        assert bot.parts is not None
        token = bot.parts.instruments_by_symbol()["SBIN-EQ"].token
    assert len(stored(path, first.clock, token, *HOLE)) == 2  # the warm-up's
    with sqlite3.connect(path) as db:  # what a run killed mid-backfill leaves
        db.execute(
            "DELETE FROM candles WHERE token = ? AND start_us >= ? AND start_us < ?",
            (token, int(HOLE[0].timestamp() * 1e6), int(TEN.timestamp() * 1e6)),
        )
    later = simulator(SimConfig(start=TEN + timedelta(minutes=10), speed=SPEED))

    with running(start_bot(settings, simulator=later, strategy=BuyOnce(()))):
        wait_until(
            lambda: len(stored(path, later.clock, token, *HOLE)) == 2,
            15.0, "the hole backfilled",
        )  # fmt: skip
    back = stored(path, later.clock, token, *HOLE)
    truth = later.market.candles(token, HOLE[0], TEN)

    assert [(c.start, c.open, c.high, c.low, c.close) for c in back] == [
        (t.start, t.open, t.high, t.low, t.close) for t in truth
    ]
    assert [c.provenance.value for c in back] == ["broker", "broker"]
