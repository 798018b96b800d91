"""open_store: the store the settings name."""

from __future__ import annotations

from pathlib import Path

import pytest

from kit.config import Settings
from kit.errors import ConfigurationError
from kit.store import SqliteStore, open_store


def test_no_url_opens_the_sqlite_file_at_store_path(tmp_path, clock):
    store = open_store(Settings(store_path=tmp_path / "a" / "kit.sqlite3"), clock)

    assert isinstance(store, SqliteStore)
    assert store.path == tmp_path / "a" / "kit.sqlite3" and store.path.exists()
    store.close()


def test_sqlite_urls_read_as_sqlalchemy_does(tmp_path, clock):
    relative = open_store(Settings(store_url="sqlite:///data/kit.sqlite3"), clock)
    absolute = open_store(Settings(store_url=f"sqlite:///{tmp_path}/b.sqlite3"), clock)

    assert relative.name == "sqlite:data/kit.sqlite3"
    assert Path("data/kit.sqlite3").exists()  # in the test's own working folder
    assert absolute.name == f"sqlite:{tmp_path}/b.sqlite3"
    relative.close()
    absolute.close()


def test_a_sqlite_url_with_a_host_is_refused(clock):
    with pytest.raises(ConfigurationError, match="no host"):
        open_store(Settings(store_url="sqlite://somehost/kit.sqlite3"), clock)


@pytest.mark.firestore
def test_a_firestore_url_keeps_tokens_in_the_local_file_by_default(
    emulator_env, tmp_path, clock
):
    settings = Settings(
        store_url="firestore://demo-open-store",
        store_path=tmp_path / "tokens.sqlite3",
        store_timeout_s=3.5,
    )

    store = open_store(settings, clock)

    assert store.name == "firestore:demo-open-store"
    assert (store.timeout_s, store.tokens_in_cloud) == (3.5, False)
    assert (tmp_path / "tokens.sqlite3").exists()
    store.ping()
    store.close()


@pytest.mark.firestore
def test_a_firestore_url_may_name_a_database_and_opt_in_to_cloud_tokens(
    emulator_env, tmp_path, clock
):
    settings = Settings(
        store_url="firestore://demo-open-store/kit-db",
        store_path=tmp_path / "tokens.sqlite3",
        store_tokens_in_cloud=True,
    )

    store = open_store(settings, clock)

    assert store.name == "firestore:demo-open-store/kit-db"
    assert store.database == "kit-db" and store.tokens_in_cloud
    assert not (tmp_path / "tokens.sqlite3").exists()
    store.close()
