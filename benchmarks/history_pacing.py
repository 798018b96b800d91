"""History under the published limits: kit's paced client against the official SDK.

One day of 1-minute candles for 50 symbols from the simulator, with Angel One's
limits enforced (getCandleData: 3 a second, 500 a minute, 5000 an hour, per
client code). The bound is 50 requests at 3 a second. kit's AngelClient paces
itself; the SDK's SmartConnect sends as fast as it can, as a bot built on it
would, against a fresh simulator in the same run.

    python benchmarks/history_pacing.py [--json out.json] [--symbols 50]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pyotp

from kit.broker.client import AngelClient
from kit.broker.http import Transport
from kit.broker.routes import Interval
from kit.broker.session import BrokerSession, Credentials
from kit.clock import IST
from kit.sdk_referee import sdk_connect
from kit.sim.runner import SimConfig, Simulator
from kit.store import SqliteStore

NOW = datetime(2026, 12, 3, 16, 0, tzinfo=IST)  # after the close
DAY = (
    datetime(2026, 12, 3, 9, 15, tzinfo=IST),
    datetime(2026, 12, 3, 15, 29, tzinfo=IST),
)
PER_SECOND = 3


def _tokens(sim: Simulator, count: int) -> list[str]:
    stocks = [i.token for i in sim.market.instruments if not i.is_index]
    return stocks[:count]


def run_kit(count: int) -> dict[str, Any]:
    with Simulator(SimConfig(start=NOW)) as sim, tempfile.TemporaryDirectory() as tmp:
        account = sim.account
        transport = Transport(sim.rest_url, account.api_key)
        journal = SqliteStore(Path(tmp) / "journal.sqlite3", sim.clock)
        credentials = Credentials(
            account.api_key, account.client_code, account.mpin, account.totp_secret
        )
        session = BrokerSession(transport, credentials, journal, sim.clock)
        session.start()
        client = AngelClient(transport, session, clock=sim.clock)
        tokens = _tokens(sim, count)
        limited_before = sim.chaos.counts["rest.rate_limited"]

        started = time.perf_counter()
        frames = [client.candles(t, Interval.ONE_MINUTE, *DAY) for t in tokens]
        elapsed = time.perf_counter() - started

        journal.close()
        return {
            "seconds": round(elapsed, 3),
            "candles": sum(len(f) for f in frames),
            "complete_symbols": sum(len(f) == 375 for f in frames),
            "rate_limit_replies": sim.chaos.counts["rest.rate_limited"]
            - limited_before,
        }


def run_sdk(count: int) -> dict[str, Any]:
    with Simulator(SimConfig(start=NOW)) as sim:
        account = sim.account
        smart = sdk_connect(sim.rest_url, api_key=account.api_key)
        # The SDK logs every failed request with its bearer token (SMARTAPI.md
        # §1); those lines are kept off the terminal.
        logging.getLogger("logzero_default").setLevel(logging.CRITICAL)
        totp = pyotp.TOTP(account.totp_secret).at(sim.clock.time())
        smart.generateSession(account.client_code, account.mpin, totp)
        tokens = _tokens(sim, count)
        limited_before = sim.chaos.counts["rest.rate_limited"]
        complete, candles, errors = 0, 0, 0

        started = time.perf_counter()
        for token in tokens:
            try:
                reply = smart.getCandleData(_sdk_body(token))
            except Exception:  # the SDK raises DataException on the plain-text 403
                errors += 1
                continue
            rows = reply.get("data") or []
            candles += len(rows)
            complete += len(rows) == 375
        elapsed = time.perf_counter() - started

        return {
            "seconds": round(elapsed, 3),
            "candles": candles,
            "complete_symbols": complete,
            "failed_requests": errors,
            "rate_limit_replies": sim.chaos.counts["rest.rate_limited"]
            - limited_before,
        }


def _sdk_body(token: str) -> dict[str, str]:
    return {
        "exchange": "NSE",
        "symboltoken": token,
        "interval": "ONE_MINUTE",
        "fromdate": DAY[0].strftime("%Y-%m-%d %H:%M"),
        "todate": DAY[1].strftime("%Y-%m-%d %H:%M"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--symbols", type=int, default=50)
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args(argv)

    bound_s = args.symbols / PER_SECOND
    kit = run_kit(args.symbols)
    sdk = run_sdk(args.symbols)
    kit["bound_ratio"] = round(bound_s / kit["seconds"], 3)

    print(f"{args.symbols} symbols, a day of 1-minute candles; bound {bound_s:.2f} s")
    print(f"{'client':<8}{'seconds':>9}{'candles':>9}{'complete':>10}{'403s':>6}")
    for name, row in (("kit", kit), ("SDK", sdk)):
        print(
            f"{name:<8}{row['seconds']:>9.2f}{row['candles']:>9}"
            f"{row['complete_symbols']:>10}{row['rate_limit_replies']:>6}"
        )
    ratio = kit["bound_ratio"]
    print(f"kit bound_ratio {ratio:.3f} (target >= 0.85 and no rate-limit reply)")

    summary = {
        "bound_s": round(bound_s, 3),
        "bound_ratio": kit["bound_ratio"],
        "rate_limit_replies": kit["rate_limit_replies"],
        "kit": kit,
        "sdk": sdk,
        "targets_met": kit["bound_ratio"] >= 0.85 and kit["rate_limit_replies"] == 0,
    }
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
