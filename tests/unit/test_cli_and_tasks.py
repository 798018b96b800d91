"""The `kit` command and tasks.py, the README's entry points."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from kit import cli

ROOT = Path(__file__).resolve().parents[2]


def test_demo_says_what_it_will_do(capsys):
    assert cli.main(["demo"]) == 0

    out = capsys.readouterr().out
    assert "simulator" in out
    assert "SBIN-EQ" in out


def test_settings_are_shown_with_secrets_masked(capsys, monkeypatch):
    monkeypatch.setenv("KIT_MPIN", "9876")

    assert cli.main(["settings"]) == 0

    out = capsys.readouterr().out
    assert '"mpin": "<set>"' in out
    assert "9876" not in out


def test_a_bad_setting_exits_2_naming_the_field(capsys, monkeypatch):
    monkeypatch.setenv("KIT_MODE", "live")

    assert cli.main(["demo"]) == 2

    assert "api_key" in capsys.readouterr().err


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
