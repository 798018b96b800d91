"""The ``kit`` command.

kit demo              a paper-trading session against the built-in simulator
kit settings [FILE]   the effective settings, secrets masked, after all checks
kit --version
"""

from __future__ import annotations

import argparse
import json
import sys

from kit import __version__
from kit.config import load_settings
from kit.errors import ConfigurationError

DEMO_PLAN = """\
kit demo: a paper-trading session on the built-in Angel One simulator.

What it will do once the simulator lands (issue "The Angel One simulator"):
  1. start the simulator on a free loopback port, on a scaled clock
  2. log in to it with fake credentials (MPIN and TOTP), as a bot would
  3. subscribe to a few symbols over WebSocket 2.0 and print their live ticks
     for a minute of real time
Later issues grow it into the paper bot with its status board.

Nothing here needs an Angel One account, and nothing leaves this machine.
"""


def _demo(args: argparse.Namespace) -> int:
    settings = load_settings(args.settings)
    print(DEMO_PLAN)
    print(f"Symbols: {', '.join(settings.symbols)}")
    print(f"Mode: {settings.mode}; broker: {settings.broker}")
    return 0


def _settings(args: argparse.Namespace) -> int:
    settings = load_settings(args.settings)
    print(json.dumps(settings.describe(), indent=2, default=str))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kit", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"kit {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="paper trading on the built-in simulator")
    demo.add_argument("--settings", metavar="FILE", help="a TOML settings file")
    demo.set_defaults(run=_demo)

    show = commands.add_parser("settings", help="show the effective settings")
    show.add_argument("settings", nargs="?", metavar="FILE", help="a TOML file")
    show.set_defaults(run=_settings)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except ConfigurationError as exc:
        print(f"kit: {exc}", file=sys.stderr)
        return 2
    return code
