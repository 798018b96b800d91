"""Set-up and entry points that work on a fresh machine with only Python 3.11.

    python3 tasks.py demo [ARGS...]   run `kit demo`, the paper session on the simulator
    python3 tasks.py test [ARGS...]   run the whole test suite (pytest ARGS...)
    python3 tasks.py check            ruff check, ruff format --check, mypy kit

Each command creates the virtual environment `.venv` beside this file on first
use (or the one named by KIT_VENV) and reinstalls the project into it whenever
pyproject.toml changes, so the two commands in the README need nothing typed
before them.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("KIT_VENV", ROOT / ".venv"))
PYTEST_NO_TESTS = 5


def _venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _ensure_env(extras: str) -> Path:
    """Create the venv if missing; (re)install the project when its metadata changed."""
    python = _venv_python()
    if not python.exists():
        print(f"Creating virtual environment {VENV} ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)

    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    stamp = VENV / f".kit-installed-{extras or 'base'}"
    if stamp.exists() and stamp.read_text() == digest:
        return python

    print(f"Installing kit[{extras}] into {VENV} ...", flush=True)
    target = f"{ROOT}[{extras}]" if extras else str(ROOT)
    pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "-e", target], check=True)
    stamp.write_text(digest)
    return python


def demo(args: list[str]) -> int:
    python = _ensure_env("")
    return subprocess.call([str(python), "-m", "kit", "demo", *args], cwd=ROOT)


def test(args: list[str]) -> int:
    python = _ensure_env("dev")
    code = subprocess.call([str(python), "-m", "pytest", *args], cwd=ROOT)
    if code == PYTEST_NO_TESTS:
        print("tasks.py: pytest collected no tests; that is a failure", file=sys.stderr)
        return 1
    return code


def check(args: list[str]) -> int:
    python = _ensure_env("dev")
    steps = [
        [str(python), "-m", "ruff", "check", "."],
        [str(python), "-m", "ruff", "format", "--check", "."],
        [str(python), "-m", "mypy", "kit"],
    ]
    worst = 0
    for step in steps:
        print("$", " ".join(step[2:]), flush=True)
        worst = max(worst, subprocess.call(step, cwd=ROOT))
    return worst


COMMANDS = {"demo": demo, "test": test, "check": check}


def main() -> int:
    if sys.version_info < (3, 11):  # noqa: UP036 -- python3 may be older here
        print("tasks.py: kit needs Python 3.11 or newer", file=sys.stderr)
        return 2
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(__doc__, file=sys.stderr)
        return 2
    return COMMANDS[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
