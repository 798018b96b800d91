"""A notebook's trading day on the simulator: its record is readable from the
store after the bot was stopped by someone else (the live view, a button), and
the kit's log goes to a file, not into the notebook."""

from __future__ import annotations

import logging

from kit.ui.day import LOG_NAME, start_day, until_time


def test_the_days_record_is_read_from_the_store_after_the_bot_stopped() -> None:
    day = start_day(
        mode="paper", symbols=["SBIN-EQ", "INFY-EQ"], speed=120, start="09:13",
        until="09:22", chaos="none",
    )  # fmt: skip
    try:
        assert day.bot.wait_ready(60)
        day.bot.run_until(until_time("09:22", day.clock))
        day.bot.stop()  # as the live view's stop_bot does, before finish()
        assert day.finish()

        check = day.candle_check().splitlines()
        assert check[0].endswith(": 2")
        assert check[-1].endswith(": yes")

        held = day.candles("SBIN-EQ")
        truth = day.true_candles("SBIN-EQ")
        assert truth is not None and len(held) >= 5
        today = held[held.index.normalize() == truth.index[-1].normalize()]
        columns = ["open", "high", "low", "close"]
        assert len(today) >= 5
        assert today[columns].equals(truth.loc[today.index, columns])
        assert day.candles("NOSUCH-EQ").empty
        assert day.missed_faults() == "Injected faults the kit missed: none"

        health = day.health()
        assert health and all(r.at.date() == day.day for r in health)
        assert all(e.fields.get("symbol") == "SBIN-EQ" for e in day.trades("SBIN-EQ"))

        log = day.folder / LOG_NAME
        assert "kit." in log.read_text(encoding="utf-8")  # records went to the file
        handlers = [
            h
            for h in logging.getLogger("kit").handlers
            if getattr(h, "kit_notebook", 0)
        ]
        assert len(handlers) == 2  # the file, and errors for the cell
    finally:
        day.finish()
        day.cleanup()
