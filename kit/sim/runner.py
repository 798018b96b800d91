"""Run the simulator on loopback, in a background thread or in the foreground.

``Simulator`` starts the aiohttp app on a free port of 127.0.0.1 in a thread of
its own with its own event loop, and stops it cleanly: as a context manager for
tests and the demo. ``serve_forever`` runs it in the foreground for ``kit sim``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType

from aiohttp import web

from kit.clock import IST, Clock, NseCalendar, ScaledClock
from kit.sim.auth import DEFAULT_JWT_LIFETIME_S, Account, AuthService, demo_account
from kit.sim.chaos import Chaos, FaultPlan
from kit.sim.feed import FeedHub
from kit.sim.limits import RateLimiter
from kit.sim.market import Market
from kit.sim.orders import OrderDesk
from kit.sim.server import SimState, build_app

logger = logging.getLogger(__name__)

_MATCH_INTERVAL_S = 1.0  # how often resting orders are matched, simulated seconds


@dataclass(frozen=True)
class SimConfig:
    """How a simulator runs. ``start`` None means now (real time, IST)."""

    seed: int = 7
    speed: float = 1.0
    start: datetime | None = None
    host: str = "127.0.0.1"
    port: int = 0  # 0: a free port
    tick_interval_s: float = 1.0
    rate_limits: bool = True
    account: Account | None = None
    jwt_lifetime_s: float = DEFAULT_JWT_LIFETIME_S  # 24 to 28 h, as Angel One


class Simulator:
    """The Angel One simulator on loopback, with its state open to Python."""

    def __init__(
        self,
        config: SimConfig | None = None,
        *,
        clock: Clock | None = None,
        plan: FaultPlan | None = None,
    ) -> None:
        self.config = config or SimConfig()
        cfg = self.config
        start = cfg.start or datetime.now(IST)
        self.clock = clock or ScaledClock(start, cfg.speed)
        self.account = cfg.account or demo_account()
        self.market = Market(seed=cfg.seed, calendar=NseCalendar())
        self.chaos = Chaos(self.clock, plan)
        self.auth = AuthService(
            self.clock, [self.account], jwt_lifetime_s=cfg.jwt_lifetime_s
        )
        limiter = RateLimiter(self.clock)
        limiter.enabled = cfg.rate_limits
        self.state = SimState(
            clock=self.clock,
            market=self.market,
            auth=self.auth,
            desk=OrderDesk(self.market, self.clock, seed=cfg.seed),
            limiter=limiter,
            chaos=self.chaos,
            feed=FeedHub(
                self.market,
                self.auth,
                self.chaos,
                self.clock,
                tick_interval_s=cfg.tick_interval_s,
            ),
        )
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._matcher: asyncio.Task[None] | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None

    @property
    def rest_url(self) -> str:
        return f"http://{self.config.host}:{self.port}"

    @property
    def feed_url(self) -> str:
        return f"ws://{self.config.host}:{self.port}/smart-stream"

    @property
    def desk(self) -> OrderDesk:
        return self.state.desk

    def start(self, timeout_s: float = 10.0) -> Simulator:
        """Start serving in a background thread; return once it listens."""
        if self._thread is not None:
            raise RuntimeError("the simulator is already running")
        self._thread = threading.Thread(target=self._run, name="kit-sim", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise RuntimeError(f"the simulator did not start within {timeout_s} s")
        if self._failure is not None:
            raise RuntimeError(f"the simulator failed to start: {self._failure}")
        logger.info("Simulator listening on %s", self.rest_url)
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Close every connection, stop the server and join its thread. Idempotent."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if loop.is_running():
            future = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
            with contextlib.suppress(Exception):
                future.result(timeout_s)
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout_s)
        if thread.is_alive():
            logger.warning(
                "Simulator thread %s did not stop in %s s", thread.name, timeout_s
            )
        self._loop = self._thread = None

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._startup())
        except BaseException as exc:  # reported to start()
            self._failure = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    async def _startup(self) -> None:
        self._runner = web.AppRunner(build_app(self.state), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port)
        await site.start()
        server = site._server
        assert server is not None and isinstance(server, asyncio.base_events.Server)
        self.port = server.sockets[0].getsockname()[1]
        self._matcher = asyncio.get_running_loop().create_task(self._match_orders())

    async def _shutdown(self) -> None:
        if self._matcher is not None:
            self._matcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._matcher
        await self.state.feed.close_all()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _match_orders(self) -> None:
        while True:
            await self.clock.sleep_async(_MATCH_INTERVAL_S)
            try:
                self.state.desk.match(self.clock.time())
            except Exception:
                logger.exception("Simulator order matching failed")


def serve_forever(simulator: Simulator) -> None:
    """Run a started ``simulator`` until interrupted (Ctrl-C), then stop it."""
    stop = threading.Event()
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        simulator.stop()
