"""The health board and the start-up summary, as text and as HTML.

:func:`render_board` draws the user's HEALTH STATUS board from a
:class:`~kit.ops.health_snapshot.HealthSnapshot`: every line is measured, and a
section the monitor could not read says ``unknown``. :func:`board_html` is the
same content for a notebook, every text escaped. :func:`render_startup_summary`
is the summary printed once the bot has started. Status symbols belong here,
on what a person looks at, and never in log lines.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from kit.clock import IST
from kit.market.bootstrap_state import BootstrapStatus, WarmupMode
from kit.ops.health_config import MIB, HealthConfig
from kit.ops.health_grade import duration
from kit.ops.health_snapshot import (
    CandleHealth,
    DataFlowHealth,
    ErrorRateHealth,
    FeedHealth,
    Grade,
    HealthSnapshot,
    PositionsHealth,
    ProcessHealth,
    ScanHealth,
    TokenHealth,
)

OK, WARN, BAD, IDLE = "✅", "⚠", "❌", "⏸"
RULE = "=" * 80
UNKNOWN = "unknown"
_GRADE_SYMBOL = {Grade.EXCELLENT: OK, Grade.GOOD: OK, Grade.DEGRADED: WARN}
_MAX_LISTED = 6  # positions and thread names shown before "+N more"
_DEFAULTS = HealthConfig()


@dataclass(frozen=True)
class BoardRow:
    """One line of the board: an icon, a label and the measured value."""

    icon: str
    label: str
    value: str

    def text(self) -> str:
        return f"{self.icon} {self.label}: {self.value}"


def board_rows(
    snapshot: HealthSnapshot, config: HealthConfig | None = None
) -> list[BoardRow]:
    """The board's lines for ``snapshot``, thresholds from ``config``."""
    cfg = config or _DEFAULTS
    s = snapshot
    return [
        BoardRow("🔌", "WebSocket", _feed(s.feed, s.market_open)),
        BoardRow("📊", "Data Flow", _data(s.data, s.market_open, cfg)),
        BoardRow("📈", "Candles", _candles(s.candles)),
        BoardRow("💰", "Positions", _positions(s.positions)),
        BoardRow("🔑", "Token Age", _token(s.token, cfg)),
        BoardRow("💾", "Memory", _memory(s.process)),
        BoardRow("🧵", "Threads", _threads(s.process)),
        BoardRow("⚡", "Error Rate", _errors(s.errors)),
        BoardRow("📡", "Last Scan", _last_scan(s.scans)),
        BoardRow("⏱", "Average Scan Time", _average_scan(s.scans)),
    ]


def render_board(
    snapshot: HealthSnapshot,
    *,
    next_check_s: float,
    updated_every_s: float = 60.0,
    config: HealthConfig | None = None,
) -> str:
    """The HEALTH STATUS board of ``snapshot`` as text."""
    lines = [_title(snapshot, updated_every_s), RULE]
    lines += [row.text() for row in board_rows(snapshot, config)]
    lines += ["", grade_line(snapshot)]
    lines += [f"   - {reason}" for reason in snapshot.reasons]
    lines += [f"Next health check in: {_seconds(next_check_s)}", RULE]
    return "\n".join(lines)


def board_html(
    snapshot: HealthSnapshot,
    *,
    next_check_s: float | None = None,
    updated_every_s: float = 60.0,
    config: HealthConfig | None = None,
) -> str:
    """The board's content as simple HTML for a notebook; all text escaped."""
    esc = html.escape
    rows = "".join(
        f"<tr><td>{esc(r.icon)}</td><th style='text-align:left'>{esc(r.label)}</th>"
        f"<td style='text-align:left'>{esc(r.value)}</td></tr>"
        for r in board_rows(snapshot, config)
    )
    reasons = "".join(f"<li>{esc(reason)}</li>" for reason in snapshot.reasons)
    parts = [
        "<div class='kit-health-board'>",
        f"<h4>{esc(_title(snapshot, updated_every_s))}</h4>",
        f"<table>{rows}</table>",
        f"<p><b>{esc(grade_line(snapshot))}</b></p>",
        f"<ul>{reasons}</ul>" if reasons else "",
    ]
    if next_check_s is not None:
        parts.append(f"<p>Next health check in: {esc(_seconds(next_check_s))}</p>")
    parts.append("</div>")
    return "".join(parts)


def grade_line(snapshot: HealthSnapshot) -> str:
    symbol = _GRADE_SYMBOL.get(snapshot.grade, BAD)
    return f"Bot Health: {snapshot.grade.value} {symbol}"


def render_startup_summary(
    *,
    mode: str,
    symbols: Sequence[str],
    bootstrap: BootstrapStatus | None,
    feed_connected: bool | None,
    prices_flowing: int | None,
    store: str,
    notifications: Sequence[str],
    now: datetime,
) -> str:
    """The summary shown once the bot has started: mode, symbols, history,
    feed, prices, store and notifications, and the recovery under way."""
    lines = ["🚀 BOT STARTUP COMPLETE", RULE, "📊 SYSTEM STATUS:"]
    what = "real orders" if mode == "live" else "orders filled by the kit"
    lines.append(f"   Mode: {mode.upper()} ({what})")
    lines.append(f"   Symbols: {len(symbols)}")
    if bootstrap is not None and bootstrap.skipped:
        lines.append(f"   Skipped symbols: {_listed(list(bootstrap.skipped))}")
    lines.append(f"   WebSocket: {_connected(feed_connected)}")
    lines.append(f"   Historical Candles: {_history(bootstrap)}")
    lines.append(f"   Live Prices: {_prices(prices_flowing, len(symbols))}")
    lines.append(f"   Store: {store}")
    lines.append(f"   Notifications: {', '.join(notifications) or 'off'}")

    building = bootstrap is not None and bootstrap.mode is WarmupMode.TICKS
    if building and bootstrap is not None:
        lines += ["", "🔄 AUTOMATIC RECOVERY:"]
        count = len(bootstrap.from_ticks)
        lines.append(f"   Building candles from live WebSocket data ({count} symbols)")
        if bootstrap.warm_at is not None:
            left = duration((bootstrap.warm_at - now).total_seconds())
            lines.append(f"   Expected completion: {_when(bootstrap.warm_at, now)} "
                         f"(in {left})")  # fmt: skip
        lines.append(f"   Bot is healthy - no action required {OK}")
    lines.append(RULE)
    return "\n".join(lines)


# The board's values.


def _title(snapshot: HealthSnapshot, updated_every_s: float) -> str:
    at = snapshot.at.astimezone(IST).strftime("%H:%M:%S IST")
    return f"HEALTH STATUS (Updated every {updated_every_s:.0f}s) at {at}"


def _feed(feed: FeedHealth | None, market_open: bool) -> str:
    if feed is None:
        return UNKNOWN
    again = f", {_count(feed.reconnects, 'reconnect')}" if feed.reconnects else ""
    if feed.connected:
        word = (
            f"{OK} Connected"
            if feed.state == "connected"
            else f"{WARN} Partly connected"
        )
        return f"{word} (uptime: {duration(feed.uptime_s)}{again})"
    symbol = BAD if market_open else WARN
    closed = ", market closed" if not market_open else ""
    return (
        f"{symbol} {feed.state.capitalize()} "
        f"(down {duration(feed.down_s)}{again}{closed})"
    )


def _data(data: DataFlowHealth | None, market_open: bool, cfg: HealthConfig) -> str:
    if data is None:
        return UNKNOWN
    if data.subscribed == 0:
        return f"{WARN} No symbols subscribed"
    counts = f"({data.fresh}/{data.subscribed} symbols receiving ticks)"
    if not market_open:
        return f"{IDLE} Market closed {counts}"
    ratio = data.fresh / data.subscribed
    if ratio >= 1:
        return f"{OK} Healthy {counts}"
    if ratio >= cfg.data_flow_degraded_ratio:
        return f"{WARN} Partial {counts}"
    return f"{BAD} Stalled {counts}"


def _candles(candles: CandleHealth | None) -> str:
    if candles is None:
        return UNKNOWN
    if candles.total == 0:
        return f"{WARN} No symbols"
    if candles.warm >= candles.total:
        each = "" if candles.fewest is None else f", {candles.fewest}+ candles each"
        return f"{OK} Complete ({_count(candles.total, 'symbol')}{each})"
    held = "" if candles.candles is None else f", {candles.candles:,} candles"
    return f"{WARN} Warming ({candles.warm}/{candles.total} symbols warm{held})"


def _positions(positions: PositionsHealth | None) -> str:
    if positions is None:
        return UNKNOWN
    realised = positions.realised_pnl
    day = f"; realised {_rupees(realised)}" if round(realised) else ""
    if positions.count == 0:
        return f"none open{day}"
    shown = [f"{p.symbol} {_rupees(p.pnl)}" for p in positions.positions]
    return f"{positions.count} open ({_listed(shown)}){day}"


def _token(token: TokenHealth | None, cfg: HealthConfig) -> str:
    if token is None:
        return UNKNOWN
    if token.age_s is None or token.expires_in_s is None:
        return "not logged in"
    age = f"{token.age_s / 3600:.1f} hours"
    left_s = token.expires_in_s
    if left_s <= 0:
        return f"{age} ({BAD} expired: log in again)"
    if left_s < cfg.token_warning_s:
        return f"{age} ({WARN} expires in {int(left_s // 60)} min)"
    if left_s < cfg.token_minor_s:
        return f"{age} (expires in {duration(left_s)})"
    return f"{age} (fresh {OK})"


def _memory(process: ProcessHealth | None) -> str:
    if process is None:
        return UNKNOWN
    rss_mb = process.rss_bytes / MIB
    trend = process.rss_trend_bytes_h
    growth = "" if trend is None else f", {trend / MIB:+.1f} MB/h"
    limit = process.memory_limit_bytes
    if not limit:
        return f"{rss_mb:.0f} MB{growth}"
    used = process.rss_bytes / limit
    return f"{rss_mb:.0f} MB / {limit / MIB:.0f} MB ({used:.0%} used{growth})"


def _threads(process: ProcessHealth | None) -> str:
    if process is None:
        return UNKNOWN
    return f"{process.threads} active ({_listed(list(process.thread_names))})"


def _errors(errors: ErrorRateHealth | None) -> str:
    if errors is None:
        return UNKNOWN
    if errors.operations == 0:
        return f"0.0% (no operations in the last {duration(errors.window_s)})"
    rate = errors.errors / errors.operations
    return (
        f"{rate:.1%} ({_count(errors.errors, 'error')} in last "
        f"{_count(errors.operations, 'operation')})"
    )


def _last_scan(scans: ScanHealth | None) -> str:
    if scans is None:
        return UNKNOWN
    if scans.last_scan_age_s is None:
        return "none yet"
    return f"{_seconds(scans.last_scan_age_s)} ago"


def _average_scan(scans: ScanHealth | None) -> str:
    if scans is None or scans.average_scan_s is None:
        return UNKNOWN
    average_s = scans.average_scan_s
    if average_s < 0.1:  # the default strategy scans 50 symbols in tens of ms
        return f"{average_s * 1000:.0f}ms"
    return f"{average_s:.1f}s"


# The start-up summary's values.


def _connected(connected: bool | None) -> str:
    if connected is None:
        return UNKNOWN
    return f"{OK} Connected" if connected else f"{WARN} Not connected yet"


def _history(bootstrap: BootstrapStatus | None) -> str:
    if bootstrap is None:
        return UNKNOWN
    mode = bootstrap.mode
    if mode is WarmupMode.NOT_STARTED:
        return f"{IDLE} Not loaded yet"
    if mode is WarmupMode.LOADING:
        return "Loading..."
    loaded = len(bootstrap.with_history)
    if mode is WarmupMode.HISTORY:
        return f"{OK} Loaded ({_count(loaded, 'symbol')})"
    building = _count(len(bootstrap.from_ticks), "symbol")
    return f"{WARN} Building from ticks ({building}; {loaded} loaded)"


def _prices(flowing: int | None, total: int) -> str:
    if flowing is None:
        return UNKNOWN
    if flowing == 0:
        return f"{WARN} Not flowing yet (0/{total} symbols)"
    return f"{OK} Flowing ({_count(flowing, 'symbol')})"


# Formatting.


def _count(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _seconds(seconds: float) -> str:
    whole = max(0, round(seconds))
    if whole >= 60:
        return duration(whole)
    return _count(whole, "second")


def _rupees(amount: float) -> str:
    sign = "-" if round(amount) < 0 else "+"
    return f"{sign}₹{abs(amount):,.0f}"


def _listed(items: list[str]) -> str:
    if len(items) <= _MAX_LISTED:
        return ", ".join(items)
    more = len(items) - _MAX_LISTED
    return ", ".join(items[:_MAX_LISTED]) + f", +{more} more"


def _when(moment: datetime, now: datetime) -> str:
    local = moment.astimezone(IST)
    if local.date() == now.astimezone(IST).date():
        return local.strftime("%H:%M IST")
    return local.strftime("%Y-%m-%d %H:%M IST")
