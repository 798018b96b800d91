"""The kit's stores: the :class:`Store` protocol, the SQLite store, and
:func:`open_store`, which picks one from the settings.

``kit.store.firestore`` is imported only when a Firestore store is opened, so
that the SQLite default never pays for (or needs) google-cloud-firestore.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from kit.clock import Clock
from kit.config import Settings
from kit.errors import ConfigurationError
from kit.store.base import HealthRecord, PositionRecord, Store, TradingMode
from kit.store.sqlite import SqliteStore

__all__ = [
    "HealthRecord",
    "PositionRecord",
    "SqliteStore",
    "Store",
    "TradingMode",
    "open_store",
]


def open_store(settings: Settings, clock: Clock) -> Store:
    """The store ``settings`` name.

    - no ``store_url``: the SQLite store at ``store_path``;
    - ``sqlite:///PATH``: the SQLite store at PATH, relative to the working
      folder (``sqlite:////abs/path`` for an absolute one, as SQLAlchemy reads
      these URLs);
    - ``firestore://PROJECT`` or ``firestore://PROJECT/DATABASE``: Firestore,
      every call bounded by ``store_timeout_s``; the session tokens stay in the
      SQLite file at ``store_path`` unless ``store_tokens_in_cloud``.
    """
    if settings.store_url is None:
        return SqliteStore(settings.store_path, clock)
    url = urlparse(settings.store_url)
    if url.scheme == "sqlite":
        if url.netloc:
            raise ConfigurationError(
                "a sqlite URL has no host: sqlite:///PATH", field="store_url"
            )
        return SqliteStore(Path(unquote(url.path[1:])), clock)
    if url.scheme == "firestore":
        return _open_firestore(settings, url.netloc, url.path.strip("/"), clock)
    raise ConfigurationError(
        "store_url must be firestore://PROJECT or sqlite:///PATH", field="store_url"
    )


def _open_firestore(
    settings: Settings, project: str, database: str, clock: Clock
) -> Store:
    from kit.store.firestore import FirestoreStore  # noqa: PLC0415 -- heavy, optional

    in_cloud = settings.store_tokens_in_cloud
    local = None if in_cloud else SqliteStore(settings.store_path, clock)
    try:
        return FirestoreStore(
            project,
            clock,
            database=database or None,
            timeout_s=settings.store_timeout_s,
            tokens_in_cloud=in_cloud,
            local=local,
        )
    except BaseException:
        if local is not None:
            local.close()
        raise
