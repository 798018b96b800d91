"""``kit notebook run``: tiny notebooks built here, run by real papermill
kernels (about 1 to 2 s each), and the checks that refuse a run before any
kernel starts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import datetime
from datetime import time as dt_time
from pathlib import Path
from typing import Any

import nbformat
import pytest

from kit import logsafe
from kit.cli import build_parser, main
from kit.clock import IST, ManualClock
from kit.errors import ConfigurationError
from kit.ui import launcher
from kit.ui.launcher import ExitCode, LaunchOptions, RestartPolicy, run_notebook
from kit.ui.launcher_args import EXIT_CODES_HELP
from kit.ui.launcher_params import (
    RunPaths,
    build_parameters,
    looks_secret,
    parse_value,
    resolve_notebook,
)
from tests.ui.runs import assert_gone, read, wait_for_running_cell, wait_for_text

START = datetime(2026, 12, 3, 9, 10, 0, tzinfo=IST)
FAKE_JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJmYWtlLXVzZXIifQ.ZmFrZS1zaWduYXR1cmU"

pytestmark = pytest.mark.notebook


def write_notebook(path: Path, *cells: str, parameters: str = "") -> Path:
    """A notebook of code ``cells``, the first tagged ``parameters`` if given."""
    nb = nbformat.v4.new_notebook()
    code = [nbformat.v4.new_code_cell(source) for source in cells]
    if parameters:
        tagged = nbformat.v4.new_code_cell(parameters)
        tagged.metadata["tags"] = ["parameters"]
        code.insert(0, tagged)
    nb.cells = code
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)
    return path


def launch(
    tmp_path: Path, notebook: Path, **options: Any
) -> tuple[int, ManualClock, Path]:
    clock = ManualClock(START, auto_advance=True)
    runs = tmp_path / "runs"
    opts = LaunchOptions(notebook=str(notebook), runs_dir=runs, **options)
    code = run_notebook(opts, clock=clock, console=open(os.devnull, "w"))  # noqa: SIM115
    return code, clock, runs / "2026-12-03"


def stream_text(cell: dict[str, Any]) -> str:
    return "".join(
        "".join(out.get("text", "")) for out in cell["outputs"] if "text" in out
    )


# Runs that end: 0 and 1.


def test_a_notebook_that_runs_to_the_end_exits_0_with_its_parameters_injected(
    tmp_path: Path,
) -> None:
    notebook = write_notebook(
        tmp_path / "day.ipynb",
        "print(repr((n, ratio, flag, label, nothing, until)))",
        parameters="n = 0\nratio = 0.0\nflag = False\nlabel = ''\nnothing = 1\n"
        "until = None",
    )
    pairs = (
        ("n", "5"),
        ("ratio", "0.5"),
        ("flag", "True"),
        ("label", "SBIN-EQ"),
        ("nothing", "None"),
    )

    code, _, day = launch(tmp_path, notebook, parameters=pairs, until=dt_time(15, 20))

    assert code == ExitCode.COMPLETED
    output = day / "day-091000.ipynb"
    saved = read(output)
    assert saved["metadata"]["papermill"]["parameters"] == {
        "n": 5,
        "ratio": 0.5,
        "flag": True,
        "label": "SBIN-EQ",
        "nothing": None,
        "until": "15:20",
    }
    assert saved["metadata"]["papermill"]["end_time"]
    printed = stream_text(saved["cells"][-1])
    assert printed.strip() == "(5, 0.5, True, 'SBIN-EQ', None, '15:20')"
    log = (day / "day-091000.log").read_text()
    assert "Parameters: n=5, ratio=0.5, flag=True" in log
    assert "Finished: exit 0 (the notebook ran to the end)" in log


def test_a_cell_that_raises_exits_1_and_the_notebook_keeps_the_error(
    tmp_path: Path,
) -> None:
    notebook = write_notebook(
        tmp_path / "bad.ipynb", "x = 1", "raise ValueError('no candles today')", "x = 2"
    )

    code, _, day = launch(tmp_path, notebook)

    assert code == ExitCode.FAILED
    saved = read(day / "bad-091000.ipynb")
    errors = [o for o in saved["cells"][-2]["outputs"] if o["output_type"] == "error"]
    assert [(e["ename"], e["evalue"]) for e in errors] == [
        ("ValueError", "no candles today")
    ]
    assert saved["cells"][-1]["metadata"]["papermill"]["status"] == "pending"
    log = (day / "bad-091000.log").read_text()
    assert "raised ValueError: no candles today" in log
    assert "Finished: exit 1" in log


def test_a_token_printed_by_a_cell_is_masked_in_the_log(tmp_path: Path) -> None:
    notebook = write_notebook(tmp_path / "leak.ipynb", f"print('jwt {FAKE_JWT}')")

    code, _, day = launch(tmp_path, notebook)

    assert code == ExitCode.COMPLETED
    log = (day / "leak-091000.log").read_text()
    assert "jwt ***" in log
    assert FAKE_JWT not in log
    assert "eyJ" not in log


# Refused before anything runs: 2.


@pytest.mark.parametrize(
    "key",
    ["api_key", "MPIN", "totp_secret", "feed_token", "Jwt", "password", "client_code"],
)
def test_a_parameter_whose_key_looks_secret_is_refused_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], key: str
) -> None:
    notebook = write_notebook(tmp_path / "day.ipynb", "x = 1")
    runs = tmp_path / "runs"

    run = ["notebook", "run", str(notebook), "--runs-dir", str(runs)]
    code = main([*run, "-p", "n", "1", "-p", key, "s3cr3t-VALUE"])

    assert code == 2
    err = capsys.readouterr().err
    assert f"parameter {key!r} looks like a secret" in err
    assert "s3cr3t-VALUE" not in err
    assert not runs.exists()


def test_a_value_that_looks_like_a_token_or_a_configured_credential_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    notebook = write_notebook(tmp_path / "day.ipynb", "x = 1")
    fake_key = "fakeApiKey-launcher-7Qz"
    monkeypatch.setenv("KIT_API_KEY", fake_key)
    runs = tmp_path / "runs"
    try:
        for value in (FAKE_JWT, f"Bearer {fake_key}x", fake_key, f"{fake_key}-ish"):
            with pytest.raises(ConfigurationError, match="'note' looks like a secret"):
                run_notebook(
                    LaunchOptions(str(notebook), (("note", value),), runs_dir=runs)
                )
    finally:
        logsafe.REGISTRY.forget(fake_key)
    assert not runs.exists()


def test_parameter_mistakes_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="until given twice"):
        build_parameters([("until", "15:00")], dt_time(15, 20))
    with pytest.raises(ConfigurationError, match="not a Python name"):
        build_parameters([("max-loss", "5")])
    with pytest.raises(ConfigurationError, match="not a Python name"):
        build_parameters([("class", "5")])


def test_a_missing_notebook_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["notebook", "run", "03_nowhere", "--runs-dir", str(tmp_path)])

    assert code == 2
    assert "no notebook '03_nowhere'" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_kernel_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    notebook = write_notebook(tmp_path / "day.ipynb", "x = 1")
    runs = tmp_path / "runs"

    run = ["notebook", "run", str(notebook), "--runs-dir", str(runs)]
    code = main([*run, "--kernel", "no-such-kernel-here"])

    assert code == 2
    assert "no Jupyter kernel named 'no-such-kernel-here'" in capsys.readouterr().err
    assert not runs.exists()


# Kernel death: restarted, then given up on (3).


def test_a_kernel_that_dies_once_is_restarted_into_a_new_notebook(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "died-once"
    notebook = write_notebook(
        tmp_path / "fragile.ipynb",
        f"import os, pathlib\nmarker = pathlib.Path({str(marker)!r})\n"
        "if not marker.exists():\n    marker.write_text('x')\n    os._exit(1)",
        "print('survived', n)",
        parameters="n = 0",
    )

    code, clock, day = launch(tmp_path, notebook, parameters=(("n", "7"),))

    assert code == ExitCode.COMPLETED
    assert clock.time() - START.timestamp() == 5.0  # one backoff, first delay
    crashed, resumed = (
        day / "fragile-091000.ipynb",
        day / "fragile-091000-restart1.ipynb",
    )
    assert read(crashed)["metadata"]["kit"]["outcome"] == (
        "the kernel died; restarted as fragile-091000-restart1.ipynb"
    )
    assert read(crashed)["metadata"]["papermill"]["end_time"]
    assert stream_text(read(resumed)["cells"][-1]).strip() == "survived 7"
    log = (day / "fragile-091000.log").read_text()
    assert "Kernel died; restarting in 5.0 s (restart 1/3)" in log
    assert "Finished: exit 0" in log


def test_a_kernel_that_keeps_dying_exits_3_after_the_restart_limit(
    tmp_path: Path,
) -> None:
    notebook = write_notebook(tmp_path / "doomed.ipynb", "import os\nos._exit(1)")
    policy = RestartPolicy(max_restarts=1, first_delay_s=2.0)

    code, clock, day = launch(tmp_path, notebook, restarts=policy)

    assert code == ExitCode.KERNEL_GAVE_UP
    assert clock.time() - START.timestamp() == 2.0
    last = read(day / "doomed-091000-restart1.ipynb")
    assert (
        last["metadata"]["kit"]["outcome"] == "the kernel died; restart limit reached"
    )
    assert not (day / "doomed-091000-restart2.ipynb").exists()
    log = (day / "doomed-091000.log").read_text()
    assert "restart limit 1 reached, giving up" in log
    assert "Finished: exit 3" in log


def test_restart_delays_double_up_to_the_cap() -> None:
    policy = RestartPolicy(max_restarts=6, first_delay_s=5.0, max_delay_s=60.0)

    delays = [policy.delay_s(n) for n in range(1, 7)]

    assert delays == [5.0, 10.0, 20.0, 40.0, 60.0, 60.0]


# SIGTERM: the launcher as `kit` runs it from a scheduler.


def test_sigterm_exits_143_with_the_notebook_saved_and_the_kernel_gone(
    tmp_path: Path,
) -> None:
    pid_file = tmp_path / "kernel.pid"
    notebook = write_notebook(
        tmp_path / "long.ipynb",
        "import asyncio, os, pathlib\n"
        f"pathlib.Path({str(pid_file)!r}).write_text(str(os.getpid()))\n"
        "for _ in range(1200):\n    await asyncio.sleep(0.05)",
    )
    runs = tmp_path / "runs"
    command = [sys.executable, "-m", "kit", "notebook", "run", str(notebook)]
    proc = subprocess.Popen(
        [*command, "--runs-dir", str(runs)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        output = wait_for_running_cell(runs, "range(1200)", deadline_s=60.0)
        kernel_pid = int(wait_for_text(pid_file, deadline_s=30.0))
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    assert proc.returncode == 143, err
    saved = read(output)
    assert saved["metadata"]["papermill"]["end_time"]
    assert saved["metadata"]["kit"]["outcome"] == "stopped by SIGTERM"
    assert "Stopped: " in err and "(end_time set)" in err
    assert (
        "Finished: exit 143 (stopped by SIGTERM)"
        in output.with_suffix(".log").read_text()
    )
    assert_gone(kernel_pid, deadline_s=10.0)


# Names, values and paths.


def test_a_name_resolves_to_notebooks_a_path_with_or_without_the_suffix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notebooks").mkdir()
    live = write_notebook(tmp_path / "notebooks" / "02_live_run.ipynb", "x = 1")
    other = write_notebook(tmp_path / "elsewhere.ipynb", "x = 1")

    assert resolve_notebook("02_live_run") == live.resolve()
    assert resolve_notebook("02_live_run.ipynb") == live.resolve()
    assert resolve_notebook("notebooks/02_live_run") == live.resolve()
    assert resolve_notebook(str(other)) == other.resolve()
    assert resolve_notebook("elsewhere") == other.resolve()


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("True", True),
        ("False", False),
        ("None", None),
        ("42", 42),
        ("-3", -3),
        ("0.25", 0.25),
        ("1e3", 1000.0),
        ("true", "true"),
        ("SBIN-EQ", "SBIN-EQ"),
        ("09:15", "09:15"),
        ("", ""),
    ],
)
def test_values_are_typed_like_papermill_s_command_line(
    text: str, value: object
) -> None:
    parsed = parse_value(text)

    assert parsed == value and type(parsed) is type(value)


def test_secret_words_are_matched_anywhere_in_any_case() -> None:
    assert looks_secret("KIT_TOTP") and looks_secret("refreshToken")
    assert looks_secret("my_api_key_2") and looks_secret("Client_Code")
    assert not looks_secret("symbols") and not looks_secret("until")
    assert not looks_secret("speed") and not looks_secret("seed")


def test_a_second_run_in_the_same_second_gets_its_own_files(tmp_path: Path) -> None:
    first = RunPaths.choose(tmp_path, Path("02_live_run.ipynb"), START)
    first.folder.mkdir(parents=True)
    first.log.write_text("")

    second = RunPaths.choose(tmp_path, Path("02_live_run.ipynb"), START)

    assert first.output() == tmp_path / "2026-12-03" / "02_live_run-091000.ipynb"
    assert (
        second.output(2)
        == tmp_path / "2026-12-03" / "02_live_run-091000-2-restart2.ipynb"
    )
    assert second.log == tmp_path / "2026-12-03" / "02_live_run-091000-2.log"


def test_help_and_docstring_list_every_exit_code(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["notebook", "run", "--help"])

    assert exited.value.code == 0
    shown = capsys.readouterr().out
    assert EXIT_CODES_HELP in shown
    doc = launcher.__doc__ or ""
    for code in ExitCode:
        assert f"\n  {code.value:<4} " in shown
        assert f"- {code.value}: " in doc or f"; {code.value}: " in doc
