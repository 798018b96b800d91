"""kit.ops.report: `kit report` on a store filled with a scripted day."""

from __future__ import annotations

import io
import json
from datetime import datetime, time

import pytest

from kit.clock import IST, ManualClock
from kit.errors import StoreUnavailable
from kit.ops.report import run_report
from kit.store.sqlite import SqliteStore
from tests.ops.scripted_log import DAY, WS, K, closed, detected, ev, scripted_day


@pytest.fixture
def filled_store(tmp_path):
    path = tmp_path / "kit.sqlite3"
    clock = ManualClock(datetime.combine(DAY, time(16, 0), IST))
    store = SqliteStore(path, clock)
    store.append_events(scripted_day())
    store.close()
    return path


def report(*argv: str, clock=None, opener=None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    clock = clock or ManualClock(datetime(2026, 12, 10, 12, 0, tzinfo=IST))
    code = run_report(list(argv), clock=clock, opener=opener, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def rows_of(text: str) -> dict[str, list[str]]:
    rows = {}
    for line in text.splitlines():
        if line.startswith("| ") and "---" not in line:
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            rows[cells[0]] = cells[1:]
    return rows


def test_the_report_of_a_scripted_day_prints_its_known_figures(filled_store, tmp_path):
    code, out, err = report(
        "--date", "2026-12-03", "--store", f"sqlite:///{filled_store}"
    )

    assert (code, err) == (0, "")
    rows = rows_of(out)
    assert rows["Metric"] == ["2026-12-03"]
    assert rows["Bot crashes"] == ["1"]
    assert rows["Manual interventions"] == ["3"]
    assert rows["Downtime"] == ["54 min 45 s"]
    assert rows["WebSocket reconnects"] == ["5 of 7 (71 %)"]
    assert rows["API rate limit"][:2] == ["2", "1.5 s"]
    assert "Auto-recovery rate: 11 of 15 (73 %)" in out


def test_the_json_file_holds_every_figure(filled_store, tmp_path):
    target = tmp_path / "day.json"

    code, _, _ = report(
        "--date", "2026-12-03", "--store", f"sqlite:///{filled_store}",
        "--json", str(target),
    )  # fmt: skip

    assert code == 0
    document = json.loads(target.read_text())
    assert document["day"] == "2026-12-03"
    assert document["store"] == f"sqlite:{filled_store}"
    (day,) = document["days"]
    assert (day["crashes"], day["interventions"], day["downtime_s"]) == (1, 3, 3285)
    assert day["downtime_by_cause"]["crash"] == 480
    assert len(document["incidents"]) == 15
    faults = {row["fault"]: row for row in document["faults"]}
    assert faults["api_rate_limit"]["recovery_p95_s"] == pytest.approx(19.5)


def test_whole_day_counts_downtime_outside_market_hours(filled_store):
    code, out, _ = report(
        "--date", "2026-12-03", "--store", f"sqlite:///{filled_store}", "--whole-day"
    )

    assert code == 0
    # the open silence now lasts to the stop at 15:40, not the close at 15:30
    assert rows_of(out)["Downtime"] == ["1 h 04 min"]  # 3885 s
    assert "downtime in whole days" in out


def test_the_default_store_comes_from_the_settings(filled_store, monkeypatch):
    monkeypatch.setenv("KIT_STORE_PATH", str(filled_store))

    code, out, _ = report("--date", "2026-12-03")

    assert code == 0 and rows_of(out)["Bot crashes"] == ["1"]


def test_a_day_without_events_says_so(filled_store):
    code, out, _ = report(
        "--date", "2026-12-05", "--store", f"sqlite:///{filled_store}"
    )

    assert code == 0
    assert "(no incidents recorded on 2026-12-05" in out


class EventsDouble:
    """A store with only what the report reads."""

    name = "double:test"

    def __init__(self, events=(), down: bool = False) -> None:
        self.stored = list(events)
        self.down = down
        self.closed = False
        self.asked = []

    def events(self, *, since=None, until=None, kinds=None, limit=None):
        self.asked.append((since, until))
        if self.down:
            raise StoreUnavailable("no answer within 10.0 s")
        return [e for e in self.stored if since <= e.at < until]

    def close(self) -> None:
        self.closed = True


def test_today_is_the_default_and_open_incidents_last_until_now():
    store = EventsDouble(
        [
            ev("09:00:00", K.BOT_STARTED),
            detected("10:00:00", K.FEED_DISCONNECTED, "o", WS, "10:00:00"),
        ]
    )
    clock = ManualClock(datetime.combine(DAY, time(10, 10), IST))

    code, out, _ = report(clock=clock, opener=lambda settings, clock: store)

    assert code == 0 and store.closed
    assert rows_of(out)["Metric"] == ["2026-12-03"]
    assert rows_of(out)["Downtime"] == ["10 min 00 s"]  # to now, still open
    assert rows_of(out)["WebSocket reconnects"] == ["0 of 1 (0 %)"]


def test_a_dead_store_is_a_clear_error():
    store = EventsDouble(down=True)

    code, out, err = report(
        "--date", "2026-12-03", opener=lambda settings, clock: store
    )

    assert (code, out) == (1, "")
    assert "kit report: the store double:test did not answer" in err
    assert "no answer within 10.0 s" in err and store.closed


def test_a_missing_store_file_is_a_usage_error(tmp_path):
    missing = tmp_path / "nothing.sqlite3"

    code, _, err = report("--store", f"sqlite:///{missing}")

    assert code == 2
    assert f"no store at {missing}" in err
    assert not missing.exists()  # not created by the report


def test_a_bad_date_or_store_url_is_a_usage_error(capsys):
    assert report("--date", "03-12-2026")[0] == 2
    assert "not a day" in capsys.readouterr().err
    code, _, err = report("--store", "mysql://somewhere")
    assert code == 2 and "store_url" in err


def test_a_json_file_that_cannot_be_written_is_an_error(filled_store, tmp_path):
    code, _, err = report(
        "--date", "2026-12-03", "--store", f"sqlite:///{filled_store}",
        "--json", str(tmp_path / "no" / "such" / "dir.json"),
    )  # fmt: skip

    assert code == 1 and "cannot write" in err


def test_closing_events_in_the_report_pair_with_their_detection(tmp_path):
    store = EventsDouble(
        [
            ev("09:00:00", K.BOT_STARTED),
            detected("10:00:00", K.FEED_DISCONNECTED, "a", WS, "10:00:00"),
            closed("10:00:12", K.FEED_RECONNECTED, "a", WS),
            ev("15:40:00", K.BOT_STOPPED),
        ]
    )

    code, out, _ = report("--date", "2026-12-03", opener=lambda s, c: store)

    assert code == 0
    assert rows_of(out)["WebSocket disconnect"][:5] == [
        "1", "0.0 s", "0.0 s", "12.0 s", "12.0 s",
    ]  # fmt: skip
    assert rows_of(out)["Reconnect time p50 / p95 / max"] == [
        "12.0 s / 12.0 s / 12.0 s"
    ]
