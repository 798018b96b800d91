"""Secret hygiene for logs: registered secrets and token shapes masked everywhere.

The kit never writes a secret into a log line or an exception message on
purpose; this module is the net under that rule, for the line someone writes
carelessly and for text the kit does not control (a foreign exception quoting a
header, a reply echoed at DEBUG). It masks:

- every registered value (API key, client code, MPIN, TOTP secret and codes,
  JWT, refresh and feed tokens), replaced by :data:`MASK`;
- anything shaped like a JWT (``eyJ...`` ``.eyJ...`` ``.signature``), registered
  or not;
- whatever follows ``Bearer``, registered or not.

Registered values of :data:`MIN_SECRET_CHARS` or more are masked wherever they
occur, even inside a longer word. Eight characters is where chance matches stop:
shorter strings (a 4-digit PIN, a 6-digit TOTP, a client code such as
``A123456``) also occur as prices, quantities, order ids and words, and masking
every such occurrence would blind the logs. :func:`register` therefore ignores
shorter values unless the caller lowers ``min_chars`` (never below
:data:`SHORT_SECRET_MIN_CHARS`), and such short values are masked only as whole
tokens: ``1234`` is masked in ``pin=1234`` but not in ``order 912345``.

A record is masked in its formatted message (and its arguments, which are then
dropped), in its exception text (the traceback with every chained exception's
message, rendered once and kept as ``exc_text``; ``exc_info`` is then dropped so
no handler renders the raw exception again), in its stack text and in every
string attribute passed as ``extra``.

:func:`install` puts :class:`SecretFilter` on the root logger's handlers and on
the ``kit`` logger, and wraps the log-record factory. The last is what makes it
thorough: a filter on a logger sees only the records logged on that very logger
(not those of ``kit.broker.http``), and a filter on a handler misses handlers
added later (by a notebook, by papermill); the factory masks every record as it
is made, whichever logger made it.

It lives at the top of the package, not under ``broker/``, because settings,
the feed, the store and the notebooks all hold secrets worth masking.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any, Protocol

MASK = "***"
MIN_SECRET_CHARS = 8
SHORT_SECRET_MIN_CHARS = 4

_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_BEARER = re.compile(r"(\bbearer\s+)[^\s\"',;)}\]]+", re.IGNORECASE)
_WORD_CHAR = "A-Za-z0-9"

# LogRecord attributes that come from code, never from data: left as they are.
_CODE_FIELDS = frozenset(
    {
        "name",
        "levelname",
        "pathname",
        "filename",
        "module",
        "funcName",
        "threadName",
        "processName",
        "taskName",
        "msg",
    }
)


class _HasSecrets(Protocol):
    def secret_values(self) -> list[str]: ...


class SecretRegistry:
    """The set of secret strings to mask, and the masking itself. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._long: set[str] = set()
        self._short: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def register(self, *values: str | None, min_chars: int = MIN_SECRET_CHARS) -> None:
        """Mask ``values`` from now on; empty values and ones under ``min_chars``
        characters are ignored (see the module docstring for the lengths)."""
        if min_chars < SHORT_SECRET_MIN_CHARS:
            raise ValueError(
                f"min_chars must be at least {SHORT_SECRET_MIN_CHARS}: shorter "
                "values would mask ordinary text"
            )
        fresh = {v.strip() for v in values if v and len(v.strip()) >= min_chars}
        with self._lock:
            known = self._long | self._short
            new = fresh - known
            if not new:
                return
            for value in new:
                target = self._long if len(value) >= MIN_SECRET_CHARS else self._short
                target.add(value)
            self._pattern = _compile(self._long, self._short)

    def forget(self, *values: str) -> None:
        """Stop masking ``values`` (a token that was replaced long ago)."""
        with self._lock:
            self._long.difference_update(values)
            self._short.difference_update(values)
            self._pattern = _compile(self._long, self._short)

    def clear(self) -> None:
        """Forget every registered value; the JWT and Bearer shapes stay masked."""
        with self._lock:
            self._long.clear()
            self._short.clear()
            self._pattern = None

    def mask(self, text: str) -> str:
        """``text`` with every secret and every token shape replaced by the mask."""
        pattern = self._pattern
        if pattern is not None:
            text = pattern.sub(MASK, text)
        text = _JWT.sub(MASK, text)
        return _BEARER.sub(rf"\g<1>{MASK}", text)


def _compile(long: Iterable[str], short: Iterable[str]) -> re.Pattern[str] | None:
    # Longest first, so a secret that contains another is masked whole.
    parts = [re.escape(v) for v in sorted(long, key=len, reverse=True)]
    whole = [re.escape(v) for v in sorted(short, key=len, reverse=True)]
    if whole:
        edge_before, edge_after = f"(?<![{_WORD_CHAR}])", f"(?![{_WORD_CHAR}])"
        parts.append(f"{edge_before}(?:{'|'.join(whole)}){edge_after}")
    return re.compile("|".join(parts)) if parts else None


class SecretFilter(logging.Filter):
    """Masks the secrets of a :class:`SecretRegistry` in every record it sees.

    It never drops a record; it rewrites it in place (see the module docstring).
    """

    def __init__(self, registry: SecretRegistry | None = None) -> None:
        super().__init__()
        self.registry = registry or REGISTRY
        self._formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        self.scrub(record)
        return True

    def scrub(self, record: logging.LogRecord) -> None:
        """Mask ``record``'s message, exception and stack text, and string extras."""
        mask = self.registry.mask
        try:
            message = record.getMessage()
        except Exception:  # arguments that do not fit the format: keep both, masked
            message = f"{record.msg} {record.args!r}"
        record.msg, record.args = mask(message), None

        if record.exc_info:
            if not record.exc_text:
                record.exc_text = self._formatter.formatException(record.exc_info)
            record.exc_info = None
        for key, value in list(vars(record).items()):
            if isinstance(value, str) and key not in _CODE_FIELDS:
                setattr(record, key, mask(value))


REGISTRY = SecretRegistry()
"""The kit's registry: what :func:`register` adds to and :func:`mask` uses."""

_install_lock = threading.Lock()
_installed: list[tuple[logging.Filterer, SecretFilter]] = []
_factory_state: dict[str, Callable[..., logging.LogRecord]] = {}


def register(*values: str | None, min_chars: int = MIN_SECRET_CHARS) -> None:
    """Mask ``values`` in every log record from now on (see :class:`SecretRegistry`)."""
    REGISTRY.register(*values, min_chars=min_chars)


def register_settings(settings: _HasSecrets) -> None:
    """Register the credentials of :class:`~kit.config.Settings`.

    All of them are secrets by declaration, so the short ones (client code,
    MPIN) are registered too, as whole tokens.
    """
    REGISTRY.register(*settings.secret_values(), min_chars=SHORT_SECRET_MIN_CHARS)


def mask(text: str) -> str:
    """``text`` with every registered secret and token shape masked."""
    return REGISTRY.mask(text)


def install(logger_name: str = "kit") -> SecretFilter:
    """Mask secrets in every record from now on. Idempotent.

    Adds the filter to the root logger's handlers and to ``logger_name``'s
    logger and handlers, and wraps the log-record factory. Calling it again
    after new handlers were added covers those too.
    """
    with _install_lock:
        secret_filter = _current_filter()
        root = logging.getLogger()
        named = logging.getLogger(logger_name)
        targets: list[logging.Filterer] = [*root.handlers, named, *named.handlers]
        for target in targets:
            if secret_filter not in target.filters:
                target.addFilter(secret_filter)
                _installed.append((target, secret_filter))
        _wrap_record_factory(secret_filter)
        return secret_filter


def uninstall() -> None:
    """Undo :func:`install` (for tests); the registry is left as it is."""
    with _install_lock:
        for target, secret_filter in _installed:
            target.removeFilter(secret_filter)
        _installed.clear()
        previous = _factory_state.pop("previous", None)
        ours = _factory_state.pop("ours", None)
        if previous is not None and logging.getLogRecordFactory() is ours:
            logging.setLogRecordFactory(previous)


def _current_filter() -> SecretFilter:
    for _, secret_filter in _installed:
        return secret_filter
    return SecretFilter()


def _wrap_record_factory(secret_filter: SecretFilter) -> None:
    if "ours" in _factory_state:
        return
    previous = logging.getLogRecordFactory()

    def masked_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        secret_filter.scrub(record)
        return record

    _factory_state["previous"] = previous
    _factory_state["ours"] = masked_record
    logging.setLogRecordFactory(masked_record)
