"""Fixtures of the Bot's tests: bots started here are stopped after the test,
before the simulators they run on."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from kit.bot import Bot
from kit.config import Settings


@pytest.fixture
def start_bot(simulator: Any) -> Iterator[Callable[..., Bot]]:
    """``Bot.start`` that stops every bot it started when the test ends."""
    started: list[Bot] = []

    def start(settings: Settings, **options: Any) -> Bot:
        bot = Bot.start(settings, **options)
        started.append(bot)
        return bot

    yield start
    for bot in started:
        bot.stop()
    current = Bot.current()
    if current is not None:
        current.stop()
