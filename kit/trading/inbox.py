"""Work for the engine thread, asked from any other thread.

The engine thread is the one owner of candles, positions and the trading
state (DESIGN.md, data flow). A notebook's button or chart that needs one of
them does not touch it: it posts a function here and, if it needs the answer,
waits on the returned future. The engine runs what is posted at the start of
each step, in order, so an answer comes within one step (a few milliseconds).
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")


class EngineInbox:
    """A queue of functions run on the engine thread; see the module."""

    def __init__(self) -> None:
        self._work: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = (
            queue.SimpleQueue()
        )

    def post(self, work: Callable[[], T]) -> Future[T]:
        """Run ``work`` on the engine thread; its result (or error) in the future."""
        done: Future[T] = Future()
        self._work.put((work, done))
        return done

    def drain(self) -> int:
        """Run what was posted (on the engine thread); how many ran."""
        ran = 0
        while True:
            try:
                work, done = self._work.get_nowait()
            except queue.Empty:
                return ran
            ran += 1
            if not done.set_running_or_notify_cancel():
                continue
            try:
                done.set_result(work())
            except Exception as exc:  # the asker gets it; the engine goes on
                logger.warning("Engine: posted work failed: %s", exc)
                done.set_exception(exc)

    def cancel_all(self) -> None:
        """Fail what is still waiting (the engine stopped)."""
        while True:
            try:
                _, done = self._work.get_nowait()
            except queue.Empty:
                return
            if done.set_running_or_notify_cancel():
                done.set_exception(RuntimeError("the engine stopped"))
