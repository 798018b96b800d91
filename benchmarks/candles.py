"""Candles: ticks into candles in process, and the warm-up of 50 symbols at the open.

1. Ticks into candles. Pre-decoded QUOTE ticks of 50 symbols from the simulated
   market (one trade a second each from 09:15, as the feed sends them) go
   through ``CandleBook.on_tick``, one book per symbol, in arrival order. The
   figure is the median over the rounds, with the garbage collector off inside
   the timed loop; ``CandleBuilder.add`` alone is timed the same way, to show
   what the book adds around it. The closed candles are checked against the
   market's true candles before anything is reported. Target >= 500,000/s.
2. Warm-up at the open. ``CandleBootstrap.run`` for 50 symbols at 09:15:00
   (200 candles each: the end of the previous session) against the simulator
   with Angel One's limits enforced (getCandleData 3 a second, 500 a minute);
   the symbol check is one quote request. The bound is 50 requests at 3 a
   second. The simulator builds its price paths first, so its own start-up is
   not timed.

    python benchmarks/candles.py [--json out.json] [--symbols 50] [--seconds 1500]
                                 [--rounds 5] [--speed 1] [--check]
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from kit.broker.routes import Mode
from kit.broker.session import Credentials
from kit.broker.stack import open_stack
from kit.clock import IST, NseCalendar
from kit.market.bootstrap import CandleBootstrap, Symbol
from kit.market.candle_book import CandleBook
from kit.market.candles import CandleBuilder
from kit.market.progress import no_progress
from kit.sim.market import Market
from kit.sim.runner import SimConfig, Simulator
from kit.store import SqliteStore

TICKS_TARGET = 500_000
TICK_DAY = date(2026, 3, 2)  # a Monday
OPEN = datetime(2026, 12, 3, 9, 15, tzinfo=IST)  # a Thursday
CANDLES_PER_SECOND = 3  # getCandleData's published limit


def quote_ticks(symbols: int, seconds: int) -> tuple[Market, list[str], list[Any]]:
    market = Market(seed=7)
    tokens = [i.token for i in market.instruments if not i.is_index][:symbols]
    open_s = NseCalendar().session_open(TICK_DAY).timestamp()
    ticks = [
        market.tick(token, Mode.QUOTE, open_s + second)
        for second in range(seconds)
        for token in tokens
    ]
    return market, tokens, ticks


def timed(run: Callable[[], object], rounds: int, count: int) -> list[float]:
    """Items a second for each round of ``run`` (GC off inside the timing)."""
    rates = []
    for _ in range(rounds):
        gc.collect()
        gc.disable()
        try:
            started = time.perf_counter()
            run()
            elapsed = time.perf_counter() - started
        finally:
            gc.enable()
        rates.append(count / elapsed)
    return rates


def run_ticks(symbols: int, seconds: int, rounds: int) -> dict[str, Any]:
    market, tokens, ticks = quote_ticks(symbols, seconds)
    calendar = NseCalendar()

    def books() -> None:
        held = {t: CandleBook(t, calendar=calendar) for t in tokens}
        for tick in ticks:
            held[tick.token].on_tick(tick)

    def builders() -> None:
        held = {t: CandleBuilder(t, calendar=calendar) for t in tokens}
        for tick in ticks:
            held[tick.token].add(tick)

    _check(market, tokens, ticks, calendar)
    book_rates = timed(books, rounds, len(ticks))
    builder_rates = timed(builders, rounds, len(ticks))
    return {
        "ticks": len(ticks),
        "ticks_to_candles_per_s": round(statistics.median(book_rates)),
        "builder_add_per_s": round(statistics.median(builder_rates)),
        "rounds_per_s": [round(r) for r in book_rates],
    }


def _check(market: Market, tokens: list[str], ticks: list[Any], cal: Any) -> None:
    """The books rebuild the true candles of every minute they closed, or stop."""
    held = {t: CandleBook(t, calendar=cal) for t in tokens}
    for tick in ticks:
        held[tick.token].on_tick(tick)
    first = cal.session_open(TICK_DAY)
    for token, book in held.items():
        built = [_values(c) for c in book]
        end = first + timedelta(minutes=len(built))
        truth = [_values(c) for c in market.candles(token, first, end)]
        if not built or built != truth:
            raise SystemExit(f"the book of {token} does not hold the true candles")


def _values(candle: Any) -> tuple[Any, ...]:
    c = candle
    return (c.start, c.open, c.high, c.low, c.close, c.volume)


def run_warmup(symbols: int, speed: float) -> dict[str, Any]:
    config = SimConfig(start=OPEN, speed=speed)
    with Simulator(config) as sim, tempfile.TemporaryDirectory() as tmp:
        account = sim.account
        credentials = Credentials(
            account.api_key, account.client_code, account.mpin, account.totp_secret
        )
        journal = SqliteStore(Path(tmp) / "journal.sqlite3", sim.clock)
        stack = open_stack(sim.rest_url, credentials, journal, sim.clock)
        wanted = [i for i in sim.market.instruments if not i.is_index][:symbols]
        previous = sim.market.calendar.previous_trading_day(OPEN.date())
        for instrument in wanted:  # the simulator's start-up, not timed
            sim.market.day_path(instrument.token, previous)
        limited_before = sim.chaos.counts["rest.rate_limited"]
        boot = CandleBootstrap(
            stack.client,
            [Symbol(i.symbol, i.token) for i in wanted],
            clock=sim.clock,
            progress=no_progress,
        )

        started = sim.clock.monotonic()
        report = boot.run()
        elapsed = sim.clock.monotonic() - started

        boot.stop()
        stack.close()
        return {
            "warmup_s": round(elapsed, 3),
            "symbols_loaded": len(report.loaded),
            "candles": report.candles,
            "attempts": report.attempts,
            "rate_limit_replies": sim.chaos.counts["rest.rate_limited"]
            - limited_before,
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--symbols", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=1500, help="trades each")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--speed", type=float, default=1.0, help="warm-up clock")
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--check", action="store_true", help="exit 1 on a miss")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    ticks = run_ticks(args.symbols, args.seconds, args.rounds)
    warmup = run_warmup(args.symbols, args.speed)
    bound_s = args.symbols / CANDLES_PER_SECOND
    summary = {
        **{k: ticks[k] for k in ("ticks_to_candles_per_s", "builder_add_per_s")},
        "warmup_s": warmup["warmup_s"],
        "warmup_bound_s": round(bound_s, 3),
        "warmup_bound_ratio": round(bound_s / warmup["warmup_s"], 3),
        "ticks_target_per_s": TICKS_TARGET,
        "ticks_target_met": ticks["ticks_to_candles_per_s"] >= TICKS_TARGET,
        "ticks": ticks,
        "warmup": warmup,
        "symbols": args.symbols,
    }
    _print(summary, args)
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2), encoding="utf-8")
    missed = not summary["ticks_target_met"] or warmup["symbols_loaded"] < args.symbols
    return 1 if args.check and missed else 0


def _print(summary: dict[str, Any], args: argparse.Namespace) -> None:
    ticks, warmup = summary["ticks"], summary["warmup"]
    rounds = ", ".join(f"{r / 1000:.0f} k" for r in ticks["rounds_per_s"])
    rows = [
        ("ticks_to_candles_per_s", f"{summary['ticks_to_candles_per_s']:,}",
         f">= {TICKS_TARGET:,}"),
        ("builder_add_per_s", f"{summary['builder_add_per_s']:,}", ""),
        ("warmup_s", f"{summary['warmup_s']:.2f}",
         f"bound {summary['warmup_bound_s']:.2f}"),
        ("warmup_bound_ratio", f"{summary['warmup_bound_ratio']:.3f}", ""),
        ("symbols loaded", f"{warmup['symbols_loaded']} / {args.symbols}", ""),
        ("candles", f"{warmup['candles']:,}", ""),
        ("rate-limit replies", f"{warmup['rate_limit_replies']}", "0"),
    ]  # fmt: skip
    print(f"{args.symbols} symbols; {ticks['ticks']:,} QUOTE ticks; rounds {rounds}")
    print(f"warm-up at 09:15:00 on a clock at {args.speed:g}x")
    print(f"| {'figure':<24} | {'value':>12} | {'target':<18} |")
    print(f"|{'-' * 26}|{'-' * 14}|{'-' * 20}|")
    for name, value, target in rows:
        print(f"| {name:<24} | {value:>12} | {target:<18} |")


if __name__ == "__main__":
    sys.exit(main())
