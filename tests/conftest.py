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


# The Firestore emulator (tests/firestore_emulator.py) -----------------------------
# One per test session: the one .ci/run started (FIRESTORE_EMULATOR_HOST), else
# one started here and stopped at the end. If it cannot be had, every test that
# asks for it fails with the reason: Firestore tests are never skipped.


@pytest.fixture(scope="session")
def firestore_emulator(tmp_path_factory):
    """The emulator's ``HOST:PORT``. Tests set FIRESTORE_EMULATOR_HOST to it
    themselves (monkeypatch) before building a client, and use a fresh
    ``demo-<uuid>`` project each."""
    from tests import firestore_emulator as emulator  # noqa: PLC0415

    host = os.environ.get(emulator.ENV_HOST)
    if host:
        if not emulator.is_ready(host, timeout_s=5.0):
            pytest.fail(
                f"{emulator.ENV_HOST}={host}: no Firestore emulator answers",
                pytrace=False,
            )
        yield host
        return
    log_path = tmp_path_factory.mktemp("firestore-emulator") / "emulator.log"
    try:
        started = emulator.start(log_path)
    except emulator.EmulatorError as exc:
        pytest.fail(f"cannot start the Firestore emulator: {exc}", pytrace=False)
    try:
        yield started.host
    finally:
        emulator.stop(started)
