"""Crash-only, live mode on the simulator: kill -9 at random moments."""

from __future__ import annotations

from pathlib import Path

import pytest

from kit.broker.orders import OrderRequest
from tests.crash.trial import (
    TrialConfig,
    assert_clean,
    one_kill_while_trading,
    run_trial,
)
from tests.crash.views import BrokerReader


def test_live_bot_killed_three_times_loses_and_doubles_nothing(tmp_path: Path) -> None:
    report = run_trial(TrialConfig(mode="live", kills=3, seed=11), tmp_path)

    assert_clean(report, kills=3)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_live_bot_killed_twenty_times_loses_and_doubles_nothing(
    tmp_path: Path,
) -> None:
    report = run_trial(TrialConfig(mode="live", kills=20, seed=20), tmp_path)

    assert_clean(report, kills=20)


def buy_behind_the_bots_back(store_path: Path, broker: BrokerReader | None) -> None:
    """An order the bot's journal never saw, placed while the bot is dead."""
    assert broker is not None
    broker.stack.placer.place(OrderRequest("SBIN-EQ", "3045", "BUY", 1))


def test_the_trial_notices_an_order_the_journal_does_not_know(tmp_path: Path) -> None:
    config = one_kill_while_trading("live")

    report = run_trial(config, tmp_path, after_kill=buy_behind_the_bots_back)

    found = "\n".join(report.problems)
    assert "restart after kill 1: reconcile mismatch: unknown broker order" in found
    assert "restart after kill 1: broker orders the journal does not know" in found
