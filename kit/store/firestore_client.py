"""Firestore calls with a deadline: the one place the store touches the client.

Importing this module imports nothing of Google's; building a
:class:`FirestoreCalls` does. Each call passes the same bounded ``retry``
(transient errors only: unavailable, internal, too many requests, deadline
exceeded) and ``timeout``, and translates what the client raises:

- no answer in time, the server unreachable, the transport failing:
  :class:`~kit.errors.StoreUnavailable`;
- a refusal (invalid argument, permission, a missing index): StoreError;
- a value Firestore cannot hold (a list inside a list, an integer over 64
  bits): StoreError, before anything is written.

Messages name the store and the operation; they never hold a document's
values, so a session's tokens cannot reach them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from kit.errors import ConfigurationError, StoreError, StoreUnavailable

logger = logging.getLogger(__name__)

T = TypeVar("T")

_RETRY_INITIAL_S = 0.1
_RETRY_MAXIMUM_S = 1.0
_CREATE_ROUNDS = 3  # batch creates tried again after a conflict

Write = tuple[Any, Mapping[str, Any]]
"""A document reference and the fields to write to it."""


class FirestoreCalls:
    """A Firestore client whose every call is bounded by ``timeout_s``."""

    def __init__(
        self, project: str, database: str | None, timeout_s: float, name: str
    ) -> None:
        if timeout_s <= 0:
            raise ValueError("timeout_s must be > 0")
        self.timeout_s = timeout_s
        self.name = name
        self._closed = False
        try:
            from google.api_core import exceptions, retry  # noqa: PLC0415
            from google.auth import exceptions as auth_exceptions  # noqa: PLC0415
            from google.cloud import firestore  # noqa: PLC0415
        except ImportError as exc:
            raise ConfigurationError(
                "the Firestore store needs google-cloud-firestore: "
                "pip install 'kit[firestore]'",
                field="store_url",
            ) from exc
        self._errors = exceptions
        self._auth_errors = auth_exceptions
        self._firestore = firestore
        self._retry = retry.Retry(
            predicate=retry.if_exception_type(
                exceptions.ServiceUnavailable,
                exceptions.InternalServerError,
                exceptions.TooManyRequests,
                exceptions.DeadlineExceeded,
                auth_exceptions.TransportError,
            ),
            initial=_RETRY_INITIAL_S,
            maximum=_RETRY_MAXIMUM_S,
            multiplier=2.0,
            timeout=timeout_s,
        )
        try:
            self.client: Any = firestore.Client(project=project, database=database)
        except auth_exceptions.DefaultCredentialsError as exc:
            raise ConfigurationError(
                f"{name}: no Google credentials found (set "
                "GOOGLE_APPLICATION_CREDENTIALS, or FIRESTORE_EMULATOR_HOST)",
                field="store_url",
            ) from exc

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.client.close()

    # References and filters (no network).

    def doc(self, collection: str, doc_id: str) -> Any:
        return self.client.collection(collection).document(doc_id)

    def collection(self, name: str) -> Any:
        return self.client.collection(name)

    def field_filter(self, field: str, op: str, value: Any) -> Any:
        return self._firestore.FieldFilter(field, op, value)

    # Single documents.

    def get(self, what: str, ref: Any) -> dict[str, Any] | None:
        snapshot = self._call(what, ref.get)
        return snapshot.to_dict() if snapshot.exists else None

    def set(self, what: str, ref: Any, data: Mapping[str, Any]) -> None:
        self._call(what, ref.set, dict(data))

    def create(self, what: str, ref: Any, data: Mapping[str, Any]) -> bool:
        """Create the document; False when it exists already."""
        try:
            self._call(what, ref.create, dict(data), expected=(self._errors.Conflict,))
        except self._errors.Conflict:
            return False
        return True

    def update(self, what: str, ref: Any, change: Mapping[str, Any]) -> bool:
        """Change fields of the document; False when it does not exist."""
        try:
            self._call(
                what, ref.update, dict(change), expected=(self._errors.NotFound,)
            )
        except self._errors.NotFound:
            return False
        return True

    def delete(self, what: str, ref: Any) -> None:
        self._call(what, ref.delete)

    def query(self, what: str, query: Any) -> list[tuple[str, dict[str, Any]]]:
        """The documents ``query`` finds, as (id, fields), in its order."""
        found = self._call(what, query.get)
        return [(snap.id, snap.to_dict()) for snap in found]

    # Batches.

    def commit_sets(self, what: str, writes: Sequence[Write]) -> None:
        """Set every document in one batch: all are written or none."""
        batch = self.client.batch()
        for ref, data in writes:
            batch.set(ref, dict(data))
        self._call(what, batch.commit)

    def create_missing(self, what: str, writes: Sequence[Write]) -> None:
        """Create the documents that do not exist yet, in one batch; those
        that exist are left as they are."""
        pending = list(writes)
        for _ in range(_CREATE_ROUNDS):
            if not pending:
                return
            batch = self.client.batch()
            for ref, data in pending:
                batch.create(ref, dict(data))
            try:
                self._call(what, batch.commit, expected=(self._errors.Conflict,))
                return
            except self._errors.Conflict:
                refs = [ref for ref, _ in pending]
                there = self._call(what, self._get_all, refs)
                existing = {snap.reference.path for snap in there if snap.exists}
                pending = [(r, d) for r, d in pending if r.path not in existing]
        raise StoreUnavailable(f"{self.name}: {what}: writes kept conflicting")

    def _get_all(self, refs: list[Any], **bound: Any) -> list[Any]:
        return list(self.client.get_all(refs, **bound))

    # Deadline and translation.

    def _call(
        self,
        what: str,
        call: Callable[..., T],
        *args: Any,
        expected: tuple[type[BaseException], ...] = (),
    ) -> T:
        """Run ``call(*args, retry=..., timeout=...)``; errors in ``expected``
        pass untranslated."""
        if self._closed:
            raise StoreUnavailable(f"{self.name}: {what}: the store is closed")
        try:
            return call(*args, retry=self._retry, timeout=self.timeout_s)
        except expected:
            raise
        except Exception as exc:
            translated = self._translated(exc, what)
            if translated is None:
                raise
            raise translated from exc

    def _translated(self, exc: Exception, what: str) -> StoreError | None:
        """The kit's error for a foreign one; None for an error of our own."""
        errors, where = self._errors, f"{self.name}: {what}"
        unavailable = (
            errors.RetryError,
            errors.ServiceUnavailable,
            errors.DeadlineExceeded,
            errors.InternalServerError,
            errors.TooManyRequests,
            self._auth_errors.TransportError,
        )
        if isinstance(exc, unavailable):
            cause = getattr(exc, "cause", None) or exc
            return StoreUnavailable(
                f"{where}: no answer within {self.timeout_s:g} s "
                f"({type(cause).__name__})"
            )
        if isinstance(exc, errors.FailedPrecondition):
            return StoreError(
                f"{where}: refused, a composite index may be missing "
                f"(docs/firestore.md): {_short(exc.message)}"
            )
        if isinstance(exc, errors.GoogleAPICallError):
            return StoreError(
                f"{where}: refused ({type(exc).__name__}: {_short(exc.message)})"
            )
        if isinstance(exc, errors.GoogleAPIError | self._auth_errors.GoogleAuthError):
            return StoreUnavailable(f"{where}: {type(exc).__name__}")
        if isinstance(exc, TypeError | ValueError | OverflowError):
            # The client's message may quote the value: it is left to the chain.
            return StoreError(f"{where}: a value Firestore cannot hold")
        return None


def _short(message: object, limit: int = 300) -> str:
    text = str(message)
    return text if len(text) <= limit else text[: limit - 3] + "..."
