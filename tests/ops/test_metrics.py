"""kit.ops.metrics: the user's tables from scripted logs, answers known by hand."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from kit.clock import IST
from kit.ops.events import ActivityEvent
from kit.ops.metrics import (
    compute_metrics,
    merged_length_s,
    metrics_for_day,
    percentile,
)
from kit.ops.metrics_render import duration
from tests.ops.scripted_log import (
    DAY,
    NEXT,
    WS,
    K,
    at,
    closed,
    detected,
    ev,
    incident,
    scripted_day,
)

# The uptime table.


def test_the_scripted_day_counts_one_crash_and_three_interventions():
    stats = compute_metrics(scripted_day(), day=DAY).day(DAY)

    assert stats.crashes == 1
    # the token incident (warning and expiry: one ask), the feed giving up,
    # and the person's login
    assert stats.interventions == 3


def test_downtime_by_cause_merges_overlaps_and_counts_market_hours_only():
    stats = compute_metrics(scripted_day(), day=DAY).day(DAY)

    assert stats.downtime_by_cause == {
        "ws_disconnect": 15 + 45 + 720,  # a and a2 merged; c to the last sign of life
        "ws_stale": 35 + 50 + 1830,  # u open until the stop, cut at 15:30
        "token_expiry": 120,  # from the expiry, not from the warning
        "crash": 480,  # last seen 14:12 to the restart at 14:20
    }
    # 10:00:00-10:00:40 once, s1, b, the session, 14:00-14:20, u
    assert stats.downtime_s == 40 + 50 + 45 + 120 + 1200 + 1830


def test_reconnects_count_every_feed_incident_and_time_the_recovered():
    reconnects = compute_metrics(scripted_day(), day=DAY).day(DAY).reconnects

    assert (reconnects.episodes, reconnects.recovered) == (7, 5)
    assert (reconnects.failed, reconnects.open) == (1, 1)
    assert reconnects.success_rate == pytest.approx(5 / 7)
    # recovery times 10, 10, 15, 30, 45 s
    assert reconnects.time_p50_s == 15
    assert reconnects.time_p95_s == pytest.approx(42.0)
    assert reconnects.time_max_s == 45


def test_api_recovery_and_auto_recovery_rates():
    metrics = compute_metrics(scripted_day(), day=DAY)
    stats = metrics.day(DAY)

    assert (stats.api_auto_recovered, stats.api_incidents) == (3, 4)
    assert (stats.auto_recovered, stats.incidents) == (11, 15)
    assert stats.auto_recovery_rate == pytest.approx(11 / 15)
    assert metrics.auto_recovery_rate == pytest.approx(11 / 15)


# The recovery table.


def test_the_recovery_table_has_known_figures_per_fault():
    rows = {row.fault: row for row in compute_metrics(scripted_day(), day=DAY).faults}

    ws = rows["ws_disconnect"]
    assert (ws.count, ws.recovered, ws.failed, ws.open, ws.auto_recovered) == (
        4, 3, 1, 0, 3,
    )  # fmt: skip
    assert (ws.detection_p50_s, ws.detection_max_s) == (0, 0)
    assert (ws.recovery_p50_s, ws.recovery_max_s) == (10, 45)
    assert ws.recovery_p95_s == pytest.approx(41.5)
    assert (ws.total_p50_s, ws.total_max_s) == (10, 45)

    stale = rows["ws_stale"]
    assert (stale.count, stale.recovered, stale.open) == (3, 2, 1)
    assert (stale.detection_p50_s, stale.detection_max_s) == (20, 30)
    assert stale.recovery_p50_s == pytest.approx(22.5)
    assert stale.recovery_p95_s == pytest.approx(29.25)
    assert (stale.total_p50_s, stale.total_max_s) == (42.5, 50)


def test_api_token_and_one_event_incidents_in_the_recovery_table():
    rows = {row.fault: row for row in compute_metrics(scripted_day(), day=DAY).faults}

    limit = rows["api_rate_limit"]
    assert (limit.count, limit.detection_p50_s, limit.detection_max_s) == (2, 1.5, 2)
    assert (limit.recovery_p50_s, limit.recovery_max_s) == (15, 20)
    assert limit.recovery_p95_s == pytest.approx(19.5)
    assert (limit.total_p50_s, limit.total_max_s, limit.auto_share) == (16.5, 22, 1)

    timeout = rows["network_timeout"]
    assert (timeout.count, timeout.failed, timeout.detection_max_s) == (1, 1, 7)
    assert (timeout.recovery_p50_s, timeout.auto_share) == (None, 0)

    token = rows["token_expiry"]
    assert (token.detection_p50_s, token.recovery_p50_s) == (-3600, 3720)
    assert (token.total_max_s, token.auto_recovered) == (120, 0)

    for fault in ("invalid_symbol", "insufficient_margin"):
        row = rows[fault]
        assert (row.count, row.recovery_max_s, row.total_max_s, row.auto_share) == (
            1, 0, 0, 1,
        )  # fmt: skip
    closed_market = rows["market_closed"]
    assert (closed_market.detection_max_s, closed_market.recovery_max_s) == (30, 90)
    assert rows["bootstrap_failure"].count == 0
    assert rows["store_down"].count == 0


# Days, crashes and open incidents.


def test_an_incident_after_midnight_ist_counts_on_the_next_day():
    # 00:30 IST on the 4th is still the 3rd in UTC
    late = detected("00:30:00", K.FEED_DISCONNECTED, "n", WS, "00:30:00", day=NEXT)
    events = [
        ev("22:00:00", K.BOT_STARTED),
        late,
        closed("00:30:20", K.FEED_RECONNECTED, "n", WS, day=NEXT),
    ]
    assert late.at.astimezone(IST).date() == NEXT
    assert late.at.utctimetuple().tm_mday == DAY.day

    metrics = compute_metrics(events)

    assert [stats.day for stats in metrics.days] == [DAY, NEXT]
    assert metrics.day(DAY).reconnects.episodes == 0
    assert metrics.day(NEXT).reconnects.episodes == 1
    assert metrics.day(NEXT).downtime_s == 0  # outside market hours


def test_whole_day_downtime_is_split_at_midnight_ist():
    events = [
        ev("22:00:00", K.BOT_STARTED),
        detected("23:50:00", K.FEED_DISCONNECTED, "m", WS, "23:50:00"),
        closed("00:10:00", K.FEED_RECONNECTED, "m", WS, day=NEXT),
    ]

    metrics = compute_metrics(events, market_hours_only=False)

    assert metrics.day(DAY).downtime_s == 600
    assert metrics.day(NEXT).downtime_s == 600
    assert metrics.day(DAY).reconnects.episodes == 1  # detected on the 3rd
    assert metrics.day(NEXT).reconnects.episodes == 0


def test_a_clean_stop_then_a_start_is_not_a_crash():
    events = [
        ev("09:00:00", K.BOT_STARTED),
        ev("10:00:00", K.BOT_STOPPED),
        ev("10:05:00", K.NOTIFICATION_FAILED),  # after the stop: in no run
        ev("10:10:00", K.BOT_STARTED),
        ev("11:00:00", K.BOT_STOPPED),
    ]

    stats = compute_metrics(events, day=DAY).day(DAY)

    assert (stats.crashes, stats.downtime_s) == (0, 0)


def test_crash_detected_alone_counts_with_its_last_sign_of_life():
    events = [
        ev("10:00:00", K.BOT_STARTED),
        ev("10:00:01", K.CRASH_DETECTED, last_seen_s=at("09:50:00").timestamp()),
        ev("10:30:00", K.BOT_STOPPED),
    ]

    metrics = compute_metrics(events, day=DAY)

    assert metrics.day(DAY).crashes == 1
    assert metrics.day(DAY).downtime_by_cause == {"crash": 600}
    assert metrics.crashes[0].at == at("10:00:00")


def test_an_open_incident_of_a_running_bot_lasts_until_as_of():
    events = [
        ev("09:00:00", K.BOT_STARTED),
        detected("10:00:00", K.FEED_DISCONNECTED, "o", WS, "10:00:00"),
        ev("10:01:00", K.FEED_RECONNECTING, **incident("o", WS, None)),
    ]

    without = compute_metrics(events, day=DAY).day(DAY)
    with_as_of = compute_metrics(events, day=DAY, as_of=at("10:05:00")).day(DAY)

    assert without.downtime_s == 60  # to the last event known
    assert with_as_of.downtime_s == 300
    assert with_as_of.reconnects.open == 1
    assert with_as_of.reconnects.success_rate == 0


def test_a_day_without_events_has_empty_figures():
    metrics = compute_metrics([], day=DAY)

    stats = metrics.day(DAY)
    assert (stats.crashes, stats.interventions, stats.downtime_s) == (0, 0, 0)
    assert stats.reconnects.success_rate is None
    assert stats.auto_recovery_rate is None
    assert metrics.auto_recovery_rate is None


# Building blocks.


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([10, 20, 30, 40], 50, 25.0),
        ([10, 20, 30, 40], 95, 38.5),
        ([7], 95, 7.0),
        ([3, 1, 2], 0, 1.0),
        ([3, 1, 2], 100, 3.0),
        ([], 50, None),
    ],
)
def test_percentiles_interpolate_between_ranks(values, q, expected):
    assert percentile(values, q) == expected


def test_merged_length_merges_and_clips():
    intervals = [(0, 10), (5, 15), (20, 30), (40, 50)]

    assert merged_length_s(intervals, (0, 100)) == 15 + 10 + 10
    assert merged_length_s(intervals, (8, 45)) == 7 + 10 + 5
    assert merged_length_s(intervals, None) == 0


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "-"),
        (12.5, "12.5 s"),
        (185, "3 min 05 s"),
        (3720, "1 h 02 min"),
        (-3600, "1 h 00 min ahead"),
        (-0.004, "0.0 s"),  # a start stamped a hair after its detection
    ],
)
def test_durations_read_as_a_person_would_say_them(seconds, text):
    assert duration(seconds) == text


# Tables, frames and the store.


def test_render_tables_prints_the_users_layout_with_the_figures():
    text = compute_metrics(scripted_day(), day=DAY).render_tables()

    assert "Uptime statistics: 2026-12-03" in text
    lines = {
        line.split("|")[1].strip(): line for line in text.splitlines() if "|" in line
    }
    assert lines["Metric"].split("|")[2].strip() == "2026-12-03"
    assert lines["Bot crashes"].split("|")[2].strip() == "1"
    assert lines["Manual interventions"].split("|")[2].strip() == "3"
    assert lines["Downtime"].split("|")[2].strip() == "54 min 45 s"  # 3285 s
    assert "5 of 7 (71 %)" in lines["WebSocket reconnects"]
    assert "15.0 s / 42.0 s / 45.0 s" in lines["Reconnect time p50 / p95 / max"]
    assert "3 of 4 (75 %)" in lines["API failure recovery"]
    row = [cell.strip() for cell in lines["Token expiry"].split("|")[1:-1]]
    assert row[:5] == ["Token expiry", "1", "1 h 00 min ahead", "1 h 00 min ahead",
                       "1 h 02 min"]  # fmt: skip
    assert text.rstrip().endswith("Auto-recovery rate: 11 of 15 (73 %)")


def test_frames_hold_the_same_figures():
    metrics = compute_metrics(scripted_day(), day=DAY)

    uptime = metrics.to_frame("uptime")
    assert uptime.loc["2026-12-03", "crashes"] == 1
    assert uptime.loc["2026-12-03", "downtime_s"] == 3285
    downtime = metrics.to_frame("downtime")
    assert downtime.loc["2026-12-03", "crash"] == 480
    recovery = metrics.to_frame("recovery")
    assert recovery.loc["api_rate_limit", "recovery_p95_s"] == pytest.approx(19.5)
    incidents = metrics.to_frame("incidents")
    assert len(incidents) == 15
    assert set(incidents["outcome"]) == {"recovered", "failed", "open"}
    with pytest.raises(ValueError, match="no table"):
        metrics.to_frame("nothing")


class EventsOnly:
    """A store double with only what the metrics read."""

    def __init__(self, events: list[ActivityEvent]) -> None:
        self.stored = events
        self.asked: list[tuple[datetime | None, datetime | None]] = []

    def events(self, *, since=None, until=None, kinds=None, limit=None):
        self.asked.append((since, until))
        return [
            e
            for e in self.stored
            if (since is None or e.at >= since) and (until is None or e.at < until)
        ]


def test_metrics_for_a_day_read_that_day_and_the_one_before():
    before = [ev("15:00:00", K.BOT_STARTED, day=DAY - timedelta(days=1))]
    store = EventsOnly(before + scripted_day()[1:])  # the start was yesterday

    metrics = metrics_for_day(store, DAY)

    assert store.asked == [
        (at("00:00:00", DAY - timedelta(days=1)), at("00:00:00", NEXT))
    ]
    assert [stats.day for stats in metrics.days] == [DAY]
    assert metrics.day(DAY).crashes == 1
    assert metrics.day(DAY).downtime_s == 3285
