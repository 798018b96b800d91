"""The notebook's charts, built from what the bot measured: pure functions, no I/O.

::

    frame = health_frame(snapshots, window=timedelta(hours=2))
    health_figure(frame)                       # feed, data flow, memory, errors...
    candle_figure(bot.candles("SBIN-EQ"), bot.trades("SBIN-EQ"), window=120)

Every series is a field a :class:`~kit.ops.health_snapshot.HealthSnapshot`
really carries. A snapshot holds no tick count, so data flow is drawn as the
symbols with a fresh tick out of those subscribed; reconnects are the feed's
running count, marked where it grew. A section the monitor could not read is a
gap in its line, never a zero.

``window`` bounds what is drawn: an ``int`` keeps the last that many rows (for
candles: minutes of session), a ``timedelta`` the rows that far back from the
newest. Times are drawn as IST wall-clock time, because Plotly has no time
zones; the axis title says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

import pandas as pd
import plotly.graph_objects as go  # type: ignore[import-untyped]
from plotly.subplots import make_subplots  # type: ignore[import-untyped]

from kit.clock import IST
from kit.ops.events import ActivityEvent
from kit.ops.health_snapshot import Grade, HealthSnapshot
from kit.store.base import HealthRecord

Window = int | timedelta | None

MIB = 1024 * 1024
GRADES = [g.value for g in Grade]  # best first; a grade's rank is its place here
TIME_AXIS = "time (IST)"
HEALTH_DTYPES = {
    "feed_connected": "boolean", "feed_state": "str", "reconnects": "Int64",
    "fresh": "Int64", "subscribed": "Int64", "warm": "Int64", "warm_total": "Int64",
    "rss_mb": "float64", "errors": "Int64", "operations": "Int64",
    "error_rate": "float64", "grade": "str", "grade_rank": "Int64",
    "positions": "Int64", "unrealised_pnl": "float64", "realised_pnl": "float64",
    "pnl": "float64", "market_open": "boolean",
}  # fmt: skip
PROVENANCE_STYLE = {
    # provenance: (legend name, rising colour, falling colour)
    "broker": ("broker", "#26a69a", "#ef5350"),
    "ticks": ("built from ticks", "#1e88e5", "#fb8c00"),
    "mixed": ("mixed (broker + ticks)", "#8e24aa", "#6d4c41"),
}
CANDLE_LAYOUT = {
    "height": 480, "template": "plotly_white", "xaxis_title": TIME_AXIS,
    "yaxis_title": "price (₹)", "xaxis_rangeslider_visible": False,
    "legend": {"orientation": "h", "y": -0.18, "yanchor": "top"},
    "margin": {"t": 60, "b": 110},
}  # fmt: skip
SESSION_BREAKS = [
    {"bounds": ["sat", "mon"]},  # weekends
    {"bounds": [15.5, 9.25], "pattern": "hour"},  # 15:30 to 09:15
]
TRADE_STYLE = {
    "BUY": ("buy", "triangle-up", "#2e7d32"),
    "SELL": ("sell", "triangle-down", "#c62828"),
}


def keep_last(frame: pd.DataFrame, window: Window) -> pd.DataFrame:
    """The rows of ``frame`` (a time index, oldest first) inside ``window``."""
    if window is None or frame.empty:
        return frame
    if isinstance(window, timedelta):
        newest = pd.DatetimeIndex(frame.index).max()
        return frame.loc[frame.index >= newest - window]
    return frame.iloc[-window:] if window > 0 else frame.iloc[:0]


# Health.


def health_frame(
    snapshots: Iterable[HealthSnapshot | HealthRecord], *, window: Window = None
) -> pd.DataFrame:
    """One row per snapshot (a stored record is read back first), indexed by
    its time in IST, oldest first; the same time twice keeps the later one."""
    rows: dict[pd.Timestamp, dict[str, Any]] = {}
    for item in snapshots:
        snap = (
            HealthSnapshot.from_record(item) if isinstance(item, HealthRecord) else item
        )
        rows[pd.Timestamp(snap.at).tz_convert(IST)] = _health_row(snap)
    index = pd.DatetimeIndex(sorted(rows), tz=IST, name="time")
    frame = pd.DataFrame(
        [rows[t] for t in index], index=index, columns=list(HEALTH_DTYPES)
    )
    frame = frame.astype(HEALTH_DTYPES)
    return keep_last(frame, window)


def _health_row(s: HealthSnapshot) -> dict[str, Any]:
    feed, data, candles, pos = s.feed, s.data, s.candles, s.positions
    errors, process = s.errors, s.process
    rate = None if errors is None else errors.rate
    return {
        "feed_connected": None if feed is None else feed.connected,
        "feed_state": None if feed is None else feed.state,
        "reconnects": None if feed is None else feed.reconnects,
        "fresh": None if data is None else data.fresh,
        "subscribed": None if data is None else data.subscribed,
        "warm": None if candles is None else candles.warm,
        "warm_total": None if candles is None else candles.total,
        "rss_mb": None if process is None else process.rss_bytes / MIB,
        "errors": None if errors is None else errors.errors,
        "operations": None if errors is None else errors.operations,
        "error_rate": rate,
        "grade": s.grade.value,
        "grade_rank": s.grade.rank,
        "positions": None if pos is None else pos.count,
        "unrealised_pnl": None if pos is None else pos.unrealised_pnl,
        "realised_pnl": None if pos is None else pos.realised_pnl,
        "pnl": None if pos is None else pos.unrealised_pnl + pos.realised_pnl,
        "market_open": s.market_open,
    }


HEALTH_PANELS = (
    "Feed connected (x: reconnect)",
    "Data flow: symbols",
    "Memory: RSS (MB)",
    "Error rate",
    "Grade",
    "P&L (₹)",
)
HEALTH_LINES = (
    # panel row, frame column, legend name, line dash, line shape
    (1, "feed_connected", "feed connected", "solid", "hv"),
    (2, "fresh", "fresh symbols", "solid", "linear"),
    (2, "subscribed", "subscribed", "dash", "linear"),
    (2, "warm", "warm books", "dot", "linear"),
    (3, "rss_mb", "RSS MB", "solid", "linear"),
    (4, "error_rate", "error rate", "solid", "linear"),
    (5, "grade_rank", "grade", "solid", "hv"),
    (6, "pnl", "P&L (realised + open)", "solid", "linear"),
    (6, "realised_pnl", "realised P&L", "dot", "linear"),
)
HEALTH_AXES: dict[int, dict[str, Any]] = {
    1: {"range": [-0.1, 1.1], "tickvals": [0, 1], "ticktext": ["no", "yes"]},
    4: {"tickformat": ".1%", "rangemode": "tozero"},
    5: {"range": [len(GRADES) - 0.5, -0.5], "tickvals": list(range(len(GRADES))),
        "ticktext": GRADES},
}  # fmt: skip
HEALTH_LAYOUT = {
    "height": 900, "hovermode": "x unified", "template": "plotly_white",
    "legend": {"orientation": "h", "y": -0.06, "yanchor": "top"},
    "margin": {"t": 70, "b": 120},
}  # fmt: skip


def health_figure(
    frame: pd.DataFrame, *, title: str = "Bot health (times IST)", window: Window = None
) -> go.Figure:
    """The health frame over time, one panel per concern (see HEALTH_PANELS)."""
    frame = keep_last(frame, window)
    rows = len(HEALTH_PANELS)
    fig = make_subplots(
        rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.04,
        subplot_titles=HEALTH_PANELS,
    )  # fmt: skip
    fig.update_layout(title=title, **HEALTH_LAYOUT)
    for row, axis in HEALTH_AXES.items():
        fig.update_yaxes(row=row, col=1, **axis)
    if frame.empty:
        return _empty(fig, "No health snapshot yet")

    x = _times(frame.index)
    for row, column, name, dash, shape in HEALTH_LINES:
        line = _line(x, frame[column], name, dash=dash, shape=shape)
        fig.add_trace(line, row=row, col=1)

    # The feed's running count of reconnects, marked where it grew.
    grew = frame["reconnects"].astype("Float64").diff().fillna(0) > 0
    marks = go.Scatter(
        x=_pick(x, grew), y=_values(frame["feed_connected"][grew]), mode="markers",
        name="reconnect", marker={"symbol": "x", "size": 10, "color": "#c62828"},
        text=[f"reconnects: {n}" for n in frame["reconnects"][grew]],
    )  # fmt: skip
    fig.add_trace(marks, row=1, col=1)
    return fig


# Candles.


def trades_frame(trades: Iterable[ActivityEvent]) -> pd.DataFrame:
    """Fills (events with a price and a side) as rows: time (IST), side,
    price, quantity, symbol, kind, text; oldest first."""
    rows = [
        {
            "time": pd.Timestamp(e.at).tz_convert(IST),
            "side": str(e.fields.get("side", "")).upper(),
            "price": float(e.fields["price"]),
            "quantity": e.fields.get("quantity", e.fields.get("filled")),
            "symbol": e.fields.get("symbol"),
            "kind": e.kind,
            "text": e.text,
        }
        for e in trades
        if "price" in e.fields
    ]
    columns = ["time", "side", "price", "quantity", "symbol", "kind", "text"]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values("time", kind="stable").reset_index(drop=True)


def candle_figure(
    candles: pd.DataFrame,
    trades: Iterable[ActivityEvent] | pd.DataFrame | None = None,
    truth: pd.DataFrame | None = None,
    *,
    title: str = "1-minute candles",
    window: Window = None,
) -> go.Figure:
    """Candles (a frame as ``Bot.candles`` returns it), one trace per
    provenance so broker and tick-built candles differ in colour and legend;
    fills as buy and sell markers; ``truth`` (the simulator's true candles,
    same columns) as a dashed line of true closes."""
    candles = keep_last(candles, window)
    fig = go.Figure()
    fig.update_layout(title=title, **CANDLE_LAYOUT)
    if candles.empty:
        return _empty(fig, "No candles yet")
    # Session minutes only: no overnight or weekend gap on the axis.
    fig.update_xaxes(rangebreaks=SESSION_BREAKS)

    for provenance, (name, rising, falling) in PROVENANCE_STYLE.items():
        part = candles[candles["provenance"] == provenance]
        if not part.empty:
            fig.add_trace(go.Candlestick(
                x=_times(part.index), open=_values(part["open"]),
                high=_values(part["high"]), low=_values(part["low"]),
                close=_values(part["close"]), name=name, legendgroup=provenance,
                increasing={"line": {"color": rising}, "fillcolor": rising},
                decreasing={"line": {"color": falling}, "fillcolor": falling},
            ))  # fmt: skip

    first, last = candles.index.min(), candles.index.max() + timedelta(minutes=1)
    if truth is not None and not truth.empty:
        true = truth[(truth.index >= first) & (truth.index < last)]
        x = _times(true.index)
        name = "true close (simulator)"
        fig.add_trace(_line(x, true["close"], name, dash="dash", color="#757575"))
    fills = _trades_in(trades, first, last)
    for side, (name, symbol, colour) in TRADE_STYLE.items():
        part = fills[fills["side"] == side]
        if not part.empty:
            fig.add_trace(go.Scatter(
                x=_times(pd.DatetimeIndex(part["time"])), y=_values(part["price"]),
                mode="markers", name=name, hovertext=list(part["text"]),
                marker={"symbol": symbol, "size": 12, "color": colour,
                        "line": {"width": 1, "color": "#212121"}},
            ))  # fmt: skip
    return fig


def _trades_in(
    trades: Iterable[ActivityEvent] | pd.DataFrame | None,
    first: pd.Timestamp,
    last: pd.Timestamp,
) -> pd.DataFrame:
    if not isinstance(trades, pd.DataFrame):
        trades = trades_frame(trades or [])
    frame = trades
    if frame.empty:
        return frame
    times = pd.DatetimeIndex(frame["time"])
    return frame[(times >= first) & (times < last)]


# Plumbing.


def _times(index: pd.Index[Any]) -> list[str]:
    """IST wall-clock times as text: Plotly draws them as given, offsets ignored."""
    local = pd.DatetimeIndex(index)
    if local.tz is not None:
        local = local.tz_convert(IST)
    return [t.strftime("%Y-%m-%d %H:%M:%S") for t in local]


def _values(series: pd.Series[Any]) -> list[float | None]:
    """Plain floats (None where unknown), so the figure's JSON is plain lists."""
    return [None if pd.isna(v) else float(v) for v in series.astype("Float64")]


def _pick(values: Sequence[str], mask: pd.Series[bool]) -> list[str]:
    return [v for v, keep in zip(values, mask, strict=True) if keep]


def _line(
    x: list[str],
    y: pd.Series[Any],
    name: str,
    *,
    shape: str = "linear",
    dash: str = "solid",
    color: str | None = None,
) -> go.Scatter:
    line = {"shape": shape, "dash": dash} | ({} if color is None else {"color": color})
    return go.Scatter(x=x, y=_values(y), name=name, mode="lines+markers",
                      line=line, marker={"size": 4})  # fmt: skip


def _empty(fig: go.Figure, text: str) -> go.Figure:
    fig.add_annotation(text=text, x=0.5, y=0.5, xref="paper", yref="paper",
                       showarrow=False, font={"size": 16})  # fmt: skip
    return fig
