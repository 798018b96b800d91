"""The activity list as a person reads it: filtered, with incidents folded.

:func:`render_activity` turns events into lines for the board or a notebook.
Events of one incident (``fields["incident"]``) are folded into a single line
placed at the incident's latest event: its worst severity, its fault, where it
stands (open, recovered after N s, failed after N s), how many events it
holds, and the text of the latest. Other events are one line each, as
:meth:`~kit.ops.events.ActivityEvent.line` writes them. Plain text: status
symbols, if any, are the board's business.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from kit.clock import IST
from kit.ops.events import ActivityEvent, Phase, Severity


@dataclass
class _Group:
    events: list[ActivityEvent] = field(default_factory=list)

    @property
    def last(self) -> ActivityEvent:
        return self.events[-1]

    @property
    def severity(self) -> Severity:
        return max((e.severity for e in self.events), key=lambda s: s.rank)

    def state(self) -> str:
        first = self.events[0]
        began = first.fields.get("began_s")
        start_s = float(began) if isinstance(began, int | float) else None
        start_s = first.at.timestamp() if start_s is None else start_s
        for event in self.events:
            phase = event.fields.get("phase")
            if phase in (Phase.RECOVERED, Phase.FAILED):
                took_s = max(0.0, event.at.timestamp() - start_s)
                word = "recovered" if phase == Phase.RECOVERED else "failed"
                return f"{word} after {took_s:.1f} s"
        return f"open since {first.at.astimezone(IST):%H:%M:%S}"

    def line(self) -> str:
        last = self.last
        when = last.at.astimezone(IST).strftime("%Y-%m-%d %H:%M:%S")
        fault = last.fields.get("fault", "incident")
        count = len(self.events)
        events = f"{count} event{'s' if count != 1 else ''}"
        return (
            f"{when} {self.severity.value.upper():<8} {fault}: {self.state()} "
            f"({events}); {last.kind}: {last.text}"
        )


def render_activity(
    events: Iterable[ActivityEvent],
    *,
    min_severity: Severity = Severity.INFO,
    kinds: Collection[str] | None = None,
    fold_incidents: bool = True,
    limit: int | None = 20,
) -> list[str]:
    """Lines for ``events`` (oldest first), the newest ``limit`` of them.

    A single event is shown when its severity reaches ``min_severity`` and its
    kind is one of ``kinds`` (all when None); a folded incident when its worst
    severity does and one of its events is of ``kinds``.
    """
    ordered = sorted(events, key=lambda event: event.at)
    items: dict[object, ActivityEvent | _Group] = {}  # in order of display
    for number, event in enumerate(ordered):
        incident = event.fields.get("incident") if fold_incidents else None
        if not isinstance(incident, str):
            items[number] = event
            continue
        group = items.pop(incident, None)  # it moves to its latest event's place
        if not isinstance(group, _Group):
            group = _Group()
        group.events.append(event)
        items[incident] = group

    shown = [item for item in items.values() if _shown(item, min_severity, kinds)]
    lines = [item.line() for item in shown]
    return lines[-limit:] if limit is not None and limit > 0 else lines


def _shown(
    item: ActivityEvent | _Group,
    min_severity: Severity,
    kinds: Collection[str] | None,
) -> bool:
    members = item.events if isinstance(item, _Group) else [item]
    worst = max(event.severity.rank for event in members)
    wanted = kinds is None or any(event.kind in kinds for event in members)
    return worst >= min_severity.rank and wanted
