"""``kit notebook run``: a notebook run unattended through papermill, for a day.

::

    kit notebook run 02_live_run --until 15:20 -p symbols SBIN-EQ

The notebook (``notebooks/NAME.ipynb``, or a path) runs with papermill's Python
API; its output goes to ``runs/<YYYY-MM-DD>/<stem>-<HHMMSS>.ipynb`` and the
launcher's own lines (what ran, the parameters, restarts, why it ended) to the
``.log`` beside it, together with what the notebook's cells print. Parameters
are checked first (:mod:`kit.ui.launcher_params`): a secret is never a
parameter.

Exit codes:

- 0: the notebook ran to the end.
- 1: a cell raised (the notebook is saved with the error), or the run failed
  otherwise (the log says why).
- 2: bad usage: unknown options, a refused parameter, no such notebook or
  kernel, papermill not installed. Nothing ran.
- 3: the kernel died more often than the restart limit (``--max-restarts``).
- 130: stopped by SIGINT (Ctrl-C); 143: stopped by SIGTERM. Either way the
  notebook is saved with papermill's ``end_time`` set.

Why signals become KeyboardInterrupt: papermill saves the notebook in a
``finally`` on the way out, so an interrupted run leaves a finished notebook.
Papermill's own command line dies on SIGTERM without that save. Only the first
signal interrupts; later ones are ignored so the final save and the kernel's
shutdown can finish (systemd's ``TimeoutStopSec`` is the backstop).

A kernel that dies (nbclient's ``DeadKernelError``: the process was killed, ran
out of memory, or called ``os._exit``) is restarted up to ``max_restarts``
times with an exponential backoff, each into a new numbered output notebook;
the bot in the notebook resumes from its store. Restarts are logged here and
not written to the store: the bot records its own ``crash_detected`` event when
it starts and finds the last run unfinished, and a second event from here would
count the crash twice in the recovery tables.
"""

from __future__ import annotations

import logging
import signal
import sys
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import time
from enum import IntEnum
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

from kit import logsafe
from kit.clock import Clock, RealClock
from kit.config import load_settings
from kit.errors import ConfigurationError
from kit.ui import launcher_io as io
from kit.ui.launcher_params import RunPaths, build_parameters, resolve_notebook

log = logging.getLogger(__name__)


class ExitCode(IntEnum):
    """The launcher's exit codes (see the module docstring)."""

    COMPLETED = 0
    FAILED = 1
    USAGE = 2
    KERNEL_GAVE_UP = 3
    SIGINT = 130
    SIGTERM = 143


REASONS = {
    ExitCode.COMPLETED: "the notebook ran to the end",
    ExitCode.FAILED: "the run failed",
    ExitCode.USAGE: "bad usage",
    ExitCode.KERNEL_GAVE_UP: "the kernel died more often than the restart limit",
    ExitCode.SIGINT: "stopped by SIGINT",
    ExitCode.SIGTERM: "stopped by SIGTERM",
}


@dataclass(frozen=True)
class RestartPolicy:
    """How often and how soon a dead kernel's run is started again.

    The n-th restart waits ``first_delay_s * 2**(n-1)``, at most
    ``max_delay_s``: quick after a one-off crash, slower for a kernel that
    keeps dying (memory, a sick machine), so it does not spin.
    """

    max_restarts: int = 3
    first_delay_s: float = 5.0
    max_delay_s: float = 60.0

    def __post_init__(self) -> None:
        if min(self.max_restarts, self.first_delay_s, self.max_delay_s) < 0:
            raise ConfigurationError("restart limits must not be negative")

    def delay_s(self, restart: int) -> float:
        """The wait before restart number ``restart`` (1 for the first)."""
        return float(min(self.first_delay_s * 2 ** (restart - 1), self.max_delay_s))


@dataclass(frozen=True)
class LaunchOptions:
    """One ``kit notebook run``. ``cwd`` is the kernel's working folder; by
    default the notebook's own, as in JupyterLab, so relative paths in the
    notebook mean the same in both. ``autosave_every_s`` bounds how stale the
    output notebook gets while a long cell sends output."""

    notebook: str
    parameters: tuple[tuple[str, str], ...] = ()
    until: time | None = None
    runs_dir: Path = Path("runs")
    kernel: str = "python3"
    cwd: Path | None = None
    restarts: RestartPolicy = field(default_factory=RestartPolicy)
    autosave_every_s: int = 10


def run_notebook(
    options: LaunchOptions, *, clock: Clock | None = None, console: TextIO | None = None
) -> int:
    """Run the notebook of ``options`` to its end; return an :class:`ExitCode`.

    Raises :class:`ConfigurationError` (exit 2) before anything runs when the
    notebook, a parameter or the kernel is wrong. ``clock`` names the output
    and times the restart backoff (tests pass a manual one); the launcher's
    lines go to the log file and to ``console`` (stderr by default).
    """
    notebook = resolve_notebook(options.notebook)
    with suppress(ConfigurationError):  # no usable settings: token shapes only
        logsafe.register_settings(load_settings())  # masked in the log, refused
    parameters = build_parameters(options.parameters, options.until)
    papermill = io.import_papermill()
    io.check_kernel(options.kernel)

    clock = clock or RealClock()
    paths = RunPaths.choose(options.runs_dir, notebook, clock.now())
    paths.folder.mkdir(parents=True, exist_ok=True)
    run = _Run(papermill, notebook, parameters, paths, options, clock)
    with io.run_log(paths.log, console or sys.stderr, log):
        log.info(
            "Running %s (kernel %s, papermill %s)",
            notebook, options.kernel, papermill.__version__,
        )  # fmt: skip
        log.info("Parameters: %s", _describe(parameters) or "none")
        log.info("Log: %s", paths.log)
        code = run.until_done()
        log.info("Finished: exit %d (%s)", code, REASONS[code])
    return int(code)


@dataclass
class _Run:
    """One launch: attempts until the notebook ends, fails, is stopped, or its
    kernel has died once too often."""

    papermill: ModuleType
    notebook: Path
    parameters: dict[str, Any]
    paths: RunPaths
    options: LaunchOptions
    clock: Clock
    output: Path | None = None  # the attempt's notebook, once it began
    ended: list[tuple[Path, str]] = field(default_factory=list)

    def until_done(self) -> ExitCode:
        """Every attempt, then the outcome marked in each output notebook."""
        with io.signals_as_interrupt() as stop:
            try:
                code = self._attempts()
            except KeyboardInterrupt:
                code = (
                    ExitCode.SIGTERM
                    if stop.signum == signal.SIGTERM
                    else ExitCode.SIGINT
                )
                self._stopped(code)
            finally:
                stop.armed = False
            for output, outcome in self.ended:
                io.mark_outcome(output, outcome)
        return code

    def _attempts(self) -> ExitCode:
        from nbclient.exceptions import DeadKernelError  # noqa: PLC0415 -- optional

        cell_failed = self.papermill.exceptions.PapermillExecutionError
        policy = self.options.restarts
        for restart in range(policy.max_restarts + 1):
            self.output = self.paths.output(restart)
            log.info("Output: %s", self.output)
            try:
                self._execute(self.output)
                return ExitCode.COMPLETED
            except cell_failed as exc:
                log.error(
                    "Cell %s raised %s: %s", exc.exec_count, exc.ename, exc.evalue
                )
                return ExitCode.FAILED
            except DeadKernelError:
                if restart == policy.max_restarts:
                    break
                self._restart(restart + 1)
            except Exception:
                log.exception("The run failed")
                return ExitCode.FAILED

        log.error(
            "Kernel died; restart limit %d reached, giving up", policy.max_restarts
        )
        if self.output is not None:
            self.ended.append((self.output, "the kernel died; restart limit reached"))
        return ExitCode.KERNEL_GAVE_UP

    def _restart(self, restart: int) -> None:
        policy, died_in = self.options.restarts, self.output
        assert died_in is not None
        self.output = None  # between attempts: no notebook is running
        following = self.paths.output(restart).name
        self.ended.append((died_in, f"the kernel died; restarted as {following}"))
        delay_s = policy.delay_s(restart)
        log.warning(
            "Kernel died; restarting in %.1f s (restart %d/%d)",
            delay_s, restart, policy.max_restarts,
        )  # fmt: skip
        self.clock.sleep(delay_s)

    def _stopped(self, code: ExitCode) -> None:
        if self.output is None:
            log.warning("Stopped between attempts: no notebook was running")
            return
        saved = "end_time set" if io.finalised(self.output) else "end_time NOT set"
        log.warning("Stopped: %s saved (%s)", self.output, saved)
        self.ended.append((self.output, REASONS[code]))

    def _execute(self, output: Path) -> None:
        self.papermill.execute_notebook(
            str(self.notebook),
            str(output),
            parameters=self.parameters,
            kernel_name=self.options.kernel,
            cwd=str(self.options.cwd or self.notebook.parent),
            request_save_on_cell_execute=True,
            autosave_cell_every=self.options.autosave_every_s,
            progress_bar=False,
            log_output=True,  # what the cells print goes to the run's log
            **io.widget_state_switch(),
        )


def _describe(parameters: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value!r}" for key, value in parameters.items())
