"""The health board and the start-up summary drawn from known snapshots."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from kit.market.bootstrap_state import BootstrapStatus, WarmupMode
from kit.ops.board import board_html, render_board, render_startup_summary
from kit.ops.health_config import MIB
from kit.ops.health_snapshot import (
    CandleHealth,
    DataFlowHealth,
    ErrorRateHealth,
    FeedHealth,
    Grade,
    PositionPnl,
    PositionsHealth,
    ScanHealth,
    TokenHealth,
)
from tests.ops.health_fakes import MIDDAY, nominal

NOMINAL_BOARD = """\
HEALTH STATUS (Updated every 60s) at 10:00:00 IST
================================================================================
🔌 WebSocket: ✅ Connected (uptime: 2h 15m)
📊 Data Flow: ✅ Healthy (50/50 symbols receiving ticks)
📈 Candles: ✅ Complete (50 symbols, 200+ candles each)
💰 Positions: 3 open (RELIANCE-EQ +₹1,240, TCS-EQ +₹850, INFY-EQ -₹320)
🔑 Token Age: 8.5 hours (fresh ✅)
💾 Memory: 245 MB / 1024 MB (24% used)
🧵 Threads: 4 active (MainThread, kit-feed-1, kit-health, kit-bootstrap)
⚡ Error Rate: 0.2% (2 errors in last 1000 operations)
📡 Last Scan: 2 seconds ago
⏱ Average Scan Time: 1.2s

Bot Health: EXCELLENT ✅
Next health check in: 58 seconds
================================================================================"""


def lines_of(board: str) -> dict[str, str]:
    """The board's rows by label."""
    rows = {}
    for line in board.splitlines():
        label, sep, value = line.partition(": ")
        if sep:
            icon = not label[0].isascii()
            rows[label.split(" ", 1)[1] if icon else label] = value
    return rows


def test_a_nominal_snapshot_draws_the_users_board():
    assert render_board(nominal(), next_check_s=58.2) == NOMINAL_BOARD


def test_a_troubled_snapshot_draws_each_trouble_and_the_reasons():
    snapshot = nominal(
        feed=FeedHealth(False, "reconnecting", 0.0, 3, down_s=95.0),
        data=DataFlowHealth(46, 50, 60.0, silent_s=3.0, since_open_s=2700.0),
        candles=CandleHealth(47, 50, candles=9400, fewest=12),
        token=TokenHealth(True, 23.5 * 3600, 1800.0),
        errors=ErrorRateHealth(7, 100, 600.0),
        scans=ScanHealth(200.0, 6.25, 40),
        grade=Grade.DEGRADED,
        reasons=("feed reconnecting for 1m 35s", "candles warm for 47/50 symbols"),
    )
    snapshot = replace(snapshot, process=replace(
        snapshot.process, rss_trend_bytes_h=62.5 * MIB))  # fmt: skip

    board = render_board(snapshot, next_check_s=5, updated_every_s=30)
    rows = lines_of(board)

    assert board.startswith("HEALTH STATUS (Updated every 30s) at 10:00:00 IST\n")
    assert rows["WebSocket"] == "❌ Reconnecting (down 1m 35s, 3 reconnects)"
    assert rows["Data Flow"] == "⚠ Partial (46/50 symbols receiving ticks)"
    assert rows["Candles"] == "⚠ Warming (47/50 symbols warm, 9,400 candles)"
    assert rows["Token Age"] == "23.5 hours (⚠ expires in 30 min)"
    assert rows["Memory"] == "245 MB / 1024 MB (24% used, +62.5 MB/h)"
    assert rows["Error Rate"] == "7.0% (7 errors in last 100 operations)"
    assert rows["Last Scan"] == "3m 20s ago"
    assert rows["Average Scan Time"] == "6.2s"
    assert rows["Bot Health"] == "DEGRADED ⚠"
    assert rows["Next health check in"] == "5 seconds"
    assert "   - feed reconnecting for 1m 35s\n   - candles warm for 47/50" in board


def test_a_critical_board_shows_an_expired_session_and_stalled_data():
    snapshot = nominal(
        data=DataFlowHealth(3, 50, 60.0, silent_s=1.0, since_open_s=2700.0),
        token=TokenHealth(False, 24.3 * 3600, -600.0),
        feed=FeedHealth(True, "degraded", 30.0, 1),
        grade=Grade.CRITICAL,
        reasons=("session expired",),
    )

    rows = lines_of(render_board(snapshot, next_check_s=0))

    assert rows["Data Flow"] == "❌ Stalled (3/50 symbols receiving ticks)"
    assert rows["Token Age"] == "24.3 hours (❌ expired: log in again)"
    assert rows["WebSocket"] == "⚠ Partly connected (uptime: 30 s, 1 reconnect)"
    assert rows["Bot Health"] == "CRITICAL ❌"
    assert rows["Next health check in"] == "0 seconds"


def test_outside_market_hours_the_board_says_so():
    snapshot = nominal(
        at=MIDDAY.replace(hour=18),
        market_open=False,
        feed=FeedHealth(False, "waiting", 0.0, 0, down_s=4000.0),
        data=DataFlowHealth(0, 50, 60.0),
        token=TokenHealth(True, 20 * 3600, 2.5 * 3600),
        grade=Grade.GOOD,
    )

    rows = lines_of(render_board(snapshot, next_check_s=75))

    assert rows["WebSocket"] == "⚠ Waiting (down 1h 6m, market closed)"
    assert rows["Data Flow"] == "⏸ Market closed (0/50 symbols receiving ticks)"
    assert rows["Token Age"] == "20.0 hours (expires in 2h 30m)"
    assert rows["Bot Health"] == "GOOD ✅"
    assert rows["Next health check in"] == "1m 15s"


def test_unknown_sections_read_unknown():
    names = ("feed", "data", "candles", "positions", "token", "process", "errors")
    snapshot = replace(nominal(), scans=None, **dict.fromkeys(names))

    rows = lines_of(render_board(snapshot, next_check_s=10))

    labels = ["WebSocket", "Data Flow", "Candles", "Positions", "Token Age"]
    labels += ["Memory", "Threads", "Error Rate", "Last Scan", "Average Scan Time"]
    assert {label: rows[label] for label in labels} == dict.fromkeys(labels, "unknown")


def test_positions_list_is_capped_and_shows_the_realised_pnl():
    many = tuple(PositionPnl(f"S{n}-EQ", 1, 100.0 * n - 250) for n in range(8))
    snapshot = nominal(positions=PositionsHealth(8, 1600.0, 1234.4, many))
    none_open = nominal(positions=PositionsHealth(0, 0.0, -75.0, ()))

    line = lines_of(render_board(snapshot, next_check_s=1))["Positions"]
    flat = lines_of(render_board(none_open, next_check_s=1))["Positions"]

    assert line == (
        "8 open (S0-EQ -₹250, S1-EQ -₹150, S2-EQ -₹50, S3-EQ +₹50, S4-EQ +₹150, "
        "S5-EQ +₹250, +2 more); realised +₹1,234"
    )
    assert flat == "none open; realised -₹75"


def test_the_html_board_has_the_same_content_escaped():
    snapshot = nominal(
        positions=PositionsHealth(1, 10.0, 0.0, (PositionPnl("M&M-EQ", 1, 10.0),)),
        grade=Grade.GOOD,
        reasons=("<script>alert(1)</script>",),
    )

    page = board_html(snapshot, next_check_s=58)

    assert "M&amp;M-EQ +₹10" in page
    assert "<script>" not in page
    assert "<li>&lt;script&gt;alert(1)&lt;/script&gt;</li>" in page
    assert "<th style='text-align:left'>Data Flow</th>" in page
    assert "✅ Healthy (50/50 symbols receiving ticks)" in page
    assert "<b>Bot Health: GOOD ✅</b>" in page
    assert "Next health check in: 58 seconds" in page
    assert page.startswith("<div class='kit-health-board'>")
    assert page.endswith("</div>")


def boot(mode: WarmupMode, **changes: object) -> BootstrapStatus:
    values: dict[str, object] = {
        "mode": mode, "symbols": 50, "with_history": tuple(f"S{n}" for n in range(50)),
        "from_ticks": (), "skipped": (), "warm_at": None, "jobs": 0, "running": True,
    }  # fmt: skip
    values.update(changes)
    return BootstrapStatus(**values)  # type: ignore[arg-type]


SYMBOLS = [f"S{n}-EQ" for n in range(50)]


def test_the_startup_summary_of_a_bot_with_its_history():
    summary = render_startup_summary(
        mode="paper", symbols=SYMBOLS, bootstrap=boot(WarmupMode.HISTORY),
        feed_connected=True, prices_flowing=50, store="sqlite:kit-data/kit.sqlite3",
        notifications=["console", "telegram"], now=MIDDAY,
    )  # fmt: skip

    assert summary == "\n".join([
        "🚀 BOT STARTUP COMPLETE",
        "=" * 80,
        "📊 SYSTEM STATUS:",
        "   Mode: PAPER (orders filled by the kit)",
        "   Symbols: 50",
        "   WebSocket: ✅ Connected",
        "   Historical Candles: ✅ Loaded (50 symbols)",
        "   Live Prices: ✅ Flowing (50 symbols)",
        "   Store: sqlite:kit-data/kit.sqlite3",
        "   Notifications: console, telegram",
        "=" * 80,
    ])  # fmt: skip


def test_the_startup_summary_of_a_bot_building_from_ticks():
    early = MIDDAY.replace(hour=9, minute=0)
    status = boot(
        WarmupMode.TICKS, with_history=(), from_ticks=tuple(SYMBOLS[:48]),
        skipped=("BAD-EQ", "GONE-EQ"),
        warm_at=early.replace(minute=15) + timedelta(minutes=200),
    )  # fmt: skip

    summary = render_startup_summary(
        mode="live", symbols=SYMBOLS, bootstrap=status, feed_connected=True,
        prices_flowing=0, store="firestore:demo", notifications=[], now=early,
    )  # fmt: skip

    lines = summary.splitlines()
    assert "   Mode: LIVE (real orders)" in lines
    assert "   Skipped symbols: BAD-EQ, GONE-EQ" in lines
    assert (
        "   Historical Candles: ⚠ Building from ticks (48 symbols; 0 loaded)" in lines
    )
    assert "   Live Prices: ⚠ Not flowing yet (0/50 symbols)" in lines
    assert "   Notifications: off" in lines
    assert lines[-6:] == [
        "",
        "🔄 AUTOMATIC RECOVERY:",
        "   Building candles from live WebSocket data (48 symbols)",
        "   Expected completion: 12:35 IST (in 3h 35m)",
        "   Bot is healthy - no action required ✅",
        "=" * 80,
    ]


def test_a_fast_scan_reads_in_milliseconds():
    board = render_board(nominal(scans=ScanHealth(2.0, 0.0425, 45)), next_check_s=1)

    assert lines_of(board)["Average Scan Time"] == "42ms"
