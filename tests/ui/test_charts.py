"""The notebook's charts from scripted snapshots, candles and fills: the values
measured appear in the figures, candles are told apart by provenance, windows
bound what is drawn, and the output bundles stay small plain JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from kit.clock import IST
from kit.market.candle_book import candles_to_frame
from kit.market.candles import Candle, Provenance
from kit.ops.events import ActivityEvent, EventKind, Severity
from kit.ops.health_snapshot import (
    DataFlowHealth,
    ErrorRateHealth,
    FeedHealth,
    Grade,
    HealthSnapshot,
    PositionsHealth,
    ProcessHealth,
)
from kit.ui.charts import candle_figure, health_figure, health_frame
from kit.ui.display import PLOTLY_MIME, board_bundle, figure_bundle, show_figure

T0 = datetime(2026, 12, 4, 9, 15, tzinfo=IST)
MIB = 1024 * 1024


def snapshot(minute: int, *, reconnects: int = 0, **changes: Any) -> HealthSnapshot:
    values: dict[str, Any] = {
        "at": T0 + timedelta(minutes=minute),
        "market_open": True,
        "feed": FeedHealth(True, "connected", 60.0, reconnects),
        "data": DataFlowHealth(fresh=2, subscribed=3, window_s=60.0),
        "process": process(rss_mb=100 + minute),
        "errors": ErrorRateHealth(errors=1, operations=50, window_s=600.0),
        "positions": PositionsHealth(count=1, unrealised_pnl=12.5, realised_pnl=-4.0),
        "grade": Grade.GOOD,
    }
    values.update(changes)
    return HealthSnapshot(**values)


def process(*, rss_mb: int) -> ProcessHealth:
    return ProcessHealth(
        rss_bytes=rss_mb * MIB, memory_limit_bytes=None, rss_trend_bytes_h=None,
        threads=5, thread_names=(), open_files=None,
    )  # fmt: skip


def trace(fig: Any, name: str) -> Any:
    found = [t for t in fig.data if t.name == name]
    assert len(found) == 1, f"{name}: {[t.name for t in fig.data]}"
    return found[0]


def candles(provenances: str, first: datetime = T0) -> pd.DataFrame:
    """One candle a minute from ``first``; b broker, t ticks, m mixed."""
    kinds = {"b": Provenance.BROKER, "t": Provenance.TICKS, "m": Provenance.MIXED}
    rows = [
        Candle(first + timedelta(minutes=i), 100.0 + i, 101.0 + i, 99.0 + i,
               100.5 + i, 10 * i, kinds[p])
        for i, p in enumerate(provenances)
    ]  # fmt: skip
    return candles_to_frame(rows)


def fill(
    minute: int, side: str, price: float, symbol: str = "SBIN-EQ"
) -> ActivityEvent:
    at = (T0 + timedelta(minutes=minute, seconds=20)).astimezone(UTC)
    fields = {"symbol": symbol, "side": side, "quantity": 5, "price": price}
    text = f"paper {side} 5 {symbol} at {price}"
    return ActivityEvent(at, EventKind.POSITION_OPENED, Severity.INFO, text, fields)


# The health frame.


def test_health_frame_holds_one_row_per_snapshot_with_the_measured_values():
    frame = health_frame([snapshot(0), snapshot(1, grade=Grade.DEGRADED)])

    assert list(frame.index) == [T0, T0 + timedelta(minutes=1)]
    first = frame.iloc[0]
    assert first["feed_connected"] and first["fresh"] == 2
    assert first["subscribed"] == 3
    assert first["rss_mb"] == 100.0
    assert first["error_rate"] == 1 / 50
    assert first["pnl"] == 12.5 - 4.0
    assert list(frame["grade"]) == ["GOOD", "DEGRADED"]
    assert list(frame["grade_rank"]) == [1, 2]


def test_a_section_the_monitor_could_not_read_is_missing_not_zero():
    frame = health_frame([snapshot(0, feed=None, process=None)])

    assert pd.isna(frame.iloc[0]["feed_connected"])
    assert pd.isna(frame.iloc[0]["reconnects"])
    assert pd.isna(frame.iloc[0]["rss_mb"])


def test_stored_records_are_read_back_and_a_time_seen_twice_keeps_the_later():
    early = snapshot(0, grade=Grade.EXCELLENT)
    again = snapshot(0, grade=Grade.CRITICAL)

    frame = health_frame([early.to_record(), snapshot(1), again])

    assert len(frame) == 2
    assert frame.iloc[0]["grade"] == "CRITICAL"


def test_the_health_window_keeps_the_newest_rows_by_time_or_by_count():
    snaps = [snapshot(m) for m in range(10)]

    by_time = health_frame(snaps, window=timedelta(minutes=3))
    by_rows = health_frame(snaps, window=4)

    assert list(by_time.index) == [T0 + timedelta(minutes=m) for m in (6, 7, 8, 9)]
    assert list(by_rows["rss_mb"]) == [106.0, 107.0, 108.0, 109.0]


# The health figure.


def test_health_figure_draws_the_measured_values_and_marks_each_reconnect():
    counts = [0, 0, 1, 1, 3]
    snaps = [snapshot(m, reconnects=n) for m, n in enumerate(counts)]

    fig = health_figure(health_frame(snaps))

    assert list(trace(fig, "RSS MB").y) == [100.0, 101.0, 102.0, 103.0, 104.0]
    assert list(trace(fig, "fresh symbols").y) == [2.0] * 5
    assert list(trace(fig, "grade").y) == [1.0] * 5
    marks = trace(fig, "reconnect")
    assert list(marks.x) == ["2026-12-04 09:17:00", "2026-12-04 09:19:00"]
    assert list(marks.text) == ["reconnects: 1", "reconnects: 3"]


def test_health_figure_keeps_a_gap_where_a_value_is_unknown():
    fig = health_figure(health_frame([snapshot(0), snapshot(1, process=None)]))

    assert list(trace(fig, "RSS MB").y) == [100.0, None]


def test_health_figure_of_no_snapshot_says_so():
    fig = health_figure(health_frame([]))

    assert not fig.data
    assert "No health snapshot yet" in [a.text for a in fig.layout.annotations]


# The candle figure.


def test_broker_and_tick_built_candles_are_separate_traces():
    fig = candle_figure(candles("bbbttm"))

    broker, ticks = trace(fig, "broker"), trace(fig, "built from ticks")
    mixed = trace(fig, "mixed (broker + ticks)")
    assert list(broker.close) == [100.5, 101.5, 102.5]
    assert list(ticks.close) == [103.5, 104.5]
    assert list(mixed.x) == ["2026-12-04 09:20:00"]
    assert broker.increasing.line.color != ticks.increasing.line.color


def test_the_candle_window_keeps_the_last_rows_and_their_fills_only():
    trades = [fill(1, "BUY", 101.2), fill(8, "SELL", 108.0)]

    fig = candle_figure(candles("b" * 10), trades, window=4)

    broker = trace(fig, "broker")
    assert (broker.x[0], len(broker.x)) == ("2026-12-04 09:21:00", 4)
    assert [t.name for t in fig.data] == ["broker", "sell"]
    assert list(trace(fig, "sell").y) == [108.0]


def test_fills_are_buy_and_sell_markers_at_their_price_and_time():
    trades = [fill(1, "BUY", 101.2), fill(3, "SELL", 103.9), fill(4, "BUY", 104.1)]

    fig = candle_figure(candles("tttttt"), trades)

    buys, sells = trace(fig, "buy"), trace(fig, "sell")
    assert list(buys.y) == [101.2, 104.1]
    assert list(buys.x) == ["2026-12-04 09:16:20", "2026-12-04 09:19:20"]
    assert list(sells.y) == [103.9]
    assert (
        buys.marker.symbol == "triangle-up" and sells.marker.symbol == "triangle-down"
    )
    assert list(sells.hovertext) == ["paper SELL 5 SBIN-EQ at 103.9"]


def test_the_true_candles_are_a_line_of_true_closes_within_the_window():
    truth = candles("bbbbbb")

    fig = candle_figure(candles("tttttt"), truth=truth, window=2)

    assert list(trace(fig, "true close (simulator)").y) == [104.5, 105.5]


def test_no_candles_gives_an_empty_chart_that_says_so():
    fig = candle_figure(candles(""), [fill(1, "BUY", 101.0)])

    assert not fig.data
    assert "No candles yet" in [a.text for a in fig.layout.annotations]


# The bundles shown.


def test_a_figure_bundle_is_plain_json_with_a_small_html_summary():
    fig = candle_figure(candles("bbt"), [fill(2, "BUY", 102.0)], title="SBIN-EQ")

    bundle = figure_bundle(fig)

    spec = json.loads(json.dumps(bundle[PLOTLY_MIME]))
    assert spec["data"][0]["close"] == [100.5, 101.5]
    page = bundle["text/html"]
    assert "<script" not in page and len(page) < 1000
    assert "SBIN-EQ" in page and "broker: 2 points" in page
    assert bundle["text/plain"].startswith("SBIN-EQ\n")


def test_the_cdn_fallback_loads_plotly_from_its_cdn_with_a_steady_div_id():
    fig = candle_figure(candles("bb"))

    page = figure_bundle(fig, fallback="cdn", div_id="kit-output-7")["text/html"]

    assert "cdn.plot.ly" in page and 'id="kit-output-7"' in page
    assert len(page) < 50_000  # plotly.js itself is not inlined


def test_the_board_bundle_escapes_the_board_under_its_status_line():
    bundle = board_bundle("P&L <b>1</b>", status="bot running")

    assert bundle["text/html"] == (
        "<div class='kit-status'>bot running</div>"
        "<pre class='kit-board'>P&amp;L &lt;b&gt;1&lt;/b&gt;</pre>"
    )


def test_a_widget_output_redraws_its_figure_widget_and_keeps_the_bundle():
    first = candle_figure(candles("bb"), title="first")
    second = candle_figure(candles("btt"), [fill(1, "BUY", 101.0)], title="second")

    shown = show_figure(first, widget=True)
    show_figure(second, shown)

    assert [t.name for t in shown.widget.data] == ["broker", "built from ticks", "buy"]
    assert shown.widget.layout.title.text == "second"
    assert shown.bundle[PLOTLY_MIME]["layout"]["title"]["text"] == "second"
    assert not shown.attached  # no IPython here: nothing was displayed


def test_a_chart_widget_redrawn_with_candles_drops_the_no_candles_note():
    empty = candle_figure(candles_to_frame([]))
    assert [a.text for a in empty.layout.annotations] == ["No candles yet"]
    shown = show_figure(empty, widget=True)
    sent: list[dict[str, Any]] = []  # what the browser is told, not Python's copy
    for name in ("_send_relayout_msg", "_send_update_msg"):
        original = getattr(shown.widget, name)

        def record(*args: Any, _send: Any = original, **kwargs: Any) -> Any:
            sent.append({"args": args, "kwargs": kwargs})
            return _send(*args, **kwargs)

        setattr(shown.widget, name, record)

    show_figure(candle_figure(candles("bbt")), shown)

    assert shown.widget.layout.annotations == ()
    told = json.dumps(sent, default=str)
    assert '"annotations": []' in told
