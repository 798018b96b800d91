"""The simulator's and the bot's processes, started and ended by the trial.

Both are children of the test: :class:`SimProcess` lives for the whole trial
(the broker outlives the bot), :class:`BotProcess` is started again after each
``kill -9``. Every process started here is ended here (``stop``/``kill``, in
the trial's ``finally``), by its own pid.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from kit.sim.auth import demo_account
from tests.crash.bot_runner import HOLD_NAME, ready_path

ROOT = Path(__file__).resolve().parents[2]
STOP_TIMEOUT_REAL_S = 10.0


@dataclass(frozen=True)
class SimClock:
    """The simulated day both processes share: its start, speed and the real
    instant (epoch seconds) at which it reads ``start``."""

    start: datetime
    speed: float
    anchor: float

    def sim_time(self, real_s: float) -> float:
        """The simulated epoch seconds at the real epoch second ``real_s``."""
        return self.start.timestamp() + (real_s - self.anchor) * self.speed

    def args(self) -> list[str]:
        return [
            "--start", self.start.isoformat(), "--speed", repr(self.speed),
            "--anchor", repr(self.anchor),
        ]  # fmt: skip


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a child: no KIT_ variable of ours, the repo importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIT_")}
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p
    )
    return env | extra


class SimProcess:
    """``python -m tests.crash.sim_runner`` until :meth:`stop`."""

    def __init__(self, folder: Path, clock: SimClock, seed: int = 7) -> None:
        self.folder = folder
        self._log = open(folder / "sim.log", "ab")  # noqa: SIM115 -- closed in stop
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.crash.sim_runner", *clock.args(),
             "--seed", str(seed)],
            stdout=subprocess.PIPE, stderr=self._log, cwd=folder, env=child_env(),
        )  # fmt: skip
        try:
            urls = _first_line(self.proc.stdout, timeout_real_s=30.0)
        except BaseException:
            self.stop()
            raise
        self.rest_url = str(urls["rest_url"])
        self.feed_url = str(urls["feed_url"])

    def stop(self) -> None:
        _end(self.proc)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._log.close()


class BotProcess:
    """``python -m tests.crash.bot_runner`` on the trial's folder."""

    def __init__(
        self, folder: Path, mode: str, sim: SimProcess, symbols: list[str],
        clock: SimClock,
    ) -> None:  # fmt: skip
        account = demo_account()
        env = child_env(
            KIT_API_KEY=account.api_key, KIT_CLIENT_CODE=account.client_code,
            KIT_MPIN=account.mpin, KIT_TOTP_SECRET=account.totp_secret,
        )  # fmt: skip
        self.folder = folder
        self.started_mono = time.monotonic()
        with open(folder / "bot.out", "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tests.crash.bot_runner", "--folder",
                 str(folder), "--mode", mode, "--rest-url", sim.rest_url,
                 "--feed-url", sim.feed_url, "--symbols", ",".join(symbols),
                 *clock.args()],
                stdout=out, stderr=subprocess.STDOUT, cwd=folder, env=env,
            )  # fmt: skip
        self.ready: dict[str, Any] | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def poll_ready(self) -> dict[str, Any] | None:
        """The runner's ready file once written (phase and error), else None."""
        if self.ready is None:
            path = ready_path(self.folder, self.pid)
            if path.exists():
                self.ready = json.loads(path.read_text())
        return self.ready

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """``kill -9`` and reap it."""
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
        self.proc.wait(STOP_TIMEOUT_REAL_S)

    def stop(self) -> int | None:
        """A clean stop (SIGTERM); the exit code, or None if it had to be killed."""
        return _end(self.proc)


def hold_trading(folder: Path, held: bool) -> None:
    """Hold (or release) the strategy of every bot on ``folder``."""
    path = folder / HOLD_NAME
    if held:
        path.touch()
    else:
        path.unlink(missing_ok=True)


def _end(proc: subprocess.Popen[bytes]) -> int | None:
    """SIGTERM, then SIGKILL if it does not end in time; the clean exit code."""
    if proc.poll() is not None:
        return proc.returncode
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(STOP_TIMEOUT_REAL_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(STOP_TIMEOUT_REAL_S)
        return None


def _first_line(stream: IO[bytes] | None, *, timeout_real_s: float) -> dict[str, Any]:
    """The first line of ``stream`` as JSON, or RuntimeError after the timeout."""
    assert stream is not None
    lines: list[bytes] = []
    reader = threading.Thread(target=lambda: lines.append(stream.readline()))
    reader.daemon = True
    reader.start()
    reader.join(timeout_real_s)
    if not lines or not lines[0]:
        raise RuntimeError(f"the simulator said nothing in {timeout_real_s} s")
    found: dict[str, Any] = json.loads(lines[0])
    return found
