"""The store in Google Cloud Firestore, for a bot run in the cloud or watched
from a dashboard.

``google-cloud-firestore`` (the ``firestore`` extra) is imported when a
:class:`FirestoreStore` is built, never by ``import kit.store``. Every call
passes an explicit ``retry`` (transient errors only, bounded by ``timeout_s``)
and ``timeout``: a store that does not answer raises
:class:`~kit.errors.StoreUnavailable` within about ``timeout_s`` instead of the
client's default five minutes. Other refusals are
:class:`~kit.errors.StoreError`; a query whose composite index is missing names
the index in its message.

The session's tokens (JWT, refresh and feed token) stay in the local
:class:`~kit.store.sqlite.SqliteStore` unless ``tokens_in_cloud``: Firestore
then keeps the session's metadata only (client code and times). Tokens never
appear in a log line or an error.

Collections (one document per record; ids percent-encoded, parts joined by ``:``)::

    order_intents/{ordertag}          ordertag, created_at, body (map), state,
                                      orderid, detail, updated_at, write_id
    broker_sessions/{sha256(client)}  client_code, issued_at, jwt_expires_at,
                                      logged_in_at, tokens_in_cloud
                                      (+ jwt, refresh_token, feed_token if opted in)
    positions/{mode}:{symbol}         the fields of PositionRecord
    state/{name}                      name, data (the JSON text)
    candles/{token}:{start_us}        token, start (timestamp), start_us, open,
                                      high, low, close, volume, provenance,
                                      volume_basis, ticks
    events/{id}                       at (timestamp), sort_key, kind, severity,
                                      text, fields (map)
    health/{at_us}                    at (timestamp), at_us, grade, data (map)

``sort_key`` is the event's time in epoch microseconds (17 digits), ``-``, and
a write sequence, so events of the same instant keep the order they were
written in. Composite indexes the queries need (the emulator checks none, the
cloud refuses a query without its index; paste into ``firestore.indexes.json``
and deploy with ``firebase deploy --only firestore:indexes``)::

    {"indexes": [
      {"collectionGroup": "events", "queryScope": "COLLECTION", "fields": [
        {"fieldPath": "kind", "order": "ASCENDING"},
        {"fieldPath": "sort_key", "order": "ASCENDING"}]},
      {"collectionGroup": "events", "queryScope": "COLLECTION", "fields": [
        {"fieldPath": "kind", "order": "ASCENDING"},
        {"fieldPath": "sort_key", "order": "DESCENDING"}]},
      {"collectionGroup": "candles", "queryScope": "COLLECTION", "fields": [
        {"fieldPath": "token", "order": "ASCENDING"},
        {"fieldPath": "start", "order": "ASCENDING"}]},
      {"collectionGroup": "order_intents", "queryScope": "COLLECTION", "fields": [
        {"fieldPath": "state", "order": "ASCENDING"},
        {"fieldPath": "created_at", "order": "ASCENDING"}]}
    ], "fieldOverrides": []}

Health by ``at`` and events by time alone use Firestore's automatic
single-field indexes. ``docs/firestore.md`` says the same at more length.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from kit.broker.journal import (
    UNRESOLVED_STATES,
    IntentState,
    OrderIntent,
    StoredSession,
)
from kit.clock import Clock
from kit.errors import ConfigurationError
from kit.market.candles import Candle
from kit.ops.events import ActivityEvent
from kit.store import firestore_docs as docs
from kit.store import records
from kit.store.base import HealthRecord, PositionRecord, TradingMode
from kit.store.firestore_client import FirestoreCalls
from kit.store.sqlite import SqliteStore

logger = logging.getLogger(__name__)

BATCH_MAX_WRITES = 500
"""Firestore's limit of writes in one batch."""

_IN_MAX_VALUES = 30  # values of one ``in`` filter


class FirestoreStore:
    """The :class:`~kit.store.base.Store` in Firestore's ``database`` of
    ``project``; ``local`` holds the session tokens unless ``tokens_in_cloud``
    (and is closed with this store)."""

    def __init__(
        self,
        project: str,
        clock: Clock,
        *,
        database: str | None = None,
        timeout_s: float = 10.0,
        tokens_in_cloud: bool = False,
        local: SqliteStore | None = None,
    ) -> None:
        if not tokens_in_cloud and local is None:
            raise ConfigurationError(
                "the Firestore store keeps session tokens in a local store: "
                "give it one, or opt in to tokens in the cloud",
                field="store_tokens_in_cloud",
            )
        self.project = project
        self.database = database
        self.tokens_in_cloud = tokens_in_cloud
        self._clock = clock
        self._local = local
        self._seq_lock = threading.Lock()
        self._last_seq = 0
        self._calls = FirestoreCalls(project, database, timeout_s, self.name)

    @property
    def name(self) -> str:
        suffix = "" if self.database is None else f"/{self.database}"
        return f"firestore:{self.project}{suffix}"

    @property
    def timeout_s(self) -> float:
        return self._calls.timeout_s

    def __repr__(self) -> str:
        return f"FirestoreStore({self.name!r}, tokens_in_cloud={self.tokens_in_cloud})"

    def close(self) -> None:
        self._calls.close()
        if self._local is not None:
            self._local.close()

    def ping(self) -> None:
        self._calls.get("ping", self._calls.doc("kit", "ping"))

    # Order intents.

    def record_intent(self, ordertag: str, body: Mapping[str, Any]) -> OrderIntent:
        now_s = self._clock.time()
        intent = OrderIntent(
            ordertag, now_s, dict(body), IntentState.PENDING, None, "", now_s
        )
        data = docs.intent_doc(intent) | {"write_id": uuid.uuid4().hex}
        ref = self._calls.doc(docs.INTENTS, docs.doc_id(ordertag))
        if self._calls.create("record an intent", ref, data):
            return intent
        # There already: ours if an attempt whose answer was lost had landed.
        found = self._calls.get("read an intent", ref)
        if found is not None and found.get("write_id") == data["write_id"]:
            return intent
        raise ValueError(f"ordertag {ordertag} is already journaled")

    def update(
        self,
        ordertag: str,
        state: IntentState | str,
        *,
        orderid: str | None = None,
        detail: str | None = None,
    ) -> OrderIntent:
        state = IntentState(state)
        change = docs.intent_update(state, self._clock.time(), orderid, detail)
        ref = self._calls.doc(docs.INTENTS, docs.doc_id(ordertag))
        if not self._calls.update("update an intent", ref, change):
            raise KeyError(f"no order intent with ordertag {ordertag}")
        found = self._calls.get("read an intent", ref)
        if found is None:
            raise KeyError(f"no order intent with ordertag {ordertag}")
        return docs.intent_of(found)

    def get_intent(self, ordertag: str) -> OrderIntent | None:
        ref = self._calls.doc(docs.INTENTS, docs.doc_id(ordertag))
        found = self._calls.get("read an intent", ref)
        return None if found is None else docs.intent_of(found)

    def unresolved_intents(self) -> list[OrderIntent]:
        states = sorted(s.value for s in UNRESOLVED_STATES)
        query = (
            self._calls.collection(docs.INTENTS)
            .where(filter=self._calls.field_filter("state", "in", states))
            .order_by("created_at")
        )
        found = self._calls.query("read the unresolved intents", query)
        return [docs.intent_of(doc) for _, doc in found]

    # The broker session.

    def save_session(self, session: StoredSession) -> None:
        if self._local is not None and not self.tokens_in_cloud:
            self._local.save_session(session)
        data = docs.session_doc(session, with_tokens=self.tokens_in_cloud)
        ref = self._session_ref(session.client_code)
        self._calls.set("save the session", ref, data)

    def load_session(self, client_code: str) -> StoredSession | None:
        if not self.tokens_in_cloud:
            assert self._local is not None
            return self._local.load_session(client_code)
        found = self._calls.get("load the session", self._session_ref(client_code))
        return None if found is None else docs.session_of(found)

    def clear_session(self, client_code: str) -> None:
        self._calls.delete("clear the session", self._session_ref(client_code))
        if self._local is not None:
            self._local.clear_session(client_code)

    def _session_ref(self, client_code: str) -> Any:
        return self._calls.doc(docs.SESSIONS, docs.session_id(client_code))

    # Positions.

    def save_position(self, position: PositionRecord) -> None:
        data = docs.position_doc(position)
        ref = self._position_ref(position.mode, position.symbol)
        self._calls.set("save a position", ref, data)

    def delete_position(self, mode: TradingMode, symbol: str) -> None:
        records.check_mode(mode)
        self._calls.delete("delete a position", self._position_ref(mode, symbol))

    def positions(self, mode: TradingMode) -> list[PositionRecord]:
        records.check_mode(mode)
        query = self._calls.collection(docs.POSITIONS).where(
            filter=self._calls.field_filter("mode", "==", mode)
        )
        found = [docs.position_of(d) for _, d in self._calls.query("positions", query)]
        return sorted(found, key=lambda p: p.symbol)

    def _position_ref(self, mode: str, symbol: str) -> Any:
        return self._calls.doc(docs.POSITIONS, docs.doc_id(mode, symbol))

    # Engine state documents.

    def save_state(self, name: str, data: Mapping[str, Any]) -> None:
        ref = self._calls.doc(docs.STATE, docs.doc_id(name))
        self._calls.set("save a state document", ref, docs.state_doc(name, data))

    def load_state(self, name: str) -> dict[str, Any] | None:
        ref = self._calls.doc(docs.STATE, docs.doc_id(name))
        found = self._calls.get("load a state document", ref)
        if found is None:
            return None
        return records.load_json(str(found.get("data")), f"state {name}")

    # Candles.

    def save_candles(self, token: str, candles: Sequence[Candle]) -> None:
        """Upserts in batches of 500: each batch is written whole or not at all."""
        documents = [docs.candle_doc(token, c) for c in candles]
        writes = [(self._candle_ref(token, doc), doc) for doc in documents]
        for start in range(0, len(writes), BATCH_MAX_WRITES):
            chunk = writes[start : start + BATCH_MAX_WRITES]
            self._calls.commit_sets("save candles", chunk)

    def load_candles(
        self,
        token: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[Candle]:
        query = self._calls.collection(docs.CANDLES).where(
            filter=self._calls.field_filter("token", "==", token)
        )
        query = self._time_range(query, "start", since, until).order_by("start")
        found = self._calls.query("load candles", query)
        return [docs.candle_of(doc) for _, doc in found]

    def _candle_ref(self, token: str, document: Mapping[str, Any]) -> Any:
        start_us = str(document["start_us"])
        return self._calls.doc(docs.CANDLES, docs.doc_id(token, start_us))

    # Activity events.

    def append_events(self, events: Sequence[ActivityEvent]) -> None:
        """Creates in batches of 500; an event already there (same id) is kept
        as it was, so a retried append writes nothing twice."""
        writes = [
            (self._calls.doc(docs.EVENTS, docs.doc_id(e.id)), docs.event_doc(e, seq))
            for e, seq in zip(events, self._next_seqs(len(events)), strict=True)
        ]
        for start in range(0, len(writes), BATCH_MAX_WRITES):
            self._calls.create_missing(
                "append events", writes[start : start + BATCH_MAX_WRITES]
            )

    def events(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        kinds: Collection[str] | None = None,
        limit: int | None = None,
    ) -> list[ActivityEvent]:
        if limit is not None and limit < 0:
            raise ValueError("limit must be >= 0")
        if limit == 0 or (kinds is not None and not kinds):
            return []
        groups = [None] if kinds is None else _chunks(sorted(set(kinds)))
        found: list[tuple[str, Mapping[str, Any]]] = []
        for group in groups:
            found.extend(self._calls.query("read events", self._events_query(
                since, until, group, limit
            )))  # fmt: skip
        found.sort(key=lambda item: str(item[1]["sort_key"]))
        if limit is not None:
            found = found[-limit:]
        return [docs.event_of(event_id, doc) for event_id, doc in found]

    def _events_query(
        self,
        since: datetime | None,
        until: datetime | None,
        kinds: list[str] | None,
        limit: int | None,
    ) -> Any:
        query = self._calls.collection(docs.EVENTS)
        if kinds is not None:
            query = query.where(filter=self._calls.field_filter("kind", "in", kinds))
        if since is not None:
            low = docs.time_key(records.to_us(since))
            query = query.where(filter=self._calls.field_filter("sort_key", ">=", low))
        if until is not None:
            high = docs.time_key(records.to_us(until))
            query = query.where(filter=self._calls.field_filter("sort_key", "<", high))
        if limit is None:
            return query.order_by("sort_key")
        return query.order_by("sort_key", direction="DESCENDING").limit(limit)

    def _next_seqs(self, count: int) -> list[int]:
        """Write sequence numbers: increasing in this process, near the clock's
        nanoseconds so that other writers interleave roughly by time."""
        with self._seq_lock:
            first = max(self._last_seq + 1, int(self._clock.time() * 1e9))
            self._last_seq = first + count - 1
        return list(range(first, first + count))

    # Health snapshots.

    def save_health(self, record: HealthRecord) -> None:
        data = docs.health_doc(record)
        ref = self._calls.doc(docs.HEALTH, str(data["at_us"]))
        self._calls.set("save a health snapshot", ref, data)

    def health(
        self, *, since: datetime | None = None, until: datetime | None = None
    ) -> list[HealthRecord]:
        query = self._calls.collection(docs.HEALTH)
        query = self._time_range(query, "at", since, until)
        found = self._calls.query("read health snapshots", query.order_by("at"))
        return [docs.health_of(doc) for _, doc in found]

    def _time_range(
        self, query: Any, field: str, since: datetime | None, until: datetime | None
    ) -> Any:
        if docs.as_datetime(since) is not None:
            query = query.where(filter=self._calls.field_filter(field, ">=", since))
        if docs.as_datetime(until) is not None:
            query = query.where(filter=self._calls.field_filter(field, "<", until))
        return query


def _chunks(values: list[str]) -> list[list[str] | None]:
    step = _IN_MAX_VALUES
    return [values[i : i + step] for i in range(0, len(values), step)]
