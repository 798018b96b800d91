"""The order-safety trial: orders under lost replies, counted by the simulator.

Each order meets, at random, a reply held back past the client's timeout, a 5xx
after the order was taken, a connection cut after the order was taken, a
connection cut before it, a rate-limit refusal or a 5xx before it. kit's
OrderPlacer must place every intent exactly once: the simulator's order book is
counted for duplicates and for orders the journal does not know. The official
SDK's ``placeOrder`` meets the same plan in the same run, with the retry a bot
built on it would write (send again when no order id came back).

    python benchmarks/order_safety.py [--orders 1000] [--json out.json]
"""

from __future__ import annotations

import argparse
import collections
import json
import logging
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pyotp

from kit.broker.orders import OrderRequest
from kit.broker.session import Credentials
from kit.broker.stack import open_stack
from kit.clock import IST
from kit.sdk_referee import sdk_connect
from kit.sim.chaos import Fault, FaultKind, FaultPlan, RandomFault
from kit.sim.runner import SimConfig, Simulator
from kit.store import SqliteStore

START = datetime(2026, 12, 3, 9, 20, tzinfo=IST)
SPEED = 50.0
HELD_S = 60.0  # a held reply: 1.2 s real at 50x, past the 0.5 s read timeout
RATES = {
    FaultKind.LATE_ORDER: 0.08,
    FaultKind.HANDLED_THEN_5XX: 0.08,
    FaultKind.HANDLED_THEN_CUT: 0.08,
    FaultKind.CUT_BEFORE: 0.05,
    FaultKind.RATE_LIMIT: 0.05,
    FaultKind.SERVER_ERROR: 0.04,
}


def plan(seed: int) -> FaultPlan:
    faults = [
        RandomFault(Fault(kind, "place_order", duration_s=HELD_S), rate)
        for kind, rate in RATES.items()
    ]
    return FaultPlan(random=faults, seed=seed)


def _count(sim: Simulator, known: set[str]) -> dict[str, Any]:
    book = sim.desk.order_book(sim.account.client_code) or []
    per_tag = collections.Counter(o["ordertag"] for o in book)
    return {
        "orders_in_book": len(book),
        "duplicate_tags": sum(1 for n in per_tag.values() if n > 1),
        "duplicate_orders": sum(n - 1 for n in per_tag.values() if n > 1),
        "unknown_to_journal": sum(1 for tag in per_tag if tag not in known),
        "faults": {str(k): v for k, v in _faults(sim).items()},
    }


def _faults(sim: Simulator) -> collections.Counter[FaultKind]:
    return collections.Counter(entry.kind for entry in sim.chaos.log)


def run_kit(orders: int, seed: int) -> dict[str, Any]:
    config = SimConfig(start=START, speed=SPEED)
    with (
        Simulator(config, plan=plan(seed)) as sim,
        tempfile.TemporaryDirectory() as tmp,
    ):
        sim.desk.set_cash(sim.account.client_code, 1e12)
        account = sim.account
        creds = Credentials(
            account.api_key, account.client_code, account.mpin, account.totp_secret
        )
        stack = open_stack(
            sim.rest_url, creds,
            SqliteStore(Path(tmp) / "journal.sqlite3", sim.clock), sim.clock,
            read_timeout_s=0.5, pacer_margin_s=0.3,
        )  # fmt: skip
        started = time.perf_counter()
        results = [
            stack.placer.place(OrderRequest("SBIN-EQ", "3045", "BUY", 1))
            for _ in range(orders)
        ]
        elapsed = time.perf_counter() - started
        tags = {r.ordertag for r in results}
        known = {t for t in tags if stack.journal.get_intent(t) is not None}
        stack.close()
        row = _count(sim, known)
        row["outcomes"] = dict(collections.Counter(str(r.outcome) for r in results))
        row["seconds"] = round(elapsed, 1)
        return row


def run_sdk(orders: int, seed: int) -> dict[str, Any]:
    with Simulator(SimConfig(start=START, speed=SPEED), plan=plan(seed)) as sim:
        sim.desk.set_cash(sim.account.client_code, 1e12)
        account = sim.account
        smart = sdk_connect(sim.rest_url, api_key=account.api_key, timeout=0.5)
        # The SDK logs every failed request with its bearer token (SMARTAPI.md
        # §1); those lines are kept off the terminal.
        logging.getLogger("logzero_default").setLevel(logging.CRITICAL)
        totp = pyotp.TOTP(account.totp_secret).at(sim.clock.time())
        smart.generateSession(account.client_code, account.mpin, totp)
        started = time.perf_counter()
        for n in range(orders):
            _sdk_place(smart, f"sdk-{n}")
        elapsed = time.perf_counter() - started
        row = _count(sim, {f"sdk-{n}" for n in range(orders)})
        row["seconds"] = round(elapsed, 1)
        return row


def _sdk_place(smart: Any, tag: str, tries: int = 3) -> None:
    body = {
        "variety": "NORMAL", "tradingsymbol": "SBIN-EQ", "symboltoken": "3045",
        "transactiontype": "BUY", "exchange": "NSE", "ordertype": "MARKET",
        "producttype": "INTRADAY", "duration": "DAY", "price": "0",
        "squareoff": "0", "stoploss": "0", "quantity": "1", "ordertag": tag,
    }  # fmt: skip
    for _ in range(tries):  # what a bot on the SDK does: no order id, send again
        try:
            if smart.placeOrder(dict(body)):
                return
        except Exception:  # timeouts and garbled replies, as a bot sees them
            continue


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--skip-sdk", action="store_true")
    args = parser.parse_args(argv)
    logging.getLogger("kit").setLevel(logging.ERROR)  # a line per lost reply otherwise

    kit = run_kit(args.orders, args.seed)
    sdk = None if args.skip_sdk else run_sdk(args.orders, args.seed)

    print(f"{args.orders} order intents, lost replies at random (seed {args.seed})")
    print(
        f"{'client':<8}{'in book':>9}{'dup tags':>10}{'dup orders':>12}{'unknown':>9}"
    )
    for name, row in (("kit", kit), ("SDK", sdk)):
        if row is None:
            continue
        print(
            f"{name:<8}{row['orders_in_book']:>9}{row['duplicate_tags']:>10}"
            f"{row['duplicate_orders']:>12}{row['unknown_to_journal']:>9}"
        )
    print(f"kit outcomes: {kit['outcomes']}; faults injected: {kit['faults']}")
    if args.json:
        summary = {"orders": args.orders, "seed": args.seed, "kit": kit, "sdk": sdk}
        Path(args.json).write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
