"""Google's Firestore emulator for the tests: find it, start it, wait, stop it.

Standard library only, so that ``.ci/run`` can call it with the system Python
before the virtual environment exists::

    python3 tests/firestore_emulator.py start DIR   # prints HOST:PORT when ready
    python3 tests/firestore_emulator.py stop DIR

``start`` runs the emulator's JAR directly with java (one process to stop; the
gcloud wrapper would leave the JVM behind), on a free loopback port, detached
from the caller, and writes its pid and log into DIR. The test fixture uses
:func:`start` and :func:`stop` in-process instead when FIRESTORE_EMULATOR_HOST
is not set.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO

ENV_HOST = "FIRESTORE_EMULATOR_HOST"
ENV_JAR = "FIRESTORE_EMULATOR_JAR"
PACKAGE = "google-cloud-cli-firestore-emulator"
JAR_NAME = "cloud-firestore-emulator.jar"
KNOWN_JARS = (
    "/usr/lib/google-cloud-sdk/platform/cloud-firestore-emulator/" + JAR_NAME,
    "/usr/share/google-cloud-sdk/platform/cloud-firestore-emulator/" + JAR_NAME,
)
MAIN_CLASS = "com.google.cloud.datastore.emulator.firestore.CloudFirestore"
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0


class EmulatorError(RuntimeError):
    """The emulator could not be found, started or reached."""


@dataclass
class Emulator:
    host: str  # "127.0.0.1:PORT", the value of FIRESTORE_EMULATOR_HOST
    process: subprocess.Popen[bytes] | None  # None when started elsewhere
    log_path: Path | None = None


def find_jar() -> Path:
    """The emulator's JAR: $FIRESTORE_EMULATOR_JAR, the Debian package's, or a
    known install path."""
    candidates = [os.environ.get(ENV_JAR, "")]
    if shutil.which("dpkg"):
        listed = subprocess.run(
            ["dpkg", "-L", PACKAGE], capture_output=True, text=True, check=False
        ).stdout.splitlines()
        candidates += [line for line in listed if line.endswith("/" + JAR_NAME)]
    candidates += list(KNOWN_JARS)
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise EmulatorError(
        f"the Firestore emulator is not installed (Debian package {PACKAGE}, "
        f"or set {ENV_JAR} to its {JAR_NAME})"
    )


def is_ready(host: str, timeout_s: float = 1.0) -> bool:
    """Whether the emulator at ``host`` answers its health page with ``Ok``."""
    try:
        with urllib.request.urlopen(f"http://{host}/", timeout=timeout_s) as reply:
            return bool(reply.read().strip() == b"Ok")
    except OSError:
        return False


def start(log_path: Path | None = None, *, detach: bool = False) -> Emulator:
    """Start the emulator on a free loopback port and wait until it answers."""
    java = shutil.which("java")
    if java is None:
        raise EmulatorError("java is not installed; the Firestore emulator needs it")
    jar = find_jar()
    host = f"127.0.0.1:{_free_port()}"
    command = [java, "-Xmx512m", "-Duser.language=en", "-cp", str(jar), MAIN_CLASS]
    command += ["start", "--host=127.0.0.1", f"--port={host.rsplit(':', 1)[1]}"]
    log: IO[bytes] | int = subprocess.DEVNULL
    if log_path is not None:
        log = log_path.open("wb")
    try:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=detach,
        )
    finally:
        if not isinstance(log, int):
            log.close()
    emulator = Emulator(host, process, log_path)
    _wait_ready(emulator)
    return emulator


def stop(emulator: Emulator) -> None:
    """Stop an emulator this module started: SIGTERM, then SIGKILL."""
    process = emulator.process
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(STOP_TIMEOUT_S)


def _wait_ready(emulator: Emulator) -> None:
    assert emulator.process is not None
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if emulator.process.poll() is not None:
            raise EmulatorError(
                f"the Firestore emulator exited with {emulator.process.returncode}"
                f"{_log_tail(emulator.log_path)}"
            )
        if is_ready(emulator.host, timeout_s=0.5):
            return
        time.sleep(0.1)
    stop(emulator)
    raise EmulatorError(
        f"the Firestore emulator did not answer within {READY_TIMEOUT_S:g} s"
        f"{_log_tail(emulator.log_path)}"
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _log_tail(log_path: Path | None) -> str:
    if log_path is None or not log_path.exists():
        return ""
    lines = log_path.read_text(errors="replace").splitlines()[-15:]
    return "; its log ends:\n" + "\n".join(lines)


# The command line, for .ci/run.


def _start_detached(state_dir: Path) -> int:
    state_dir.mkdir(parents=True, exist_ok=True)
    try:
        emulator = start(state_dir / "emulator.log", detach=True)
    except EmulatorError as exc:
        print(f"firestore_emulator: {exc}", file=sys.stderr)
        return 1
    assert emulator.process is not None
    (state_dir / "pid").write_text(str(emulator.process.pid))
    print(emulator.host)
    return 0


def _stop_detached(state_dir: Path) -> int:
    pid_file = state_dir / "pid"
    if not pid_file.exists():
        return 0
    pid = int(pid_file.read_text())
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return 0
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.1)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
    pid_file.unlink()
    return 0


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie nobody reaped yet counts as gone)."""
    if not Path("/proc").is_dir():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("start", "stop"):
        print(__doc__, file=sys.stderr)
        return 2
    command, state_dir = argv[0], Path(argv[1])
    if command == "start":
        return _start_detached(state_dir)
    return _stop_detached(state_dir)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
