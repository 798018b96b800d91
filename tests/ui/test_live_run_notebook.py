"""The day's notebook as it runs unattended: ``kit notebook run 02_live_run``
over a scripted chaos morning on the simulator exits 0 and the saved notebook
holds the charts and the tables; stopped by SIGTERM midway, the notebook is
finalised and the exit code says so."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kit.ui.display import PLOTLY_MIME
from tests.ui.runs import read, wait_for_running_cell

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.notebook


def _launch(runs: Path, until: str, *extra: str) -> subprocess.Popen[str]:
    command = [
        sys.executable, "-m", "kit", "notebook", "run", "02_live_run",
        "--until", until, "--runs-dir", str(runs), "-p", "speed", "60", *extra,
    ]  # fmt: skip
    return subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _outputs(notebook: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    texts, plots = [], []
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                texts.append("".join(output["text"]))
            data = output.get("data", {})
            if PLOTLY_MIME in data:
                plots.append(data[PLOTLY_MIME])
    return texts, plots


@pytest.mark.timeout(240)
def test_the_day_notebook_runs_a_chaos_morning_to_the_end_and_keeps_its_record(
    tmp_path: Path,
) -> None:
    proc = _launch(tmp_path / "runs", "09:30")
    try:
        _, err = proc.communicate(timeout=200)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    assert proc.returncode == 0, err
    (output,) = (tmp_path / "runs").glob("*/02_live_run-*.ipynb")
    saved = read(output)
    texts, plots = _outputs(saved)
    text = "\n".join(texts)
    assert "The day ended: until" in text
    assert "Every closed candle equals the truth: yes" in text
    assert "Injected faults the kit missed: none" in text
    assert "Recovery times" in text and "Auto-recovery rate" in text
    # the live view's health and candle charts, then the day's two static ones
    titles = [p["layout"]["title"]["text"] for p in plots]
    assert len(plots) == 4, titles
    assert all(any(len(t.get("x", [])) for t in p["data"]) for p in plots), titles
    assert saved["metadata"]["papermill"]["end_time"]
    assert not saved["metadata"]["papermill"].get("exception")
    assert output.with_suffix(".log").exists()


@pytest.mark.timeout(180)
def test_the_day_notebook_stopped_by_sigterm_is_finalised_with_exit_143(
    tmp_path: Path,
) -> None:
    runs = tmp_path / "runs"
    proc = _launch(runs, "15:00")  # far off: only the signal ends it
    try:
        output = wait_for_running_cell(runs, "await view.run", deadline_s=120.0)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    assert proc.returncode == 143, err
    saved = read(output)
    assert saved["metadata"]["papermill"]["end_time"]
    assert saved["metadata"]["kit"]["outcome"] == "stopped by SIGTERM"
    _, plots = _outputs(saved)
    assert plots  # the live view's charts as they were at the stop
