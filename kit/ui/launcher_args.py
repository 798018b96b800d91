"""The command line of ``kit notebook``: its options, and the help that lists
the exit codes a scheduler (cron, systemd) acts on."""

from __future__ import annotations

import argparse
from datetime import time
from pathlib import Path

from kit.ui.launcher import LaunchOptions, RestartPolicy, run_notebook

EXIT_CODES_HELP = """\
exit codes:
  0    the notebook ran to the end
  1    a cell raised (the notebook is saved with the error), or the run
       failed otherwise (see the log)
  2    bad usage: options, a refused parameter, no such notebook or kernel;
       nothing ran
  3    the kernel died more often than --max-restarts
  130  stopped by SIGINT (Ctrl-C); the notebook is saved, end_time set
  143  stopped by SIGTERM; the notebook is saved, end_time set

Parameters whose key looks like a credential (api_key, secret, password,
pin, totp, token, jwt, client_code, in any case, anywhere in the key) are
refused: credentials come from the settings file or the environment.
"""

_DESCRIPTION = """\
Run a notebook with papermill, unattended. The output notebook goes to
DIR/<YYYY-MM-DD>/<stem>-<HHMMSS>.ipynb and the launcher's log beside it
(.log); a dead kernel is restarted with a backoff into <...>-restart<n>.ipynb.
"""


def add_notebook_commands(parser: argparse.ArgumentParser) -> None:
    """The sub-commands of ``kit notebook`` (``run``), for its sub-parser."""
    commands = parser.add_subparsers(dest="notebook_command", required=True)
    run = commands.add_parser(
        "run",
        help="run a notebook unattended (papermill), e.g. 02_live_run",
        description=_DESCRIPTION,
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument(
        "name", metavar="NAME", help="notebooks/NAME.ipynb, or a notebook's path"
    )
    run.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        default=[],
        metavar=("KEY", "VALUE"),
        help="a notebook parameter; True/False/None, ints and floats are typed",
    )
    run.add_argument(
        "--until", type=_hh_mm, metavar="HH:MM", help="the parameter `until` (IST)"
    )
    run.add_argument(
        "--runs-dir", metavar="DIR", default="runs", help="where runs go (./runs)"
    )
    run.add_argument("--kernel", default="python3", help="Jupyter kernel (python3)")
    run.add_argument(
        "--cwd", metavar="DIR", help="the kernel's folder (the notebook's own)"
    )
    run.add_argument(
        "--max-restarts",
        type=_not_negative,
        default=RestartPolicy.max_restarts,
        metavar="N",
        help=f"restarts after a dead kernel ({RestartPolicy.max_restarts})",
    )
    run.set_defaults(run=notebook_from_args)


def notebook_from_args(args: argparse.Namespace) -> int:
    """``kit notebook run`` from parsed arguments; usage errors raise
    :class:`~kit.errors.ConfigurationError`, which ``kit`` turns into exit 2."""
    options = LaunchOptions(
        notebook=args.name,
        parameters=tuple((key, value) for key, value in args.parameter),
        until=args.until,
        runs_dir=Path(args.runs_dir),
        kernel=args.kernel,
        cwd=Path(args.cwd) if args.cwd else None,
        restarts=RestartPolicy(max_restarts=args.max_restarts),
    )
    return run_notebook(options)


def _hh_mm(text: str) -> time:
    try:
        parsed = time.fromisoformat(text)
    except ValueError:
        parsed = None
    if parsed is None or len(text) != 5:
        raise argparse.ArgumentTypeError(f"not a time (HH:MM): {text!r}")
    return parsed


def _not_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"not a whole number >= 0: {text!r}")
    return value
