"""Open incidents, keyed by what they are about, for the activity adapters.

An adapter opens an incident when it sees a fault (a connection dropped, a
read retried), adds the later events of the same fault to it, and closes it
when the fault ends, following the convention of :mod:`kit.ops.events`.
Thread-safe: the feed's, the bootstrap's and any REST caller's threads use it.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kit.clock import IST
from kit.ops.events import ActivityEvent, FaultKind, Phase, Severity, new_incident_id

Key = tuple[str, ...]
"""What an incident is about: ``("feed", "feed-1")``, ``("call", "17")`` ..."""


@dataclass(frozen=True)
class Incident:
    """An incident's id, fault and the epoch second the fault began."""

    id: str
    fault: FaultKind
    began_s: float | None

    @classmethod
    def new(cls, fault: FaultKind, began_s: float | None) -> Incident:
        return cls(new_incident_id(fault), fault, began_s)

    def fields(self, phase: Phase | None = None) -> dict[str, Any]:
        """The incident fields of one of its events (no phase: in between)."""
        fields: dict[str, Any] = {"fault": self.fault.value, "incident": self.id}
        if phase is not None:
            fields["phase"] = phase.value
        if self.began_s is not None:
            fields["began_s"] = round(self.began_s, 3)
        return fields


class Incidents:
    """The open incidents, one per key at most."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[Key, Incident] = {}

    def get(self, key: Key) -> Incident | None:
        with self._lock:
            return self._open.get(key)

    def put(self, key: Key, incident: Incident) -> None:
        with self._lock:
            self._open[key] = incident

    def join_or_open(
        self, key: Key, fault: FaultKind, began_s: float | None
    ) -> tuple[Incident, Phase | None]:
        """The incident open for ``key``, or a new one; with the phase of the
        event that reports it (``detected`` for a new one, None otherwise)."""
        with self._lock:
            found = self._open.get(key)
            if found is not None:
                return found, None
            incident = Incident.new(fault, began_s)
            self._open[key] = incident
            return incident, Phase.DETECTED

    def close(self, key: Key) -> Incident | None:
        """Forget the incident of ``key`` and return it (None when none)."""
        with self._lock:
            return self._open.pop(key, None)

    def close_id(self, incident_id: str) -> None:
        """Forget every key that holds the incident ``incident_id``."""
        with self._lock:
            for key in [k for k, v in self._open.items() if v.id == incident_id]:
                del self._open[key]


def adopted(event: ActivityEvent) -> tuple[Incident, str | None] | None:
    """The incident an event recorded elsewhere names (with the event's
    phase), or None when it names none of the kit's faults."""
    fields = event.fields
    incident = fields.get("incident")
    if not isinstance(incident, str) or not incident:
        return None
    try:
        fault = FaultKind(str(fields.get("fault")))
    except ValueError:
        return None
    began = fields.get("began_s")
    began_s = float(began) if isinstance(began, int | float) else None
    phase = fields.get("phase")
    return Incident(incident, fault, began_s), phase if isinstance(phase, str) else None


def event_at(
    at_s: float, kind: str, severity: Severity, text: str, **fields: Any
) -> ActivityEvent:
    """An activity event at the epoch second ``at_s``."""
    return ActivityEvent(
        datetime.fromtimestamp(at_s, IST), kind, severity, text, fields
    )


def snake_case(name: str) -> str:
    """``TokensAskedAgain`` -> ``tokens_asked_again``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def plain_fields(obj: object, skip: tuple[str, ...] = ("at_s",)) -> dict[str, Any]:
    """The JSON-ready scalar attributes of a dataclass event (for unknown ones)."""
    fields: dict[str, Any] = {}
    for name, value in vars(obj).items():
        if name in skip:
            continue
        if isinstance(value, str | int | float | bool) or value is None:
            fields[name] = value
        elif isinstance(value, datetime):
            fields[name] = value.isoformat()
    return fields


def hhmm(when: datetime) -> str:
    return when.astimezone(IST).strftime("%H:%M")
