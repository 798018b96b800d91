"""Fixtures of the store contract suite: every test that takes ``stores`` runs
once on a fresh SQLite file and once on a fresh Firestore project of the
emulator (``demo-<uuid>``, so tests never see each other's documents)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from kit.clock import ManualClock
from kit.store import SqliteStore, Store
from tests.firestore_emulator import ENV_HOST
from tests.store.samples import START


@dataclass
class Stores:
    """Opens stores of one kind; every one is closed after the test.

    ``open()`` opens the same store again (same file or project), as a restart
    would; ``fresh()`` one that shares nothing with it.
    """

    kind: str
    clock: ManualClock
    folder: Path
    host: str | None
    opened: list[Any] = field(default_factory=list)
    project: str = field(default_factory=lambda: f"demo-{uuid.uuid4().hex[:20]}")

    def open(self, **options: Any) -> Store:
        store: Store
        if self.kind == "sqlite":
            store = SqliteStore(self.folder / "kit.sqlite3", self.clock)
        else:
            store = self.firestore(**options)
        self.opened.append(store)
        return store

    def firestore(
        self,
        *,
        project: str | None = None,
        timeout_s: float = 10.0,
        tokens_in_cloud: bool = False,
    ) -> Any:
        from kit.store.firestore import FirestoreStore  # noqa: PLC0415

        assert self.host is not None, "Firestore tests need the emulator"
        local = None
        if not tokens_in_cloud:
            local = SqliteStore(self.folder / "tokens.sqlite3", self.clock)
        store = FirestoreStore(
            project or self.project,
            self.clock,
            timeout_s=timeout_s,
            tokens_in_cloud=tokens_in_cloud,
            local=local,
        )
        self.opened.append(store)
        return store

    def close_all(self) -> None:
        for store in self.opened:
            store.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture(scope="session")
def warm_emulator(firestore_emulator) -> str:
    """The emulator's host, after one call: the JVM's first answer takes a
    second or two, which must not count against a test's short deadline."""
    from kit.store.firestore import FirestoreStore  # noqa: PLC0415

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(ENV_HOST, firestore_emulator)
        store = FirestoreStore(
            "demo-warm-up", ManualClock(START), timeout_s=30.0, tokens_in_cloud=True
        )
        try:
            store.ping()
            store.save_state("warm", {"up": True})
        finally:
            store.close()
    return str(firestore_emulator)


@pytest.fixture(
    params=[
        pytest.param("sqlite"),
        pytest.param("firestore", marks=pytest.mark.firestore),
    ]
)
def stores(request, clock, tmp_path, monkeypatch) -> Iterator[Stores]:
    host = None
    if request.param == "firestore":
        host = request.getfixturevalue("warm_emulator")
        monkeypatch.setenv(ENV_HOST, host)
    opened = Stores(request.param, clock, tmp_path, host)
    yield opened
    opened.close_all()


@pytest.fixture
def store(stores: Stores) -> Store:
    """A fresh, empty store of the kind under test."""
    return stores.open()


@pytest.fixture
def emulator_env(warm_emulator, monkeypatch) -> str:
    """FIRESTORE_EMULATOR_HOST set for a Firestore-only test; the host."""
    monkeypatch.setenv(ENV_HOST, warm_emulator)
    return warm_emulator
