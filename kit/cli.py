"""The ``kit`` command.

kit demo [--speed X] [--duration S] [--until HH:MM] [--seed N] [--store DIR]
                                      the paper bot on the simulator, with faults
kit run [--settings FILE] [--until HH:MM]
                                      the bot against the configured broker
kit sim [--port P] [--speed X] [--seed S] [--chaos PLAN] [--start ISO]
                                      the Angel One simulator, standalone
kit settings [FILE]                   the effective settings, secrets masked
kit login [--settings FILE]           log in by hand (TOTP and MPIN typed, unechoed)
kit notebook run NAME [--until HH:MM] [-p KEY VALUE]...
                                      a notebook run unattended (papermill)
kit --version
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import sys
from datetime import datetime
from datetime import time as dt_time
from pathlib import Path

from kit import __version__
from kit.clock import IST
from kit.config import Settings, load_settings
from kit.errors import ConfigurationError, KitError
from kit.ops.report import add_report_arguments, report_from_args
from kit.ui.launcher_args import add_notebook_commands


def _demo(args: argparse.Namespace) -> int:
    from kit.demo import DemoOptions, run_demo  # noqa: PLC0415 -- heavy imports

    options = DemoOptions(
        speed=args.speed,
        duration_s=args.duration,
        until=args.until,
        seed=args.seed,
        store_dir=Path(args.store) if args.store else None,
        board_every_min=args.board_every,
        settings_file=args.settings,
    )
    return run_demo(options, out=_print)


def _run(args: argparse.Namespace) -> int:
    from kit.demo_watch import run_bot  # noqa: PLC0415 -- heavy imports

    settings = load_settings(args.settings)
    return run_bot(settings, args.until, out=_print)


def _print(line: str) -> None:
    print(line, flush=True)


def _sim(args: argparse.Namespace) -> int:
    from kit.sim.chaos import parse_plan  # noqa: PLC0415 -- heavy imports
    from kit.sim.runner import SimConfig, Simulator, serve_forever  # noqa: PLC0415

    start = datetime.fromisoformat(args.start) if args.start else datetime.now(IST)
    if start.tzinfo is None:
        start = start.replace(tzinfo=IST)
    try:
        plan = parse_plan(args.chaos or "", start=start, seed=args.seed)
    except ValueError as exc:
        raise ConfigurationError(str(exc), field="chaos") from None
    config = SimConfig(
        seed=args.seed,
        speed=args.speed,
        start=start,
        port=args.port,
        tick_interval_s=args.tick_interval,
        rate_limits=not args.no_rate_limits,
    )
    sim = Simulator(config, plan=plan)
    sim.start()
    account = sim.account
    print(f"REST      {sim.rest_url}", flush=True)
    print(f"Feed      {sim.feed_url}")
    print(f"Admin     {sim.rest_url}/__sim/stats  {sim.rest_url}/__sim/chaos")
    print(f"Account   client code {account.client_code}, API key {account.api_key}")
    print("          (MPIN and TOTP secret: kit.sim.auth.demo_account())")
    print(f"Clock     {start:%Y-%m-%d %H:%M:%S} IST at {args.speed:g}x; Ctrl-C stops")
    sys.stdout.flush()
    serve_forever(sim)
    return 0


def _settings(args: argparse.Namespace) -> int:
    settings = load_settings(args.settings)
    print(json.dumps(settings.describe(), indent=2, default=str))
    return 0


def _login(args: argparse.Namespace) -> int:
    from kit.broker.http import Transport  # noqa: PLC0415 -- heavy imports
    from kit.broker.session import BrokerSession, Credentials  # noqa: PLC0415
    from kit.clock import RealClock  # noqa: PLC0415
    from kit.store import open_store  # noqa: PLC0415

    settings = load_settings(args.settings)
    credentials = Credentials.from_settings(settings)  # needs key and client code
    totp = getpass.getpass("TOTP from your authenticator app: ").strip()
    mpin = getpass.getpass("MPIN: ").strip()

    clock = RealClock()
    where = _tokens_kept_in(settings)
    transport = Transport(
        settings.rest_url,
        credentials.api_key,
        connect_timeout_s=settings.connect_timeout_s,
        read_timeout_s=settings.read_timeout_s,
    )
    with transport:
        try:
            store = open_store(settings, clock)
        except ConfigurationError:
            raise
        except KitError as exc:
            print(f"kit: cannot open the store {where}: {exc}", file=sys.stderr)
            return 1
        try:
            session = BrokerSession(
                transport, credentials, store, clock, store_name=where
            )
            session.login(totp=totp, mpin=mpin)
            expires_at = session.status().expires_at
        except ConfigurationError:
            raise
        except KitError as exc:
            print(f"kit: login failed: {exc}", file=sys.stderr)
            return 1
        finally:
            store.close()
    assert expires_at is not None
    until = f"{expires_at:%Y-%m-%d %H:%M} IST"
    print(f"Logged in; session saved to {where}, valid until {until}")
    return 0


def _tokens_kept_in(settings: Settings) -> str:
    """Where the session's tokens go: the local file unless the store's URL
    names another file, or Firestore with the tokens opted in."""
    url = settings.store_url
    if url and (url.startswith("sqlite:") or settings.store_tokens_in_cloud):
        return url
    return str(settings.store_path)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kit", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"kit {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser(
        "demo", help="the paper bot on the simulator: a morning with faults"
    )
    demo.add_argument("--settings", metavar="FILE", help="a TOML settings file")
    demo.add_argument("--speed", type=_positive, help="clock speed-up")
    demo.add_argument("--duration", type=_positive, help="real seconds (about 60)")
    demo.add_argument("--until", type=_hh_mm, help="simulated end, HH:MM (11:30)")
    demo.add_argument("--seed", type=int, help="the fault plan's seed")
    demo.add_argument("--store", metavar="DIR", help="keep store and log in DIR")
    demo.add_argument(
        "--board-every", type=_whole, metavar="MIN", help="simulated minutes"
    )
    demo.set_defaults(run=_demo)

    run = commands.add_parser("run", help="run the bot against the configured broker")
    run.add_argument("--settings", metavar="FILE", help="a TOML settings file")
    run.add_argument("--until", type=_hh_mm, help="stop at HH:MM IST (the close)")
    run.set_defaults(run=_run)

    sim = commands.add_parser("sim", help="run the Angel One simulator standalone")
    sim.add_argument("--port", type=int, default=8000)
    sim.add_argument("--speed", type=float, default=1.0)
    sim.add_argument("--seed", type=int, default=7)
    sim.add_argument("--start", help="simulated start, ISO time (IST if no zone)")
    sim.add_argument("--chaos", metavar="PLAN", help="a fault plan (kit.sim.chaos)")
    sim.add_argument("--tick-interval", type=float, default=1.0, help="sim seconds")
    sim.add_argument("--no-rate-limits", action="store_true")
    sim.set_defaults(run=_sim)

    show = commands.add_parser("settings", help="show the effective settings")
    show.add_argument("settings", nargs="?", metavar="FILE", help="a TOML file")
    show.set_defaults(run=_settings)

    login = commands.add_parser("login", help="log in to Angel One by hand")
    login.add_argument("--settings", metavar="FILE", help="a TOML settings file")
    login.set_defaults(run=_login)

    report = commands.add_parser("report", help="a day's uptime and recovery tables")
    add_report_arguments(report)
    report.set_defaults(run=report_from_args)

    notebook = commands.add_parser(
        "notebook", help="run a notebook unattended (papermill); see run --help"
    )
    add_notebook_commands(notebook)
    return parser


def _hh_mm(text: str) -> dt_time:
    try:
        return dt_time.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a time (HH:MM): {text!r}") from None


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"not a positive number: {text!r}")
    return value


def _whole(text: str) -> int:
    value = _positive(text)
    if not value.is_integer():
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}")
    return int(value)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        code: int = args.run(args)
    except ConfigurationError as exc:
        print(f"kit: {exc}", file=sys.stderr)
        return 2
    return code
