"""Decode speed of kit.broker.wire against the official SDK, in one run.

Both decoders read the same pre-built frames per mode (50 tokens, random prices
and sizes, best-5 buys flagged 1 and sells 0 as Angel One sends them). Rounds
alternate kit and SDK so that a noisy neighbour hurts both alike; each figure is
the median over the rounds, with the garbage collector off inside the timed loops.

    python benchmarks/decode.py                      # the table
    python benchmarks/decode.py --json out.json      # and the figures as JSON
    python benchmarks/decode.py --check              # exit 1 when a target is missed

The SDK is imported through kit.sdk_referee (no network lookup, private working
directory); install it with the ``test`` extra.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from kit.broker import wire
from kit.sdk_referee import sdk_websocket

TARGETS = {"ltp_ratio": 5.0, "snap_quote_ratio": 7.0}
MODES = {1: "ltp", 2: "quote", 3: "snap_quote", 4: "depth"}


def make_frames(mode: int, count: int, seed: int) -> list[bytes]:
    """``count`` distinct frames of one mode, from a seeded random market."""
    rng = random.Random(seed)
    tokens = [str(rng.randint(1, 99_999)) for _ in range(50)]
    return [
        wire.encode(_random_tick(rng, mode, rng.choice(tokens))) for _ in range(count)
    ]


def _random_tick(rng: random.Random, mode: int, token: str) -> wire.Tick:
    price = round(rng.uniform(10, 5000), 2)
    ts_ms = 1_764_733_500_000 + rng.randint(0, 22_500_000)
    seq = rng.randint(1, 10**9)

    def near(depth: int, sign: int) -> tuple[float, ...]:
        return tuple(round(price + sign * 0.05 * (i + 1), 2) for i in range(depth))

    def sizes(depth: int) -> tuple[int, ...]:
        return tuple(rng.randint(1, 50_000) for _ in range(depth))

    def orders(depth: int) -> tuple[int, ...]:
        return tuple(rng.randint(1, 500) for _ in range(depth))

    if mode == 4:
        return wire.DepthTick(
            4, 1, token, ts_ms, ts_ms + 3, near(20, -1), sizes(20), orders(20),
            near(20, 1), sizes(20), orders(20),
        )  # fmt: skip
    if mode == 1:
        return wire.LtpTick(1, 1, token, seq, ts_ms, price)
    quote = (
        rng.randint(1, 500), round(price * 0.999, 2), rng.randint(0, 10**8),
        float(rng.randint(0, 10**6)), float(rng.randint(0, 10**6)),
        round(price * 0.99, 2), round(price * 1.01, 2), round(price * 0.98, 2),
        round(price * 1.002, 2),
    )  # fmt: skip
    if mode == 2:
        return wire.QuoteTick(2, 1, token, seq, ts_ms, price, *quote)
    return wire.SnapQuoteTick(
        3, 1, token, seq, ts_ms, price, *quote, ts_ms // 1000, rng.randint(0, 10**7),
        0.0, near(5, -1), sizes(5), orders(5), near(5, 1), sizes(5), orders(5),
        round(price * 1.2, 2), round(price * 0.8, 2), round(price * 1.5, 2),
        round(price * 0.5, 2),
    )  # fmt: skip


def _fps(decoder: Callable[[bytes], Any], frames: Sequence[bytes]) -> float:
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        for frame in frames:
            decoder(frame)
        elapsed = time.perf_counter() - start
    finally:
        gc.enable()
    return len(frames) / elapsed


def _sanity(sdk_parse: Callable[[bytes], dict[str, Any]], frames: list[bytes]) -> None:
    # Both decoders must read the same frame the same way before timing means much.
    for frame in frames[:100]:
        ours, theirs = wire.decode(frame), sdk_parse(frame)
        assert ours.token == theirs["token"], (ours, theirs)
        if isinstance(ours, wire.SnapQuoteTick):
            best_bid = theirs["best_5_buy_data"][0]["price"]
            assert round(ours.bid_prices[0] * 100) == best_bid
        if not isinstance(ours, wire.DepthTick):
            assert round(ours.ltp * 100) == theirs["last_traded_price"]


def run(count: int, rounds: int, seed: int) -> dict[str, Any]:
    sdk_parse = sdk_websocket()._parse_binary_data
    results: dict[str, Any] = {}
    for mode, name in MODES.items():
        frames = make_frames(mode, count, seed + mode)
        _sanity(sdk_parse, frames)
        kit_runs: list[float] = []
        sdk_runs: list[float] = []
        for i in range(rounds):
            pair = [(kit_runs, wire.decode), (sdk_runs, sdk_parse)]
            for runs, decoder in pair if i % 2 == 0 else reversed(pair):
                runs.append(_fps(decoder, frames))
        kit_fps, sdk_fps = statistics.median(kit_runs), statistics.median(sdk_runs)
        results[name] = {
            "frame_bytes": len(frames[0]),
            "kit_fps": round(kit_fps),
            "sdk_fps": round(sdk_fps),
            "ratio": round(kit_fps / sdk_fps, 2),
            "kit_runs_fps": [round(x) for x in kit_runs],
            "sdk_runs_fps": [round(x) for x in sdk_runs],
        }
    return results


def _machine() -> dict[str, Any]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "loadavg_at_start": load,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=100_000, help="frames per mode")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds each")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--json", metavar="PATH", help="write the figures here")
    parser.add_argument("--check", action="store_true", help="exit 1 on a miss")
    args = parser.parse_args(argv)

    machine = _machine()
    results = run(args.frames, args.rounds, args.seed)

    print(f"{args.frames:,} frames per mode, median of {args.rounds} rounds")
    print(
        f"Python {machine['python']} on {machine['platform']}, {machine['cpus']} CPUs"
    )
    print(f"{'mode':<12}{'bytes':>6}{'kit fps':>12}{'SDK fps':>12}{'kit/SDK':>9}")
    for name, row in results.items():
        print(
            f"{name:<12}{row['frame_bytes']:>6}{row['kit_fps']:>12,}"
            f"{row['sdk_fps']:>12,}{row['ratio']:>8.2f}x"
        )

    summary: dict[str, Any] = {
        f"{name}_ratio": row["ratio"] for name, row in results.items()
    }
    missed = [k for k, target in TARGETS.items() if summary[k] < target]
    summary.update(
        targets=TARGETS,
        targets_met=not missed,
        frames=args.frames,
        rounds=args.rounds,
        machine=machine,
        modes=results,
    )
    for key in missed:
        print(f"target missed: {key} {summary[key]} < {TARGETS[key]}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(summary, out, indent=2)
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
