"""Zeitbus's values: events, subjects, time ranges, result types and changes.

These are plain immutable values with no I/O. Field names and their order
follow Zeitgeist's wire structs (docs/ZEITGEIST.md §2.3), so adapters can map
them one to one. An empty string means "not set", as it does in Zeitgeist; an
event used as a *template* treats every empty field as a wildcard.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TypeVar

import msgspec

from zeitbus.errors import InvalidArgument

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
UINT32_MAX = 2**32 - 1


# Events and subjects are msgspec structs rather than frozen dataclasses: every
# insert and every query result builds them by the thousand, and a frozen
# dataclass pays a Python-level setattr per field (~1.1 us a subject, against
# ~0.1 us). They hold only strings, bytes and each other, so they can never be
# part of a reference cycle, and the garbage collector need not track them.
class Subject(msgspec.Struct, frozen=True, gc=False):
    """What an event happened to: a file, a page, a contact..."""

    uri: str = ""
    interpretation: str = ""
    manifestation: str = ""
    origin: str = ""
    mimetype: str = ""
    text: str = ""
    storage: str = ""
    current_uri: str = ""
    current_origin: str = ""

    def with_changes(self, **changes: str) -> Subject:
        """A copy with some fields replaced."""
        return msgspec.structs.replace(self, **changes)

    def values(self) -> tuple[str, str, str, str, str, str, str, str, str]:
        """Every field, in Zeitgeist's wire order (the order above)."""
        return (
            self.uri,
            self.interpretation,
            self.manifestation,
            self.origin,
            self.mimetype,
            self.text,
            self.storage,
            self.current_uri,
            self.current_origin,
        )


class Event(msgspec.Struct, frozen=True, gc=False):
    """Something that happened, with its subjects.

    ``id`` is the local id (unsigned 32-bit, 0 = unset); ``timestamp`` is in
    milliseconds since the epoch (``None`` = unset, filled with "now" on
    insert); ``uid`` is the globally unique id and ``node`` the id of the
    machine that recorded the event (both assigned on insert when empty).
    """

    id: int = 0
    timestamp: int | None = None
    interpretation: str = ""
    manifestation: str = ""
    actor: str = ""
    origin: str = ""
    subjects: tuple[Subject, ...] = ()
    payload: bytes = b""
    uid: str = ""
    node: str = ""

    @property
    def ts(self) -> int:
        """The timestamp of a stored event (0 if it was never set)."""
        return self.timestamp if self.timestamp is not None else 0

    def with_changes(self, **changes: object) -> Event:
        """A copy with some fields replaced."""
        return msgspec.structs.replace(self, **changes)


@dataclass(frozen=True, slots=True)
class TimeRange:
    """An inclusive range of timestamps in ms.

    As in Zeitgeist, a bound of 0 means "unbounded" on that side, so
    ``TimeRange(0, 0)`` and ``TimeRange.always()`` both match everything.
    """

    start: int = 0
    end: int = 0

    def __post_init__(self) -> None:
        for name, value in (("start", self.start), ("end", self.end)):
            if not isinstance(value, int) or isinstance(value, bool):
                raise InvalidArgument(f"time range {name} must be an integer, got {value!r}")
            if not INT64_MIN <= value <= INT64_MAX:
                raise InvalidArgument(f"time range {name} {value} is outside the 64-bit range")
        if self.end != 0 and self.start > self.end:
            raise InvalidArgument(f"time range starts after it ends ({self.start} > {self.end})")

    @classmethod
    def always(cls) -> TimeRange:
        """The range Zeitgeist clients send for "any time"."""
        return cls(0, INT64_MAX)

    @property
    def is_unbounded(self) -> bool:
        """True if the range restricts nothing."""
        return self.start <= 0 and self.end in (0, INT64_MAX) and self.start in (0, INT64_MIN)

    def contains(self, timestamp: int) -> bool:
        """True if ``timestamp`` lies inside the range (0 bounds are open)."""
        if self.start != 0 and timestamp < self.start:
            return False
        return not (self.end != 0 and timestamp > self.end)


class StorageState(enum.IntEnum):
    """Which subjects a query accepts by the availability of their storage."""

    NOT_AVAILABLE = 0
    AVAILABLE = 1
    ANY = 2

    @classmethod
    def parse(cls, value: int | str | StorageState) -> StorageState:
        """The state for a number or name; InvalidArgument if there is none."""
        return _parse_enum(cls, value, "storage state", "Unknown storage state '{}'")


class RelevantResultType(enum.IntEnum):
    """How FindRelatedUris orders its answer."""

    RECENT = 0
    RELATED = 1


class ResultType(enum.IntEnum):
    """How find groups and orders events (Zeitgeist's 35 result types)."""

    MOST_RECENT_EVENTS = 0
    LEAST_RECENT_EVENTS = 1
    MOST_RECENT_SUBJECTS = 2
    LEAST_RECENT_SUBJECTS = 3
    MOST_POPULAR_SUBJECTS = 4
    LEAST_POPULAR_SUBJECTS = 5
    MOST_POPULAR_ACTOR = 6
    LEAST_POPULAR_ACTOR = 7
    MOST_RECENT_ACTOR = 8
    LEAST_RECENT_ACTOR = 9
    MOST_RECENT_ORIGIN = 10
    LEAST_RECENT_ORIGIN = 11
    MOST_POPULAR_ORIGIN = 12
    LEAST_POPULAR_ORIGIN = 13
    OLDEST_ACTOR = 14
    MOST_RECENT_SUBJECT_INTERPRETATION = 15
    LEAST_RECENT_SUBJECT_INTERPRETATION = 16
    MOST_POPULAR_SUBJECT_INTERPRETATION = 17
    LEAST_POPULAR_SUBJECT_INTERPRETATION = 18
    MOST_RECENT_MIMETYPE = 19
    LEAST_RECENT_MIMETYPE = 20
    MOST_POPULAR_MIMETYPE = 21
    LEAST_POPULAR_MIMETYPE = 22
    MOST_RECENT_CURRENT_URI = 23
    LEAST_RECENT_CURRENT_URI = 24
    MOST_POPULAR_CURRENT_URI = 25
    LEAST_POPULAR_CURRENT_URI = 26
    MOST_RECENT_EVENT_ORIGIN = 27
    LEAST_RECENT_EVENT_ORIGIN = 28
    MOST_POPULAR_EVENT_ORIGIN = 29
    LEAST_POPULAR_EVENT_ORIGIN = 30
    MOST_RECENT_CURRENT_ORIGIN = 31
    LEAST_RECENT_CURRENT_ORIGIN = 32
    MOST_POPULAR_CURRENT_ORIGIN = 33
    LEAST_POPULAR_CURRENT_ORIGIN = 34

    @classmethod
    def parse(cls, value: int | str | ResultType) -> ResultType:
        """The result type for a number or name; InvalidArgument if there is none."""
        return _parse_enum(cls, value, "result type", "Invalid ResultType.")

    @property
    def group(self) -> GroupField | None:
        """The field this type groups by, or None for the plain event types."""
        return _GROUPING[self][0]

    @property
    def popular(self) -> bool:
        """True if groups are ordered by their size first."""
        return _GROUPING[self][1] is not None

    @property
    def ascending(self) -> bool:
        """True if the (count and) time order is ascending."""
        return _GROUPING[self][2]

    @property
    def uses_oldest(self) -> bool:
        """True if each group is represented by its oldest event (OldestActor)."""
        return self is ResultType.OLDEST_ACTOR


class GroupField(enum.Enum):
    """The fields grouped result types group by."""

    SUBJECT_URI = "subject uri"
    ACTOR = "actor"
    SUBJECT_ORIGIN = "subject origin"
    SUBJECT_INTERPRETATION = "subject interpretation"
    MIMETYPE = "mimetype"
    CURRENT_URI = "current uri"
    EVENT_ORIGIN = "event origin"
    CURRENT_ORIGIN = "current origin"


_R = ResultType
_G = GroupField
# result type -> (group field, popular?, ascending?)
_GROUPING: dict[ResultType, tuple[GroupField | None, bool | None, bool]] = {
    _R.MOST_RECENT_EVENTS: (None, None, False),
    _R.LEAST_RECENT_EVENTS: (None, None, True),
    _R.OLDEST_ACTOR: (_G.ACTOR, None, True),
}
for _field, _names in (
    (_G.SUBJECT_URI, "SUBJECTS"),
    (_G.ACTOR, "ACTOR"),
    (_G.SUBJECT_ORIGIN, "ORIGIN"),
    (_G.SUBJECT_INTERPRETATION, "SUBJECT_INTERPRETATION"),
    (_G.MIMETYPE, "MIMETYPE"),
    (_G.CURRENT_URI, "CURRENT_URI"),
    (_G.EVENT_ORIGIN, "EVENT_ORIGIN"),
    (_G.CURRENT_ORIGIN, "CURRENT_ORIGIN"),
):
    _GROUPING[ResultType.__members__[f"MOST_RECENT_{_names}"]] = (_field, None, False)
    _GROUPING[ResultType.__members__[f"LEAST_RECENT_{_names}"]] = (_field, None, True)
    _GROUPING[ResultType.__members__[f"MOST_POPULAR_{_names}"]] = (_field, True, False)
    _GROUPING[ResultType.__members__[f"LEAST_POPULAR_{_names}"]] = (_field, True, True)


_E = TypeVar("_E", bound=enum.IntEnum)


def _parse_enum(cls: type[_E], value: int | str | _E, what: str, message: str) -> _E:
    if isinstance(value, cls):
        return value
    if isinstance(value, str):
        key = value.strip().replace("-", "_").upper()
        if key in cls.__members__:
            return cls[key]
        camel = {name.replace("_", ""): member for name, member in cls.__members__.items()}
        if key.replace("_", "") in camel:
            return camel[key.replace("_", "")]
        if key.isdigit():
            value = int(key)
        else:
            raise InvalidArgument(f"{message.format(value)} (unknown {what} {value!r})")
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"{what} must be a number or a name, got {value!r}")
    try:
        return cls(value)
    except ValueError:
        raise InvalidArgument(message.format(value)) from None


class ChangeKind(enum.Enum):
    """What a change in the changes feed records."""

    INSERT = "insert"
    DELETE = "delete"


@dataclass(frozen=True, slots=True)
class Change:
    """One entry of the changes feed.

    ``seq`` numbers are gap-free and in commit order. A DELETE is a tombstone:
    the event is gone, ``uid`` says which one. An INSERT whose event was
    deleted later still reports the event's uid; its tombstone follows.
    """

    seq: int
    kind: ChangeKind
    id: int
    uid: str
    timestamp: int = 0
    node: str = ""  # where the event was recorded (inserts only)
    source: str = ""  # the node sync received the change from ("" for a change made here)


@dataclass(frozen=True, slots=True)
class Stats:
    """Counts over the whole log, for ``zeitbus stats``."""

    events: int
    subjects: int
    first_timestamp: int | None
    last_timestamp: int | None
    last_seq: int
    actors: int
    uris: int
    node: str
    schema_version: int
    file_bytes: int
    top_actors: tuple[tuple[str, int], ...] = field(default=())
