"""Installed monitors and who to notify of what (pure: the service sends the calls).

Theory of operation. A client installs a monitor with InstallMonitor: an
object path of its own, a time range and templates. The daemon knows it by
(the client's unique bus name, path); installing the same pair twice keeps
the first, and a client's monitors go away with its bus name. When events
are stored or deleted the service asks this registry which calls to make,
with upstream's rules (docs/ZEITGEIST.md §2.2, ``notify.vala``):

* NotifyInsert goes to each monitor whose time range intersects the
  ``[min, max]`` timestamps of the inserted events. It carries the
  intersection and the events that match one of the monitor's templates
  (in-memory semantics, ``zeitbus.matching``; no templates matches all) and
  lie inside the intersection; a monitor with no such event gets no call.
* NotifyDelete goes to each monitor whose time range intersects the deleted
  events' range, whatever its templates, with the intersection and the ids.

Time ranges here are taken literally, as upstream's ``TimeRange.intersect``
does: unlike in queries, 0 is not "unbounded", so a monitor on (0, 0) only
hears of events at timestamp 0. Clients use ``TimeRange.always()``,
``(0, 2**63 - 1)``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from zeitbus.matching import matches_any
from zeitbus.model import Event

Range = tuple[int, int]


def intersect(a: Range, b: Range) -> Range | None:
    """The overlap of two inclusive ranges, or None if they do not meet."""
    start, end = max(a[0], b[0]), min(a[1], b[1])
    return (start, end) if start <= end else None


@dataclass(frozen=True, slots=True)
class Monitor:
    """One installed monitor."""

    owner: str
    path: str
    time_range: Range
    templates: tuple[Event, ...]

    def wants(self, event: Event) -> bool:
        """True if ``event`` matches the monitor's templates (any event if it has none)."""
        return not self.templates or matches_any(event, self.templates)


@dataclass(frozen=True, slots=True)
class InsertNotification:
    """A NotifyInsert call to make."""

    monitor: Monitor
    time_range: Range
    events: tuple[Event, ...]


@dataclass(frozen=True, slots=True)
class DeleteNotification:
    """A NotifyDelete call to make."""

    monitor: Monitor
    time_range: Range
    ids: tuple[int, ...]


class MonitorRegistry:
    """The installed monitors, by (owner, path), in installation order."""

    def __init__(self) -> None:
        self._monitors: dict[tuple[str, str], Monitor] = {}

    def __len__(self) -> int:
        return len(self._monitors)

    def __iter__(self) -> Iterator[Monitor]:
        return iter(list(self._monitors.values()))

    def install(self, owner: str, path: str, time_range: Range, templates: Sequence[Event]) -> bool:
        """Add a monitor; False (and no change) if (owner, path) already has one."""
        key = (owner, path)
        if key in self._monitors:
            return False
        self._monitors[key] = Monitor(owner, path, time_range, tuple(templates))
        return True

    def remove(self, owner: str, path: str) -> bool:
        """Remove a monitor; False if there was none."""
        return self._monitors.pop((owner, path), None) is not None

    def remove_owner(self, owner: str) -> int:
        """Remove every monitor of ``owner``; how many there were."""
        keys = [key for key in self._monitors if key[0] == owner]
        for key in keys:
            del self._monitors[key]
        return len(keys)

    def for_insert(self, events: Sequence[Event]) -> list[InsertNotification]:
        """The NotifyInsert calls for a batch of stored events."""
        if not events or not self._monitors:
            return []
        stamps = [event.ts for event in events]
        batch = (min(stamps), max(stamps))
        out = []
        for monitor in self._monitors.values():
            overlap = intersect(batch, monitor.time_range)
            if overlap is None:
                continue
            wanted = tuple(
                event
                for event in events
                if overlap[0] <= event.ts <= overlap[1] and monitor.wants(event)
            )
            if wanted:
                out.append(InsertNotification(monitor, overlap, wanted))
        return out

    def for_delete(self, time_range: Range, ids: Sequence[int]) -> list[DeleteNotification]:
        """The NotifyDelete calls for deleted events spanning ``time_range``."""
        out = []
        for monitor in self._monitors.values():
            overlap = intersect(time_range, monitor.time_range)
            if overlap is not None:
                out.append(DeleteNotification(monitor, overlap, tuple(ids)))
        return out
