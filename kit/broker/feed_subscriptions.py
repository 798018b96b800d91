"""The subscription registry: what the feed wants, and which connection carries it.

:class:`SubscriptionBook` is the one source for subscribing and resubscribing.
It holds every wanted token-mode pair (:class:`SubKey`) and places each on one
of at most ``max_connections`` slots of at most ``max_per_connection`` pairs,
filling the first slot before the next, so 50 tokens take one connection and
3,000 take three. Pairs beyond that wait, reported, until room frees.

A connection reads :meth:`SubscriptionBook.wanted` for its slot and sends the
difference with what it holds; after a reconnect it holds nothing, so it sends
everything. :attr:`SubscriptionBook.version` changes with every change.

Refusals from the server come back here:

- E1001 (a bad payload): the pairs are set aside as refused and never sent again.
- E1002 (over the limit): the slot's capacity is lowered to what it holds and
  the refused pairs move to another slot with room, or wait, reported.

Thread-safe; ``on_change`` is called outside the lock after every change.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import NamedTuple

from kit.broker.routes import FEED_ERROR_LIMIT, ExchangeType, Mode

NO_ROOM = "no room"
"""Why a pair waits when every slot is full."""

_WAITING = frozenset({NO_ROOM, FEED_ERROR_LIMIT})  # placed again when room frees


class SubKey(NamedTuple):
    """One subscription: a token in a mode on an exchange segment."""

    mode: int
    exchange_type: int
    token: str


def sub_keys(
    tokens: Iterable[str],
    mode: Mode = Mode.LTP,
    exchange_type: ExchangeType = ExchangeType.NSE_CM,
) -> list[SubKey]:
    """The keys of ``tokens`` in one mode and segment, duplicates dropped."""
    keys: dict[SubKey, None] = {}
    for token in tokens:
        if not isinstance(token, str) or not token.strip():
            raise ValueError(f"a token must be a non-empty string, got {token!r}")
        keys[SubKey(int(Mode(mode)), int(ExchangeType(exchange_type)), token)] = None
    return list(keys)


Registry = dict[int, dict[int, tuple[str, ...]]]
"""mode -> exchange type -> tokens."""


def group(keys: Iterable[SubKey]) -> Registry:
    """``keys`` as mode -> exchange type -> tokens, in the order given."""
    grouped: dict[int, dict[int, list[str]]] = {}
    for key in keys:
        grouped.setdefault(key.mode, {}).setdefault(key.exchange_type, [])
        grouped[key.mode][key.exchange_type].append(key.token)
    return {
        mode: {exch: tuple(tokens) for exch, tokens in by_exch.items()}
        for mode, by_exch in grouped.items()
    }


class SubscriptionBook:
    """Wanted pairs and their slots; see the module docstring."""

    def __init__(
        self,
        *,
        max_connections: int,
        max_per_connection: int,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.max_connections = max_connections
        self.on_change = on_change
        self._lock = threading.Lock()
        self._slot: dict[SubKey, int | None] = {}  # None: waiting or refused
        self._load = [0] * max_connections
        self._capacity = [max_per_connection] * max_connections
        self._why_not: dict[SubKey, str] = {}  # unplaced pairs: why
        self._version = 0

    @property
    def version(self) -> int:
        with self._lock:
            return self._version

    def __len__(self) -> int:
        with self._lock:
            return len(self._slot)

    def add(self, keys: Iterable[SubKey]) -> list[SubKey]:
        """Want ``keys``; return those that found no room (they wait)."""
        with self._lock:
            new = [key for key in dict.fromkeys(keys) if key not in self._slot]
            unplaced = [key for key in new if not self._place(key)]
            self._changed(bool(new))
        self._notify(bool(new))
        return unplaced

    def remove(self, keys: Iterable[SubKey]) -> int:
        """Stop wanting ``keys``; waiting pairs take the room. Returns how many."""
        with self._lock:
            gone = [key for key in dict.fromkeys(keys) if key in self._slot]
            for key in gone:
                self._unplace(key)
                del self._slot[key]
                self._why_not.pop(key, None)
            self._place_waiting()
            self._changed(bool(gone))
        self._notify(bool(gone))
        return len(gone)

    def refuse(
        self, slot: int, keys: Iterable[SubKey], code: str, *, held: int
    ) -> tuple[list[SubKey], list[SubKey]]:
        """The server refused ``keys`` on ``slot`` with ``code``.

        ``held`` is how many pairs the slot's connection still holds. Returns
        the pairs moved to another slot and those left unplaced.
        """
        with self._lock:
            mine = [k for k in dict.fromkeys(keys) if self._slot.get(k) == slot]
            if code == FEED_ERROR_LIMIT:
                self._capacity[slot] = min(self._capacity[slot], held)
            for key in mine:
                self._unplace(key)
                self._why_not[key] = code
            moved = []
            if code == FEED_ERROR_LIMIT:
                moved = [key for key in mine if self._place(key)]
            unplaced = [key for key in mine if key not in moved]
            self._changed(bool(mine))
        self._notify(bool(mine))
        return moved, unplaced

    def wanted(self, slot: int) -> frozenset[SubKey]:
        """The pairs ``slot`` should hold."""
        with self._lock:
            return frozenset(k for k, s in self._slot.items() if s == slot)

    def slots_in_use(self) -> list[int]:
        """Slots that carry at least one pair, in order."""
        with self._lock:
            return [slot for slot, load in enumerate(self._load) if load]

    def unplaced(self) -> dict[SubKey, str]:
        """Wanted pairs on no slot, and why (``no room``, E1001, E1002)."""
        with self._lock:
            return dict(self._why_not)

    def registry(self) -> Registry:
        """Every wanted pair as mode -> exchange type -> tokens."""
        with self._lock:
            return group(self._slot)

    def loads(self) -> list[int]:
        """Pairs placed on each slot."""
        with self._lock:
            return list(self._load)

    # Under the lock.

    def _place(self, key: SubKey) -> bool:
        for slot in range(self.max_connections):
            if self._load[slot] < self._capacity[slot]:
                self._slot[key] = slot
                self._load[slot] += 1
                self._why_not.pop(key, None)
                return True
        self._slot[key] = None
        self._why_not.setdefault(key, NO_ROOM)
        return False

    def _unplace(self, key: SubKey) -> None:
        slot = self._slot.get(key)
        if slot is not None:
            self._load[slot] -= 1
            self._slot[key] = None

    def _place_waiting(self) -> None:
        waiting = [k for k, why in self._why_not.items() if why in _WAITING]
        for key in waiting:
            if not self._place(key):
                break

    def _changed(self, changed: bool) -> None:
        if changed:
            self._version += 1

    def _notify(self, changed: bool) -> None:
        if changed and self.on_change is not None:
            self.on_change()
