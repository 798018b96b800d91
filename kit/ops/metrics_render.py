"""The metrics as text tables, DataFrames and JSON values.

:func:`render_tables` prints the two tables of the user's design: *Uptime
statistics* (a row a figure, a column a day) and *Recovery times* (a row a
fault of the recovery matrix: count, detection, recovery and total time,
auto-recovered share). Durations read as ``12.5 s``, ``3 min 05 s`` or
``1 h 02 min``; a negative detection time (an advance warning) as ``... ahead``;
a figure with nothing to measure as ``-``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from kit.ops.metrics import DayStats, FaultStats, Metrics
    from kit.ops.metrics_incidents import IncidentRecord

ISSUE_NAMES = {
    "ws_disconnect": "WebSocket disconnect",
    "ws_stale": "WebSocket silent",
    "bootstrap_failure": "Bootstrap failure",
    "api_rate_limit": "API rate limit",
    "network_timeout": "Network timeout",
    "server_error": "Server error",
    "token_expiry": "Token expiry",
    "invalid_symbol": "Invalid symbol",
    "insufficient_margin": "Insufficient margin",
    "market_closed": "Market closed",
    "store_down": "Store down",
    "crash": "Crash",
}

_RECOVERY_HEADERS = (
    "Issue", "Count", "Detection p50", "Detection max", "Recovery p50",
    "Recovery p95", "Recovery max", "Total p50", "Total max", "Auto-recovered",
)  # fmt: skip


def render_tables(metrics: Metrics) -> str:
    """Both tables, with a title line each, as one string."""
    days = ", ".join(str(stats.day) for stats in metrics.days) or "no events"
    scope = "market hours" if metrics.market_hours_only else "whole days"
    uptime = _uptime_rows(metrics.days)
    recovery = [_recovery_row(row) for row in metrics.faults]
    overall = _share(
        sum(row.auto_recovered for row in metrics.faults),
        sum(row.count for row in metrics.faults),
    )
    return "\n".join(
        [
            f"Uptime statistics: {days} (IST; downtime in {scope})",
            "",
            table(["Metric", *(str(s.day) for s in metrics.days)], uptime),
            "",
            "Recovery times",
            "",
            table(list(_RECOVERY_HEADERS), recovery),
            "",
            f"Auto-recovery rate: {overall}",
        ]
    )


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table with pipes: text left, figures right."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        parts = [
            cell.ljust(width) if index == 0 else cell.rjust(width)
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "| " + " | ".join(parts) + " |"

    rule = "|" + "|".join("-" * (width + 2) for width in widths) + "|"
    return "\n".join([line(headers), rule, *(line(row) for row in rows)])


def duration(seconds: float | None) -> str:
    """``12.5 s``, ``3 min 05 s``, ``1 h 02 min``; ``... ahead`` below zero."""
    if seconds is None:
        return "-"
    if -0.05 < seconds < 0:  # a start stamped a hair after its detection
        seconds = 0.0
    if seconds < 0:
        return f"{duration(-seconds)} ahead"
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def _share(part: int, whole: int) -> str:
    return f"{part} of {whole} ({100 * part / whole:.0f} %)" if whole else "-"


def _uptime_rows(days: Sequence[DayStats]) -> list[list[str]]:
    causes = sorted({cause for stats in days for cause in stats.downtime_by_cause})
    rows = [
        ["Bot crashes", *(str(s.crashes) for s in days)],
        ["Manual interventions", *(str(s.interventions) for s in days)],
        ["Downtime", *(duration(s.downtime_s) for s in days)],
    ]
    for cause in causes:
        label = f"  {ISSUE_NAMES.get(cause, cause)}"
        rows.append([label, *(duration(s.downtime_by_cause.get(cause)) for s in days)])
    rows += [
        [
            "WebSocket reconnects",
            *(_share(s.reconnects.recovered, s.reconnects.episodes) for s in days),
        ],
        ["Reconnect time p50 / p95 / max", *(_reconnect_times(s) for s in days)],
        [
            "API failure recovery",
            *(_share(s.api_auto_recovered, s.api_incidents) for s in days),
        ],
        ["Auto-recovery rate", *(_share(s.auto_recovered, s.incidents) for s in days)],
    ]
    return rows


def _reconnect_times(stats: DayStats) -> str:
    r = stats.reconnects
    if r.time_max_s is None:
        return "-"
    times = (r.time_p50_s, r.time_p95_s, r.time_max_s)
    return " / ".join(duration(t) for t in times)


def _recovery_row(row: FaultStats) -> list[str]:
    return [
        ISSUE_NAMES.get(row.fault, row.fault),
        str(row.count),
        duration(row.detection_p50_s),
        duration(row.detection_max_s),
        duration(row.recovery_p50_s),
        duration(row.recovery_p95_s),
        duration(row.recovery_max_s),
        duration(row.total_p50_s),
        duration(row.total_max_s),
        _share(row.auto_recovered, row.count),
    ]


# DataFrames and JSON.


def frame(metrics: Metrics, table_name: str) -> pd.DataFrame:
    """One of the tables as a DataFrame (see :meth:`Metrics.to_frame`)."""
    records = as_dict(metrics)
    days = records["days"]
    if table_name == "uptime":
        rows = [{k: v for k, v in d.items() if k in _UPTIME_COLUMNS} for d in days]
        return pd.DataFrame(rows, columns=_UPTIME_COLUMNS).set_index("day")
    if table_name == "downtime":
        causes = sorted({cause for d in days for cause in d["downtime_by_cause"]})
        rows = [{"day": d["day"], **d["downtime_by_cause"]} for d in days]
        downtime = pd.DataFrame(rows, columns=["day", *causes]).set_index("day")
        return downtime.fillna(0.0).astype("float64")
    if table_name == "recovery":
        return pd.DataFrame(records["faults"]).set_index("fault")
    if table_name == "incidents":
        return pd.DataFrame(records["incidents"], columns=_INCIDENT_COLUMNS)
    raise ValueError(
        f"no table {table_name!r}: uptime, downtime, recovery or incidents"
    )


_UPTIME_COLUMNS = [
    "day", "crashes", "interventions", "downtime_s", "reconnects",
    "reconnects_recovered", "reconnect_success_rate", "reconnect_p50_s",
    "reconnect_p95_s", "reconnect_max_s", "incidents", "auto_recovered",
    "auto_recovery_rate", "api_incidents", "api_auto_recovered", "api_recovery_rate",
]  # fmt: skip
_INCIDENT_COLUMNS = [
    "id", "fault", "detected_at", "began_at", "closed_at", "outcome",
    "detection_s", "recovery_s", "total_s", "auto_recovered", "needs_person",
    "events",
]  # fmt: skip


def as_dict(metrics: Metrics) -> dict[str, Any]:
    """Every figure as JSON values; times as ISO strings."""
    return {
        "market_hours_only": metrics.market_hours_only,
        "auto_recovery_rate": metrics.auto_recovery_rate,
        "days": [_day_dict(stats) for stats in metrics.days],
        "faults": [
            {**vars(row), "auto_share": row.auto_share} for row in metrics.faults
        ],
        "incidents": [_incident_dict(i) for i in metrics.incidents],
        "crashes": [
            {
                "at": crash.at.isoformat(),
                "down_from": crash.down_from.isoformat() if crash.down_from else None,
            }
            for crash in metrics.crashes
        ],
    }


def _day_dict(stats: DayStats) -> dict[str, Any]:
    r = stats.reconnects
    return {
        "day": stats.day.isoformat(),
        "crashes": stats.crashes,
        "interventions": stats.interventions,
        "downtime_s": stats.downtime_s,
        "downtime_by_cause": dict(stats.downtime_by_cause),
        "reconnects": r.episodes,
        "reconnects_recovered": r.recovered,
        "reconnect_success_rate": r.success_rate,
        "reconnect_p50_s": r.time_p50_s,
        "reconnect_p95_s": r.time_p95_s,
        "reconnect_max_s": r.time_max_s,
        "incidents": stats.incidents,
        "auto_recovered": stats.auto_recovered,
        "auto_recovery_rate": stats.auto_recovery_rate,
        "api_incidents": stats.api_incidents,
        "api_auto_recovered": stats.api_auto_recovered,
        "api_recovery_rate": stats.api_recovery_rate,
    }


def _incident_dict(incident: IncidentRecord) -> dict[str, Any]:
    def iso(when: datetime | None) -> str | None:
        return when.isoformat() if when is not None else None

    return {
        "id": incident.id,
        "fault": incident.fault,
        "detected_at": iso(incident.detected_at),
        "began_at": iso(incident.began_at),
        "closed_at": iso(incident.closed_at),
        "outcome": incident.outcome,
        "detection_s": incident.detection_s,
        "recovery_s": incident.recovery_s,
        "total_s": incident.total_s,
        "auto_recovered": incident.auto_recovered,
        "needs_person": incident.needs_person,
        "events": incident.events,
    }
