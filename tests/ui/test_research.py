"""Research helpers: history through the client equals the simulator's truth;
signals as the scanner would ask for them; the evaluation's rules on candles
built by hand, with known answers."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd
import pytest

from kit.clock import IST, NseCalendar
from kit.errors import ConfigurationError
from kit.sim.market import Market
from kit.trading.strategy import Side, Signal, Strategy
from kit.ui.research import evaluate, load_history, signals_on, summarise

DAY = date(2026, 11, 27)
SBIN = "3045"


def _candles(day: date, bars: list[tuple[float, float, float, float]]) -> pd.DataFrame:
    start = datetime(day.year, day.month, day.day, 9, 15, tzinfo=IST)
    index = pd.DatetimeIndex(
        [start + timedelta(minutes=i) for i in range(len(bars))], name="start"
    )
    frame = pd.DataFrame(bars, columns=["open", "high", "low", "close"], index=index)
    return frame.assign(volume=100, provenance="broker")


def _signal(at: datetime, side: str, price: float, stop: float, target: float):
    return pd.DataFrame(
        [["X", side, price, stop, target, "test"]],
        columns=["symbol", "side", "price", "stop", "target", "reason"],
        index=pd.DatetimeIndex([at], name="start"),
    )


def test_history_is_the_simulators_truth_and_unknown_symbols_are_left_out() -> None:
    history = load_history(["SBIN-EQ", "NOSUCH-EQ"], days=2, end_day=DAY)

    assert list(history) == ["SBIN-EQ"]
    frame = history["SBIN-EQ"]
    calendar = NseCalendar()
    first_day = calendar.previous_trading_day(DAY)
    expected_minutes = len(calendar.session_minutes(first_day)) + len(
        calendar.session_minutes(DAY)
    )
    assert len(frame) == expected_minutes
    assert set(frame["provenance"]) == {"broker"}
    truth = Market(seed=7, calendar=calendar).candles(
        SBIN, frame.index[0].to_pydatetime(), frame.index[-1].to_pydatetime()
    )
    truth += Market(seed=7, calendar=calendar).candles(
        SBIN,
        frame.index[-1].to_pydatetime(),
        frame.index[-1].to_pydatetime() + timedelta(minutes=1),
    )
    held = list(frame[["open", "high", "low", "close", "volume"]].itertuples(name=None))
    true = [(c.start, c.open, c.high, c.low, c.close, c.volume) for c in truth]
    assert [tuple(row) for row in held] == true


def test_history_refuses_bad_requests() -> None:
    with pytest.raises(ConfigurationError, match="days"):
        load_history(["SBIN-EQ"], days=0)
    with pytest.raises(ConfigurationError, match="not an NSE trading day"):
        load_history(["SBIN-EQ"], end_day="2026-11-28")  # a Saturday
    with pytest.raises(ConfigurationError, match="not a date"):
        load_history(["SBIN-EQ"], end_day="27-11-2026")
    with pytest.raises(ConfigurationError, match="none of NOSUCH-EQ"):
        load_history(["NOSUCH-EQ"], end_day=DAY)


class _EveryTenth(Strategy):
    """Buys on every tenth candle it sees, and records the lengths it was given."""

    warmup = 5

    def __init__(self) -> None:
        self.lengths: list[int] = []

    def on_candle(self, symbol: str, candles: pd.DataFrame) -> Signal | None:
        self.lengths.append(len(candles))
        if len(self.lengths) % 10:
            return None
        close = float(candles["close"].iloc[-1])
        return Signal(
            symbol=symbol, side=Side.BUY, price=close, candle_start=candles.index[-1],
            stop=close - 1, target=close + 2, reason="tenth",
        )  # fmt: skip


def test_signals_are_asked_on_each_closed_candle_once_warm_within_the_window() -> None:
    candles = _candles(DAY, [(100, 101, 99, 100 + i / 10) for i in range(40)])
    strategy = _EveryTenth()

    found = signals_on(strategy, "X", candles, window=8)

    assert len(strategy.lengths) == 40 - 5 + 1  # from the 5th candle to the last
    assert strategy.lengths[0] == 5 and max(strategy.lengths) == 8
    assert list(found.index) == [candles.index[i] for i in (13, 23, 33)]
    assert list(found["side"]) == ["BUY"] * 3


def test_a_long_reaches_its_target_and_a_bar_touching_both_counts_the_stop() -> None:
    candles = _candles(
        DAY,
        [
            (100, 100, 100, 100),  # 09:15 the entry, long at 100, stop 98, target 104
            (100, 103, 99, 102),  # neither
            (102, 104.5, 101, 104),  # the target: +4, 2 R
            (104, 104, 104, 104),  # 09:18 a short at 104, stop 106, target 100
            (104, 107, 99, 101),  # touches both: the stop counts
        ],
    )
    signals = pd.concat(
        [
            _signal(candles.index[0], "BUY", 100, 98, 104),
            _signal(candles.index[3], "SELL", 104, 106, 100),
        ]
    )

    trades = evaluate(signals, candles)

    assert list(trades["exit_reason"]) == ["target", "stop"]
    assert list(trades["pnl"]) == [4.0, -2.0]
    assert list(trades["r_multiple"]) == [2.0, -1.0]
    assert trades["exit_at"].iloc[0] == candles.index[2]
    assert summarise(trades).splitlines()[0] == "Trades: 2 (1 won, win rate 50%)"


def test_exit_signal_closes_and_the_day_end_squares_off() -> None:
    day_one = _candles(DAY - timedelta(days=1), [(100, 100, 100, 100)] * 3)
    day_two = _candles(DAY, [(100, 100, 100, 100), (100, 101, 100, 101)] * 2)
    candles = pd.concat([day_one, day_two])
    signals = pd.concat(
        [
            _signal(day_one.index[0], "BUY", 100, 90, 120),  # open at the day's end
            _signal(day_two.index[0], "SELL", 100, 110, 80),
            _signal(day_two.index[1], "EXIT", 101, 0, 0),
            _signal(day_two.index[2], "BUY", 100, 90, 120),  # open at the end
        ]
    )

    trades = evaluate(signals, candles)

    assert list(trades["exit_reason"]) == ["close", "exit signal", "close"]
    assert trades["exit_at"].iloc[0] == day_one.index[-1]
    assert list(trades["pnl"]) == [0.0, -1.0, 1.0]
    assert trades["exit_at"].iloc[2] == day_two.index[-1]


def test_no_entries_says_so() -> None:
    no_signals = pd.DataFrame(columns=["symbol", "side", "price", "stop", "target"])

    trades = evaluate(no_signals, _candles(DAY, [(1, 1, 1, 1)]))

    assert trades.empty
    assert summarise(trades).startswith("No trades")
