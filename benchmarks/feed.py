"""The market feed, kit's ResilientFeed against the SDK's SmartWebSocketV2.

1. Recovery after a server close (code 1000), ``--drops`` times 3 s apart, on a
   simulator in real time: from the close until every token ticked again.
   kit's stable window is 2 s here, so each drop finds it settled as drops
   minutes apart would. The SDK runs as shipped (1 retry, 10 s delay) and tuned
   (1000 retries, 1 s delay).
2. Recovery after a 120 s silent stall (no data, no pong), on a simulator at
   10x, in simulated seconds: kit's 20 s deadline; the SDK has no pong timeout.
3. Ingest: a server in another process sends LTP frames for 3,000 tokens as
   fast as the sockets take them, over 3 connections of 1,000 (Angel One's
   limit) for both: kit's ticks through its queue to a consumer thread and
   through ``on_tick``; the SDK's through ``on_data``.

    python benchmarks/feed.py [--drops 20] [--stalls 3] [--frames 300000]
                              [--json out.json]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import logging
import multiprocessing
import platform
import queue
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pyotp

from kit.broker import wire
from kit.broker.backoff import BackoffPolicy
from kit.broker.feed import FeedConfig, FeedCredentials, ResilientFeed
from kit.broker.routes import Mode
from kit.clock import IST
from kit.sdk_referee import import_sdk
from kit.sim.chaos import FaultKind
from kit.sim.instruments import NSE_INSTRUMENTS
from kit.sim.runner import SimConfig, Simulator

SESSION = datetime(2026, 12, 3, 10, 0, tzinfo=IST)
TOKENS = [i.token for i in NSE_INSTRUMENTS if i.symbol.endswith("-EQ")][:5]
DROP_SPACING_REAL_S = 3.0
RECOVERY_TIMEOUT_REAL_S = 15.0
STALL_S = 120.0  # simulated
STALL_SPEED = 10.0
_SDK_DIR = tempfile.TemporaryDirectory(prefix="kit-bench-sdk-")
Stop = Callable[[], object]


def credentials(sim: Simulator) -> FeedCredentials:
    account = sim.account
    totp = pyotp.TOTP(account.totp_secret).at(sim.clock.time())
    tokens = sim.auth.login(account.client_code, account.mpin, totp, account.api_key)
    jwt, feed_token = tokens.jwt_token, tokens.feed_token
    return FeedCredentials(jwt, account.api_key, account.client_code, feed_token)


class Arrivals:
    """Every tick's arrival (simulator clock, token), appended by the client."""

    def __init__(self, clock: Any) -> None:
        self.clock = clock
        self.log: list[tuple[float, str]] = []

    def tick(self, token: str) -> None:
        self.log.append((self.clock.time(), token))

    def recovered_after(self, at_s: float) -> float | None:
        """When every token had ticked again after ``at_s``; None: not yet."""
        first: dict[str, float] = {}
        for when_s, token in reversed(self.log):
            if when_s <= at_s:
                break
            first[token] = when_s  # going back: the earliest one stays
        return max(first.values()) if len(first) == len(TOKENS) else None


def kit_feed(sim: Simulator, arrivals: Arrivals, config: FeedConfig) -> Stop:
    """A started ResilientFeed; returns its stop."""
    creds = credentials(sim)
    feed = ResilientFeed(
        sim.feed_url, lambda *, refresh=False: creds, config=config,
        clock=sim.clock, on_tick=lambda tick: arrivals.tick(tick.token),
    )  # fmt: skip
    feed.subscribe(TOKENS)
    feed.start()
    return feed.stop


def sdk_feed(sim: Simulator, arrivals: Arrivals, **retry: Any) -> Stop:
    """A started SmartWebSocketV2; returns its stop."""
    on_data = lambda ws, data: arrivals.tick(data["token"])  # noqa: E731
    sws = start_sdk(sim.feed_url, credentials(sim), TOKENS, on_data, **retry)
    return lambda: stop_sdk(sws)


def start_sdk(
    url: str, creds: FeedCredentials, tokens: list[str], on_data: Any, **retry: Any
) -> Any:
    """A SmartWebSocketV2 on ``url``, subscribing in ``on_open`` (its README's
    pattern), running ``connect()`` in a thread of its own."""
    with contextlib.chdir(_SDK_DIR.name):  # it writes ./logs
        sws = import_sdk().smartWebSocketV2.SmartWebSocketV2(
            creds.jwt, creds.api_key, creds.client_code, creds.feed_token, **retry
        )
    # input_request_dict and current_retry_attempt are class attributes there.
    sws.ROOT_URI, sws.input_request_dict, sws.current_retry_attempt = url, {}, 0
    token_list = [{"exchangeType": 1, "tokens": list(tokens)}]
    sws.on_open = lambda ws: sws.subscribe("bench00001", 1, token_list)
    sws.on_data = on_data
    sws.on_error = sws.on_close = lambda *args: None
    threading.Thread(target=sws.connect, daemon=True).start()
    return sws


def stop_sdk(sws: Any) -> None:
    sws.MAX_RETRY_ATTEMPT = 0  # else close_connection() reconnects
    with contextlib.suppress(Exception):
        sws.close_connection()


def wait_for(predicate: Callable[[], Any], timeout_real_s: float) -> Any:
    deadline = time.monotonic() + timeout_real_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.002)
    return None


LOSSES: dict[str, dict[str, int]] = {}
"""Per client of the close runs: frames the simulator sent, ticks received."""


def recovery_run(
    make: Callable[[Simulator, Arrivals], Stop],
    fault: FaultKind,
    count: int,
    *,
    speed: float,
    spacing_real_s: float,
    name: str = "",
) -> list[float | None]:
    """Recovery times (simulated seconds) of ``count`` faults; None: never.
    With ``name``, the frames sent and the ticks received go to LOSSES."""
    config = SimConfig(start=SESSION, speed=speed, tick_interval_s=0.1)
    times: list[float | None] = []
    with Simulator(config) as sim:
        for token in TOKENS:
            sim.market.tick(token, Mode.LTP, sim.clock.time())
        arrivals = Arrivals(sim.clock)
        stop = make(sim, arrivals)
        wait_for(lambda: arrivals.recovered_after(0.0), RECOVERY_TIMEOUT_REAL_S)
        for n in range(count):
            time.sleep(spacing_real_s)
            times.append(one_fault(sim, arrivals, fault, n + 1))
            if times[-1] is None:
                break  # the client has given up
        stop()
        if name:
            sent = sim.chaos.counts["feed.frames"]
            LOSSES[name] = {"sent": sent, "received": len(arrivals.log)}
    return times


def one_fault(sim: Simulator, arrivals: Arrivals, fault: FaultKind, n: int) -> Any:
    duration_s = STALL_S if fault is FaultKind.SILENT_STALL else 0.0
    sim.chaos.inject(fault, "feed", duration_s=duration_s)
    wait_for(lambda: len(sim.chaos.log) >= n, 5.0)
    at_s = sim.chaos.log[-1].at.timestamp()
    timeout_real_s = RECOVERY_TIMEOUT_REAL_S + duration_s / sim.clock.speed
    recovered = wait_for(lambda: arrivals.recovered_after(at_s), timeout_real_s)
    return None if recovered is None else recovered - at_s


def summary(times: list[float | None], count: int, unit: float = 1.0) -> dict[str, Any]:
    done = sorted(t * unit for t in times if t is not None)
    if not done:
        return {"recovered": 0, "of": count}
    p95 = done[min(len(done) - 1, round(0.95 * (len(done) - 1)))]
    return {
        "recovered": len(done), "of": count, "p50": statistics.median(done),
        "p95": p95, "max": done[-1],
    }  # fmt: skip


def recovery_table(drops: int, stalls: int) -> dict[str, Any]:
    settled = FeedConfig(backoff=BackoffPolicy(stable_window_s=2.0))
    tuned = {"max_retry_attempt": 1000, "retry_delay": 1}
    close: dict[str, Callable[[Simulator, Arrivals], Stop]] = {
        "kit": lambda sim, arr: kit_feed(sim, arr, settled),
        "sdk_as_shipped": sdk_feed,
        "sdk_tuned": lambda sim, arr: sdk_feed(sim, arr, **tuned),
    }
    close_ms = {
        name: summary(recovery_run(make, FaultKind.CLEAN_CLOSE, drops, speed=1.0,
                                   spacing_real_s=DROP_SPACING_REAL_S, name=name),
                      drops, 1000.0)
        for name, make in close.items()
    }  # fmt: skip
    stall: dict[str, tuple[Callable[[Simulator, Arrivals], Stop], int]] = {
        "kit": (lambda sim, arr: kit_feed(sim, arr, FeedConfig()), stalls),
        "sdk": (lambda sim, arr: sdk_feed(sim, arr, **tuned), 1),
    }
    spacing_real_s = 40.0 / STALL_SPEED  # past kit's default 30 s stable window
    stall_s = {
        name: summary(recovery_run(make, FaultKind.SILENT_STALL, count,
                                   speed=STALL_SPEED, spacing_real_s=spacing_real_s),
                      count)
        for name, (make, count) in stall.items()
    }  # fmt: skip
    return {"close_ms": close_ms, "stall_s": stall_s, "ticks_lost": dict(LOSSES)}


def ingest(frames: int) -> dict[str, Any]:
    """Ticks a second over 3 connections of 1,000 tokens, for each client."""
    frames -= frames % 3
    tokens = [str(500_000 + i) for i in range(3000)]
    runs = {"kit_queue": ingest_kit, "kit_callback": ingest_kit, "sdk": ingest_sdk}
    results: dict[str, Any] = {}
    for name, run in runs.items():
        with blaster_process(frames) as url:
            cpu_before, wall_before = time.process_time(), time.perf_counter()
            results[name] = run(url, tokens, Count(frames), name == "kit_queue")
            cpu_s = time.process_time() - cpu_before
            # This process's CPU over the run's wall time: 1.0 is one whole core.
            results[name]["cpu_share"] = cpu_s / (time.perf_counter() - wall_before)
    return results


class Count:
    """Ticks counted from any thread, with the first and last arrival."""

    def __init__(self, expected: int) -> None:
        self.expected, self.n, self.first_s, self.last_s = expected, 0, 0.0, 0.0
        self.lock, self.done = threading.Lock(), threading.Event()

    def add(self, *_: Any) -> None:
        with self.lock:
            now_s, self.n = time.perf_counter(), self.n + 1
            self.first_s, self.last_s = self.first_s or now_s, now_s
            if self.n >= self.expected:
                self.done.set()

    def result(self, connections: int) -> dict[str, Any]:
        elapsed_s = max(self.last_s - self.first_s, 1e-9)
        return {"frames": self.n, "seconds": elapsed_s,
                "per_s": self.n / elapsed_s, "connections": connections}  # fmt: skip


def ingest_kit(url: str, tokens: list[str], count: Count, use_queue: bool) -> Any:
    """kit's ticks taken off its queue by this thread, or counted in on_tick."""
    creds = FeedCredentials("jwt", "key", "client", "feed")
    config = FeedConfig(queue_maxsize=count.expected)
    on_tick = None if use_queue else count.add
    feed = ResilientFeed(url, lambda *, refresh=False: creds, config=config,
                         on_tick=on_tick)  # fmt: skip
    feed.subscribe(tokens)
    feed.start()
    while use_queue and count.n < count.expected:
        try:
            count.add(feed.ticks.get(timeout=5.0))
        except queue.Empty:
            break
    count.done.wait(0.0 if use_queue else 60.0)
    connections = len(feed.status().connections)
    feed.stop()
    return count.result(connections)


def ingest_sdk(url: str, tokens: list[str], count: Count, _: bool) -> Any:
    """Three SmartWebSocketV2 of 1,000 tokens each (its limit), counting on_data."""
    creds = FeedCredentials("jwt", "key", "client", "feed")
    clients = [
        start_sdk(url, creds, tokens[i : i + 1000], count.add)
        for i in range(0, len(tokens), 1000)
    ]
    count.done.wait(60.0)
    for sws in clients:
        stop_sdk(sws)
    return count.result(len(clients))


@contextlib.contextmanager
def blaster_process(frames: int) -> Iterator[str]:
    """A Blaster in a process of its own: it takes no GIL from the client."""
    context = multiprocessing.get_context("fork")
    urls = context.Queue()
    process = context.Process(target=_blast, args=(frames, urls), daemon=True)
    process.start()
    try:
        yield urls.get(timeout=10.0)
    finally:
        process.terminate()
        process.join(5.0)


def _blast(frames: int, urls: Any) -> None:
    with Blaster(frames) as blaster:
        urls.put(blaster.url)
        threading.Event().wait()  # until terminated


# The ingest server.

_WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Blaster:
    """A loopback WebSocket server that answers each subscribe with a burst.

    A request for ``n`` of ``total_tokens`` tokens gets ``n / total_tokens`` of
    ``total_frames`` LTP frames, sent with one ``sendall``; the client's pings
    and closes are read and ignored.
    """

    def __init__(self, total_frames: int, total_tokens: int = 3000) -> None:
        self.total_frames, self.total_tokens = total_frames, total_tokens
        self._server = socket.create_server(("127.0.0.1", 0))
        self.url = f"ws://127.0.0.1:{self._server.getsockname()[1]}/smart-stream"

    def __enter__(self) -> Blaster:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.close()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self._server.accept()
                threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError, ValueError):
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(4096)
            head, rest = data.split(b"\r\n\r\n", 1)
            key = next(line.split(":", 1)[1].strip()
                       for line in head.decode().split("\r\n")
                       if line.lower().startswith("sec-websocket-key"))  # fmt: skip
            accept = base64.b64encode(hashlib.sha1((key + _WS_GUID).encode()).digest())
            conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                         b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept
                         + b"\r\n\r\n")  # fmt: skip
            request = json.loads(_first_frame(conn, rest))  # the subscribe
            entries = request["params"]["tokenList"]
            tokens = [token for entry in entries for token in entry["tokens"]]
            count = self.total_frames * len(tokens) // self.total_tokens
            conn.sendall(_burst(tokens, count))
            while conn.recv(65536):  # pings and the close, unread
                pass


def _first_frame(conn: socket.socket, data: bytes) -> bytes:
    """The payload of the client's first frame (masked, as clients send)."""
    while True:
        if len(data) >= 2:
            length, start = data[1] & 0x7F, 2
            if length >= 126:
                size = 2 if length == 126 else 8
                length = int.from_bytes(data[2 : 2 + size], "big")
                start += size
            if len(data) >= start + 4 + length:
                break
        data += conn.recv(65536)
    mask, payload = data[start : start + 4], data[start + 4 : start + 4 + length]
    return bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def _burst(tokens: list[str], count: int) -> bytes:
    """``count`` WebSocket binary frames of LTP ticks, cycling over ``tokens``."""
    ts_ms = int(SESSION.timestamp() * 1000)
    frames = [
        b"\x82\x33" + wire.encode(wire.LtpTick(1, 1, token, 1, ts_ms, 100.0))
        for token in tokens
    ]
    return b"".join(frames[i % len(frames)] for i in range(count))


def headline(figures: dict[str, Any]) -> dict[str, Any]:
    """The issue's figures: seconds, None where a client never recovered."""
    close, stall = figures["recovery"]["close_ms"], figures["recovery"]["stall_s"]

    def p95_s(row: dict[str, Any], unit: float) -> float | None:
        return row["p95"] / unit if row.get("recovered") else None

    lost = figures["recovery"]["ticks_lost"].get("kit", {})
    return {
        "recovery_p95_s": p95_s(close["kit"], 1000.0),
        "stall_recovery_s": p95_s(stall["kit"], 1.0),
        "ingest_ticks_per_s": figures["ingest"]["kit_queue"]["per_s"],
        "ingest_cpu_share": figures["ingest"]["kit_queue"]["cpu_share"],
        "ticks_lost": lost.get("sent", 0) - lost.get("received", 0),
        "sdk_recovery_p95_s": p95_s(close["sdk_as_shipped"], 1000.0),
        "sdk_tuned_recovery_p95_s": p95_s(close["sdk_tuned"], 1000.0),
        "sdk_stall_recovery_s": p95_s(stall["sdk"], 1.0),
    }


def print_tables(figures: dict[str, Any]) -> None:
    recovery = figures["recovery"]
    titles = {
        "close_ms": "Recovery after a server close (ms):",
        "stall_s": f"Recovery after a {STALL_S:.0f} s silent stall (sim s):",
    }
    for key, title in titles.items():
        print(title)
        for name, row in recovery[key].items():
            text = f"recovered {row['recovered']}/{row['of']}"
            if row["recovered"]:
                text += f"  p50 {row['p50']:.1f}  p95 {row['p95']:.1f}"
            print(f"  {name:15} {text}  max {row.get('max', 0):.1f}")
    for name, row in figures["recovery"]["ticks_lost"].items():
        lost = row["sent"] - row["received"]
        print(f"  {name:15} frames sent {row['sent']:,}, received {row['received']:,}"
              f", lost {lost:,} across the drops")  # fmt: skip
    print("Ingest, LTP frames for 3,000 tokens:")
    for name, row in figures["ingest"].items():
        print(f"  {name:15} {row['per_s']:>10,.0f} frames/s  ({row['frames']:,} "
              f"frames, {row['connections']} connections, "
              f"CPU {row['cpu_share']:.0%} of a core)")  # fmt: skip
    for key in ("recovery_p95_s", "stall_recovery_s", "sdk_recovery_p95_s",
                "sdk_stall_recovery_s"):  # fmt: skip
        if figures[key] is None:
            print(f"{key}: null (the client never recovered within the timeout)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--drops", type=int, default=20)
    parser.add_argument("--stalls", type=int, default=3)
    parser.add_argument("--frames", type=int, default=300_000)
    parser.add_argument("--json", dest="json_path")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.CRITICAL)

    figures = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "recovery": recovery_table(args.drops, args.stalls),
        "ingest": ingest(args.frames),
    }
    figures.update(headline(figures))
    print_tables(figures)
    if args.json_path:
        with open(args.json_path, "w", encoding="utf-8") as out:
            json.dump(figures, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
