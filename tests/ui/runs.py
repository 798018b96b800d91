"""Waiting on papermill runs from the outside: the saved notebooks and the
processes of ``kit notebook run``, polled with a deadline."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from tests.broker.feed_helpers import wait_until


def read(path: Path) -> dict[str, Any]:
    content: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return content


def running_output(runs: Path, code: str) -> Path | None:
    """The output notebook under ``runs`` whose cell holding ``code`` papermill
    has saved as running (None while there is none)."""
    for output in runs.glob("*/*.ipynb"):
        try:
            cells = read(output)["cells"]
        except (OSError, ValueError):
            continue  # being written
        for cell in cells:
            status = cell["metadata"].get("papermill", {}).get("status")
            if status == "running" and code in "".join(cell["source"]):
                return output
    return None


def wait_for_running_cell(runs: Path, code: str, *, deadline_s: float) -> Path:
    """The output notebook once its cell holding ``code`` runs."""
    found: list[Path] = []

    def running() -> bool:
        output = running_output(runs, code)
        if output is not None:
            found.append(output)
        return output is not None

    wait_until(running, deadline_s, f"a running cell with {code!r} in {runs}")
    return found[-1]


def wait_for_text(path: Path, *, deadline_s: float) -> str:
    """What a running cell wrote to ``path``, once it has."""

    def written() -> bool:
        with contextlib.suppress(OSError):
            return bool(path.read_text())
        return False

    wait_until(written, deadline_s, f"something in {path}")
    return path.read_text()


def assert_gone(pid: int, *, deadline_s: float) -> None:
    """Process ``pid`` ends within ``deadline_s``."""

    def gone() -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False

    wait_until(gone, deadline_s, f"process {pid} gone after the stop")
