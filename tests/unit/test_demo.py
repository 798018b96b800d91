"""`kit demo`: the paper bot on the simulator through a morning with faults,
ending with the report's tables; its timing, its fault plan and its count of
injected against measured faults."""

from __future__ import annotations

import importlib.util
import io
import itertools
import re
import sys
from collections import Counter
from datetime import date, datetime, time
from pathlib import Path

import pytest

from kit import cli
from kit.clock import IST, ManualClock, NseCalendar
from kit.demo import MAX_SPEED, DemoOptions, demo_day, timing_of
from kit.demo_chaos import compare, demo_plan, render_comparison
from kit.errors import ConfigurationError
from kit.ops.events import ActivityEvent, EventKind, Severity
from kit.ops.metrics import compute_metrics
from kit.ops.report import run_report
from kit.sim.chaos import FaultKind, InjectedFault
from kit.store.sqlite import SqliteStore

ROOT = Path(__file__).resolve().parents[2]
DAY = date(2026, 12, 3)  # a Thursday
AT_OPEN = datetime(2026, 12, 3, 9, 15, tzinfo=IST)


def table_rows(text: str) -> dict[str, list[str]]:
    """The rows of every pipe table in ``text``: first cell -> the others."""
    return {
        cells[0]: cells[1:]
        for line in text.splitlines()
        if line.startswith("| ") and "---" not in line
        for cells in [[c.strip() for c in line.strip("|").split("|")]]
    }


@pytest.fixture
def tasks(monkeypatch):
    spec = importlib.util.spec_from_file_location("tasks", ROOT / "tasks.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "_ensure_env", lambda extras: Path(sys.executable))
    return module


# The whole demo, through the README's first command.


def test_the_demo_trades_through_faults_and_its_tables_count_them(
    tasks, capfd, tmp_path
):
    store = tmp_path / "demo"
    args = ["--until", "09:45", "--speed", "150", "--seed", "5", "--store", str(store)]

    code = tasks.demo(args)

    out = capfd.readouterr().out
    assert code == 0, out[-3000:]
    assert "BOT STARTUP COMPLETE" in out
    assert "HEALTH STATUS" in out
    assert re.search(r"Trading: level \d", out)
    injected = Counter(re.findall(r" CHAOS +(\w+) on (\w+)", out))
    drops = injected["tcp_abort", "feed"] + injected["clean_close", "feed"]
    stalls = injected["silent_stall", "feed"]
    refusals = injected["rate_limit", "candles"]
    assert drops + stalls == 2  # two feed faults fit between 09:20 and 09:39
    assert refusals >= 2  # the burst on the warm-up history

    rows = table_rows(out)
    assert rows["WebSocket disconnect"][0] == str(drops)
    assert rows["WebSocket silent"][0] == str(stalls)
    assert rows["WebSocket reconnects"] == [
        f"{drops + stalls} of {drops + stalls} (100 %)"
    ]
    assert rows["feed dropped"][:3] == [str(drops), "WebSocket disconnects", str(drops)]
    assert rows["feed silent"][:3] == [str(stalls), "WebSocket silent", str(stalls)]
    assert rows["history 403 rate limit"][0] == str(refusals)
    assert all(row[-1] == "yes" for name, row in rows.items() if name in (
        "feed dropped", "feed silent", "history 403 rate limit",
        "history 5xx / AB1004"))  # fmt: skip
    assert "Every injected fault was measured." in out

    # The store the demo kept: refused history reads counted from its events,
    # a clean stop, and `kit report` printing the tables the demo printed.
    sqlite = SqliteStore(store / "kit.sqlite3", ManualClock(AT_OPEN))
    try:
        events = sqlite.events(kinds=["api_retry", "api_failed", "bot_stopped"])
    finally:
        sqlite.close()
    refused = [
        e for e in events
        if e.kind != "bot_stopped" and e.fields.get("route") == "candles"
        and e.fields.get("cause") == "RateLimited"
    ]  # fmt: skip
    assert len(refused) == refusals
    # the simulator's own limits are off: every rate-limit incident was planned
    assert rows["API rate limit"][0] == str(
        len({e.fields["incident"] for e in refused})
    )
    assert [e.kind for e in events].count("bot_stopped") == 1
    day = re.search(r"kit report --date (\S+)", out)
    assert day is not None
    report = io.StringIO()
    later = ManualClock(datetime(2030, 1, 1, tzinfo=IST))
    store_url = f"sqlite:///{store / 'kit.sqlite3'}"
    assert run_report(["--date", day[1], "--store", store_url], clock=later,
                      out=report) == 0  # fmt: skip
    assert report.getvalue().split("Auto-recovery rate")[0] in out


def test_a_speed_the_feed_cannot_keep_up_with_is_refused(capsys):
    assert cli.main(["demo", "--speed", str(MAX_SPEED * 2)]) == 2

    assert "at most 200x" in capsys.readouterr().err


def test_the_demo_refuses_speed_duration_and_until_together(capsys):
    args = ["demo", "--speed", "100", "--duration", "10", "--until", "10:00"]

    assert cli.main(args) == 2

    assert "at most two of" in capsys.readouterr().err


# Timing.


def test_the_default_demo_is_a_morning_in_about_a_minute():
    timing = timing_of(DemoOptions(), DAY)

    assert (timing.start.time(), timing.end.time()) == (time(9, 10), time(11, 30))
    assert timing.speed == pytest.approx(140.0)
    assert timing.duration_s == pytest.approx(60.0)


@pytest.mark.parametrize(
    ("options", "end", "speed"),
    [
        (DemoOptions(speed=100.0), time(11, 30), 100.0),
        (DemoOptions(duration_s=120.0), time(11, 30), 70.0),
        (DemoOptions(until=time(10, 10), duration_s=30.0), time(10, 10), 120.0),
        (DemoOptions(speed=60.0, duration_s=60.0), time(10, 10), 60.0),
    ],
)
def test_any_two_of_speed_duration_and_until_set_the_third(options, end, speed):
    timing = timing_of(options, DAY)

    assert (timing.end.time(), timing.speed) == (end, pytest.approx(speed))


def test_an_end_before_the_start_is_refused():
    with pytest.raises(ConfigurationError, match="after 09:10"):
        timing_of(DemoOptions(until=time(9, 0)), DAY)


def test_the_demo_day_is_the_last_trading_day():
    calendar = NseCalendar()

    assert demo_day(DAY, calendar) == DAY
    assert demo_day(date(2026, 12, 6), calendar) == date(2026, 12, 4)  # a Sunday


# The fault plan.


def test_the_plan_is_seeded_and_its_feed_faults_fall_in_the_session():
    start = datetime(2026, 12, 3, 9, 10, tzinfo=IST)
    end = datetime(2026, 12, 3, 11, 30, tzinfo=IST)

    first, again, other = (demo_plan(s, start, end) for s in (3, 3, 4))

    assert first.lines == again.lines
    assert first.lines != other.lines
    feed = [s for s in first.plan.scheduled if s.fault.target == "feed"]
    kinds = Counter(s.fault.kind for s in feed)
    assert kinds[FaultKind.SILENT_STALL] == 1
    assert kinds[FaultKind.TCP_ABORT] + kinds[FaultKind.CLEAN_CLOSE] == 3
    times = sorted(s.at_s for s in feed)
    assert times[0] >= datetime(2026, 12, 3, 9, 20, tzinfo=IST).timestamp()
    assert times[-1] <= datetime(2026, 12, 3, 11, 24, tzinfo=IST).timestamp()
    assert min(b - a for a, b in itertools.pairwise(times)) > 180
    history = [s for s in first.plan.scheduled if s.fault.target == "candles"]
    assert {s.fault.kind for s in history} == {
        FaultKind.RATE_LIMIT, FaultKind.SERVER_ERROR}  # fmt: skip
    assert [r.fault.kind for r in first.plan.random] == [FaultKind.AB1004]


def test_a_session_too_short_for_feed_faults_gets_history_faults_only():
    start = datetime(2026, 12, 3, 9, 10, tzinfo=IST)
    end = datetime(2026, 12, 3, 9, 25, tzinfo=IST)

    plan = demo_plan(1, start, end).plan

    assert all(s.fault.target == "candles" for s in plan.scheduled)


# Injected against measured.


def _event(minute: int, kind: EventKind, **fields: object) -> ActivityEvent:
    at = datetime(2026, 12, 3, 10, minute, tzinfo=IST)
    return ActivityEvent(at, kind, Severity.INFO, kind.value, fields)


def _injected(kind: FaultKind, target: str) -> InjectedFault:
    return InjectedFault(AT_OPEN, kind, target)


def test_the_comparison_counts_feed_incidents_and_failed_history_reads():
    events = [
        _event(0, EventKind.BOT_STARTED),
        _event(1, EventKind.FEED_DISCONNECTED, incident="d1", fault="ws_disconnect",
               phase="detected"),
        _event(2, EventKind.FEED_RECONNECTED, incident="d1", fault="ws_disconnect",
               phase="recovered"),
        _event(3, EventKind.API_RETRY, incident="r1", fault="api_rate_limit",
               phase="detected", route="candles"),
        _event(4, EventKind.API_RETRY, incident="r1", fault="api_rate_limit",
               route="candles"),
        _event(5, EventKind.API_RECOVERED, incident="r1", fault="api_rate_limit",
               phase="recovered", route="candles"),
        _event(6, EventKind.API_RETRY, incident="q1", fault="api_rate_limit",
               phase="detected", route="search_scrip"),
        _event(7, EventKind.API_FAILED, incident="q1", fault="api_rate_limit",
               phase="failed", route="search_scrip"),
        _event(8, EventKind.BOT_STOPPED),
    ]  # fmt: skip
    metrics = compute_metrics(events, day=DAY)
    injected = [
        _injected(FaultKind.TCP_ABORT, "feed:1"),
        _injected(FaultKind.RATE_LIMIT, "candles"),
        _injected(FaultKind.RATE_LIMIT, "candles"),
        _injected(FaultKind.SILENT_STALL, "feed:2"),
    ]

    rows = {row.fault: row for row in compare(injected, metrics, events)}

    assert (rows["feed dropped"].injected, rows["feed dropped"].measured) == (1, 1)
    assert rows["feed dropped"].recovered == 1
    assert (rows["feed silent"].injected, rows["feed silent"].measured) == (1, 0)
    limited = rows["history 403 rate limit"]
    # the search_scrip refusal is not a history read and not a planned fault
    assert (limited.injected, limited.measured, limited.incidents) == (2, 2, 1)
    assert limited.matches and not rows["feed silent"].matches
    text = render_comparison(list(rows.values()))
    assert table_rows(text)["feed silent"][-1] == "NO"
    assert text.endswith("not measured as injected (see above).")


def test_each_failed_history_attempt_counts_as_its_own_cause():
    # One read: three rate-limit refusals, then a 503 on the last attempt. The
    # incident is the read's (opened as a rate limit); the attempts are not.
    events = [
        _event(1, EventKind.API_RETRY, incident="c1", fault="api_rate_limit",
               phase="detected", route="candles", cause="RateLimited"),
        _event(2, EventKind.API_RETRY, incident="c1", fault="api_rate_limit",
               route="candles", cause="RateLimited"),
        _event(3, EventKind.API_RETRY, incident="c1", fault="api_rate_limit",
               route="candles", cause="RateLimited"),
        _event(4, EventKind.API_FAILED, incident="c1", fault="api_rate_limit",
               phase="failed", route="candles", cause="ServerError"),
    ]  # fmt: skip
    metrics = compute_metrics(events, day=DAY)
    injected = [_injected(FaultKind.RATE_LIMIT, "candles")] * 3 + [
        _injected(FaultKind.SERVER_ERROR, "candles")
    ]

    rows = {row.fault: row for row in compare(injected, metrics, events)}

    assert rows["history 403 rate limit"].measured == 3
    assert rows["history 5xx / AB1004"].measured == 1
    assert all(row.matches for row in rows.values())
