"""``kit report``: a day's uptime and recovery tables, from the store's events.

    kit report [--date YYYY-MM-DD] [--store URL] [--settings FILE]
               [--json PATH] [--whole-day]

``--date`` is an IST calendar day (today by default); ``--store`` a store URL
as in the settings (``sqlite:///PATH`` or ``firestore://PROJECT``; the
settings' store by default); ``--json`` also writes every figure to PATH;
``--whole-day`` counts downtime over the whole day instead of market hours.
The definitions of the figures are in :mod:`kit.ops.metrics`.

Exit codes: 0 printed; 1 the store did not answer or the JSON file could not
be written; 2 a usage or settings error (a missing store file included).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any, Protocol, TextIO
from urllib.parse import unquote, urlparse

from kit.clock import Clock, NseCalendar, RealClock
from kit.config import Settings, load_settings
from kit.errors import ConfigurationError, KitError
from kit.ops.metrics import EventSource, metrics_for_day


class ReportStore(EventSource, Protocol):
    """What the report needs of a store: its events, its name, closing."""

    @property
    def name(self) -> str: ...

    def close(self) -> None: ...


Opener = Callable[[Settings, Clock], ReportStore]


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``kit report``, for a parser or a sub-parser."""
    parser.add_argument(
        "--date", type=_day, help="the IST day, YYYY-MM-DD (default: today)"
    )
    parser.add_argument(
        "--store", metavar="URL", help="sqlite:///PATH or firestore://PROJECT"
    )
    parser.add_argument("--settings", metavar="FILE", help="a TOML settings file")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    parser.add_argument(
        "--whole-day", action="store_true", help="downtime over 24 h, not market hours"
    )


def run_report(
    argv: Sequence[str] | None = None,
    *,
    clock: Clock | None = None,
    opener: Opener | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Parse ``argv`` (without the word ``report``) and print the report.

    ``clock``, ``opener`` (settings and clock to a store; by default
    :func:`kit.store.open_store`) and the streams are for tests.
    """
    parser = argparse.ArgumentParser(
        prog="kit report", description=__doc__.split("\n")[0]
    )
    add_report_arguments(parser)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error already printed
        return int(exc.code or 0)
    return report_from_args(args, clock=clock, opener=opener, out=out, err=err)


def report_from_args(
    args: argparse.Namespace,
    *,
    clock: Clock | None = None,
    opener: Opener | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Print the report the parsed ``args`` ask for; return the exit code."""
    clock, out, err = clock or RealClock(), out or sys.stdout, err or sys.stderr
    overrides = {"store_url": args.store} if args.store else {}
    try:
        settings = load_settings(args.settings, **overrides)
        store = (opener or _open_store)(settings, clock)
    except ConfigurationError as exc:
        print(f"kit report: {exc}", file=err)
        return 2
    except KitError as exc:
        print(f"kit report: cannot open the store: {exc}", file=err)
        return 1

    try:
        return _report(args, settings, store, clock=clock, out=out, err=err)
    finally:
        store.close()


def _report(
    args: argparse.Namespace,
    settings: Settings,
    store: ReportStore,
    *,
    clock: Clock,
    out: TextIO,
    err: TextIO,
) -> int:
    today = clock.now().date()
    day: date = args.date or today
    calendar = NseCalendar(extra_holidays=settings.extra_holidays)
    try:
        metrics = metrics_for_day(
            store, day, as_of=clock.now() if day == today else None,
            calendar=calendar, market_hours_only=not args.whole_day,
        )  # fmt: skip
    except KitError as exc:
        print(f"kit report: the store {store.name} did not answer: {exc}", file=err)
        return 1

    print(metrics.render_tables(), file=out)
    if not metrics.incidents and not any(s.crashes for s in metrics.days):
        print(f"(no incidents recorded on {day} in {store.name})", file=out)
    if args.json:
        document: dict[str, Any] = {"day": day.isoformat(), "store": store.name}
        document |= metrics.to_dict()
        try:
            Path(args.json).write_text(json.dumps(document, indent=2) + "\n")
        except OSError as exc:
            print(f"kit report: cannot write {args.json}: {exc}", file=err)
            return 1
    return 0


def _open_store(settings: Settings, clock: Clock) -> ReportStore:
    """The settings' store; a SQLite file that does not exist is an error
    (opening it would make an empty one)."""
    from kit.store import open_store  # noqa: PLC0415 -- the store is heavy

    path = _sqlite_path(settings)
    if path is not None and not path.exists():
        raise ConfigurationError(f"no store at {path}", field="store_url")
    return open_store(settings, clock)


def _sqlite_path(settings: Settings) -> Path | None:
    if settings.store_url is None:
        return settings.store_path
    url = urlparse(settings.store_url)
    return Path(unquote(url.path[1:])) if url.scheme == "sqlite" else None


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a day (YYYY-MM-DD): {text!r}") from None
