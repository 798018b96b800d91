"""Crash-only, paper mode: kill -9 at random moments; nothing lost or doubled."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from kit.clock import RealClock
from kit.store import PositionRecord, SqliteStore
from tests.crash.trial import (
    TrialConfig,
    assert_clean,
    one_kill_while_trading,
    run_trial,
)


def test_paper_bot_killed_three_times_loses_and_doubles_nothing(tmp_path: Path) -> None:
    report = run_trial(TrialConfig(mode="paper", kills=3, seed=11), tmp_path)

    assert_clean(report, kills=3)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_paper_bot_killed_twenty_times_loses_and_doubles_nothing(
    tmp_path: Path,
) -> None:
    report = run_trial(TrialConfig(mode="paper", kills=20, seed=20), tmp_path)

    assert_clean(report, kills=20)


def lose_a_candle_and_change_a_position(store_path: Path, broker: object) -> None:
    """What a store that failed its promise would look like after a kill."""
    with sqlite3.connect(store_path) as db:
        db.execute(
            "DELETE FROM candles WHERE token = '2885' AND start_us = "
            "(SELECT MIN(start_us) FROM candles WHERE token = '2885')"
        )
    store = SqliteStore(store_path, RealClock())
    try:
        held = {p.symbol: p for p in store.positions("paper")}
        was = held.get("SBIN-EQ") or PositionRecord(
            "paper", "SBIN-EQ", "3045", "NSE", 0, 0.0
        )
        store.save_position(replace(was, realised_pnl=was.realised_pnl + 100.0))
    finally:
        store.close()


def test_the_trial_notices_a_store_that_lost_a_candle_and_changed_a_position(
    tmp_path: Path,
) -> None:
    config = one_kill_while_trading("paper")

    report = run_trial(config, tmp_path, after_kill=lose_a_candle_and_change_a_position)

    found = "\n".join(report.problems)
    assert "restart after kill 1: token 2885: 1 candles lost" in found, found
    assert "restart after kill 1: SBIN-EQ was" in found, found
