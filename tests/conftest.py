"""Shared fixtures: every test runs with no KIT_ variables and in an empty folder,
so a developer's own .env or settings never leak into a test."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path_factory) -> None:
    for name in list(os.environ):
        if name.startswith("KIT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


@pytest.fixture
def simulator():
    """A factory of started simulators on loopback, all stopped after the test."""
    from kit.sim.runner import SimConfig, Simulator  # noqa: PLC0415

    started: list[Simulator] = []

    def start(config: SimConfig | None = None, **kwargs: object) -> Simulator:
        sim = Simulator(config, **kwargs).start()  # type: ignore[arg-type]
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()
