"""`kit run`: the bot against the configured broker (here the simulator the
bot starts itself), until a time, a signal, or a refusal to trade live."""

from __future__ import annotations

import signal
import subprocess
import sys
import time as real_time
from datetime import datetime, time, timedelta

import pytest

from kit import cli
from kit.clock import IST, ManualClock
from kit.config import load_settings
from kit.demo_watch import end_of_run
from kit.sim.auth import demo_account
from kit.store.sqlite import SqliteStore

SPEED = 60.0  # a simulated minute a real second


@pytest.fixture
def settings_file(tmp_path):
    path = tmp_path / "kit.toml"
    path.write_text(
        f"sim_speed = {SPEED}\n"
        f'store_path = "{tmp_path / "kit.sqlite3"}"\n'
        f'heartbeat_path = "{tmp_path / "heartbeat"}"\n'
        'symbols = ["SBIN-EQ", "INFY-EQ"]\n'
    )
    return path


def stored_kinds(tmp_path) -> list[str]:
    store = SqliteStore(tmp_path / "kit.sqlite3", ManualClock(datetime.now(IST)))
    try:
        return [event.kind for event in store.events()]
    finally:
        store.close()


def test_run_on_the_simulator_stops_at_until_and_exits_0(
    settings_file, tmp_path, capsys
):
    started = real_time.monotonic()
    until = datetime.now(IST) + timedelta(minutes=3)  # 2 to 3 s on the bot's clock

    code = cli.main(
        ["run", "--settings", str(settings_file), "--until", f"{until:%H:%M}"]
    )

    out = capsys.readouterr().out
    assert code == 0, out
    assert "BOT STARTUP COMPLETE" in out
    minutes = (real_time.monotonic() - started) * SPEED / 60
    assert 2 <= out.count("HEALTH STATUS") <= minutes + 1  # a board a minute
    assert out.rstrip().endswith("Stopped (the time was reached).")
    kinds = stored_kinds(tmp_path)
    assert kinds[0] == "bot_started"
    assert kinds.count("bot_stopped") == 1
    assert (tmp_path / "kit.log").stat().st_size > 0


def test_live_mode_without_confirmation_exits_2_with_the_reason(
    settings_file, monkeypatch, capsys
):
    account = demo_account()
    monkeypatch.setenv("KIT_MODE", "live")
    monkeypatch.setenv("KIT_API_KEY", account.api_key)
    monkeypatch.setenv("KIT_CLIENT_CODE", account.client_code)
    monkeypatch.setenv("KIT_MPIN", account.mpin)
    monkeypatch.setenv("KIT_TOTP_SECRET", account.totp_secret)

    code = cli.main(["run", "--settings", str(settings_file)])

    captured = capsys.readouterr()
    assert code == 2
    assert "live_confirmed" in captured.err
    assert "live mode places real orders" in captured.err
    assert "BOT STARTUP" not in captured.out


def test_sigterm_stops_the_bot_cleanly_and_exits_0(settings_file, tmp_path):
    run = subprocess.Popen(
        [sys.executable, "-m", "kit", "run", "--settings", str(settings_file)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        seen = []
        assert run.stdout is not None
        for line in run.stdout:  # until the bot runs and is watched
            seen.append(line)
            if line.startswith("Running until"):
                break
        run.send_signal(signal.SIGTERM)
        out, err = run.communicate(timeout=30)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait(10)

    assert run.returncode == 0, "".join(seen) + out + err
    assert out.rstrip().endswith("Stopped (asked to stop).")
    kinds = stored_kinds(tmp_path)
    assert kinds[-1] == "bot_stopped"
    assert "crash_detected" not in kinds


@pytest.mark.parametrize(
    ("now", "until", "end"),
    [
        ("2026-12-03T10:00", time(11, 0), "2026-12-03T11:00"),
        ("2026-12-03T23:59", time(0, 1), "2026-12-04T00:01"),  # the next one
        ("2026-12-03T10:00", None, "2026-12-03T15:30"),  # the close
        ("2026-12-03T16:00", None, "2026-12-04T15:30"),  # the next close
        ("2026-12-04T16:00", None, "2026-12-07T15:30"),  # Friday: Monday's
    ],
)
def test_a_run_ends_at_the_next_until_or_close(now, until, end):
    start = datetime.fromisoformat(now).replace(tzinfo=IST)

    found = end_of_run(start, until, load_settings(None))

    assert found == datetime.fromisoformat(end).replace(tzinfo=IST)


def test_a_time_that_is_not_hh_mm_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(["run", "--until", "half past ten"])

    assert exited.value.code == 2
    assert "not a time" in capsys.readouterr().err
