"""The `kit` command and tasks.py, the README's entry points."""

from __future__ import annotations

import importlib.util
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from kit import cli

ROOT = Path(__file__).resolve().parents[2]


def test_kit_sim_runs_standalone_and_stops_on_ctrl_c():
    sim = subprocess.Popen(
        [sys.executable, "-m", "kit", "sim", "--port", "0", "--speed", "60",
         "--start", "2026-12-03T10:00", "--chaos", "at=+600 kind=ab1004 target=rest"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        first = sim.stdout.readline() if sim.stdout else ""
        url = first.split()[-1]
        stats = requests.get(f"{url}/__sim/stats", timeout=5).json()
    finally:
        sim.send_signal(signal.SIGINT)
        code = sim.wait(10)

    assert first.startswith("REST")
    assert stats["now"].startswith("2026-12-03T10:0")
    assert code == 0


def test_kit_sim_refuses_a_bad_chaos_plan(capsys):
    assert cli.main(["sim", "--chaos", "at=10:00 kind=meteor"]) == 2

    assert "chaos plan entry" in capsys.readouterr().err


def test_settings_are_shown_with_secrets_masked(capsys, monkeypatch):
    monkeypatch.setenv("KIT_MPIN", "9876")

    assert cli.main(["settings"]) == 0

    out = capsys.readouterr().out
    assert '"mpin": "<set>"' in out
    assert "9876" not in out


def test_a_bad_setting_exits_2_naming_the_field(capsys, monkeypatch):
    monkeypatch.setenv("KIT_READ_TIMEOUT_S", "-1")

    assert cli.main(["demo"]) == 2

    assert "read_timeout_s" in capsys.readouterr().err


def test_the_demo_stays_in_paper_mode_on_the_simulator_whatever_the_settings(
    monkeypatch,
):
    from kit import demo  # noqa: PLC0415

    monkeypatch.setenv("KIT_MODE", "live")
    monkeypatch.setenv("KIT_BROKER", "angel")
    monkeypatch.setenv("KIT_TELEGRAM_BOT_TOKEN", "123456:telegram-token-of-the-user")
    monkeypatch.setenv("KIT_TELEGRAM_CHAT_ID", "42")
    seen = []

    class Refused(Exception):
        pass

    def start(settings, **options):
        seen.append((settings, options))
        raise Refused

    monkeypatch.setattr(demo.Bot, "start", start)

    with pytest.raises(Refused):
        cli.main(["demo", "--duration", "1", "--speed", "60"])

    settings, options = seen[0]
    assert (settings.mode, settings.broker) == ("paper", "simulator")
    assert settings.telegram_bot_token is None
    assert settings.heartbeat_path.parent == settings.store_path.parent
    assert options["simulator"].rest_url.startswith("http://127.0.0.1:")


def test_python_dash_m_kit_runs_the_cli():
    done = subprocess.run(
        [sys.executable, "-m", "kit", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )

    assert done.returncode == 0
    assert done.stdout.startswith("kit ")


@pytest.fixture
def tasks(monkeypatch):
    spec = importlib.util.spec_from_file_location("tasks", ROOT / "tasks.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    # Run pytest with this interpreter, not a fresh venv.
    monkeypatch.setattr(module, "_ensure_env", lambda extras: Path(sys.executable))
    monkeypatch.chdir(ROOT)
    return module


def test_the_test_command_fails_when_pytest_collects_nothing(tasks):
    code = tasks.test(["tests/unit/test_routes.py", "-k", "no_such_test_anywhere"])

    assert code == 1


def test_the_test_command_passes_through_a_green_run(tasks):
    code = tasks.test(["tests/unit/test_routes.py", "-q", "-p", "no:cacheprovider"])

    assert code == 0
